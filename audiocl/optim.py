"""Optimizers that torch and timm do not have: CLAR's LARS-wrapped Adam.

``LarsAdam`` is Adam after the layer-wise rescaling of pl_bolts 0.2.2's ``LARSWrapper``, which CLAR's training
code wraps around Adam (``LARSWrapper(Adam(parameters, lr=1.0))``, eta 0.02, clipped): for every parameter with a
gradient ``g`` and weight decay ``wd``,

    ratio = eta * ||p|| / (||g|| + wd * ||p|| + eps),   clipped to min(ratio / lr, 1)
    g <- (g + wd * p) * ratio

then a plain Adam step without weight decay of its own. A parameter or gradient of norm 0 is left as it is.

>>> import torch
>>> w = torch.nn.Parameter(torch.ones(3))
>>> opt = LarsAdam([w], lr=1.0)
>>> w.grad = torch.full((3,), 2.0); opt.step(); w.shape
torch.Size([3])
"""

from __future__ import annotations

import torch

__all__ = ["LarsAdam"]


class LarsAdam(torch.optim.Adam):
    """Adam on LARS-rescaled gradients (pl_bolts 0.2.2 ``LARSWrapper`` around ``torch.optim.Adam``).

    Args:
        params: parameters or parameter groups; a group's ``weight_decay`` is applied inside the rescaling.
        lr, betas, eps: Adam's.
        weight_decay: the default of groups that set none.
        eta: the LARS trust coefficient (0.02 in the wrapper CLAR uses).
        clip: clip the ratio to ``min(ratio / lr, 1)``, so no parameter moves faster than plain Adam at ``lr``.
        lars_eps: the epsilon of the ratio's denominator.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *, eta=0.02, clip=True,
                 lars_eps=1e-8):  # fmt: skip
        if eta <= 0:
            raise ValueError(f"eta must be positive, got {eta}")
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        self.eta, self.clip, self.lars_eps = float(eta), bool(clip), float(lars_eps)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        decays = []
        for group in self.param_groups:
            wd = group["weight_decay"]
            decays.append(wd)
            for p in group["params"]:
                if p.grad is None:
                    continue
                p_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(p.grad)
                ratio = self.eta * p_norm / (g_norm + p_norm * wd + self.lars_eps)
                if self.clip:
                    # lr 0 (the first warm-up step) makes the ratio infinite before the clip: 1.
                    ratio = torch.clamp(ratio / group["lr"], max=1.0) if group["lr"] > 0 else torch.ones_like(ratio)
                scale = torch.where((p_norm > 0) & (g_norm > 0), ratio, torch.ones_like(ratio))
                decay = torch.where((p_norm > 0) & (g_norm > 0), wd, 0.0)
                p.grad.copy_((p.grad + decay * p) * scale)
            group["weight_decay"] = 0.0
        try:
            super().step()
        finally:
            for group, wd in zip(self.param_groups, decays, strict=True):
                group["weight_decay"] = wd
        return loss
