"""The momentum encoder and the memory queue in training: every method, the recipe keys, the CLI, checkpoints, exact
resume after SIGKILL, and which encoder load_encoder returns."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from audiocl.cli import main
from audiocl.config import RecipeError, load_recipe
from audiocl.momentum import MomentumEncoder, momentum_at
from audiocl.recipes_path import RECIPES

ON = ["loss.queue_size=12", "method.momentum_encoder.momentum=0.9", "method.momentum_encoder.schedule=cosine-to-1"]


def test_momentum_schedules():
    assert momentum_at(7, 0.99, "constant", 10) == 0.99
    assert momentum_at(0, 0.99, "cosine-to-1", 10) == pytest.approx(0.99)
    assert momentum_at(5, 0.99, "cosine-to-1", 10) == pytest.approx(0.995)
    assert momentum_at(10, 0.99, "cosine-to-1", 10) == 1.0 and momentum_at(20, 0.99, "cosine-to-1", 10) == 1.0
    assert momentum_at(3, 0.9, "cosine-to-1", 10) == pytest.approx(1 - 0.1 * (math.cos(math.pi * 0.3) + 1) / 2)


def test_update_is_an_exponential_moving_average_of_the_parameters_only():
    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = MomentumEncoder(online, momentum=0.75)
    start = [p.detach().clone() for p in ema.module.parameters()]
    assert all(not p.requires_grad for p in ema.module.parameters())
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
        online[1].running_mean.fill_(5.0)
    ema.update(online, step=0)
    for e, s, p in zip(ema.module.parameters(), start, online.parameters(), strict=True):
        torch.testing.assert_close(e, 0.75 * s + 0.25 * p)
    assert torch.equal(ema.module[1].running_mean, torch.zeros(4))  # buffers: its own forward passes', as MoCo
    MomentumEncoder(online, momentum=0.0).update(online, 0)  # m = 0 copies
    with pytest.raises(ValueError):
        MomentumEncoder(online, momentum=1.0)
    with pytest.raises(ValueError):
        MomentumEncoder(online, momentum=0.5, schedule="linear")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("loss.queue_size=-1", "loss.queue_size"),
        ("loss.queue_warmup=never", "loss.queue_warmup"),
        ("method.momentum_encoder.momentum=1.0", "method.momentum_encoder.momentum"),
        ("method.momentum_encoder.momentum=1.5", "method.momentum_encoder.momentum"),
        ("method.momentum_encoder.schedule=linear", "method.momentum_encoder.schedule"),
        ("method.momentum_encoder.momentm=0.9", "method.momentum_encoder.momentm: unknown key"),
    ],
)
def test_bad_keys_name_themselves(override, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(RECIPES / "clmr_tiny.yaml", [override])


def test_a_loss_without_queue_support_is_refused():
    with pytest.raises(RecipeError, match="loss.queue_size: loss 'triplet' takes no queue"):
        load_recipe(RECIPES / "clmr_tiny.yaml", ["loss.name=triplet", "loss.temperature=null", "loss.queue_size=8"])
    with pytest.raises(RecipeError, match="method.momentum_encoder: loss 'triplet'"):
        load_recipe(RECIPES / "clmr_tiny.yaml", ["loss.name=triplet", "loss.temperature=null", ON[1]])


@pytest.mark.parametrize("name", ["clmr_tiny", "cola_tiny", "clar_tiny", "multiformat_tiny"])
def test_every_method_trains_with_a_queue_and_a_momentum_encoder(name):
    """Two steps of each method with both options on: the queue fills with one key per clip and step, the keys
    come from the momentum copy, and a step's gradients reach the online weights only."""
    from audiocl.methods import ContrastiveMethod

    recipe = load_recipe(RECIPES / f"{name}.yaml", ["data.batch_size=4", *ON])
    method = ContrastiveMethod(recipe)
    assert method.queue.size == 12 and method.momentum is not None
    g = torch.Generator().manual_seed(0)
    samples = int(recipe.data.clip_seconds * recipe.data.sample_rate)
    for step in range(2):
        batch = {"audio": 0.1 * torch.randn(4, samples, generator=g), "length": torch.full((4,), samples)}
        if name == "clar_tiny":
            batch["label"] = torch.tensor([0, -1, 1, -1])
        method.zero_grad()
        loss = method.training_step(batch, step)
        loss.backward()
        assert loss.isfinite() and int(method.queue.filled) == 4 * (step + 1)
    assert all(p.grad is None for p in method.momentum.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.branches.parameters())


