"""A trained model made ready for inference, apart from the model's definition.

`prepare_for_inference(model, device)` returns a copy of `model`, in eval mode and without
gradients, that computes the same outputs (to fp32 rounding: tests/unit/test_prepare.py)
with less work:

- every BatchNorm that directly follows a convolution is folded into that convolution's
  weights and bias, and replaced by an identity (one pass over each output saved);
- on a CPU, the faster forms of `stmanet.models.fast` (oneDNN's kernel for one-clip 3x3x3
  convolutions, the stem's max-pool without the indices nobody uses, the attention modules'
  matrix-product forms);
- `portable=True` instead keeps every module in its plain form, with the only operation that
  ONNX cannot express (the attention's average pooling of odd sizes, whose bins overlap)
  written as products with fixed averaging matrices: that copy compiles with `torch.compile`
  and exports with `torch.export` / ONNX (`stmanet export`).

The model given is left as it was: its state dict keeps every BatchNorm, so it can still be
trained, saved or inspected.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from stmanet.models.attention import TemporalAggregation
from stmanet.models.fast import use_cpu_fast_paths

#: (convolution, norm) attribute pairs where the module's forward applies norm(conv(x))
_CONV_NORM_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"),
                    ("out", "out_norm"), ("agg_conv", "agg_norm"))


def _folded(conv: nn.Conv3d, norm: nn.BatchNorm3d) -> nn.Conv3d:
    """conv with norm (eval mode: its running statistics) folded in: one convolution with a
    bias."""
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    shift = norm.bias - norm.running_mean * scale
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    fused = nn.Conv3d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=True,
                      padding_mode=conv.padding_mode, device=conv.weight.device,
                      dtype=conv.weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1, 1))
        fused.bias.copy_(shift)
    return fused


def _foldable(conv: object, norm: object) -> bool:
    return (type(conv) is nn.Conv3d and isinstance(norm, nn.BatchNorm3d)
            and norm.track_running_stats and norm.running_var is not None and norm.affine)


def fold_norms(model: nn.Module) -> int:
    """Fold, in place, every BatchNorm applied directly to a convolution's output into that
    convolution; returns how many were folded. Only for a model in eval mode."""
    folded = 0
    for module in list(model.modules()):
        for conv_name, norm_name in _CONV_NORM_PAIRS:
            conv, norm = getattr(module, conv_name, None), getattr(module, norm_name, None)
            if _foldable(conv, norm):
                setattr(module, conv_name, _folded(conv, norm))
                setattr(module, norm_name, nn.Identity())
                folded += 1
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if _foldable(module[i], module[i + 1]):
                    module[i] = _folded(module[i], module[i + 1])
                    module[i + 1] = nn.Identity()
                    folded += 1
    return folded


def averaging_matrix(size: int, device: torch.device | None = None,
                     dtype: torch.dtype = torch.float32) -> Tensor:
    """(ceil(size/2), size): row i averages the bins of adaptive average pooling from `size`
    to ceil(size/2) (bins [floor(i n / m), ceil((i + 1) n / m)), which overlap where n is
    odd)."""
    out = -(-size // 2)
    matrix = torch.zeros(out, size, dtype=dtype, device=device)
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def pool_half_portable(x: Tensor) -> Tensor:
    """attention.pool_half as three products with averaging matrices (exportable)."""
    _, _, t, h, w = x.shape
    x = torch.einsum("bcthw,vw->bcthv", x, averaging_matrix(w, x.device, x.dtype))
    x = torch.einsum("bcthw,uh->bctuw", x, averaging_matrix(h, x.device, x.dtype))
    return torch.einsum("bcthw,st->bcshw", x, averaging_matrix(t, x.device, x.dtype))


class PortableTemporalAggregation(TemporalAggregation):
    """TDA whose pooling of the aggregation branch is written with averaging matrices."""

    def pool(self, g: Tensor) -> Tensor:
        return pool_half_portable(g)


class FlatOutputs(nn.Module):
    """The network's outputs as a flat tuple of tensors, which exporters need: the logits,
    the attention maps it has (temporal stages 2-5, then spatial 2-5) and, with `features`,
    the pooled features of stages 2-5 (what the open-set score needs)."""

    def __init__(self, model: nn.Module, *, features: bool = False) -> None:
        super().__init__()
        self.model = model
        self.features = features

    def forward(self, clips: Tensor) -> tuple[Tensor, ...]:
        out = self.model(clips)
        maps = [m for m in out.temporal_attention + out.spatial_attention if m is not None]
        return (out.logits, *maps, *(out.stage_features if self.features else ()))


def prepare_for_inference(model: nn.Module, device: str | torch.device = "cpu", *,
                          portable: bool = False) -> nn.Module:
    """A copy of `model` on `device`, ready for inference (see the module's docstring)."""
    device = torch.device(device)
    prepared = copy.deepcopy(model).to(device).eval()
    fold_norms(prepared)
    prepared.eval().requires_grad_(False)  # the new convolutions too
    if portable:
        for module in prepared.modules():
            if type(module) is TemporalAggregation:
                module.__class__ = PortableTemporalAggregation
    elif device.type == "cpu":
        use_cpu_fast_paths(prepared)
    return prepared
