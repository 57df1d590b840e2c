"""Temporal (TDA) and spatial (SDA) deep aggregation, as fixed in docs/model.md.

Both compute a self-attention map over one axis of a stage's feature map (time steps for
TDA, spatial positions for SDA), use it to mix a reduced "value" projection along that axis,
and return the result through a BatchNorm whose weight starts at zero, so that a fresh
module adds nothing to the backbone it sits in.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def zero_init_norm(channels: int) -> nn.BatchNorm3d:
    """BatchNorm whose output starts at exactly zero (weight 0, bias 0)."""
    norm = nn.BatchNorm3d(channels)
    nn.init.zeros_(norm.weight)
    nn.init.zeros_(norm.bias)
    return norm


def temporal_conv(in_channels: int, out_channels: int) -> nn.Conv3d:
    """A (3, 1, 1) convolution: mixes neighbouring time steps only."""
    return nn.Conv3d(in_channels, out_channels, kernel_size=(3, 1, 1), padding=(1, 0, 0),
                     bias=False)


def conv_norm(conv: nn.Conv3d, norm: nn.BatchNorm3d, x: Tensor) -> Tensor:
    """norm(conv(x)); in eval mode, where the output is larger than the kernel (the early
    stages), as one convolution with the norm folded into its weights and bias, which saves a
    pass over the output. The same numbers either way."""
    if norm.training or norm.running_var is None or conv.bias is not None:
        return norm(conv(x))
    if x.numel() // conv.in_channels * conv.out_channels <= conv.weight.numel():
        return norm(conv(x))  # late stages: scaling the kernel would cost more than it saves
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    bias = norm.bias - norm.running_mean * scale
    return F.conv3d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)


def mix_time(attn: Tensor, x: Tensor) -> Tensor:
    """out[b, c, t] = sum_s attn[b, t, s] * x[b, c, s]; attn (B, T, T), x (B, C, T, H, W)."""
    b, c, t, h, w = x.shape
    if x.is_contiguous(memory_format=torch.channels_last_3d):  # one product, layout kept
        mixed = attn @ x.permute(0, 2, 3, 4, 1).reshape(b, t, -1)  # (B, T, H*W*C)
        return mixed.view(b, t, h, w, c).permute(0, 4, 1, 2, 3)
    mixed = attn.unsqueeze(1) @ x.reshape(b, c, t, h * w)  # (B, C, T, HW)
    return mixed.reshape(b, c, t, h, w)


def positions_as_rows(x: Tensor) -> Tensor:
    """(B, C, T, H, W) as a (B, T*H*W, C) view (no copy): one row per position."""
    return x.flatten(2).transpose(1, 2)


def pool_half(x: Tensor) -> Tensor:
    """Average pool (B, C, T, H, W) to ceil(n / 2) on T, H and W."""
    if any(n % 2 for n in x.shape[2:]):
        return F.adaptive_avg_pool3d(x, [-(-n // 2) for n in x.shape[2:]])
    # 2x2x2 means as sums of neighbour pairs, one axis at a time (~4x faster than avg_pool3d)
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t // 2, 2, h * w).unbind(3)
    x = (x[0] + x[1]).reshape(b, c, t // 2, h, w // 2, 2).unbind(5)
    x = (x[0] + x[1]).reshape(b, c, t // 2, h // 2, 2, w // 2).unbind(4)
    return (x[0] + x[1]).mul_(0.125)


class TemporalAggregation(nn.Module):
    """TDA at one stage: a T x T attention from the main and aggregation branches.

    Inputs: the stage output Z (B, C, T, H, W) and the aggregation branch G (B, C/2, T, H, W).
    Returns the main-branch update D_t (B, C, T, H, W), the next aggregation branch (pooled to
    the next stage's size, or at the last stage kept at full size and already fused into
    D_t) and the attention map A_t (B, T, T).
    """

    def __init__(self, channels: int, agg_channels: int, next_agg_channels: int, *,
                 qk_dim: int, value_dim: int, last: bool) -> None:
        super().__init__()
        self.last = last
        self.qk_dim = qk_dim
        # queries and keys in one convolution: one pass over the 3C/2-channel input
        self.query_key = temporal_conv(channels + agg_channels, 2 * qk_dim)
        self.value = nn.Conv3d(channels, value_dim, kernel_size=1, bias=False)
        self.out = temporal_conv(value_dim, channels)
        self.out_norm = zero_init_norm(channels)
        self.agg_conv = temporal_conv(agg_channels, next_agg_channels)
        self.agg_norm = nn.BatchNorm3d(next_agg_channels)
        if last:
            if next_agg_channels != channels:
                raise ValueError("the last TDA must map its aggregation branch to C_5 channels")
            self.agg_fuse_norm = zero_init_norm(channels)

    def forward(self, z: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if g.device.type == "cpu":
            # the aggregation branch in channels-last layout: there oneDNN runs its widening
            # (3, 1, 1) convolution about twice as fast as in the default layout
            g = g.contiguous(memory_format=torch.channels_last_3d)
        q, k, v = self.projections(z, g)
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)  # (B, T, T)

        d_t = conv_norm(self.out, self.out_norm, mix_time(attn, v))  # (B, C, T, H, W)
        g = torch.relu_(conv_norm(self.agg_conv, self.agg_norm, mix_time(attn, g)))
        if self.last:
            d_t = d_t + self.agg_fuse_norm(g)
        else:
            g = pool_half(g)  # to the next stage's size, like the backbone's strided convs
        return d_t, g, attn

    def projections(self, z: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q, k: the (3, 1, 1) convolution of Zc = concat(Z, G), computed as that of Z plus
        that of G with the matching parts of the kernel (no copy of Z and G into one tensor),
        each flattened to (B, T, d*H*W); the order of a row's values differs between the two
        paths below, q k^T (all that uses them) does not. v: the value projection of Z,
        (B, C_v, T, H, W)."""
        b, c, t, h, w = z.shape
        d = self.qk_dim
        weight = self.query_key.weight
        if t * h * w < c:  # late stages, few positions and a large kernel: convolutions
            qk = F.conv3d(z, weight[:, :c], padding=self.query_key.padding)
            qk = qk + F.conv3d(g, weight[:, c:], padding=self.query_key.padding)
            q, k = (x.transpose(1, 2).reshape(b, t, -1) for x in qk.split(d, dim=1))
            return q, k, self.value(z)

        # Early stages: matrix products with one row per position (for q and k, the kernel's
        # three time taps as columns, summed with shifts in time). With so few output
        # channels this is ~2x faster on CPU than convolutions.
        def tap_columns(part: Tensor) -> Tensor:  # (2d, C', 3, 1, 1) -> (C', 3 * 2d)
            return part.reshape(2 * d, -1, 3).permute(1, 2, 0).reshape(-1, 6 * d)

        z_columns = torch.cat([tap_columns(weight[:, :c]), self.value.weight.flatten(1).t()], 1)
        z_rows = torch.bmm(positions_as_rows(z), z_columns.expand(b, -1, -1))  # (B, THW, 6d+C_v)
        taps = torch.baddbmm(z_rows[..., :6 * d], positions_as_rows(g),
                             tap_columns(weight[:, c:]).expand(b, -1, -1))
        taps = taps.view(b, t, h * w, 3, 2 * d)
        qk = taps[:, :, :, 1].clone()  # out[t] = W_0 x[t-1] + W_1 x[t] + W_2 x[t+1]
        qk[:, 1:] += taps[:, :-1, :, 0]
        qk[:, :-1] += taps[:, 1:, :, 2]
        q, k = (x.reshape(b, t, -1) for x in qk.split(d, dim=-1))
        v = z_rows[..., 6 * d:].reshape(b, t, h, w, -1).permute(0, 4, 1, 2, 3).contiguous()
        return q, k, v


