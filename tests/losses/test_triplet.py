"""triplet (batch-hard, semi-hard) and margin_contrastive: equal pytorch-metric-learning's losses with a plain mean,
for both distances, with and without labels; gradients; precision."""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning import distances, losses, miners, reducers

from audiocl.losses import MarginContrastiveLoss, TripletLoss, create_loss, margin_contrastive, triplet


def views(views=2, batch=10, dim=6, noise=0.6, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(batch, dim, generator=g, dtype=dtype)
    return torch.stack([z1 + noise * torch.randn(batch, dim, generator=g, dtype=dtype) for _ in range(views)])


def pml_inputs(z, labels):
    """pytorch-metric-learning's (embeddings, labels): the views stacked, each with its clip's class."""
    V, B, _ = z.shape
    classes = torch.arange(B) if labels is None else labels
    return z.reshape(V * B, -1), classes.repeat(V)


def pml_distance(name):
    return distances.LpDistance() if name == "euclidean" else distances.CosineSimilarity()


def pml_triplet(z, labels, margin, mining, distance):
    d = pml_distance(distance)
    miner = miners.BatchHardMiner(distance=d) if mining == "batch_hard" else miners.TripletMarginMiner(
        margin=margin, type_of_triplets="semihard", distance=d
    )  # fmt: skip
    loss = losses.TripletMarginLoss(margin=margin, distance=d, reducer=reducers.MeanReducer())
    x, y = pml_inputs(z, labels)
    return loss(x, y, miner(x, y))


LABELS = {"clips": None, "labels": torch.tensor([0, 1, 2, 0, 1, 1, 3, 2, 0, 3])}


@pytest.mark.parametrize("labels", LABELS)
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard"])
@pytest.mark.parametrize("margin", [0.1, 0.5])
def test_triplet_equals_pytorch_metric_learning(margin, mining, distance, labels):
    z = views(views=3 if labels == "clips" else 2)
    expected = pml_triplet(z, LABELS[labels], margin, mining, distance)
    ours = triplet(z, LABELS[labels], margin, mining=mining, distance=distance)
    assert expected.item() > 0 and ours.item() == pytest.approx(expected.item(), abs=1e-10)


def test_semi_hard_counts_the_slow_way():
    # Every (anchor, positive, negative) with d_ap < d_an <= d_ap + margin, listed by a loop.
    z, margin = views(seed=3), 0.3
    x = torch.nn.functional.normalize(z.reshape(20, -1), dim=-1)
    d, classes = torch.cdist(x, x), torch.arange(10).repeat(2)
    terms = [
        d[a, p] - d[a, n] + margin
        for a in range(20)
        for p in range(20)
        for n in range(20)
        if p != a and classes[p] == classes[a] and classes[n] != classes[a] and d[a, p] < d[a, n] <= d[a, p] + margin
    ]
    assert len(terms) > 10
    expected = sum(terms).item() / len(terms)
    assert triplet(z, None, margin, mining="semi_hard").item() == pytest.approx(expected, abs=1e-12)


def test_no_semi_hard_triplet_gives_zero():
    z = views(noise=0.0)  # identical views: every d_ap = 0 and no negative within a margin of 0.001
    assert triplet(z, None, 0.001, mining="semi_hard").item() == 0.0


@pytest.mark.parametrize("labels", LABELS)
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("margins", [(0.0, 1.0), (0.2, 0.8)])
def test_margin_contrastive_equals_pytorch_metric_learning(margins, distance, labels):
    z = views()
    pos, neg = margins
    if distance == "cosine":  # pml's cosine is a similarity: our distance 1 - s, so its margins are 1 - ours
        loss = losses.ContrastiveLoss(1 - pos, 1 - neg, distance=pml_distance(distance), reducer=reducers.MeanReducer())
    else:
        loss = losses.ContrastiveLoss(pos, neg, distance=pml_distance(distance), reducer=reducers.MeanReducer())
    expected = loss(*pml_inputs(z, LABELS[labels]))
    ours = margin_contrastive(z, LABELS[labels], pos, neg, distance=distance)
    assert expected.item() > 0 and ours.item() == pytest.approx(expected.item(), abs=1e-10)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_gradcheck(distance):
    z = views(batch=4, dim=3, seed=4).requires_grad_()
    labels = torch.tensor([0, 1, 0, 2])
    for mining in ("batch_hard", "semi_hard"):
        assert torch.autograd.gradcheck(lambda x, m=mining: triplet(x, labels, 0.5, mining=m, distance=distance), (z,))
    assert torch.autograd.gradcheck(lambda x: margin_contrastive(x, labels, 0.1, 0.9, distance=distance), (z,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_within_one_percent(dtype):
    z = views(batch=64, dim=32, seed=5, dtype=torch.float32)
    for loss in (
        lambda x: triplet(x, None, 0.5, mining="batch_hard"),
        lambda x: triplet(x, None, 0.5, mining="semi_hard", distance="cosine"),
        lambda x: margin_contrastive(x, None, 0.1, 1.0),
    ):
        # the rounding of the inputs themselves is the whole error: the math runs in float32
        rounded = z.to(dtype).float()
        half = z.to(dtype).requires_grad_()
        value = loss(half)
        value.backward()
        assert value.dtype == torch.float32 and half.grad.dtype == dtype and half.grad.isfinite().all()
        assert value.item() == pytest.approx(loss(rounded).item(), rel=1e-6)
        assert value.item() == pytest.approx(loss(z).item(), rel=0.01)


def test_modules_registry_and_validation():
    z = views().float()
    module = create_loss("triplet", 8, margin=0.3, mining="semi_hard", distance="cosine")
    assert isinstance(module, TripletLoss) and torch.equal(module(z), triplet(z, None, 0.3, mining="semi_hard",
                                                                                distance="cosine"))  # fmt: skip
    module = create_loss("margin_contrastive", 8, pos_margin=0.1, neg_margin=0.7)
    assert isinstance(module, MarginContrastiveLoss) and torch.equal(module(z), margin_contrastive(z, None, 0.1, 0.7))
    for bad in (
        lambda: TripletLoss(margin=-0.1),
        lambda: TripletLoss(mining="hardest"),
        lambda: TripletLoss(distance="manhattan"),
        lambda: MarginContrastiveLoss(neg_margin=-1.0),
        lambda: triplet(torch.randn(2, 4, 8), torch.tensor([0, 1])),
    ):
        with pytest.raises(ValueError):
            bad()
