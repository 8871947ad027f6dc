"""Hard-negative NT-Xent (Robinson et al. 2021): negatives weighted by their similarity, and debiased."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from audiocl.losses._core import BeyondBatchLoss, check_temperature
from audiocl.losses.debiased import check_tau_plus, debiased_loss


def _check_beta(beta: float) -> None:
    if not beta >= 0:
        raise ValueError(f"beta (hardness concentration) must be >= 0, got {beta}")


def hard_negative_nt_xent(
    z: torch.Tensor | Sequence[torch.Tensor],
    temperature: float = 0.5,
    tau_plus: float = 0.1,
    beta: float = 1.0,
    *,
    gather_distributed: bool = True,
    keys: torch.Tensor | None = None,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Contrastive loss with hard negative samples (Robinson, Chuang, Sra & Jegelka 2021, "Contrastive
    Learning with Hard Negative Samples", eq. 4 and its code's ``estimator='hard'``).

    Negatives are drawn in proportion to ``exp(beta * s)``: the similar (hard) ones weigh more. The
    importance-weighted negatives' term replaces the plain sum of :func:`debiased_nt_xent`, then the same
    debiasing by the class prior ``tau_plus`` (Chuang et al. 2020) and the same clamp apply. For anchor ``i``
    with positive ``p`` and its ``n`` negatives ``j``::

        s_ij = cos(z_i, z_j) / t,  pos = exp(s_ip)
        R    = n * sum_j exp((1 + beta) s_ij) / sum_j exp(beta s_ij)       (the reference's reweight_neg)
        Ng   = max( (R - tau_plus * n * pos) / (1 - tau_plus),  n * e^(-1/t) )
        loss_ip = -log( pos / (pos + Ng) ),   loss = mean over anchors and their positives

    ``beta = 0`` is :func:`debiased_nt_xent` exactly (the same computation); ``beta = 0`` and ``tau_plus = 0``
    is :func:`nt_xent`. In log space, float32 or wider, autocast off; distributed behaviour as :func:`nt_xent`.

    Args:
        z: ``(V, B, D)`` or ``V`` x ``(B, D)`` views, ``V >= 2``; cosine similarity.
        temperature: ``t`` (0.5, the default of the reference code's image/main.py).
        tau_plus: class prior in ``[0, 1)`` (0.1 in its image/launch.sh, STL10).
        beta: concentration ``>= 0`` (1.0 in its image/launch.sh, STL10).
        gather_distributed: use all ranks' embeddings as negatives under ``torch.distributed``.
        keys: a momentum encoder's embeddings of the same views, the candidates (MoCo style).
        negatives: ``(K, D)`` extra negatives without gradient (a memory queue's keys).

    Shape:
        - z: ``(V, B, D)`` or ``V`` x ``(B, D)``; keys: as z; negatives: ``(K, D)``.
        - output: ``()``.

    >>> hard_negative_nt_xent(torch.randn(2, 8, 16), temperature=0.5, tau_plus=0.1, beta=1.0).shape
    torch.Size([])
    """
    _check_beta(beta)
    return debiased_loss(z, temperature, tau_plus, beta, gather_distributed, keys, negatives, "hard_negative_nt_xent")


class HardNegativeNTXent(BeyondBatchLoss):
    """Hard-negative NT-Xent as a module; see :func:`hard_negative_nt_xent` for the formula.

    Args:
        temperature: ``t`` > 0.
        tau_plus: class prior in ``[0, 1)``.
        beta: concentration ``>= 0``.
        gather_distributed: use all ranks' embeddings as negatives under ``torch.distributed``.

    Shape:
        - z: ``(V, B, D)``; labels, negative_labels: ignored; keys, negatives: as :func:`hard_negative_nt_xent`.
        - output: ``()``.

    >>> HardNegativeNTXent(temperature=0.5, tau_plus=0.1, beta=1.0)(torch.randn(2, 8, 16)).shape
    torch.Size([])
    """

    def __init__(
        self, temperature: float = 0.5, tau_plus: float = 0.1, beta: float = 1.0, gather_distributed: bool = True
    ):
        super().__init__()
        check_temperature(temperature)
        check_tau_plus(tau_plus)
        _check_beta(beta)
        self.temperature, self.tau_plus, self.beta = temperature, tau_plus, beta
        self.gather_distributed = gather_distributed

    def loss(self, z, labels, keys, negatives, negative_labels) -> torch.Tensor:
        return hard_negative_nt_xent(
            z,
            self.temperature,
            self.tau_plus,
            self.beta,
            gather_distributed=self.gather_distributed,
            keys=keys,
            negatives=negatives,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, tau_plus={self.tau_plus}, beta={self.beta}"
