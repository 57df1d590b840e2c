"""Diversity constraints between stages' attention maps, and the total training loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from stmanet.models.stmanet import STMANetOutput


def align_spatial(attn: Tensor, size: tuple[int, int], target: tuple[int, int]) -> Tensor:
    """Pool an (B, HW, HW) spatial map's query and key grids to `target`: (B, hw, hw)."""
    b = attn.shape[0]
    h, w = size
    th, tw = target
    keys = attn.reshape(b * h * w, 1, h, w)
    keys = F.adaptive_avg_pool2d(keys, target).reshape(b, h, w, th * tw)
    queries = keys.permute(0, 3, 1, 2).reshape(b * th * tw, 1, h, w)
    queries = F.adaptive_avg_pool2d(queries, target).reshape(b, th * tw, th * tw)
    return queries.transpose(1, 2)  # (B, query, key)


def align_temporal(attn: Tensor, target: int) -> Tensor:
    """Pool a (B, T, T) temporal map on both axes to `target` steps: (B, t, t)."""
    return F.adaptive_avg_pool2d(attn.unsqueeze(1), (target, target)).squeeze(1)


def diversity(maps: list[Tensor]) -> Tensor:
    """Mean cosine similarity over ordered pairs of distinct maps, averaged over the batch.

    maps: same-shape tensors (B, ...) with non-negative entries, so the result is in [0, 1].
    Fewer than two maps: 0.
    """
    if len(maps) < 2:
        return maps[0].new_zeros(()) if maps else torch.zeros(())
    flat = torch.stack([m.flatten(1) for m in maps], dim=1)  # (B, S, N)
    flat = F.normalize(flat, dim=-1)
    gram = flat @ flat.transpose(1, 2)  # (B, S, S)
    s = gram.shape[1]
    off_diagonal = gram.sum(dim=(1, 2)) - gram.diagonal(dim1=1, dim2=2).sum(dim=1)
    return (off_diagonal / (s * (s - 1))).mean()


def spatial_diversity(output: STMANetOutput) -> Tensor:
    """L_s: diversity of the spatial maps, each aligned to stage 5's grid."""
    _, h5, w5 = output.stage_sizes[-1]
    maps = [align_spatial(a, size[1:], (h5, w5))
            for a, size in zip(output.spatial_attention, output.stage_sizes, strict=True)
            if a is not None]
    return diversity(maps) if maps else output.logits.new_zeros(())


def temporal_diversity(output: STMANetOutput) -> Tensor:
    """L_t: diversity of the temporal maps aligned to stage 5's length; 0 where T_5 = 1."""
    t5 = output.stage_sizes[-1][0]
    maps = [align_temporal(a, t5) for a in output.temporal_attention if a is not None]
    if t5 == 1 or not maps:
        return output.logits.new_zeros(())
    return diversity(maps)


@dataclass
class LossTerms:
    total: Tensor
    classification: Tensor
    spatial_diversity: Tensor
    temporal_diversity: Tensor


def stmanet_loss(output: STMANetOutput, target: Tensor, *, lambda_spatial: float = 0.01,
                 lambda_temporal: float = 0.001, label_smoothing: float = 0.0) -> LossTerms:
    """L = CE + lambda_1 L_s + lambda_2 L_t (paper Eq. 9); a lambda of 0 switches its term off."""
    ce = F.cross_entropy(output.logits.float(), target, label_smoothing=label_smoothing)
    zero = ce.new_zeros(())
    ls = spatial_diversity(output).float() if lambda_spatial else zero
    lt = temporal_diversity(output).float() if lambda_temporal else zero
    return LossTerms(ce + lambda_spatial * ls + lambda_temporal * lt, ce, ls, lt)
