"""The memory queue and the momentum encoder against a slow MoCo loop, the losses' extra negatives against a slow
reference, the enqueue-after-the-loss order, and 2-process DDP against one process on the whole batch."""

from __future__ import annotations

import copy
import math
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_distributed import free_port
from torch import nn

from audiocl.losses import MemoryQueue, create_loss, debiased_nt_xent, nt_xent, supcon
from audiocl.momentum import MomentumEncoder

V, B, IN, D = 2, 4, 6, 5


def slow_loss(z, keys, queue, temperature, clip_labels=None, queue_labels=None):
    """Per-anchor float64 loop. Candidates: every key but the anchor's own view, then the queue. Positives: the
    other views of the clip (NT-Xent) or, with labels, every candidate of the label (SupCon), queue included."""
    z = nn.functional.normalize(z.double(), dim=-1)
    keys = nn.functional.normalize(keys.double(), dim=-1)
    queue = [nn.functional.normalize(q.double(), dim=0) for q in queue]
    clip_labels = list(range(z.shape[1])) if clip_labels is None else clip_labels.tolist()
    queue_labels = [None] * len(queue) if queue_labels is None else queue_labels.tolist()
    losses = []
    for v in range(z.shape[0]):
        for b in range(z.shape[1]):
            cands, pos = [], []
            for v2 in range(z.shape[0]):
                for b2 in range(z.shape[1]):
                    if (v2, b2) != (v, b):
                        cands.append(keys[v2, b2])
                        pos.append(clip_labels[b2] == clip_labels[b])
            cands += queue
            pos += [label is not None and label == clip_labels[b] for label in queue_labels]
            logits = torch.stack([z[v, b] @ c / temperature for c in cands])
            lse = torch.logsumexp(logits, 0)
            if any(pos):
                losses.append(-sum(logits[j] - lse for j in range(len(cands)) if pos[j]) / sum(pos))
    return sum(losses) / len(losses)


def batch(step: int, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + step)
    clip = torch.randn(B, IN, generator=g, dtype=dtype)
    x = torch.stack([clip + 0.3 * torch.randn(B, IN, generator=g, dtype=dtype) for _ in range(V)])
    return x, torch.randint(0, 3, (B,), generator=g)  # (V, B, IN), labels (B,)


def test_extra_negatives_and_keys_equal_the_slow_reference():
    g = torch.Generator().manual_seed(0)
    z, keys = torch.randn(3, 4, D, generator=g, dtype=torch.float64), torch.randn(3, 4, D, generator=g).double()
    queue, queue_labels = torch.randn(7, D, generator=g, dtype=torch.float64), torch.tensor([0, 1, 5, 5, 2, 0, 9])
    labels = torch.tensor([0, 1, 0, 2])
    assert nt_xent(z, 0.3, negatives=queue).item() == pytest.approx(slow_loss(z, z, queue, 0.3).item(), abs=1e-10)
    assert nt_xent(z, 0.3, keys=keys, negatives=queue).item() == pytest.approx(
        slow_loss(z, keys, queue, 0.3).item(), abs=1e-10
    )
    expected = slow_loss(z, keys, queue, 0.3, labels, queue_labels)
    ours = supcon(z, labels, 0.3, keys=keys, negatives=queue, negative_labels=queue_labels)
    assert ours.item() == pytest.approx(expected.item(), abs=1e-10)
    # two views: debiased with tau_plus = 0 is NT-Xent, the queue included; an empty queue changes nothing
    assert debiased_nt_xent(z[:2], 0.3, 0.0, negatives=queue).item() == pytest.approx(
        nt_xent(z[:2], 0.3, negatives=queue).item(), abs=1e-12
    )
    assert torch.equal(nt_xent(z, 0.3, negatives=queue[:0]), nt_xent(z, 0.3))


def test_extra_negatives_gradcheck():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2, 3, D, generator=g, dtype=torch.float64, requires_grad=True)
    keys, queue = torch.randn(2, 3, D, generator=g, dtype=torch.float64), torch.randn(4, D, dtype=torch.float64)
    labels, queue_labels = torch.tensor([0, 1, 0]), torch.tensor([1, 0, 2, 2])
    for name in ("nt_xent", "debiased_nt_xent", "hard_negative_nt_xent", "supcon", "bilinear"):
        loss = create_loss(name, D).double()
        for k in (keys, None):  # a momentum encoder's keys (no gradient), or the anchors' own (gradient)
            assert torch.autograd.gradcheck(
                lambda x, f=loss, k=k: f(x, labels, keys=k, negatives=queue, negative_labels=queue_labels), (z,)
            ), (name, k is None)


