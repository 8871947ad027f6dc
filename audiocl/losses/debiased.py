"""Debiased NT-Xent (Chuang et al. 2020): corrects the negatives' sum for same-class false negatives."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from audiocl.losses._core import (
    BeyondBatchLoss,
    anchors_and_keys,
    as_views_with_positives,
    check_temperature,
    full_precision,
    masked_logsumexp,
    num_negatives,
    prepared_negatives,
)


def check_tau_plus(tau_plus: float) -> None:
    if not 0 <= tau_plus < 1:
        raise ValueError(f"tau_plus (class prior) must be in [0, 1), got {tau_plus}")


def debiased_nt_xent(
    z: torch.Tensor | Sequence[torch.Tensor],
    temperature: float = 0.5,
    tau_plus: float = 0.1,
    *,
    gather_distributed: bool = True,
    keys: torch.Tensor | None = None,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Debiased contrastive loss (Chuang et al. 2020, "Debiased Contrastive Learning", eq. 6 and its code).

    A uniformly drawn "negative" has the anchor's class with probability ``tau_plus``. The debiased
    estimate of the negatives' term removes that share of positives, clamped at its theoretical minimum
    (every cosine similarity is at least -1). For anchor ``i`` with positive ``p`` and the ``n = N - V``
    views of other clips as negatives::

        pos = exp(s_ip),  s_ij = cos(z_i, z_j) / t
        Ng  = max( (sum_neg exp(s_ij) - tau_plus * n * pos) / (1 - tau_plus),  n * e^(-1/t) )
        loss_ip = -log( pos / (pos + Ng) ),   loss = mean over anchors and their positives

    With two views this is the reference code's loss, and ``tau_plus = 0`` gives :func:`nt_xent`; with more
    views each positive is scored against the negatives alone. Everything runs in log space (float32 or
    wider, autocast off), so the clamp and the subtraction stay exact at small temperatures. Distributed
    behaviour as :func:`nt_xent`.

    Args:
        z: ``(V, B, D)`` or ``V`` x ``(B, D)`` views, ``V >= 2``, ``B >= 2``; cosine similarity.
        temperature: ``t`` (0.5 in the paper's CIFAR10/STL10 runs).
        tau_plus: class prior in ``[0, 1)`` (0.1 for CIFAR10's ten classes).
        gather_distributed: use all ranks' embeddings as negatives under ``torch.distributed``.
        keys: a momentum encoder's embeddings of the same views, the candidates (MoCo style).
        negatives: ``(K, D)`` extra negatives without gradient (a memory queue's keys); they count in ``n``.

    Shape:
        - z: ``(V, B, D)`` or ``V`` x ``(B, D)``; keys: as z; negatives: ``(K, D)``.
        - output: ``()``.

    >>> debiased_nt_xent(torch.randn(2, 8, 16), temperature=0.5, tau_plus=0.1).shape
    torch.Size([])
    """
    return debiased_loss(z, temperature, tau_plus, 0.0, gather_distributed, keys, negatives, "debiased_nt_xent")


def debiased_loss(
    z: torch.Tensor | Sequence[torch.Tensor],
    temperature: float,
    tau_plus: float,
    beta: float,
    gather_distributed: bool,
    keys: torch.Tensor | None,
    negatives: torch.Tensor | None,
    name: str,
) -> torch.Tensor:
    """The debiased loss with the negatives' term reweighted by ``exp(beta * s)`` (Robinson et al. 2021);
    ``beta = 0`` skips the reweighting altogether, so it is Chuang et al.'s loss exactly."""
    z = as_views_with_positives(z, name)
    V, B, D = z.shape
    check_temperature(temperature)
    check_tau_plus(tau_plus)
    with full_precision(z):
        q, k, self_index, M = anchors_and_keys(z, "cosine", gather_distributed, keys)
        K = num_negatives(negatives)
        if M < 2 and K == 0:
            raise ValueError(f"{name} needs at least 2 clips in the (gathered) batch for negatives")
        extra = prepared_negatives(k, negatives, "cosine")  # after the keys, without gradient
        dev = z.device
        clip = torch.arange(M, device=dev).repeat(V)  # (V * M,): the class of each key is its clip
        clip = torch.cat([clip, clip.new_full((K,), M)])  # the extra negatives: a class no anchor has
        q = q / temperature
        n = V * M - V + K  # negatives per anchor
        if beta == 0:
            lse_neg = masked_logsumexp(q, k, self_index, clip[self_index], clip, extra)  # (V*B,)
        else:
            # log of n * sum_j e^((1 + beta) s_ij) / sum_j e^(beta s_ij): the negatives' sum, each weighted
            # by its share of e^(beta s), as the reference code's reweight_neg.
            lse_hard = masked_logsumexp(q * (1 + beta), k, self_index, clip[self_index], clip, extra)
            lse_weights = masked_logsumexp(q * beta, k, self_index, clip[self_index], clip, extra)
            lse_neg = math.log(n) + lse_hard - lse_weights
        # Positives of anchor (v, b): key (v', b) = self index + (v' - v) * M, for the views v' != v.
        views = torch.arange(V, device=dev)
        shift = (views[None, :] - views[:, None])[~torch.eye(V, dtype=torch.bool, device=dev)].view(V, V - 1)
        pos_index = self_index.view(V, B, 1) + M * shift[:, None, :]  # (V, B, V - 1)
        pos = torch.einsum("nd,npd->np", q, k[pos_index.view(V * B, V - 1)])  # (V * B, V - 1)
        floor = math.log(n) - 1 / temperature  # log(n * e^(-1/t))
        # log Ng = lse_neg + log(1 - r) - log(1 - tau_plus), r = tau_plus * n * pos / sum_neg; clamp if r >= 1.
        log_r = (math.log(tau_plus * n) if tau_plus > 0 else -math.inf) + pos - lse_neg[:, None]
        ok = log_r < 0
        safe_log_r = torch.where(ok, log_r, -1.0)  # keeps the unused branch finite so its gradient is 0, not NaN
        log_ng = lse_neg[:, None] + torch.log1p(-safe_log_r.exp()) - math.log1p(-tau_plus)
        log_ng = torch.where(ok, torch.maximum(log_ng, torch.full_like(log_ng, floor)), floor)
        return (torch.logaddexp(pos, log_ng) - pos).mean()


class DebiasedNTXent(BeyondBatchLoss):
    """Debiased NT-Xent as a module; see :func:`debiased_nt_xent` for the formula.

    Args:
        temperature: ``t`` > 0.
        tau_plus: class prior in ``[0, 1)``.
        gather_distributed: use all ranks' embeddings as negatives under ``torch.distributed``.

    Shape:
        - z: ``(V, B, D)``; labels, negative_labels: ignored; keys, negatives: as :func:`debiased_nt_xent`.
        - output: ``()``.

    >>> DebiasedNTXent(temperature=0.5, tau_plus=0.1)(torch.randn(2, 8, 16)).shape
    torch.Size([])
    """

    def __init__(self, temperature: float = 0.5, tau_plus: float = 0.1, gather_distributed: bool = True):
        super().__init__()
        check_temperature(temperature)
        check_tau_plus(tau_plus)
        self.temperature, self.tau_plus, self.gather_distributed = temperature, tau_plus, gather_distributed

    def loss(self, z, labels, keys, negatives, negative_labels) -> torch.Tensor:
        return debiased_nt_xent(
            z,
            self.temperature,
            self.tau_plus,
            gather_distributed=self.gather_distributed,
            keys=keys,
            negatives=negatives,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, tau_plus={self.tau_plus}"
