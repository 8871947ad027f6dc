"""bilinear (COLA): equals cross-entropy of a^T W p written out, gradients for W too, the module."""

from __future__ import annotations

import pytest
import torch

from audiocl.losses import BilinearLoss, bilinear


def reference(anchors, positives, weight):
    """Slow float64 COLA loss: -log softmax over the batch's positives, anchor by anchor."""
    a, p, w = anchors.double(), positives.double(), weight.double()
    losses = []
    for i in range(a.shape[0]):
        scores = torch.stack([a[i] @ w @ p[j] for j in range(p.shape[0])])
        losses.append(torch.logsumexp(scores, 0) - scores[i])
    return torch.stack(losses).mean()


def inputs(batch=6, dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=torch.float64) for shape in ((batch, dim), (batch, dim), (dim, dim))]


def test_equals_reference():
    a, p, w = inputs()
    assert bilinear(a, p, w).item() == pytest.approx(reference(a, p, w).item(), abs=1e-12)


def test_identity_weight_and_orthonormal_clips():
    # W = I, clips on orthonormal axes: the positive scores 1, the B - 1 others 0.
    B = 5
    z = torch.eye(B, dtype=torch.float64)
    expected = torch.log(1 + (B - 1) * torch.exp(torch.tensor(-1.0, dtype=torch.float64)))
    assert bilinear(z, z, torch.eye(B, dtype=torch.float64)).item() == pytest.approx(expected.item(), abs=1e-12)


def test_gradcheck_including_weight():
    a, p, w = (x.requires_grad_() for x in inputs(4, 3, seed=1))
    assert torch.autograd.gradcheck(bilinear, (a, p, w))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_within_one_percent(dtype):
    a, p, w = inputs(64, 32, seed=2)
    w = w / 2  # scores of tens: pair losses above 10
    exact = bilinear(a, p, w).item()
    assert exact > 10
    assert bilinear(a.to(dtype), p.to(dtype), w.float()).item() == pytest.approx(exact, rel=0.01)


def test_module_owns_weight_and_splits_views():
    torch.manual_seed(0)
    module = BilinearLoss(64)
    assert isinstance(module.weight, torch.nn.Parameter) and module.weight.shape == (64, 64)
    assert module.weight.std().item() == pytest.approx(0.05, rel=0.05)  # Keras random_normal, as in COLA
    z = torch.randn(2, 8, 64)
    loss = module(z)
    loss.backward()
    assert torch.equal(loss, bilinear(z[0], z[1], module.weight)) and module.weight.grad is not None


@pytest.mark.parametrize(
    "call",
    [
        lambda: bilinear(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 4)),
        lambda: bilinear(torch.randn(4, 3), torch.randn(5, 3), torch.randn(3, 3)),
        lambda: BilinearLoss(8)(torch.randn(3, 4, 8)),
        lambda: BilinearLoss(0),
    ],
)
def test_invalid_arguments_raise(call):
    with pytest.raises(ValueError):
        call()
