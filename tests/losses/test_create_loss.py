"""create_loss: every name builds a module with forward(z (V, B, D), labels=None)."""

from __future__ import annotations

import pytest
import torch

from audiocl.losses import LOSSES, BilinearLoss, DebiasedNTXent, NTXent, SupCon, create_loss


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_trains_on_views(name):
    torch.manual_seed(0)
    z = torch.randn(2, 8, 16, requires_grad=True)
    module = create_loss(name, dim=16)
    loss = module(z, labels=torch.tensor([0, 1, 2, 3] * 2) if name == "supcon" else None)
    loss.backward()
    assert loss.shape == () and loss.isfinite() and z.grad.abs().sum() > 0


def test_kwargs_reach_the_module():
    assert isinstance(create_loss("nt_xent", 8, temperature=0.1), NTXent)
    assert create_loss("supcon", 8, temperature=0.2).temperature == 0.2 and isinstance(create_loss("supcon", 8), SupCon)
    assert create_loss("debiased_nt_xent", 8, tau_plus=0.2).tau_plus == 0.2
    assert isinstance(create_loss("debiased_nt_xent", 8), DebiasedNTXent)
    bilinear = create_loss("bilinear", 12)
    assert isinstance(bilinear, BilinearLoss) and bilinear.weight.shape == (12, 12)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="nt_xent"):
        create_loss("lifted_structure", 8)
