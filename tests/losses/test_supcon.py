"""supcon: exactness against pytorch-metric-learning's SupConLoss, anchors without positives, gradients."""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning.losses import SupConLoss

from audiocl.losses import SupCon, nt_xent, supcon


def views_and_labels(views=2, batch=16, dim=8, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(views, batch, dim, generator=g, dtype=torch.float64)
    return z, torch.randint(0, classes, (batch,), generator=g)


@pytest.mark.parametrize("temperature", [0.07, 0.1, 0.5])
@pytest.mark.parametrize("views", [1, 2, 3])
def test_equals_pytorch_metric_learning(views, temperature):
    z, labels = views_and_labels(views)  # 4 classes in 16 clips: several positives per anchor
    V, B, D = z.shape
    peer = SupConLoss(temperature=temperature)(z.reshape(V * B, D), labels.repeat(V))
    assert supcon(z, labels, temperature).item() == pytest.approx(peer.item(), abs=1e-6)


def test_anchors_without_positives_are_left_out_of_the_mean():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(10, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 4, 5, 6])  # five singletons
    peer = SupConLoss(temperature=0.1)(z, labels)
    ours = supcon(z, labels, 0.1)
    assert ours.item() == pytest.approx(peer.item(), abs=1e-6)
    # By hand: mean over the five anchors that have positives; the singletons are still candidates.
    x = torch.nn.functional.normalize(z, dim=1)
    logits = (x @ x.T / 0.1).fill_diagonal_(float("-inf"))
    log_prob = logits.log_softmax(1)
    by_hand = [-log_prob[i, [j for j in range(5) if j != i and labels[j] == labels[i]]].mean() for i in range(5)]
    assert ours.item() == pytest.approx(torch.stack(by_hand).mean().item(), abs=1e-12)


def test_no_positive_anywhere_gives_zero_with_zero_gradient():
    z = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    loss = supcon(z, torch.arange(5), 0.1)
    loss.backward()
    assert loss.item() == 0 and torch.equal(z.grad, torch.zeros_like(z))


def test_without_labels_is_nt_xent():
    z, _ = views_and_labels(3)
    assert torch.equal(supcon(z, None, 0.2), nt_xent(z, 0.2))
    assert torch.equal(SupCon(temperature=0.2)(z), nt_xent(z, 0.2))


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_gradcheck(similarity):
    z, labels = views_and_labels(2, batch=6, dim=4, classes=3, seed=2)
    z.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: supcon(x, labels, 0.3, similarity=similarity), (z,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_within_one_percent(dtype):
    z, labels = views_and_labels(2, batch=64, dim=32, classes=8, seed=3)
    z[1, :16] = -z[0, :16]  # opposite views: pair losses above 10 at t = 0.07
    exact = supcon(z, labels, 0.07).item()
    assert supcon(z.to(dtype), labels, 0.07).item() == pytest.approx(exact, rel=0.01)


@pytest.mark.parametrize(
    "call",
    [
        lambda: supcon(torch.randn(8, 4), None),
        lambda: supcon(torch.randn(2, 8, 4), torch.zeros(16)),
        lambda: supcon(torch.randn(8), torch.zeros(8)),
        lambda: SupCon(temperature=0),
    ],
)
def test_invalid_arguments_raise(call):
    with pytest.raises(ValueError):
        call()
