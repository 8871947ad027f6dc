"""Shared machinery of the metric-learning losses (triplet, margin contrastive): distances and classes.

Like the softmax losses, the anchors are this rank's embeddings and the keys those of every rank (gathered
with gradients, :mod:`audiocl.losses.distributed`), so a rank's loss is its share of the global loss. Unlike
them they hold the whole ``(anchors, keys)`` distance matrix: these losses are for metric-learning batch
sizes (hundreds), not for thousands of clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from audiocl.losses._core import anchors_and_keys, as_views
from audiocl.losses.distributed import gather_no_grad

DISTANCES = ("cosine", "euclidean")


def check_distance(distance: str) -> None:
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


def check_margin(name: str, margin: float) -> None:
    if not margin >= 0:
        raise ValueError(f"{name} must be >= 0, got {margin}")


@dataclass
class Pairs:
    """Distances of this rank's anchors to all keys, and which pairs are positives or negatives.

    Shape: distance, positive, negative ``(V * B, V * M)``; key_class ``(V * M,)``; ``ranks = M // B``.
    """

    distance: torch.Tensor
    positive: torch.Tensor  # same class, not the anchor itself
    negative: torch.Tensor  # another class
    key_class: torch.Tensor
    ranks: int


def pairs(z: torch.Tensor, labels: torch.Tensor | None, distance: str, gather_distributed: bool) -> Pairs:
    """The anchors' distances to the keys; a clip's class is its label, or the clip itself without labels.

    Both distances are on L2-normalised embeddings (as pytorch-metric-learning's defaults): ``1 - cos`` or
    the Euclidean ``||a - b||`` (in ``[0, 2]``). Call under :func:`full_precision`.
    """
    z = as_views(z)
    V, B, D = z.shape
    if labels is not None and labels.shape != (B,):
        raise ValueError(f"labels must have shape ({B},) for embeddings {tuple(z.shape)}, got {tuple(labels.shape)}")
    q, k, self_index, M = anchors_and_keys(z, "cosine", gather_distributed)
    if labels is None:
        clip_class = torch.arange(M, device=z.device)
    else:
        labels = labels.to(z.device)
        clip_class = gather_no_grad(labels) if M != B else labels  # (M,)
    key_class = clip_class.repeat(V)  # (V * M,)
    d = 1 - q @ k.T if distance == "cosine" else torch.cdist(q, k)  # (V * B, V * M)
    same = key_class[self_index][:, None] == key_class[None, :]
    positive = same.clone()
    positive[torch.arange(len(self_index), device=z.device), self_index] = False
    return Pairs(d, positive, ~same, key_class, M // B)