def queue_in_order(queue: MemoryQueue) -> torch.Tensor:
    """The queue's keys oldest first: the filled slots, or the whole ring from the write pointer once it wrapped."""
    n = int(queue.filled)
    return queue.keys[:n] if n < queue.size else queue.keys.roll(-int(queue.ptr), 0)


STEPS, SIZE, LR, TEMPERATURE = 6, 10, 0.5, 0.2  # a queue of 10 keys, 4 a step: it wraps mid-batch at step 3


def reference_moco(momentum: float, schedule: str):
    """A slow MoCo loop: EMA update, keys from the EMA copy, the loss with the queue, SGD, then the enqueue."""
    torch.manual_seed(0)
    encoder = nn.Linear(IN, D).double()
    ema = copy.deepcopy(encoder)
    queue, losses = [], []
    for step in range(STEPS):
        m = momentum if schedule == "constant" else 1 - (1 - momentum) * (math.cos(math.pi * step / STEPS) + 1) / 2
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), encoder.parameters(), strict=True):
                pe.copy_(m * pe + (1 - m) * p)
        x, _ = batch(step)
        keys = ema(x).detach()
        loss = slow_loss(encoder(x), keys, queue, TEMPERATURE)
        encoder.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in encoder.parameters():
                p -= LR * p.grad
        losses.append(loss.item())
        queue = (queue + list(keys[-1]))[-SIZE:]
    return losses, torch.stack(queue)


def our_moco(momentum: float, schedule: str):
    torch.manual_seed(0)
    encoder = nn.Linear(IN, D).double()
    ema = MomentumEncoder(encoder, momentum, schedule, total_steps=STEPS)
    queue = MemoryQueue(SIZE, D).double()
    optimizer = torch.optim.SGD(encoder.parameters(), lr=LR)
    losses = []
    for step in range(STEPS):
        ema.update(encoder, step)
        x, _ = batch(step)
        keys = ema.module(x)
        loss = nt_xent(encoder(x), TEMPERATURE, keys=keys, negatives=queue.negatives()[0])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        queue.enqueue(keys[-1])
    return losses, queue


@pytest.mark.parametrize("schedule", ["constant", "cosine-to-1"])
def test_queue_and_momentum_encoder_equal_a_slow_moco_loop(schedule):
    expected_losses, expected_queue = reference_moco(0.9, schedule)
    losses, queue = our_moco(0.9, schedule)
    assert losses == pytest.approx(expected_losses, abs=1e-10)
    assert int(queue.filled) == SIZE and int(queue.ptr) == STEPS * B % SIZE
    torch.testing.assert_close(queue_in_order(queue), expected_queue, rtol=0, atol=1e-12)
    assert len(set(losses)) == STEPS  # the queue changes the loss from step to step


def test_warmup_full_waits_for_a_full_queue_and_partial_uses_what_is_there():
    partial, full = MemoryQueue(6, 2), MemoryQueue(6, 2, warmup="full")
    for step in range(3):
        keys = torch.full((2, 2), float(step))
        assert partial.negatives()[0].shape[0] == 2 * step
        assert full.negatives()[0].shape[0] == 0
        partial.enqueue(keys, torch.tensor([step, step]))
        full.enqueue(keys)
    assert full.negatives()[0].shape[0] == 6
    keys, labels = partial.negatives()
    assert keys[:, 0].tolist() == [0, 0, 1, 1, 2, 2] and labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_a_step_larger_than_the_queue_keeps_its_last_keys():
    queue = MemoryQueue(4, 1)
    queue.enqueue(torch.arange(3.0)[:, None])
    queue.enqueue(torch.arange(10.0, 16.0)[:, None])  # 6 keys into a ring of 4 at slot 3
    assert sorted(queue.keys[:, 0].tolist()) == [12, 13, 14, 15] and int(queue.ptr) == (3 + 6) % 4
    assert queue_in_order(queue)[:, 0].tolist() == [12, 13, 14, 15]


def test_the_queue_is_in_the_state_dict_and_restores_exactly():
    queue = MemoryQueue(5, 3)
    queue.enqueue(torch.randn(4, 3), torch.tensor([1, 2, 3, 4]))
    queue.enqueue(torch.randn(3, 3))
    restored = MemoryQueue(5, 3)
    restored.load_state_dict(queue.state_dict())
    for name in ("keys", "labels", "ptr", "filled"):
        assert torch.equal(getattr(restored, name), getattr(queue, name)), name


def test_queue_validation():
    for bad in (lambda: MemoryQueue(0, 4), lambda: MemoryQueue(4, 0), lambda: MemoryQueue(4, 4, warmup="never")):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        MemoryQueue(4, 4).enqueue(torch.randn(2, 3))


