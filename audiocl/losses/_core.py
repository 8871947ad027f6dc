"""Shared machinery of the contrastive losses: view stacking, precision, and a memory-light log-sum-exp.

Precision: every loss upcasts its embeddings to at least float32 and turns autocast off, so similarities,
log-sum-exps and the loss are float32 (float64 stays float64) whatever the input precision. A float16
log-softmax of ``s / 0.07`` is what caps the peers' per-pair loss near 9.7.

Memory: :func:`masked_logsumexp` never holds the whole ``(anchors, keys)`` similarity matrix. It works on
blocks of rows and recomputes them in backward (as FlashAttention does), so a loss over ``N`` embeddings
needs ``O(N * D + block)`` memory rather than the ``O(N^2)`` of autograd through a full matrix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from audiocl.losses.distributed import gather_keys, gather_no_grad, rank

# Elements of one (rows, keys) block of similarities: 2**24 float32 = 64 MiB, large enough for full-speed
# matrix products and small enough that B = 4096 two-view batches train in a few hundred MB.
_BLOCK_ELEMENTS = 2**24

SIMILARITIES = ("cosine", "dot")


def as_views(z: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack a ``(V, B, D)`` tensor or a sequence of ``(B, D)`` view tensors into ``(V, B, D)``."""
    if isinstance(z, torch.Tensor):
        if z.dim() != 3:
            raise ValueError(f"expected embeddings of shape (views, batch, dim), got {tuple(z.shape)}")
        return z
    views = list(z)
    shapes = {tuple(v.shape) for v in views}
    if not views or len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"expected a sequence of (batch, dim) views of one shape, got shapes {sorted(shapes)}")
    return torch.stack(views)


def as_views_with_positives(z: torch.Tensor | Sequence[torch.Tensor], loss: str) -> torch.Tensor:
    """:func:`as_views`, checking that there are at least 2 views (each clip needs a positive)."""
    z = as_views(z)
    if z.shape[0] < 2:
        raise ValueError(f"{loss} needs at least 2 views per clip (positives), got {z.shape[0]}")
    return z


def check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def check_similarity(similarity: str) -> None:
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")


def full_precision(z: torch.Tensor) -> contextlib.AbstractContextManager:
    """Autocast off on ``z``'s device: the loss math must not be recast to float16/bfloat16."""
    return torch.autocast(device_type=z.device.type, enabled=False)


def upcast(z: torch.Tensor, similarity: str = "dot") -> torch.Tensor:
    """``z`` in at least float32, L2-normalised along the last dim for cosine similarity."""
    z = z.to(torch.promote_types(z.dtype, torch.float32))
    return torch.nn.functional.normalize(z, dim=-1) if similarity == "cosine" else z


def anchors_and_keys(
    z: torch.Tensor, similarity: str, gather_distributed: bool, keys: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """This rank's embeddings as anchors, all ranks' as keys, and each anchor's own position among the keys.

    Key ``v * M + m`` is view ``v`` of clip ``m`` of the (gathered) batch of ``M`` clips. With ``keys`` (the
    momentum encoder's embeddings of the same views, MoCo style) those are the keys instead: gathered without
    gradient, since only the anchors' encoder learns.

    Shape:
        - z, keys: ``(V, B, D)``.
        - output: anchors ``(V * B, D)``, keys ``(V * M, D)``, self index ``(V * B,)``, and ``M``.
    """
    V, B, D = z.shape
    z = upcast(z, similarity)
    if keys is None:
        k, offset = gather_keys(z, dim=1, enabled=gather_distributed)  # (V, M, D)
    else:
        if keys.shape != z.shape:
            raise ValueError(f"keys must have the anchors' shape {tuple(z.shape)}, got {tuple(keys.shape)}")
        k = upcast(keys.detach().to(z.dtype), similarity)
        if gather_distributed:
            k, offset = gather_no_grad(k, dim=1), rank() * B
        else:
            offset = 0
    M = k.shape[1]
    views, clips = torch.arange(V, device=z.device), torch.arange(B, device=z.device)
    self_index = (views[:, None] * M + offset + clips).flatten()  # (V * B,)
    return z.reshape(V * B, D), k.reshape(V * M, D), self_index, M


def prepared_negatives(k: torch.Tensor, negatives: torch.Tensor | None, similarity: str) -> torch.Tensor | None:
    """Extra negatives (a memory queue's) in the keys' dtype and similarity, without gradient; None if none.

    Shape:
        - k: ``(N, D)``; negatives: ``(K, D)`` or None.
        - output: ``(K, D)`` or None.
    """
    if negatives is None or negatives.shape[0] == 0:
        return None
    if negatives.dim() != 2 or negatives.shape[1] != k.shape[1]:
        raise ValueError(f"negatives must have shape (K, {k.shape[1]}), got {tuple(negatives.shape)}")
    return upcast(negatives.detach().to(k), similarity)


def num_negatives(negatives: torch.Tensor | None) -> int:
    return 0 if negatives is None else negatives.shape[0]


class BeyondBatchLoss(nn.Module):
    """Base of the loss modules that also take negatives from beyond the batch.

    ``forward(z, labels=None, *, keys=None, negatives=None, negative_labels=None)``: a momentum encoder's keys
    ``(V, B, D)`` and a memory queue's negatives ``(K, D)`` with their labels ``(K,)``; a subclass implements
    ``loss`` with the same arguments.
    """

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        keys: torch.Tensor | None = None,
        negatives: torch.Tensor | None = None,
        negative_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.loss(z, labels, keys, negatives, negative_labels)

    def loss(self, z, labels, keys, negatives, negative_labels) -> torch.Tensor:
        raise NotImplementedError


def _blocks(rows: int, cols: int):
    step = max(1, _BLOCK_ELEMENTS // max(cols, 1))
    for start in range(0, rows, step):
        yield slice(start, min(start + step, rows))


def _block_logits(q, k, rows, self_index, q_class, k_class) -> torch.Tensor:
    """Logits ``q[rows] @ k.T`` with the anchor itself (or, given classes, its whole class) masked out."""
    s = q[rows] @ k.T  # (R, K)
    low = torch.finfo(s.dtype).min  # large negative, not -inf: exp() gives exactly 0 without inf - inf
    if q_class is not None:
        s.masked_fill_(q_class[rows, None] == k_class[None, :], low)
    else:
        s[torch.arange(s.shape[0], device=s.device), self_index[rows]] = low
    return s


class _MaskedLogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, self_index, q_class, k_class, extra):
        keys = k if extra is None else torch.cat([k, extra])
        lse = q.new_empty(q.shape[0])
        for rows in _blocks(q.shape[0], keys.shape[0]):
            lse[rows] = torch.logsumexp(_block_logits(q, keys, rows, self_index, q_class, k_class), dim=1)
        ctx.save_for_backward(q, keys, self_index, q_class, k_class, lse)
        ctx.grad_keys = k.shape[0] if ctx.needs_input_grad[1] else 0
        return lse

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_lse):
        q, keys, self_index, q_class, k_class, lse = ctx.saved_tensors
        # d lse_i / d s_ij = softmax_ij =: P. grad_q = g * (P @ k), grad_k = P.T @ (g * q): the incoming
        # gradient g scales (N, D) rows, never the (rows, keys) block. The extra keys (a queue's) and keys
        # without gradient (a momentum encoder's) get none computed: with a large queue that is most of the work.
        n = ctx.grad_keys
        grad_q, grad_k = torch.empty_like(q), keys.new_zeros(n, keys.shape[1]) if n else None
        weighted_q = q * grad_lse[:, None]
        for rows in _blocks(q.shape[0], keys.shape[0]):
            p = _block_logits(q, keys, rows, self_index, q_class, k_class).sub_(lse[rows, None]).exp_()
            grad_q[rows] = p @ keys
            if n:
                grad_k.addmm_(p[:, :n].T, weighted_q[rows])
        return grad_q.mul_(grad_lse[:, None]), grad_k, None, None, None, None


