"""COLA's loss: a learned bilinear similarity with cross-entropy over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiocl.losses._core import BeyondBatchLoss, full_precision
from audiocl.losses.distributed import gather_keys


def bilinear(
    anchors: torch.Tensor,
    positives: torch.Tensor,
    weight: torch.Tensor,
    *,
    gather_distributed: bool = True,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Bilinear contrastive loss of COLA (Saeed, Grangier & Zeghidour 2021, "Contrastive Learning of
    General-Purpose Audio Representations").

    Anchor ``a_i`` (a segment of clip ``i``) must pick its positive ``p_i`` (another segment of the same clip)
    among the positives of all clips in the batch; the other clips' segments are the negatives::

        s(a, p) = a^T W p                       W: (D, D), learned
        loss    = mean_i -log( exp(s(a_i, p_i)) / sum_j exp(s(a_i, p_j)) )

    One direction only and no temperature, as in the reference code (``W`` sets the scale). Under
    ``torch.distributed`` the positives of all ranks are candidates (see :mod:`audiocl.losses.distributed`).
    The math runs in float32 or wider with autocast off.

    Args:
        anchors: ``(B, D)`` head outputs ``g(x)`` of the anchors.
        positives: ``(B, D)`` head outputs of their positives.
        weight: ``(D, D)`` bilinear matrix ``W``.
        gather_distributed: use all ranks' positives as candidates under ``torch.distributed``.
        negatives: ``(K, D)`` extra candidates without gradient (a memory queue's earlier positives).

    Shape:
        - anchors, positives: ``(B, D)``; weight: ``(D, D)``; negatives: ``(K, D)``.
        - output: ``()``.

    >>> a, p, w = torch.randn(8, 16), torch.randn(8, 16), 0.05 * torch.randn(16, 16)
    >>> bilinear(a, p, w).shape
    torch.Size([])
    """
    if anchors.dim() != 2 or anchors.shape != positives.shape or weight.shape != (anchors.shape[1],) * 2:
        raise ValueError(
            f"expected anchors and positives (B, D) and weight (D, D), got {tuple(anchors.shape)}, "
            f"{tuple(positives.shape)} and {tuple(weight.shape)}"
        )
    dtype = torch.promote_types(torch.promote_types(anchors.dtype, weight.dtype), torch.float32)
    with full_precision(anchors):
        keys, offset = gather_keys(positives.to(dtype), dim=0, enabled=gather_distributed)  # (M, D)
        if negatives is not None:
            keys = torch.cat([keys, negatives.detach().to(keys)])  # (M + K, D)
        logits = (anchors.to(dtype) @ weight.to(dtype)) @ keys.T  # (B, M)
        targets = offset + torch.arange(anchors.shape[0], device=anchors.device)
        return F.cross_entropy(logits, targets)


class BilinearLoss(BeyondBatchLoss):
    """COLA's bilinear loss, owning ``W``; see :func:`bilinear` for the formula.

    ``W`` starts as ``N(0, 0.05^2)``, Keras's ``random_normal`` used by the reference code.

    Args:
        dim: embedding size ``D`` (512 in COLA).
        gather_distributed: use all ranks' positives as candidates under ``torch.distributed``.

    Shape:
        - z: ``(2, B, D)``: anchors ``z[0]``, positives ``z[1]``; labels, negative_labels: ignored.
        - keys: ``(2, B, D)``, a momentum encoder's (its ``keys[1]`` are the candidates); negatives: ``(K, D)``.
        - output: ``()``.

    >>> loss_fn = BilinearLoss(16)
    >>> loss_fn(torch.randn(2, 8, 16)).shape
    torch.Size([])
    """

    def __init__(self, dim: int, gather_distributed: bool = True):
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be a positive embedding size, got {dim}")
        self.weight = nn.Parameter(torch.randn(dim, dim) * 0.05)
        self.gather_distributed = gather_distributed

    def loss(self, z, labels, keys, negatives, negative_labels) -> torch.Tensor:
        if z.dim() != 3 or z.shape[0] != 2:
            raise ValueError(f"BilinearLoss expects z (2, batch, dim): anchors, positives; got {tuple(z.shape)}")
        if keys is not None and keys.shape != z.shape:
            raise ValueError(f"keys must have the shape of z {tuple(z.shape)}, got {tuple(keys.shape)}")
        # With a momentum encoder its positives are the candidates, without gradient (MoCo style).
        positives = z[1] if keys is None else keys[1].detach()
        return bilinear(z[0], positives, self.weight, gather_distributed=self.gather_distributed, negatives=negatives)

    def extra_repr(self) -> str:
        return f"dim={self.weight.shape[0]}"
