"""Contrastive losses: exact, stable in half precision, light on memory, right across processes.

Functions take embeddings and return a scalar; each has a thin module whose ``forward(z, labels=None)``
takes ``z`` of shape ``(views, batch, dim)``, so a training loop can swap them via :func:`create_loss`.

>>> import torch
>>> from audiocl import losses
>>> z = torch.randn(2, 8, 16)                        # (views, batch, dim)
>>> losses.nt_xent(z, temperature=0.5).shape
torch.Size([])
>>> loss_fn = losses.create_loss("bilinear", dim=16)
>>> loss_fn(z).shape
torch.Size([])
"""

from __future__ import annotations

from torch import nn

from audiocl.losses import distributed
from audiocl.losses.bilinear import BilinearLoss, bilinear
from audiocl.losses.contrastive import MarginContrastiveLoss, margin_contrastive
from audiocl.losses.debiased import DebiasedNTXent, debiased_nt_xent
from audiocl.losses.distributed import gather_with_grad
from audiocl.losses.hard_negative import HardNegativeNTXent, hard_negative_nt_xent
from audiocl.losses.nt_xent import NTXent, nt_xent
from audiocl.losses.queue import MemoryQueue
from audiocl.losses.supcon import SupCon, supcon
from audiocl.losses.triplet import TripletLoss, triplet

LOSSES = {
    "nt_xent": NTXent,
    "supcon": SupCon,
    "bilinear": BilinearLoss,
    "debiased_nt_xent": DebiasedNTXent,
    "hard_negative_nt_xent": HardNegativeNTXent,
    "triplet": TripletLoss,
    "margin_contrastive": MarginContrastiveLoss,
}
# The losses whose forward takes a momentum encoder's ``keys`` and a memory queue's ``negatives`` (and
# ``negative_labels``) as keyword arguments.
QUEUE_LOSSES = frozenset({"nt_xent", "supcon", "bilinear", "debiased_nt_xent", "hard_negative_nt_xent"})
KEY_LOSSES = QUEUE_LOSSES


def create_loss(name: str, dim: int, **kwargs) -> nn.Module:
    """The loss module called ``name``, built with ``kwargs`` (``dim`` is used by ``"bilinear"`` only).

    Names: ``"nt_xent"``, ``"supcon"``, ``"bilinear"``, ``"debiased_nt_xent"``, ``"hard_negative_nt_xent"``,
    ``"triplet"``, ``"margin_contrastive"``. Every module's forward is
    ``forward(z: (V, B, D), labels: (B,) | None = None) -> ()``; those of :data:`QUEUE_LOSSES` also take
    ``keys=`` (a momentum encoder's ``(V, B, D)``), ``negatives=`` ``(K, D)`` and ``negative_labels=`` ``(K,)``.

    >>> create_loss("nt_xent", dim=128, temperature=0.1)
    NTXent(temperature=0.1, similarity='cosine')
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    if name == "bilinear":
        return BilinearLoss(dim, **kwargs)
    return LOSSES[name](**kwargs)


__all__ = [
    "KEY_LOSSES",
    "LOSSES",
    "QUEUE_LOSSES",
    "BilinearLoss",
    "DebiasedNTXent",
    "HardNegativeNTXent",
    "MarginContrastiveLoss",
    "MemoryQueue",
    "NTXent",
    "SupCon",
    "TripletLoss",
    "bilinear",
    "create_loss",
    "debiased_nt_xent",
    "distributed",
    "gather_with_grad",
    "hard_negative_nt_xent",
    "margin_contrastive",
    "nt_xent",
    "supcon",
    "triplet",
]
