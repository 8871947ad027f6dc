"""Supervised contrastive loss (SupCon, L_out): every embedding of the same label is a positive."""

from __future__ import annotations

import torch

from audiocl.losses._core import (
    BeyondBatchLoss,
    anchors_and_keys,
    check_similarity,
    check_temperature,
    full_precision,
    multi_positive_loss,
    prepared_negatives,
)
from audiocl.losses.distributed import gather_no_grad
from audiocl.losses.nt_xent import nt_xent


def supcon(
    z: torch.Tensor,
    labels: torch.Tensor | None,
    temperature: float = 0.07,
    *,
    similarity: str = "cosine",
    gather_distributed: bool = True,
    keys: torch.Tensor | None = None,
    negatives: torch.Tensor | None = None,
    negative_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Supervised contrastive loss L_out (Khosla et al. 2020, "Supervised Contrastive Learning", eq. 2).

    All ``N`` embeddings are anchors. ``P(i)`` are the other embeddings with anchor ``i``'s label (every
    view of every clip of that class), ``A(i)`` all embeddings but ``i``::

        s_ij   = sim(z_i, z_j) / t
        loss_i = -1/|P(i)| sum_{p in P(i)} log( exp(s_ip) / sum_{a in A(i)} exp(s_ia) )
        loss   = mean of loss_i over the anchors with |P(i)| > 0

    Anchors without positives (a label seen once, in a single view) have no defined L_out and are left out
    of the mean, as in pytorch-metric-learning's ``SupConLoss``; when no anchor has a positive the loss is 0
    (with zero gradient). The ``t / base_t`` factor of the reference code is 1 at its defaults and omitted.
    With ``labels=None`` and ``(V, B, D)`` input, every clip is its own class: this is :func:`nt_xent`.
    Under ``torch.distributed`` (``gather_distributed``), embeddings and labels of all ranks are candidates
    and gradients reproduce one process on the concatenated batch (:mod:`audiocl.losses.distributed`).
    The math runs in float32 or wider with autocast off.

    Args:
        z: ``(V, B, D)`` views of ``B`` clips, or ``(N, D)`` embeddings.
        labels: integer labels ``(B,)`` per clip (shared by its views) or ``(N,)`` per embedding.
        temperature: ``t`` (0.07 in the paper, 0.1 in its code's CIFAR runs).
        similarity: ``"cosine"`` (the paper) or ``"dot"``.
        gather_distributed: use all ranks' embeddings as candidates under ``torch.distributed``.
        keys: a momentum encoder's embeddings of the same views (candidates without gradient, MoCo style).
        negatives: ``(K, D)`` extra candidates without gradient (a memory queue's keys). Despite the name,
            those of the anchor's label are positives, as in the batch.
        negative_labels: ``(K,)`` their labels; required with ``negatives`` when ``labels`` are given.

    Shape:
        - z: ``(V, B, D)`` or ``(N, D)``; labels: ``(B,)`` or ``(N,)``; keys: as z.
        - negatives: ``(K, D)``; negative_labels: ``(K,)``.
        - output: ``()``.

    >>> z, labels = torch.randn(2, 8, 16), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    >>> supcon(z, labels).shape
    torch.Size([])
    """
    check_temperature(temperature)
    check_similarity(similarity)
    if z.dim() == 2:
        z = z[None]  # one "view" of N embeddings
        keys = None if keys is None else keys[None]
    elif z.dim() != 3:
        raise ValueError(f"expected embeddings (views, batch, dim) or (N, dim), got {tuple(z.shape)}")
    V, B, D = z.shape
    if labels is None:
        if V < 2:
            raise ValueError("supcon needs labels for (N, dim) embeddings; pass labels of shape (N,)")
        return nt_xent(
            z, temperature, similarity=similarity, gather_distributed=gather_distributed, keys=keys, negatives=negatives
        )
    if labels.shape != (B,):
        raise ValueError(f"labels must have shape ({B},) for embeddings {tuple(z.shape)}, got {tuple(labels.shape)}")
    K = 0 if negatives is None else negatives.shape[0]
    if K and (negative_labels is None or negative_labels.shape != (K,)):
        raise ValueError(f"negative_labels must have shape ({K},) for negatives {tuple(negatives.shape)}")
    with full_precision(z):
        q, k, self_index, M = anchors_and_keys(z, similarity, gather_distributed, keys)
        extra = prepared_negatives(k, negatives, similarity)
        labels = labels.to(z.device)
        all_labels = gather_no_grad(labels) if M != B else labels  # (M,)
        if K:
            all_labels = torch.cat([all_labels, negative_labels.to(labels)])
        classes, inverse = torch.unique(all_labels, return_inverse=True)  # (C,), (M + K,)
        k_class = torch.cat([inverse[:M].repeat(V), inverse[M:]])  # (V * M + K,)
        losses = multi_positive_loss(q, k, temperature, self_index, k_class, len(classes), negatives=extra)
        # Mean over the anchors with positives of all ranks, times the number of ranks gathered: the rank
        # losses then average to the global loss (see audiocl.losses.distributed).
        counts = torch.bincount(k_class, minlength=len(classes))  # keys per class: all ranks and the negatives
        num_valid = (counts[inverse[:M]] > 1).sum() * V
        return losses.sum() * (M // B) / num_valid.clamp(min=1)


class SupCon(BeyondBatchLoss):
    """Supervised contrastive loss as a module; see :func:`supcon` for the formula.

    Args:
        temperature: ``t`` > 0.
        similarity: ``"cosine"`` or ``"dot"``.
        gather_distributed: use all ranks' embeddings as candidates under ``torch.distributed``.

    Shape:
        - z: ``(V, B, D)``; labels: ``(B,)``, or None for instance discrimination (= NT-Xent).
        - keys, negatives, negative_labels: as :func:`supcon`.
        - output: ``()``.

    >>> SupCon()(torch.randn(2, 4, 16), torch.tensor([0, 0, 1, 1])).shape
    torch.Size([])
    """

    def __init__(self, temperature: float = 0.07, similarity: str = "cosine", gather_distributed: bool = True):
        super().__init__()
        check_temperature(temperature)
        check_similarity(similarity)
        self.temperature, self.similarity, self.gather_distributed = temperature, similarity, gather_distributed

    def loss(self, z, labels, keys, negatives, negative_labels) -> torch.Tensor:
        return supcon(
            z,
            labels,
            self.temperature,
            similarity=self.similarity,
            gather_distributed=self.gather_distributed,
            keys=keys,
            negatives=negatives,
            negative_labels=negative_labels,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, similarity={self.similarity!r}"
