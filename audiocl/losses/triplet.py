"""The triplet margin loss with batch-hard or semi-hard mining, for any number of views."""

from __future__ import annotations

import torch
from torch import nn

from audiocl.losses._core import full_precision
from audiocl.losses._pairs import check_distance, check_margin, pairs
from audiocl.losses.distributed import all_reduce_sum

MINING = ("batch_hard", "semi_hard")


def _check_mining(mining: str) -> None:
    if mining not in MINING:
        raise ValueError(f"mining must be one of {MINING}, got {mining!r}")


def triplet(
    z: torch.Tensor,
    labels: torch.Tensor | None = None,
    margin: float = 0.2,
    *,
    mining: str = "batch_hard",
    distance: str = "euclidean",
    gather_distributed: bool = True,
) -> torch.Tensor:
    """Triplet margin loss ``relu(d(a, p) - d(a, n) + margin)`` over mined triplets.

    Mining:

    - ``"batch_hard"`` (Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss for Person
      Re-Identification"): for each anchor its farthest positive and its nearest negative; the mean over the
      anchors that have both.
    - ``"semi_hard"`` (Schroff, Kalenichenko & Philbin 2015, FaceNet): every triplet whose negative is
      farther than the positive but within the margin, ``d(a, p) < d(a, n) <= d(a, p) + margin``; the mean
      over those triplets (0 when there are none). Counted with sorted distances and prefix sums, so memory is
      ``O(N^2)``, not the ``O(N^3)`` of listing the triplets.

    These are pytorch-metric-learning's ``TripletMarginLoss`` with ``BatchHardMiner`` or
    ``TripletMarginMiner(type_of_triplets="semihard")`` and a plain mean (``MeanReducer``). Positives are the
    other views of the clip, or with ``labels`` every embedding of the label; negatives are the other
    classes. Under ``torch.distributed`` the keys are every rank's embeddings and the rank losses average to
    the global loss, as for :func:`nt_xent`. Float32 or wider, autocast off.

    Args:
        z: ``(V, B, D)`` views of ``B`` clips (``V >= 2``, or labels shared by several clips).
        labels: ``(B,)`` integer classes, or None (each clip its own class).
        margin: ``>= 0`` (0.2 in FaceNet; distances lie in ``[0, 2]``).
        mining: ``"batch_hard"`` or ``"semi_hard"``.
        distance: ``"euclidean"`` or ``"cosine"`` (``1 - cos``), both on L2-normalised embeddings.
        gather_distributed: use all ranks' embeddings as keys under ``torch.distributed``.

    Shape:
        - z: ``(V, B, D)``; labels: ``(B,)``.
        - output: ``()``.

    >>> triplet(torch.randn(2, 8, 16), margin=0.2, mining="semi_hard").shape
    torch.Size([])
    """
    check_margin("margin", margin)
    _check_mining(mining)
    check_distance(distance)
    with full_precision(z if isinstance(z, torch.Tensor) else z[0]):
        p = pairs(z, labels, distance, gather_distributed)
        d = p.distance
        if mining == "batch_hard":
            # Distances lie in [0, 2]: 0 and 3 are neutral fills for "no positive" and "no negative".
            hardest_positive = d.masked_fill(~p.positive, 0).amax(dim=1)
            hardest_negative = d.masked_fill(~p.negative, 3).amin(dim=1)
            valid = p.positive.any(dim=1) & p.negative.any(dim=1)
            losses = torch.where(valid, (hardest_positive - hardest_negative + margin).relu(), 0.0)
            total, count = losses.sum(), valid.sum()
        else:
            total, count = _semi_hard_sum(d, p.positive, p.negative, margin)
        # The global count, so that the rank losses average to the mean over every rank's triplets.
        count = all_reduce_sum(count.to(total.dtype)) if p.ranks > 1 else count.to(total.dtype)
        return total * p.ranks / count.clamp(min=1)


def _semi_hard_sum(d, positive, negative, margin) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum and number of ``d_ap - d_an + margin`` over the triplets with ``d_ap < d_an <= d_ap + margin``.

    For each anchor its negatives' distances are sorted once; a positive's semi-hard negatives are then a
    contiguous run, found by binary search, whose sum is a difference of prefix sums.
    """
    sorted_neg, _ = d.masked_fill(~negative, torch.inf).sort(dim=1)  # (N, K): negatives first, then inf
    finite = torch.where(sorted_neg.isfinite(), sorted_neg, 0.0)
    prefix = torch.cat([finite.new_zeros(d.shape[0], 1), finite.cumsum(dim=1)], dim=1)  # (N, K + 1)
    d_ap = d.detach()
    lo = torch.searchsorted(sorted_neg.detach(), d_ap, right=True)  # negatives with d_an <= d_ap
    hi = torch.searchsorted(sorted_neg.detach(), d_ap + margin, right=True)  # ... with d_an <= d_ap + margin
    n = torch.where(positive, hi - lo, 0)  # (N, K): semi-hard negatives of each (anchor, positive)
    neg_sum = prefix.gather(1, hi) - prefix.gather(1, lo)
    total = torch.where(positive, n * (d + margin) - neg_sum, 0.0).sum()
    return total, n.sum()


class TripletLoss(nn.Module):
    """The triplet margin loss as a module; see :func:`triplet`.

    Args:
        margin: ``>= 0``.
        mining: ``"batch_hard"`` or ``"semi_hard"``.
        distance: ``"euclidean"`` or ``"cosine"``.
        gather_distributed: use all ranks' embeddings as keys under ``torch.distributed``.

    Shape:
        - z: ``(V, B, D)``; labels: ``(B,)`` or None.
        - output: ``()``.

    >>> TripletLoss(margin=0.2)(torch.randn(2, 8, 16)).shape
    torch.Size([])
    """

    def __init__(
        self, margin: float = 0.2, mining: str = "batch_hard", distance: str = "euclidean", gather_distributed=True
    ):
        super().__init__()
        check_margin("margin", margin)
        _check_mining(mining)
        check_distance(distance)
        self.margin, self.mining, self.distance, self.gather_distributed = margin, mining, distance, gather_distributed

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return triplet(
            z,
            labels,
            self.margin,
            mining=self.mining,
            distance=self.distance,
            gather_distributed=self.gather_distributed,
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}, distance={self.distance!r}"
