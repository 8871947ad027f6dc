"""debiased_nt_xent: equals Chuang et al.'s reference code, both sides of the clamp, gradients, precision."""

from __future__ import annotations

import math

import pytest
import torch

from audiocl.losses import DebiasedNTXent, debiased_nt_xent, nt_xent


def chuang_reference(out_1, out_2, temperature, tau_plus):
    """The loss of github.com/chingyaoc/DCL main.py (criterion, debiased=True), transcribed in float64."""
    out_1 = torch.nn.functional.normalize(out_1.double(), dim=-1)
    out_2 = torch.nn.functional.normalize(out_2.double(), dim=-1)
    batch_size = out_1.shape[0]
    out = torch.cat([out_1, out_2], dim=0)
    neg = torch.exp(torch.mm(out, out.t().contiguous()) / temperature)
    mask = torch.ones((batch_size, 2 * batch_size), dtype=torch.bool)
    for i in range(batch_size):
        mask[i, i] = mask[i, i + batch_size] = False
    mask = torch.cat((mask, mask), 0)
    neg = neg.masked_select(mask).view(2 * batch_size, -1)
    pos = torch.exp(torch.sum(out_1 * out_2, dim=-1) / temperature)
    pos = torch.cat([pos, pos], dim=0)
    N = batch_size * 2 - 2
    Ng = (-tau_plus * N * pos + neg.sum(dim=-1)) / (1 - tau_plus)
    Ng = torch.clamp(Ng, min=N * math.e ** (-1 / temperature))
    return (-torch.log(pos / (pos + Ng))).mean(), Ng == N * math.e ** (-1 / temperature)


def views(batch=12, dim=8, noise=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(batch, dim, generator=g, dtype=torch.float64)
    return torch.stack([z1, z1 + noise * torch.randn(batch, dim, generator=g, dtype=torch.float64)])


@pytest.mark.parametrize("tau_plus", [0.0, 0.05, 0.1, 0.3])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_equals_reference_code(temperature, tau_plus):
    z = views()
    expected, _ = chuang_reference(z[0], z[1], temperature, tau_plus)
    assert debiased_nt_xent(z, temperature, tau_plus).item() == pytest.approx(expected.item(), abs=1e-10)


def test_clamp_branch_equals_reference_code():
    # A large prior: the debiased negatives' sum goes below its floor for some anchors (16 of 24).
    z = views(noise=0.3, seed=1)
    expected, clamped = chuang_reference(z[0], z[1], 0.5, 0.2)
    assert clamped.any() and not clamped.all()
    assert debiased_nt_xent(z, 0.5, 0.2).item() == pytest.approx(expected.item(), abs=1e-10)


def test_no_prior_is_nt_xent():
    z = views()
    assert debiased_nt_xent(z, 0.5, 0.0).item() == pytest.approx(nt_xent(z, 0.5).item(), abs=1e-12)


def test_gradcheck_both_sides_of_the_clamp():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    for tau_plus in (0.0, 0.1, 0.6):
        assert torch.autograd.gradcheck(lambda x, tp=tau_plus: debiased_nt_xent(x, 0.5, tp), (z,))


def test_small_temperature_stays_finite():
    z = views(noise=0.01).float().requires_grad_()
    loss = debiased_nt_xent(z, 0.01, 0.1)
    loss.backward()
    assert loss.isfinite() and z.grad.isfinite().all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_within_one_percent(dtype):
    z = views(batch=64, dim=32, seed=3)
    z[1, :16] = -z[0, :16]
    exact = debiased_nt_xent(z, 0.07, 0.1).item()
    assert debiased_nt_xent(z.to(dtype), 0.07, 0.1).item() == pytest.approx(exact, rel=0.01)


def test_module_and_validation():
    z = views().float()
    assert torch.equal(DebiasedNTXent(0.2, 0.05)(z), debiased_nt_xent(z, 0.2, 0.05))
    for bad in (
        lambda: DebiasedNTXent(tau_plus=1.0),
        lambda: DebiasedNTXent(tau_plus=-0.1),
        lambda: debiased_nt_xent(torch.randn(1, 4, 8)),
        lambda: debiased_nt_xent(torch.randn(2, 1, 8)),
    ):
        with pytest.raises(ValueError):
            bad()
