"""hard_negative_nt_xent: equals Robinson et al.'s reference code; beta = 0 is the debiased loss exactly, and with
tau_plus = 0 NT-Xent; extra negatives, gradients, precision."""

from __future__ import annotations

import math

import pytest
import torch

from audiocl.losses import HardNegativeNTXent, create_loss, debiased_nt_xent, hard_negative_nt_xent, nt_xent


def robinson_reference(out_1, out_2, temperature, tau_plus, beta, extra=None):
    """criterion(..., estimator='hard') of github.com/joshr17/HCL image/main.py, transcribed in float64; ``extra``
    (K, D) negatives join every anchor's negatives (our queue)."""
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
    if extra is not None:
        extra = torch.nn.functional.normalize(extra.double(), dim=-1)
        neg = torch.cat([neg, torch.exp(out @ extra.T / temperature)], dim=1)
    pos = torch.exp(torch.sum(out_1 * out_2, dim=-1) / temperature)
    pos = torch.cat([pos, pos], dim=0)
    N = neg.shape[1]
    imp = (beta * neg.log()).exp()
    reweight_neg = (imp * neg).sum(dim=-1) / imp.mean(dim=-1)
    Ng = (-tau_plus * N * pos + reweight_neg) / (1 - tau_plus)
    Ng = torch.clamp(Ng, min=N * math.e ** (-1 / temperature))
    return (-torch.log(pos / (pos + Ng))).mean()


def views(batch=12, dim=8, noise=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(batch, dim, generator=g, dtype=torch.float64)
    return torch.stack([z1, z1 + noise * torch.randn(batch, dim, generator=g, dtype=torch.float64)])


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("tau_plus", [0.0, 0.1])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_equals_reference_code(temperature, tau_plus, beta):
    z = views()
    expected = robinson_reference(z[0], z[1], temperature, tau_plus, beta)
    assert hard_negative_nt_xent(z, temperature, tau_plus, beta).item() == pytest.approx(expected.item(), abs=1e-10)


def test_extra_negatives_equal_the_reference_with_them():
    z, extra = views(), torch.randn(20, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    expected = robinson_reference(z[0], z[1], 0.5, 0.1, 1.0, extra)
    assert hard_negative_nt_xent(z, 0.5, 0.1, 1.0, negatives=extra).item() == pytest.approx(expected.item(), abs=1e-10)


def test_beta_zero_is_the_debiased_loss_exactly_and_tau_plus_zero_nt_xent():
    z = views(noise=0.3, seed=1)
    for tau_plus in (0.0, 0.1, 0.4):  # 0.4: the clamp is active for some anchors
        assert torch.equal(hard_negative_nt_xent(z, 0.5, tau_plus, 0.0), debiased_nt_xent(z, 0.5, tau_plus))
    assert hard_negative_nt_xent(z, 0.5, 0.0, 0.0).item() == pytest.approx(nt_xent(z, 0.5).item(), abs=1e-12)


def test_hard_negatives_weigh_more():
    # beta > 0 raises the weight of the most similar negatives: the loss grows with beta.
    z = views(noise=0.3, seed=2)
    losses = [hard_negative_nt_xent(z, 0.5, 0.0, beta).item() for beta in (0.0, 0.5, 1.0, 2.0)]
    assert losses == sorted(losses) and losses[0] < losses[-1]


def test_gradcheck():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    extra = torch.randn(6, 5, generator=g, dtype=torch.float64)
    for tau_plus, beta in ((0.0, 1.0), (0.1, 0.5), (0.6, 2.0)):
        assert torch.autograd.gradcheck(lambda x, t=tau_plus, b=beta: hard_negative_nt_xent(x, 0.5, t, b), (z,))
    assert torch.autograd.gradcheck(lambda x: hard_negative_nt_xent(x, 0.5, 0.1, 1.0, negatives=extra), (z,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_within_one_percent(dtype):
    z = views(batch=64, dim=32, seed=3)
    z[1, :16] = -z[0, :16]
    exact = hard_negative_nt_xent(z, 0.07, 0.1, 1.0).item()
    half = z.to(dtype).requires_grad_()
    loss = hard_negative_nt_xent(half, 0.07, 0.1, 1.0)
    loss.backward()
    assert loss.item() == pytest.approx(exact, rel=0.01) and half.grad.isfinite().all()


def test_module_registry_and_validation():
    z = views().float()
    module = create_loss("hard_negative_nt_xent", 8, temperature=0.2, tau_plus=0.05, beta=0.5)
    assert isinstance(module, HardNegativeNTXent) and torch.equal(module(z), hard_negative_nt_xent(z, 0.2, 0.05, 0.5))
    for bad in (
        lambda: HardNegativeNTXent(beta=-1.0),
        lambda: HardNegativeNTXent(tau_plus=1.0),
        lambda: HardNegativeNTXent(temperature=0.0),
        lambda: hard_negative_nt_xent(torch.randn(1, 4, 8)),
    ):
        with pytest.raises(ValueError):
            bad()
