"""Under DDP (2 CPU processes, gloo), every loss, GradCache and the encoder's gradients equal one process on the
whole batch."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from audiocl.gradcache import average_gradients, cached_step
from audiocl.losses import create_loss, gather_with_grad

WORLD, LOCAL_BATCH, IN_DIM, DIM = 2, 4, 12, 8
CASES = {  # name -> (loss, kwargs, views)
    "nt_xent": ("nt_xent", {"temperature": 0.2}, 3),
    "nt_xent_dot": ("nt_xent", {"temperature": 0.5, "similarity": "dot"}, 2),
    "supcon": ("supcon", {"temperature": 0.1}, 2),
    "supcon_one_view": ("supcon", {"temperature": 0.1}, 1),  # label 3 has no positive: ranks' counts differ
    "debiased_nt_xent": ("debiased_nt_xent", {"temperature": 0.5, "tau_plus": 0.1}, 2),
    "bilinear": ("bilinear", {}, 2),
    "hard_negative_nt_xent": ("hard_negative_nt_xent", {"temperature": 0.5, "tau_plus": 0.1, "beta": 1.0}, 2),
    "triplet_batch_hard": ("triplet", {"margin": 0.5, "mining": "batch_hard"}, 2),
    "triplet_semi_hard": ("triplet", {"margin": 0.5, "mining": "semi_hard", "distance": "cosine"}, 3),
    "margin_contrastive": ("margin_contrastive", {"pos_margin": 0.1, "neg_margin": 0.9}, 2),
    "nt_xent_local": ("nt_xent", {"gather_distributed": False}, 2),  # control: negatives of one rank only
}


class Net(nn.Module):
    """A linear encoder and a loss (COLA's owns W): forward returns the loss of a (V, B, IN_DIM) batch."""

    def __init__(self, case: str):
        super().__init__()
        name, kwargs, _ = CASES[case]
        torch.manual_seed(0)
        self.encoder = nn.Linear(IN_DIM, DIM)
        self.loss = create_loss(name, DIM, **kwargs)

    def forward(self, x, labels):
        return self.loss(self.encoder(x), labels)


def whole_batch(case: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(CASES[case][2], WORLD * LOCAL_BATCH, IN_DIM, generator=g)
    labels = torch.tensor([0, 1, 2, 0, 1, 1, 3, 2])  # classes spread over both ranks' halves
    return x, labels


def step(net: nn.Module, module: nn.Module, x, labels) -> dict[str, torch.Tensor]:
    loss = module(x, labels)
    loss.backward()
    return {"loss": loss.detach(), **{n: p.grad.clone() for n, p in net.named_parameters()}}


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        results = {}
        for case in CASES:
            x, labels = whole_batch(case)
            part = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
            net = Net(case)
            results[case] = step(net, nn.parallel.DistributedDataParallel(net), x[:, part], labels[part])
        # GradCache under DDP: every backward under no_sync, then one gradient average.
        x, labels = whole_batch("nt_xent")
        net = Net("nt_xent")
        with nn.parallel.DistributedDataParallel(net).no_sync():
            loss = cached_step(net.encoder, x[:, part].transpose(0, 1), lambda z: net.loss(z.transpose(0, 1)), 3)
        average_gradients(net.parameters())
        results["gradcache"] = {"loss": loss, **{n: p.grad.clone() for n, p in net.named_parameters()}}
        # gather_with_grad on its own: rank r gets back the sum over ranks of the gradient of its block.
        a = torch.full((2, 3), float(rank + 1), requires_grad=True)
        gathered = gather_with_grad(a)
        (gathered * torch.arange(4.0)[:, None]).sum().backward()
        results["gather"] = {"value": gathered.detach(), "grad": a.grad}
        torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c != "nt_xent_local"])
def test_ddp_equals_one_process_on_the_whole_batch(ranks, case):
    net = Net(case)
    expected = step(net, net, *whole_batch(case))
    mean_loss = sum(r[case]["loss"] for r in ranks) / WORLD  # what Lightning logs with sync_dist=True
    torch.testing.assert_close(mean_loss, expected["loss"], rtol=0, atol=1e-5)
    for name in expected:
        if name != "loss":
            for r in ranks:
                torch.testing.assert_close(r[case][name], expected[name], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_gradcache_under_ddp_equals_one_process_on_the_whole_batch(ranks):
    net = Net("nt_xent")
    expected = step(net, net, *whole_batch("nt_xent"))
    torch.testing.assert_close(sum(r["gradcache"]["loss"] for r in ranks) / WORLD, expected["loss"], rtol=0, atol=1e-5)
    for name in ("encoder.weight", "encoder.bias"):
        for r in ranks:
            torch.testing.assert_close(r["gradcache"][name], expected[name], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_without_gathering_the_gradients_differ(ranks):
    # The control: negatives of the local batch only is a different objective, so the test above can fail.
    net = Net("nt_xent_local")
    expected = step(net, net, *whole_batch("nt_xent_local"))
    assert not torch.allclose(ranks[0]["nt_xent_local"]["encoder.weight"], expected["encoder.weight"], atol=1e-3)


@pytest.mark.slow
def test_gather_with_grad_values_and_gradients(ranks):
    for r, result in enumerate(ranks):
        torch.testing.assert_close(result["gather"]["value"], torch.tensor([[1.0] * 3] * 2 + [[2.0] * 3] * 2))
        # Both ranks backprop weights 0..3 by row; rank r's rows are 2r, 2r + 1, summed over the 2 ranks.
        torch.testing.assert_close(result["gather"]["grad"], 2 * torch.tensor([[2.0 * r], [2.0 * r + 1]]).expand(2, 3))


def test_single_process_gather_is_identity():
    x = torch.randn(3, 2)
    assert gather_with_grad(x) is x
