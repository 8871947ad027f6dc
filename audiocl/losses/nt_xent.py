"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR and CLMR, for any number of views."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from audiocl.losses._core import (
    BeyondBatchLoss,
    anchors_and_keys,
    as_views_with_positives,
    check_similarity,
    check_temperature,
    full_precision,
    multi_positive_loss,
    num_negatives,
    prepared_negatives,
)


def nt_xent(
    z: torch.Tensor | Sequence[torch.Tensor],
    temperature: float = 0.5,
    *,
    similarity: str = "cosine",
    gather_distributed: bool = True,
    keys: torch.Tensor | None = None,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """NT-Xent loss (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
    Representations", SimCLR; Spijkervet & Burgoyne 2021, CLMR).

    The ``N = V * B`` embeddings of ``V`` views of ``B`` clips are anchors. For anchor ``i`` the positives
    ``P(i)`` are the other ``V - 1`` views of the same clip and the candidates are all ``N - 1`` other
    embeddings (the views of the other clips are the negatives)::

        s_ij   = sim(z_i, z_j) / t                  sim = cosine, or the dot product
        loss_i = -1/|P(i)| sum_{p in P(i)} log( exp(s_ip) / sum_{j != i} exp(s_ij) )
        loss   = mean_i loss_i

    With two views this is SimCLR's loss, averaged over both directions of every pair. Under
    ``torch.distributed`` (with ``gather_distributed``), the candidates are the embeddings of all ranks and
    gradients reproduce one process on the concatenated batch (see :mod:`audiocl.losses.distributed`).
    The math runs in float32 (float64 stays float64) with autocast off; the result is that dtype.
    Memory is ``O(N * D)`` plus one 64 MiB block of similarities, not ``O(N^2)``.

    Args:
        z: the views, a ``(V, B, D)`` tensor or a sequence of ``V`` tensors ``(B, D)``, ``V >= 2``.
        temperature: ``t`` (SimCLR 0.5 at batch 4096 after tuning 0.1-1.0; CLMR 0.5).
        similarity: ``"cosine"`` (embeddings L2-normalised first) or ``"dot"``.
        gather_distributed: use all ranks' embeddings as negatives under ``torch.distributed``.
        keys: a momentum encoder's embeddings of the same views ``(V, B, D)``: the candidates are these
            (without gradient) and ``z`` only anchors, MoCo style. The anchor's own view is never a candidate.
        negatives: ``(K, D)`` extra negatives without gradient, e.g. :meth:`MemoryQueue.negatives`.

    Shape:
        - z: ``(V, B, D)`` or ``V`` x ``(B, D)``; keys: ``(V, B, D)``; negatives: ``(K, D)``.
        - output: ``()``.

    >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
    >>> nt_xent([z1, z2], temperature=0.5).shape
    torch.Size([])
    """
    z = as_views_with_positives(z, "nt_xent")
    check_temperature(temperature)
    check_similarity(similarity)
    with full_precision(z):
        q, k, self_index, M = anchors_and_keys(z, similarity, gather_distributed, keys)
        extra = prepared_negatives(k, negatives, similarity)
        clip = torch.arange(M, device=z.device).repeat(z.shape[0])  # (V * M,): the class of each key is its clip
        # Extra negatives share class M, which no anchor has: never a positive.
        clip = torch.cat([clip, clip.new_full((num_negatives(negatives),), M)])
        losses = multi_positive_loss(
            q, k, temperature, self_index, clip, M + 1, negatives=extra, negatives_can_be_positives=False
        )
        return losses.mean()


class NTXent(BeyondBatchLoss):
    """NT-Xent as a module; see :func:`nt_xent` for the formula.

    Args:
        temperature: ``t`` > 0.
        similarity: ``"cosine"`` or ``"dot"``.
        gather_distributed: use all ranks' embeddings as negatives under ``torch.distributed``.

    Shape:
        - z: ``(V, B, D)``, ``V >= 2``; labels: ignored (every clip is its own class).
        - keys, negatives: as :func:`nt_xent`; negative_labels: ignored.
        - output: ``()``.

    >>> loss_fn = NTXent(temperature=0.5)
    >>> loss_fn(torch.randn(2, 8, 16)).shape
    torch.Size([])
    """

    def __init__(self, temperature: float = 0.5, similarity: str = "cosine", gather_distributed: bool = True):
        super().__init__()
        check_temperature(temperature)
        check_similarity(similarity)
        self.temperature, self.similarity, self.gather_distributed = temperature, similarity, gather_distributed

    def loss(self, z, labels, keys, negatives, negative_labels) -> torch.Tensor:
        return nt_xent(
            z,
            self.temperature,
            similarity=self.similarity,
            gather_distributed=self.gather_distributed,
            keys=keys,
            negatives=negatives,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, similarity={self.similarity!r}"