def test_the_batch_is_never_its_own_negative_in_training():
    """Through the training module: each step's negatives are exactly the earlier steps' keys, never its own,
    and the first step's loss (an empty queue) is the plain in-batch loss."""
    from audiocl.config import load_recipe
    from audiocl.methods import ContrastiveMethod
    from audiocl.recipes_path import RECIPES

    recipe = load_recipe(RECIPES / "clmr_queue_tiny.yaml", ["data.batch_size=4", "loss.queue_size=64"])
    method = ContrastiveMethod(recipe)
    seen, loss_fn, forward = [], method.loss_fn, method.loss_fn.forward

    def recording(z, **kwargs):
        seen.append({"z": z.detach().clone(), **{k: v.detach().clone() for k, v in kwargs.items()}})
        return forward(z, **kwargs)

    loss_fn.forward = recording
    g = torch.Generator().manual_seed(0)
    losses = []
    for step in range(3):
        audio = 0.1 * torch.randn(4, recipe.views.crop_samples * 2, generator=g)
        losses.append(method.training_step({"audio": audio, "length": torch.full((4,), audio.shape[1])}, step))
    assert seen[0]["negatives"].shape == (0, 16)
    assert torch.equal(losses[0].detach(), forward(seen[0]["z"], keys=seen[0]["keys"]))
    for step in (1, 2):
        earlier = torch.cat([seen[s]["keys"][-1] for s in range(step)])  # the last view's keys of each step
        assert torch.equal(seen[step]["negatives"], earlier)
        current = seen[step]["keys"][-1]
        assert not (torch.cdist(current, seen[step]["negatives"]) < 1e-6).any()


WORLD = 2
CASES = {  # name -> (loss, kwargs, momentum)
    "nt_xent_momentum": ("nt_xent", {"temperature": 0.2}, 0.9),
    "supcon_queue_labels": ("supcon", {"temperature": 0.2}, None),
}


def run_steps(case: str, rank: int | None) -> list[dict]:
    """3 SGD steps with the queue (and a momentum encoder); rank None: one process on the whole batch."""
    name, kwargs, momentum = CASES[case]
    torch.manual_seed(0)
    encoder = nn.Linear(IN, D)
    ema = MomentumEncoder(encoder, momentum) if momentum is not None else None
    queue, loss_fn = MemoryQueue(12, D), create_loss(name, D, **kwargs)
    model = encoder if rank is None else nn.parallel.DistributedDataParallel(encoder)
    optimizer = torch.optim.SGD(encoder.parameters(), lr=0.5)
    records = []
    for step in range(3):
        x, labels = batch(step, torch.float32)
        x2, labels2 = batch(step + 50, torch.float32)  # a global batch of 8 clips: rank 0 holds x, rank 1 x2
        x, labels = torch.cat([x, x2], dim=1), torch.cat([labels, labels2])
        if rank is not None:
            x, labels = x[:, rank * B : (rank + 1) * B], labels[rank * B : (rank + 1) * B]
        keys = None
        if ema is not None:
            ema.update(encoder, step)
            keys = ema.module(x).detach()
        negatives, negative_labels = queue.negatives()
        loss = loss_fn(model(x), labels, keys=keys, negatives=negatives, negative_labels=negative_labels)
        optimizer.zero_grad()
        loss.backward()
        records.append({"loss": loss.detach(), "grad": encoder.weight.grad.clone()})
        optimizer.step()
        queue.enqueue((keys if keys is not None else model(x).detach())[-1], labels)
        records[-1].update(keys=queue.keys.clone(), labels=queue.labels.clone(), ptr=queue.ptr.clone())
    return records


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        torch.save({case: run_steps(case, rank) for case in CASES}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_queue")
    mp.spawn(_worker, args=(free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_ddp_gives_the_queue_and_gradients_of_one_process(ranks, case):
    expected = run_steps(case, None)
    for step, want in enumerate(expected):
        mean_loss = sum(r[case][step]["loss"] for r in ranks) / WORLD
        torch.testing.assert_close(mean_loss, want["loss"], rtol=0, atol=1e-5)
        for r in ranks:  # every rank holds the one-process queue: all ranks' keys, in rank order
            got = r[case][step]
            torch.testing.assert_close(got["grad"], want["grad"], rtol=0, atol=1e-5)
            torch.testing.assert_close(got["keys"], want["keys"], rtol=0, atol=1e-5)
            assert torch.equal(got["labels"], want["labels"]) and torch.equal(got["ptr"], want["ptr"])
    assert int(expected[-1]["ptr"]) == 3 * WORLD * B % 12  # it wrapped
