"""The momentum encoder: an exponential moving average (EMA) copy of the branches that embeds the keys.

MoCo (He et al. 2020; v2: Chen et al. 2020) computes the keys of the contrastive loss with a slowly moving
copy of the encoder and projection head, so that the keys in a memory queue, computed over many steps, stay
consistent with each other. After each optimizer step the copy moves towards the online weights::

    theta_k <- m * theta_k + (1 - m) * theta_q

``m`` is constant, or (``schedule="cosine-to-1"``, BYOL, Grill et al. 2020) rises from ``m`` to 1 along a
half cosine over the run, ``m_t = 1 - (1 - m) * (cos(pi * t / T) + 1) / 2``. It is a function of the step, so a
resumed run uses the very same momentum. Only the parameters move; the copy's buffers (batch-norm running
statistics) come from its own forward passes, as in MoCo's code. The copy never takes gradients, and it is in
the training module's ``state_dict`` (so in every checkpoint) but never what :func:`audiocl.load_encoder`
returns, unless ``branch="momentum"`` (or ``"momentum.<branch>"``) asks for it.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

SCHEDULES = ("constant", "cosine-to-1")


def momentum_at(step: int, momentum: float, schedule: str, total_steps: int) -> float:
    """The EMA decay at ``step`` of ``total_steps``.

    >>> momentum_at(0, 0.99, "cosine-to-1", 100), momentum_at(100, 0.99, "cosine-to-1", 100)
    (0.99, 1.0)
    """
    if schedule == "constant":
        return momentum
    if schedule != "cosine-to-1":
        raise ValueError(f"momentum schedule must be one of {SCHEDULES}, got {schedule!r}")
    progress = min(1.0, step / max(1, total_steps))
    return 1 - (1 - momentum) * (math.cos(math.pi * progress) + 1) / 2


class MomentumEncoder(nn.Module):
    """An EMA copy of ``online`` (for :class:`~audiocl.methods.ContrastiveMethod`, its ``branches``).

    Args:
        online: the module to follow; copied at construction, so both start equal.
        momentum: ``m`` in ``[0, 1)``.
        schedule: ``"constant"`` or ``"cosine-to-1"``.
        total_steps: ``T`` of the cosine schedule (the run's ``max_steps``).

    >>> online = nn.Linear(4, 2)
    >>> ema = MomentumEncoder(online, momentum=0.9)
    >>> ema.update(online, step=0)
    >>> ema.module(torch.zeros(1, 4)).requires_grad
    False
    """

    def __init__(self, online: nn.Module, momentum: float, schedule: str = "constant", total_steps: int = 1):
        super().__init__()
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        momentum_at(0, momentum, schedule, total_steps)  # validates the schedule
        self.momentum, self.schedule, self.total_steps = momentum, schedule, total_steps
        self.module = copy.deepcopy(online).requires_grad_(False)

    @torch.no_grad()
    def update(self, online: nn.Module, step: int) -> None:
        """``theta_k <- m_t * theta_k + (1 - m_t) * theta_q`` for every parameter, in place."""
        m = momentum_at(step, self.momentum, self.schedule, self.total_steps)
        ema = list(self.module.parameters())
        params = list(online.parameters())
        if len(ema) != len(params):
            raise ValueError("the online module no longer has the momentum copy's parameters")
        torch._foreach_lerp_(ema, [p.detach() for p in params], 1 - m)

    def extra_repr(self) -> str:
        return f"momentum={self.momentum}, schedule={self.schedule!r}, total_steps={self.total_steps}"


def select_branches(method: nn.Module, branch: str | None) -> tuple[nn.ModuleDict, str | None]:
    """The branches a pipeline reads (the online ones, or the momentum copy for ``"momentum[.<name>]"``) and
    the branch name within them."""
    if branch is None or not (branch == "momentum" or branch.startswith("momentum.")):
        return method.branches, branch
    ema = getattr(method, "momentum", None)
    if ema is None:
        raise ValueError("this checkpoint has no momentum encoder (method.momentum_encoder was off)")
    return ema.module, branch.partition(".")[2] or None