def run_cli(*args: str) -> None:
    assert main(list(args)) == 0


def test_queue_recipe_trains_from_the_cli(tmp_path):
    """`audiocl pretrain recipes/clmr_queue_tiny.yaml`: the queue and the momentum copy are in the checkpoint;
    load_encoder returns the online encoder, and the momentum copy only when asked for."""
    import audiocl
    from audiocl.checkpoint import load_checkpoint, load_method

    run = tmp_path / "run"
    steps = 4  # 4 steps of 8 clips into a queue of 24: it wraps
    run_cli("pretrain", "recipes/clmr_queue_tiny.yaml", f"output_dir={run}", f"trainer.max_steps={steps}",
            "loss.queue_size=24", "trainer.progress_bar=false")  # fmt: skip
    last = run / "checkpoints" / "last.ckpt"
    state = load_checkpoint(last)["state_dict"]
    assert int(state["queue.filled"]) == 24 and int(state["queue.ptr"]) == steps * 8 % 24
    assert state["queue.keys"].abs().sum(dim=1).min() > 0  # every slot written
    method = load_method(last)
    assert torch.equal(method.queue.keys, state["queue.keys"])
    audio = 0.1 * torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    online, ema = method.branches["waveform"], method.momentum.module["waveform"]
    with torch.no_grad():
        assert not torch.allclose(online.embed(audio), ema.embed(audio))
        default = audiocl.load_encoder(last)
        asked = audiocl.load_encoder(last, "momentum")
        assert torch.equal(default.encoder(default.frontend(audio)), online.embed(audio))
        assert torch.equal(asked.encoder(asked.frontend(audio)), ema.embed(audio))
    with pytest.raises(ValueError, match="no momentum encoder"):
        from audiocl.eval.pipeline import pipeline_of
        from audiocl.methods import ContrastiveMethod

        pipeline_of(ContrastiveMethod(load_recipe(RECIPES / "clmr_tiny.yaml")), "momentum")


def losses(run) -> list[float]:
    import csv

    with open(run / "csv" / "metrics.csv") as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]


@pytest.mark.slow
def test_sigkill_and_resume_give_the_same_queue_and_next_losses(tmp_path):
    """Kill a queue + momentum run with SIGKILL after a checkpoint, resume it: the queue, its pointer, the momentum
    copy and every later loss are those of an uninterrupted run."""
    from audiocl.checkpoint import load_checkpoint

    steps = 16
    common = ["recipes/clmr_queue_tiny.yaml", f"trainer.max_steps={steps}", "trainer.progress_bar=false",
              "trainer.last_every_n_steps=3", "trainer.checkpoint_every_n_steps=100"]  # fmt: skip
    reference = tmp_path / "reference"
    run_cli("pretrain", *common, f"output_dir={reference}")

    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "audiocl", "pretrain", *common, f"output_dir={run}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not (last.exists() and torch.load(last, weights_only=True)["global_step"] >= 6 and len(losses(run)) >= 6):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(last, weights_only=True)["global_step"]
    assert 6 <= killed_at < steps

    run_cli("pretrain", *common, f"output_dir={run}")  # resumes from last.ckpt
    want = load_checkpoint(reference / "checkpoints" / "last.ckpt")["state_dict"]
    got = load_checkpoint(last)["state_dict"]
    for key in ("queue.ptr", "queue.filled", "queue.labels"):
        assert torch.equal(got[key], want[key]), key
    torch.testing.assert_close(got["queue.keys"], want["queue.keys"], rtol=1e-4, atol=1e-5)
    for key in (k for k in want if k.startswith("momentum.")):
        torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-5)
    assert losses(run) == pytest.approx(losses(reference), rel=1e-4, abs=1e-5)
    assert len(losses(run)) == steps
