"""LarsAdam against a transcription of pl_bolts 0.2.2's LARSWrapper around torch's Adam (CLAR's optimizer)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audiocl.optim import LarsAdam


class ReferenceLarsWrapper:
    """pl_bolts 0.2.2 ``LARSWrapper.step`` / ``update_p``, line by line, around a stock ``torch.optim.Adam``."""

    def __init__(self, optim, eta=0.02, clip=True, eps=1e-8):
        self.optim, self.eta, self.clip, self.eps = optim, eta, clip, eps

    def step(self):
        weight_decays = []
        for group in self.optim.param_groups:
            weight_decay = group.get("weight_decay", 0)
            weight_decays.append(weight_decay)
            group["weight_decay"] = 0
            for p in group["params"]:
                if p.grad is not None:
                    p_norm, g_norm = torch.norm(p.data), torch.norm(p.grad.data)
                    if p_norm != 0 and g_norm != 0:
                        new_lr = (self.eta * p_norm) / (g_norm + p_norm * weight_decay + self.eps)
                        if self.clip:
                            new_lr = min(new_lr / group["lr"], 1)
                        p.grad.data += weight_decay * p.data
                        p.grad.data *= new_lr
        self.optim.step()
        for group, weight_decay in zip(self.optim.param_groups, weight_decays, strict=True):
            group["weight_decay"] = weight_decay


def _model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()


def _groups(model, wd):
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}]


@pytest.mark.parametrize("lr", [1.0, 1e-3])
def test_lars_adam_matches_the_wrapper_clar_uses(lr):
    ours_model, ref_model = _model(0), _model(0)
    ours = LarsAdam(_groups(ours_model, 1e-6), lr=lr, eta=0.02)
    ref = ReferenceLarsWrapper(torch.optim.Adam(_groups(ref_model, 1e-6), lr=lr))
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        x = torch.randn(16, 6, generator=g, dtype=torch.float64)
        for model, opt in ((ours_model, ours), (ref_model, ref.optim)):
            opt.zero_grad()
            model(x).square().mean().backward()
        ours.step()
        ref.step()
        for a, b in zip(ours_model.parameters(), ref_model.parameters(), strict=True):
            # float64 rounding, amplified by Adam's normalised step at lr 1 (1e-7 relative seen in a full suite run);
            # dropping the weight decay from the ratio or from the gradient moves them by 5e-5 or 5e-2 relative
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
    assert [grp["weight_decay"] for grp in ours.param_groups] == [1e-6, 0.0]  # restored after each step


def test_lars_adam_takes_a_first_step_at_lr_zero_and_resumes_from_its_state():
    model = _model(2)
    opt = LarsAdam(model.parameters(), lr=0.0)
    model(torch.randn(4, 6, dtype=torch.float64)).sum().backward()
    opt.step()  # warm-up starts at lr 0: no division by zero
    assert all(torch.isfinite(p).all() for p in model.parameters())
    state = opt.state_dict()
    again = LarsAdam(model.parameters(), lr=0.0)
    again.load_state_dict(state)
    assert again.state_dict()["state"].keys() == state["state"].keys()
    with pytest.raises(ValueError, match="eta"):
        LarsAdam(model.parameters(), eta=0.0)
