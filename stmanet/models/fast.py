"""Faster forms of the same numbers for CPU inference, applied to an eval-mode model by
`use_cpu_fast_paths(model)`.

The model's definition (backbone.py, attention.py) is the plain form of the equations; this
module swaps the classes of some of its modules for subclasses whose forward computes the
same values (to fp32 rounding) faster on a CPU, for one clip or a few, without gradient.
Parameter names and shapes are untouched: the state dict is the same. Outside that case
(training, gradient enabled, another device) each subclass runs its plain parent's forward,
so a model switched here may still be moved to a GPU or trained. tests/unit/test_fast_paths.py
compares every form with the plain one; docs/model.md gives the measured gains.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stmanet.models.attention import SpatialAggregation, TemporalAggregation


def _applies(module: nn.Module, x: Tensor) -> bool:
    """Only CPU inference takes the fast forms."""
    return x.device.type == "cpu" and not module.training and not torch.is_grad_enabled()


class FastConv3x3x3(nn.Conv3d):
    """A 3x3x3 convolution that takes oneDNN's kernel for one-clip CPU inference.

    For a batch of one with fewer than ~20k (batch x channels x T x H) elements, PyTorch's
    CPU dispatch picks its generic im2col convolution, which on the 14x14 and 7x7 stages of a
    32-frame clip runs 1.5-2.7x slower than oneDNN's.
    """

    def forward(self, x: Tensor) -> Tensor:
        if (_applies(self, x) and x.dtype == torch.float32 and x.shape[0] == 1
                and x.shape[-1] * x.shape[-2] >= 49 and torch.backends.mkldnn.is_available()):
            return torch.ops.aten.mkldnn_convolution(
                x, self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups)
        return super().forward(x)


class FastMaxPool3d(nn.MaxPool3d):
    """The stem's max-pool through oneDNN for CPU inference: PyTorch's CPU max-pool computes
    the indices of every maximum (for a backward pass inference never takes), about 4x slower
    on the stem's output than oneDNN's pool, conversions to and from its layout included."""

    def forward(self, x: Tensor) -> Tensor:
        if (_applies(self, x) and x.dtype == torch.float32 and not self.ceil_mode
                and self.dilation in (1, (1, 1, 1)) and not self.return_indices
                and torch.backends.mkldnn.is_available()):
            return torch.mkldnn_max_pool3d(x.to_mkldnn(), self.kernel_size, self.stride,
                                           self.padding).to_dense()
        return super().forward(x)


def conv_norm(conv: nn.Conv3d, norm: nn.BatchNorm3d, x: Tensor) -> Tensor:
    """norm(conv(x)) of an eval-mode norm; where the output is larger than the kernel (the
    early stages), as one convolution with the norm folded into its weights and bias, which
    saves a pass over the output. A norm already folded into the convolution
    (`stmanet.models.prepare`) is an identity."""
    if not isinstance(norm, nn.BatchNorm3d) or norm.running_var is None or conv.bias is not None:
        return norm(conv(x))
    if x.numel() // conv.in_channels * conv.out_channels <= conv.weight.numel():
        return norm(conv(x))  # late stages: scaling the kernel would cost more than it saves
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    bias = norm.bias - norm.running_mean * scale
    return F.conv3d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)


def pool_half(x: Tensor) -> Tensor:
    """attention.pool_half; where every size is even, the 2x2x2 means as sums of neighbour
    pairs, one axis at a time."""
    if any(n % 2 for n in x.shape[2:]):
        return F.adaptive_avg_pool3d(x, [-(-n // 2) for n in x.shape[2:]])
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t // 2, 2, h * w).unbind(3)
    x = (x[0] + x[1]).reshape(b, c, t // 2, h, w // 2, 2).unbind(5)
    x = (x[0] + x[1]).reshape(b, c, t // 2, h // 2, 2, w // 2).unbind(4)
    return (x[0] + x[1]).mul_(0.125)


def mix_time(attn: Tensor, x: Tensor) -> Tensor:
    """attention.mix_time, keeping a channels-last input in that layout (one product)."""
    b, c, t, h, w = x.shape
    if x.is_contiguous(memory_format=torch.channels_last_3d):
        mixed = attn @ x.permute(0, 2, 3, 4, 1).reshape(b, t, -1)  # (B, T, H*W*C)
        return mixed.view(b, t, h, w, c).permute(0, 4, 1, 2, 3)
    mixed = attn.unsqueeze(1) @ x.reshape(b, c, t, h * w)  # (B, C, T, HW)
    return mixed.reshape(b, c, t, h, w)


def positions_as_rows(x: Tensor) -> Tensor:
    """(B, C, T, H, W) as a (B, T*H*W, C) view (no copy): one row per position."""
    return x.flatten(2).transpose(1, 2)


class FastTemporalAggregation(TemporalAggregation):
    """TDA with: the aggregation branch in channels-last layout (oneDNN runs the widening
    (3, 1, 1) convolution about twice as fast there); q, k and v of the early stages as
    matrix products with one row per position (the kernel's three time taps as columns,
    summed with shifts in time; ~2x faster than convolutions with so few output channels);
    norms folded into their convolutions where that saves a pass; pair-sum pooling."""

    def forward(self, z: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if not _applies(self, z):
            return super().forward(z, g)
        g = g.contiguous(memory_format=torch.channels_last_3d)
        q, k, v = self._projections(z, g)
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)  # (B, T, T)
        d_t = conv_norm(self.out, self.out_norm, mix_time(attn, v))  # (B, C, T, H, W)
        g = torch.relu_(conv_norm(self.agg_conv, self.agg_norm, mix_time(attn, g)))
        if self.last:
            d_t = d_t + self.agg_fuse_norm(g)
        else:
            g = pool_half(g)
        return d_t, g, attn

    def _projections(self, z: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q, k (B, T, d*H*W) from the (3, 1, 1) convolution of concat(Z, G), computed as that
        of Z plus that of G with the matching parts of the kernel (no copy of Z and G); the
        order of a row's values differs between the two paths, q k^T does not. v: the value
        projection of Z, (B, C_v, T, H, W)."""
        b, c, t, h, w = z.shape
        d = self.qk_dim
        weight = self.query_key.weight
        if t * h * w < c:  # late stages, few positions and a large kernel: convolutions
            qk = F.conv3d(z, weight[:, :c], padding=self.query_key.padding)
            qk = qk + F.conv3d(g, weight[:, c:], padding=self.query_key.padding)
            q, k = (x.transpose(1, 2).reshape(b, t, -1) for x in qk.split(d, dim=1))
            return q, k, self.value(z)

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


