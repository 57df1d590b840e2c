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


def pooled(output: STMANetOutput) -> Tensor:
    """The stages' pooled features side by side (B, D), in float32: what the novelty score
    measures distances on (stmanet/engine/openset.py)."""
    return torch.cat([f.float() for f in output.stage_features], dim=1)


class ClassCentres:
    """The centre loss (Wen et al. 2016) on the pooled multi-level features: each class's
    running mean of them, and half the squared distance of every clip's features to its
    class's mean. Pulling each class's clips together leaves an action between two trained
    ones further from both, where the novelty score tells it (docs/model.md, "Training that
    gathers each class"). The means follow each batch's (`rate` of the way, less for few
    clips of a class: Wen et al.'s update); a class's first batch sets its mean. Under
    torchrun every process's batch counts (the sums are all-reduced), so all keep the same
    means."""

    def __init__(self, num_classes: int, rate: float = 0.5) -> None:
        self.num_classes = num_classes
        self.rate = rate
        self.centres: Tensor | None = None  # (K, D), made at the first batch
        self.seen = torch.zeros(num_classes, dtype=torch.bool)

    @torch.no_grad()
    def update(self, features: Tensor, labels: Tensor) -> None:
        import torch.distributed as dist

        features = features.detach().float()
        if self.centres is None:
            self.centres = features.new_zeros(self.num_classes, features.shape[1])
        self.centres = self.centres.to(features.device)
        self.seen = self.seen.to(features.device)
        sums = self.centres.new_zeros(self.centres.shape).index_add_(0, labels, features)
        counts = self.centres.new_zeros(self.num_classes).index_add_(
            0, labels, torch.ones_like(labels, dtype=features.dtype))
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sums)
            dist.all_reduce(counts)
        present = counts > 0
        means = sums[present] / counts[present, None]
        step = torch.where(self.seen[present], self.rate * counts[present] / (1 + counts[present]),
                           torch.ones_like(counts[present]))
        self.centres[present] += step[:, None] * (means - self.centres[present])
        self.seen |= present

    def loss(self, features: Tensor, labels: Tensor) -> Tensor:
        """Half the squared distance of each clip's features to its class's mean, averaged
        over the batch (after `update` with the same batch)."""
        assert self.centres is not None, "update() first"
        return 0.5 * (features.float() - self.centres[labels]).pow(2).sum(dim=1).mean()

    def state_dict(self) -> dict[str, Tensor]:
        if self.centres is None:
            return {}
        return {"centres": self.centres.cpu(), "seen": self.seen.cpu()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if state:
            self.centres = state["centres"].float()
            self.seen = state["seen"].bool()
