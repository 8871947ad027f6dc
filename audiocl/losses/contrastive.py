"""The margin (pairwise) contrastive loss: pull positives within one margin, push negatives beyond another."""

from __future__ import annotations

import torch
from torch import nn

from audiocl.losses._core import full_precision
from audiocl.losses._pairs import check_distance, check_margin, pairs


def margin_contrastive(
    z: torch.Tensor,
    labels: torch.Tensor | None = None,
    pos_margin: float = 0.0,
    neg_margin: float = 1.0,
    *,
    distance: str = "euclidean",
    gather_distributed: bool = True,
) -> torch.Tensor:
    """Pairwise contrastive loss (Hadsell, Chopra & LeCun 2006, "Dimensionality Reduction by Learning an
    Invariant Mapping"), with a margin on each side as pytorch-metric-learning's ``ContrastiveLoss``::

        loss = mean_{positive pairs} relu(d - pos_margin) + mean_{negative pairs} relu(neg_margin - d)

    Every ordered pair ``(anchor, key)`` counts: positives are the other views of the anchor's clip (with
    ``labels``, every other embedding of its label), negatives the other classes' embeddings. This is
    pytorch-metric-learning's ``ContrastiveLoss`` with a plain mean (``MeanReducer``); Hadsell et al.'s
    squared hinge is not offered. A side without pairs adds 0. Under ``torch.distributed`` the keys are every
    rank's embeddings and the rank losses average to the global loss, as for :func:`nt_xent`. Float32 or
    wider, autocast off.

    Args:
        z: ``(V, B, D)`` views of ``B`` clips.
        labels: ``(B,)`` integer classes, or None (each clip its own class).
        pos_margin: positives closer than this cost nothing (``>= 0``).
        neg_margin: negatives farther than this cost nothing (``>= 0``).
        distance: ``"euclidean"`` or ``"cosine"`` (``1 - cos``), both on L2-normalised embeddings, in ``[0, 2]``.
        gather_distributed: use all ranks' embeddings as keys under ``torch.distributed``.

    Shape:
        - z: ``(V, B, D)``; labels: ``(B,)``.
        - output: ``()``.

    >>> margin_contrastive(torch.randn(2, 8, 16), pos_margin=0.0, neg_margin=1.0).shape
    torch.Size([])
    """
    _check(pos_margin, neg_margin, distance)
    with full_precision(z if isinstance(z, torch.Tensor) else z[0]):
        p = pairs(z, labels, distance, gather_distributed)
        # Global pair counts from the gathered classes alone: the same on every rank.
        counts = torch.bincount(torch.unique(p.key_class, return_inverse=True)[1])  # keys per class
        num_pos = (counts * (counts - 1)).sum()
        num_neg = counts.sum() ** 2 - (counts**2).sum()
        pos = torch.where(p.positive, (p.distance - pos_margin).relu(), 0.0).sum()
        neg = torch.where(p.negative, (neg_margin - p.distance).relu(), 0.0).sum()
        return p.ranks * (pos / num_pos.clamp(min=1) + neg / num_neg.clamp(min=1))


def _check(pos_margin: float, neg_margin: float, distance: str) -> None:
    check_margin("pos_margin", pos_margin)
    check_margin("neg_margin", neg_margin)
    check_distance(distance)


class MarginContrastiveLoss(nn.Module):
    """The margin contrastive loss as a module; see :func:`margin_contrastive`.

    Args:
        pos_margin, neg_margin: the margins (``>= 0``).
        distance: ``"euclidean"`` or ``"cosine"``.
        gather_distributed: use all ranks' embeddings as keys under ``torch.distributed``.

    Shape:
        - z: ``(V, B, D)``; labels: ``(B,)`` or None.
        - output: ``()``.

    >>> MarginContrastiveLoss(neg_margin=1.0)(torch.randn(2, 8, 16)).shape
    torch.Size([])
    """

    def __init__(
        self, pos_margin: float = 0.0, neg_margin: float = 1.0, distance: str = "euclidean", gather_distributed=True
    ):
        super().__init__()
        _check(pos_margin, neg_margin, distance)
        self.pos_margin, self.neg_margin, self.distance = pos_margin, neg_margin, distance
        self.gather_distributed = gather_distributed

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return margin_contrastive(
            z,
            labels,
            self.pos_margin,
            self.neg_margin,
            distance=self.distance,
            gather_distributed=self.gather_distributed,
        )

    def extra_repr(self) -> str:
        return f"pos_margin={self.pos_margin}, neg_margin={self.neg_margin}, distance={self.distance!r}"
