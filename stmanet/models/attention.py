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
    """norm(conv(x)); in eval mode as one convolution with the norm folded into its weights
    and bias, which saves a pass over the (large) output. The same numbers either way."""
    if norm.training or norm.running_var is None or conv.bias is not None:
        return norm(conv(x))
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    bias = norm.bias - norm.running_mean * scale
    return F.conv3d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)


def mix_time(attn: Tensor, x: Tensor) -> Tensor:
    """out[b, c, t] = sum_s attn[b, t, s] * x[b, c, s]; attn (B, T, T), x (B, C, T, H, W)."""
    b, c, t, h, w = x.shape
    mixed = attn.unsqueeze(1) @ x.reshape(b, c, t, h * w)  # (B, C, T, HW)
    return mixed.reshape(b, c, t, h, w)


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
        b, c, t, _, _ = z.shape
        # The convolution of Zc = concat(Z, G) is that of Z plus that of G with the matching
        # halves of the kernel: the same q and k without copying Z and G into one tensor.
        weight = self.query_key.weight
        qk = F.conv3d(z, weight[:, :c], padding=self.query_key.padding)
        qk = qk + F.conv3d(g, weight[:, c:], padding=self.query_key.padding)
        q, k = qk.split(self.qk_dim, dim=1)  # (B, d, T, H, W) each
        q = q.transpose(1, 2).reshape(b, t, -1)  # (B, T, d*H*W): one row per time step
        k = k.transpose(1, 2).reshape(b, t, -1)
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)  # (B, T, T)

        d_t = conv_norm(self.out, self.out_norm, mix_time(attn, self.value(z)))  # (B, C, T, H, W)
        g = torch.relu(conv_norm(self.agg_conv, self.agg_norm, mix_time(attn, g)))
        if self.last:
            d_t = d_t + self.agg_fuse_norm(g)
        else:
            # average pool to the next stage's size: ceil(n / 2) on T, H and W, like the
            # backbone's strided convolutions (a plain 2x2x2 average where n is even)
            g = F.adaptive_avg_pool3d(g, [-(-n // 2) for n in g.shape[2:]])
        return d_t, g, attn


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
