"""Temporal (TDA) and spatial (SDA) deep aggregation, as fixed in docs/model.md.

Both compute a self-attention map over one axis of a stage's feature map (time steps for
TDA, spatial positions for SDA), use it to mix a reduced "value" projection along that axis,
and return the result through a BatchNorm whose weight starts at zero, so that a fresh
module adds nothing to the backbone it sits in.

This is the plain form, written as the equations read. Faster forms of the same numbers for
CPU inference live in `stmanet.models.fast`.
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


def mix_time(attn: Tensor, x: Tensor) -> Tensor:
    """A_t . flatten_T(x): out[b, c, t] = sum_s attn[b, t, s] * x[b, c, s].

    attn (B, T, T), x (B, C, T, H, W) -> (B, C, T, H, W).
    """
    b, c, t, h, w = x.shape
    mixed = attn.unsqueeze(1) @ x.reshape(b, c, t, h * w)  # (B, C, T, HW)
    return mixed.reshape(b, c, t, h, w)


def pool_half(x: Tensor) -> Tensor:
    """Average pool (B, C, T, H, W) to ceil(n / 2) on T, H and W: a 2x2x2 average where n is
    even, the backbone's strided output size where it is odd (7 -> 4)."""
    return F.adaptive_avg_pool3d(x, [-(-n // 2) for n in x.shape[2:]])


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
        # queries and keys in one convolution: q and k are its two halves of output channels
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
        b, _, t, _, _ = z.shape
        # Eq. 1: q, k = conv(3,1,1)(concat(Z, G)); each time step one row of d*H*W values
        zc = torch.cat([z, g], dim=1)  # (B, 3C/2, T, H, W)
        q, k = self.query_key(zc).split(self.qk_dim, dim=1)  # (B, d, T, H, W) each
        q = q.transpose(1, 2).reshape(b, t, -1)  # (B, T, d*H*W)
        k = k.transpose(1, 2).reshape(b, t, -1)
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)  # (B, T, T)

        # Eq. 3, main branch: D_t = BN0(conv(3,1,1)(A_t . V)), V = conv1x1x1(Z)
        v = self.value(z)  # (B, C_v, T, H, W)
        d_t = self.out_norm(self.out(mix_time(attn, v)))  # (B, C, T, H, W)

        # Eq. 2, aggregation branch: G' = ReLU(BN(conv(3,1,1)(A_t . G)))
        g = torch.relu(self.agg_norm(self.agg_conv(mix_time(attn, g))))  # (B, C'/2, T, H, W)
        if self.last:
            d_t = d_t + self.agg_fuse_norm(g)  # stage 5: G^5 fused into the main branch
        else:
            g = self.pool(g)  # to the next stage's size, like the backbone's strided convs
        return d_t, g, attn

    def pool(self, g: Tensor) -> Tensor:
        return pool_half(g)


class SpatialAggregation(nn.Module):
    """SDA at one stage: an (H W) x (H W) attention between spatial positions.

    Input Z (B, C, T, H, W); returns D_s (B, C, T, H, W) and A_s (B, HW, HW).
    """

    def __init__(self, channels: int, *, qk_dim: int, value_dim: int) -> None:
        super().__init__()
        self.split_sizes = (qk_dim, qk_dim, value_dim)
        # queries, keys and values in one 1x1x1 convolution, split by output channels
        self.query_key_value = nn.Conv3d(channels, 2 * qk_dim + value_dim, kernel_size=1,
                                         bias=False)
        self.out = nn.Conv3d(value_dim, channels, kernel_size=1, bias=False)
        self.out_norm = zero_init_norm(channels)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        b, _, _, h, w = z.shape
        q, k, v = self.query_key_value(z).split(self.split_sizes, dim=1)  # (B, *, T, H, W)
        # Eq. 4: each spatial position one row of d*T values
        q = q.reshape(b, -1, h * w).transpose(1, 2)  # (B, HW, d*T)
        k = k.reshape(b, -1, h * w).transpose(1, 2)
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)  # (B, HW, HW)

        # Eq. 5: D_s = BN0(conv1x1x1(A_s . V))
        v_rows = v.reshape(b, -1, h * w).transpose(1, 2)  # (B, HW, C_v*T)
        v_mixed = (attn @ v_rows).transpose(1, 2).reshape(v.shape)  # (B, C_v, T, H, W)
        d_s = self.out_norm(self.out(v_mixed))  # (B, C, T, H, W)
        return d_s, attn