class FastSpatialAggregation(SpatialAggregation):
    """SDA with its closing norm folded into the output convolution, and A_s . V computed as
    V^T A_s^T (no transposed copies)."""

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        if not _applies(self, z):
            return super().forward(z)
        b, _, _, h, w = z.shape
        q, k, v = self.query_key_value(z).split(self.split_sizes, dim=1)  # (B, *, T, H, W)
        q = q.reshape(b, -1, h * w)  # (B, d*T, HW): one column per position
        k = k.reshape(b, -1, h * w)
        attn = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(q.shape[1]), dim=-1)  # (B, HW, HW)
        v_mixed = v.reshape(b, -1, h * w) @ attn.transpose(1, 2)  # (B, C_v*T, HW)
        d_s = conv_norm(self.out, self.out_norm, v_mixed.reshape(v.shape))
        return d_s, attn


#: plain class -> its fast form
FAST_FORMS: dict[type[nn.Module], type[nn.Module]] = {
    TemporalAggregation: FastTemporalAggregation,
    SpatialAggregation: FastSpatialAggregation,
}


def _is_conv3x3x3(module: nn.Module) -> bool:
    return type(module) is nn.Conv3d and module.kernel_size == (3, 3, 3)


def use_cpu_fast_paths(model: nn.Module) -> nn.Module:
    """Switch `model`'s modules, in place, to their fast CPU-inference forms; returns it.

    The parameters, buffers and state-dict names stay as they are. Safe to call twice.
    """
    for module in model.modules():
        fast = FAST_FORMS.get(type(module))
        if fast is not None:
            module.__class__ = fast
        elif _is_conv3x3x3(module):
            module.__class__ = FastConv3x3x3
        elif type(module) is nn.MaxPool3d:
            module.__class__ = FastMaxPool3d
    return model


def use_plain_forms(model: nn.Module) -> nn.Module:
    """Undo `use_cpu_fast_paths`: every module back to its plain class; returns the model."""
    plain = {fast: cls for cls, fast in FAST_FORMS.items()}
    plain[FastConv3x3x3] = nn.Conv3d
    plain[FastMaxPool3d] = nn.MaxPool3d
    for module in model.modules():
        if type(module) in plain:
            module.__class__ = plain[type(module)]
    return model