class SpatialAggregation(nn.Module):
    """SDA at one stage: an (H W) x (H W) attention between spatial positions.

    Input Z (B, C, T, H, W); returns D_s (B, C, T, H, W) and A_s (B, HW, HW).
    """

    def __init__(self, channels: int, *, qk_dim: int, value_dim: int) -> None:
        super().__init__()
        self.split_sizes = (qk_dim, qk_dim, value_dim)
        # queries, keys and values in one convolution: one pass over the stage output
        self.query_key_value = nn.Conv3d(channels, 2 * qk_dim + value_dim, kernel_size=1,
                                         bias=False)
        self.out = nn.Conv3d(value_dim, channels, kernel_size=1, bias=False)
        self.out_norm = zero_init_norm(channels)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        b, _, _, h, w = z.shape
        q, k, v = self.query_key_value(z).split(self.split_sizes, dim=1)  # (B, *, T, H, W)
        q = q.reshape(b, -1, h * w)  # (B, d*T, HW): one column per position
        k = k.reshape(b, -1, h * w)
        attn = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(q.shape[1]), dim=-1)  # (B, HW, HW)
        v_mixed = v.reshape(b, -1, h * w) @ attn.transpose(1, 2)  # (B, C_v*T, HW)
        d_s = conv_norm(self.out, self.out_norm, v_mixed.reshape(v.shape))
        return d_s, attn