def masked_logsumexp(
    q: torch.Tensor,
    k: torch.Tensor,
    self_index: torch.Tensor,
    q_class: torch.Tensor | None = None,
    k_class: torch.Tensor | None = None,
    extra: torch.Tensor | None = None,
) -> torch.Tensor:
    """``lse_i = log sum_j exp(q_i . k_j)`` over the keys ``j`` other than anchor ``i`` itself.

    Scale ``q`` by ``1 / temperature`` first (an ``(N, D)`` product rather than an ``(N, N)`` one). With
    ``q_class``/``k_class`` given, every key of the anchor's class is excluded instead (negatives only).

    Shape:
        - q: ``(Nq, D)`` anchors; k: ``(Nk, D)`` keys, same dtype.
        - self_index: ``(Nq,)`` position of each anchor among the keys.
        - q_class, k_class: ``(Nq,)``, ``(Nk + K,)`` integer classes, or None.
        - extra: ``(K, D)`` keys after ``k`` that get no gradient (a memory queue's negatives), or None.
        - output: ``(Nq,)``.
    """
    return _MaskedLogSumExp.apply(q, k, self_index, q_class, k_class, extra)


def multi_positive_loss(
    q: torch.Tensor,
    k: torch.Tensor,
    temperature: float,
    self_index: torch.Tensor,
    k_class: torch.Tensor,
    num_classes: int,
    negatives: torch.Tensor | None = None,
    negatives_can_be_positives: bool = True,
) -> torch.Tensor:
    """Per-anchor ``-1/|P(i)| sum_{p in P(i)} log softmax_{j != i}(s_ij)[p]``, with ``s = q . k / t``.

    ``P(i)`` are the keys of the anchor's class other than itself. The positive term is linear in the
    logits, so it is one dot product with the sum of the class's keys (minus the anchor's own key): no
    ``(N, N)`` mask is built. ``negatives`` are extra keys after ``k``, without gradient (a memory queue's);
    ``negatives_can_be_positives=False`` says that none has an anchor's class (NT-Xent's), which skips them in
    the class sums.

    Shape:
        - q: ``(Nq, D)``; k: ``(Nk, D)``; self_index: ``(Nq,)``; negatives: ``(K, D)`` or None.
        - k_class: ``(Nk + K,)`` in ``[0, num_classes)``.
        - output: ``(Nq,)``; anchors without a positive get 0.
    """
    q = q / temperature
    lse = masked_logsumexp(q, k, self_index, extra=negatives)
    n = k.shape[0]
    class_sums = k.new_zeros(num_classes, k.shape[1]).index_add(0, k_class[:n], k)  # (C, D)
    if negatives is not None and negatives_can_be_positives:
        class_sums = class_sums.index_add(0, k_class[n:], negatives)
    counts = torch.bincount(k_class, minlength=num_classes)  # (C,)
    q_class = k_class[self_index]
    num_pos = counts[q_class] - 1  # (Nq,)
    pos_sum = class_sums[q_class] - k[self_index]  # (Nq, D): sum of the positives' keys
    mean_pos_logit = (q * pos_sum).sum(-1) / num_pos.clamp(min=1)
    return torch.where(num_pos > 0, lse - mean_pos_logit, 0.0)
