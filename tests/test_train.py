"""Pretraining end to end: every tiny recipe from the CLI, checkpoints, exact resume, DDP on CPU."""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from audiocl.cli import main
from audiocl.config import RecipeError, load_recipe
from audiocl.recipes_path import RECIPES
from audiocl.synth import make_corpus

TINY = ["clmr_tiny", "cola_tiny", "clar_tiny", "multiformat_tiny"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A folder-per-class tree of 16 short clips (4 classes) at 16 kHz."""
    root = tmp_path_factory.mktemp("corpus")
    make_corpus(
        root, clips_per_class=4, clip_seconds=1.0, sample_rate=16000, classes=["plucked", "bowed", "reed", "metal"]
    )
    return root / "audio"


PAPER_RECIPES = [
    "clmr_magnatagatune",
    "cola_audioset",
    "clar_speech_commands",
    "multiformat_audioset",
    "multiformat_esc50",
]


def losses(run: Path) -> list[float]:
    with open(run / "csv" / "metrics.csv") as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]


def run_cli(*args: str) -> None:
    assert main(list(args)) == 0


def test_step_checkpoints_and_last_at_the_same_interval(corpus, tmp_path):
    # Lightning keys a ModelCheckpoint's state by its intervals: equal ones collided and the run did not start.
    run = tmp_path / "run"
    run_cli(
        "pretrain", "clmr_tiny", f"data.root={corpus}", f"output_dir={run}", "trainer.max_steps=4",
        "trainer.checkpoint_every_n_steps=2", "trainer.last_every_n_steps=2", "trainer.progress_bar=false",
    )  # fmt: skip
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt", "step=2.ckpt", "step=4.ckpt"]
    run_cli("pretrain", "clmr_tiny", "--resume", f"data.root={corpus}", f"output_dir={run}", "trainer.max_steps=6",
            "trainer.checkpoint_every_n_steps=2", "trainer.last_every_n_steps=2", "trainer.progress_bar=false",
            "--take-changes", "trainer.max_steps")  # fmt: skip
    assert (run / "checkpoints" / "step=6.ckpt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY)
def test_tiny_recipe_trains_and_reloads(name, corpus, tmp_path):
    run = tmp_path / "run"
    steps = 30
    # clar_tiny on its synthetic corpus (10 clips per class): its 10% of labels is then exactly 10%
    data = [] if name == "clar_tiny" else [f"data.root={corpus}"]
    run_cli(
        "pretrain",
        name,
        *data,
        f"output_dir={run}",
        f"trainer.max_steps={steps}",
        "trainer.progress_bar=false",
        "data.batch_size=8",
    )
    curve = losses(run)
    assert len(curve) == steps
    if name == "clar_tiny":  # the semi-supervised head trained on the labelled 10%
        with open(run / "csv" / "metrics.csv") as f:
            assert [r["train/ce"] for r in csv.DictReader(f) if r.get("train/ce")]
    assert sum(curve[-8:]) / 8 < sum(curve[:8]) / 8, f"loss did not decrease: {curve}"
    assert (run / "recipe.yaml").is_file() and (run / "environment.json").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "checkpoints" / "step=10.ckpt").is_file()
    assert list((run / "tensorboard").glob("events.*"))

    from audiocl.checkpoint import load_method
    from audiocl.eval.pipeline import load_pipeline

    method = load_method(run / "checkpoints" / "last.ckpt")
    again = load_method(run / "checkpoints" / "last.ckpt")
    recipe = load_recipe(run / "recipe.yaml")
    audio = torch.randn(3, recipe.views.crop_samples, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        for a, b in zip(method.branches.values(), again.branches.values(), strict=True):
            torch.testing.assert_close(a.embed(audio), b.embed(audio), rtol=0, atol=0)
    pipeline = load_pipeline(run / "checkpoints" / "last.ckpt")
    assert pipeline.sample_rate == recipe.data.sample_rate and pipeline.segment_samples == recipe.views.crop_samples
    with torch.no_grad():
        h = pipeline.encoder(pipeline.frontend(audio))
    assert h.shape[0] == 3 and torch.isfinite(h).all()


def test_tiny_recipes_run_without_data_on_the_synthetic_corpus(tmp_path, monkeypatch):
    """`audiocl pretrain recipes/<method>_tiny.yaml` as written: no data.root, the built-in corpus. The model it
    trained is the one its checkpoint reloads; a multi-format checkpoint embeds with either branch or both.
    Only when asked does training on the CPU keep freed memory for reuse (audiocl.allocator: process-wide)."""
    import audiocl
    import audiocl.allocator
    from audiocl.checkpoint import load_method
    from audiocl.train import pretrain

    kept = []
    monkeypatch.setattr(audiocl.allocator, "keep_freed_memory", lambda: kept.append(1) or True)
    run = tmp_path / "run"
    recipe = load_recipe(RECIPES / "multiformat_tiny.yaml", [f"output_dir={run}", "trainer.max_steps=2",
                                                             "trainer.progress_bar=false"])  # fmt: skip
    trained = pretrain(recipe).lightning_module.eval()
    assert kept == []
    pretrain(recipe, keep_freed_memory=True)  # resumes at its last step: nothing more to train
    assert kept == [1]
    corpus = next((run / "synthetic_corpus").iterdir())
    assert len(list(corpus.rglob("*.wav"))) == 50 and not list(run.glob("synthetic_corpus/.partial-*"))

    reloaded = load_method(run / "checkpoints" / "last.ckpt")
    audio = 0.1 * torch.randn(3, recipe.views.crop_samples, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for name, branch in trained.branches.items():
            torch.testing.assert_close(branch.embed(audio), reloaded.branches[name].embed(audio), rtol=0, atol=0)
    sizes = {b: audiocl.load_encoder(run / "checkpoints" / "last.ckpt", b).embedding_size
             for b in (None, "waveform", "logmel")}  # fmt: skip
    assert sizes[None] == sizes["waveform"] + sizes["logmel"]
    both = audiocl.load_encoder(run / "checkpoints" / "last.ckpt").embed(audio[0], sample_rate=16000)
    assert both.shape == (sizes[None],) and torch.isfinite(both).all()


def test_clar_tiny_trains_its_head_on_ten_percent_of_the_labels(tmp_path):
    from audiocl.data.datamodule import build_pretrain_dataset

    recipe = load_recipe(RECIPES / "clar_tiny.yaml", [f"output_dir={tmp_path}"])  # the synthetic corpus
    labels = build_pretrain_dataset(recipe).labels
    assert recipe.data.label_fraction == 0.1 and len(labels) == 50
    assert sum(label >= 0 for label in labels) == 5  # one clip of each of the 5 classes: exactly 10%


def test_bad_override_names_the_key(corpus, tmp_path, capsys):
    assert main(["pretrain", "clmr_tiny", f"data.root={corpus}", "trainer.max_step=3"]) == 2
    assert "trainer.max_step: unknown key" in capsys.readouterr().err
    assert main(["pretrain", "clmr_tiny", "data.root=/nonexistent/folder", f"output_dir={tmp_path}"]) == 2
    assert "/nonexistent/folder" in capsys.readouterr().err
    assert main(["pretrain", "no_such_recipe"]) == 2
    assert "clmr_tiny" in capsys.readouterr().err  # lists the bundled recipes


def test_supervised_head_sees_only_the_labelled_fraction(corpus):
    from audiocl.data.datamodule import build_pretrain_dataset

    recipe = load_recipe(RECIPES / "clar_tiny.yaml", [f"data.root={corpus}", "data.label_fraction=0.25"])
    labels = build_pretrain_dataset(recipe).labels
    assert len(labels) == 16
    assert sum(label >= 0 for label in labels) == 4  # one labelled clip per class


def test_tampered_checkpoint_is_refused(tmp_path):
    from audiocl.checkpoint import CheckpointError, load_method

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"recipe": Evil()}}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_method(path)
    assert not (tmp_path / "pwned").exists()
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="evil.ckpt"):
        load_method(path)


def test_atomic_save_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    from audiocl import checkpoint

    path = tmp_path / "last.ckpt"
    checkpoint.save_atomic({"step": 1}, path)

    def broken_save(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(checkpoint.torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_atomic({"step": 2}, path)
    monkeypatch.undo()
    assert checkpoint.load_checkpoint(path) == {"step": 1}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_step_batches_are_a_function_of_the_step():
    from audiocl.data.datamodule import StepBatchSampler

    full = list(StepBatchSampler(10, 4, num_steps=6, seed=3))
    resumed = list(StepBatchSampler(10, 4, num_steps=6, seed=3, start_step=4))
    assert resumed == full[4:]
    # Each epoch (10 clips) is a permutation: the first 2.5 steps cover every clip once.
    first_epoch = [i for batch in full for i, _ in batch][:10]
    assert sorted(first_epoch) == list(range(10))
    # Two ranks take disjoint halves of one global batch.
    r0 = list(StepBatchSampler(10, 2, num_steps=2, seed=3, rank=0, world_size=2))
    r1 = list(StepBatchSampler(10, 2, num_steps=2, seed=3, rank=1, world_size=2))
    one = list(StepBatchSampler(10, 4, num_steps=2, seed=3))
    assert [a + b for a, b in zip(r0, r1, strict=True)] == one


@pytest.mark.slow
def test_resume_after_sigkill_continues_the_curve(corpus, tmp_path):
    """Kill a run with SIGKILL after its first checkpoints, resume it, and compare with an uninterrupted run."""
    steps = 24
    common = [
        f"data.root={corpus}",
        f"trainer.max_steps={steps}",
        "trainer.progress_bar=false",
        "trainer.last_every_n_steps=4",
        "data.batch_size=8",
    ]
    reference = tmp_path / "reference"
    run_cli("pretrain", "clmr_tiny", f"output_dir={reference}", *common)

    run = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "audiocl",
        "pretrain",
        "clmr_tiny",
        f"output_dir={run}",
        *common,
        "trainer.log_every_n_steps=1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    metrics = run / "csv" / "metrics.csv"

    def checkpointed_and_logged() -> bool:
        # Lightning saves a step's checkpoint just before it logs that step's row; the row travels in the
        # checkpoint too (tests/reliability covers a kill between the two). Here: kill once both are on disk.
        if not last.exists():
            return False
        step = torch.load(last, weights_only=True)["global_step"]
        return step >= 8 and metrics.exists() and len(losses(run)) >= step

    while not checkpointed_and_logged():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(last, weights_only=True)["global_step"]
    assert killed_at < steps

    run_cli("pretrain", "clmr_tiny", f"output_dir={run}", *common)  # resumes from last.ckpt by itself
    assert torch.load(last, weights_only=True)["global_step"] == steps
    ref = losses(reference)
    # The log keeps the rows before the resume point, so the killed-and-resumed run has one curve, and it is the
    # uninterrupted run's: same seed, same data, same batches and losses before the kill and after the resume.
    assert len(losses(run)) == steps
    assert losses(run) == pytest.approx(ref, rel=1e-4, abs=1e-5)


def group_alive(pgid: int) -> bool:
    """Whether a process of process group ``pgid`` still runs (a zombie, exited but not reaped, does not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            state, _, group = stat.read_text().rpartition(")")[2].split()[:3]
            if int(group) == pgid and state != "Z":
                return True
    return False


@pytest.mark.slow
def test_ddp_two_cpu_processes(corpus, tmp_path):
    """2-process DDP (gloo) on CPU completes, and the two ranks see distinct clips."""
    run = tmp_path / "ddp"
    code = (
        "import faulthandler, sys, torch\n"
        # Each rank prints every thread's stack if it is still running at 240 s: a hang fails with a diagnosis.
        "faulthandler.dump_traceback_later(240)\n"
        "from audiocl.config import load_recipe\n"
        "from audiocl.recipes_path import RECIPES\n"
        "from audiocl.train import pretrain\n"
        "import lightning as L\n"
        "class Seen(L.Callback):\n"
        "    def on_train_batch_start(self, trainer, module, batch, batch_idx):\n"
        "        with open(sys.argv[2] + f'/seen{trainer.global_rank}.txt', 'a') as f:\n"
        "            f.write(' '.join(map(str, batch['index'].tolist())) + '\\n')\n"
        "recipe = load_recipe(RECIPES / 'clmr_tiny.yaml', sys.argv[3:])\n"
        "pretrain(recipe, callbacks=[Seen()])\n"
    )
    script = tmp_path / "ddp_run.py"
    script.write_text(code)
    run.mkdir()
    args = [
        f"data.root={corpus}",
        f"output_dir={run}",
        "trainer.max_steps=4",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        "trainer.strategy=ddp",
        "trainer.progress_bar=false",
        "data.batch_size=4",
    ]
    # Output goes to a file and the ranks get a process group of their own: a rank left behind can neither hold
    # a pipe open nor outlive the test. Rank 0 must exit 0, and every other process of the run with it.
    log = tmp_path / "ddp.log"
    deadline = time.monotonic() + 300
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script), "x", str(run), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout=300)
            while returncode == 0 and group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            stragglers = group_alive(proc.pid)
        except subprocess.TimeoutExpired:
            returncode, stragglers = None, True
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    assert returncode == 0 and not stragglers, log.read_text()[-8000:]
    seen0 = (run / "seen0.txt").read_text().split("\n")
    seen1 = (run / "seen1.txt").read_text().split("\n")
    assert len([s for s in seen0 if s]) == 4 and len([s for s in seen1 if s]) == 4
    for a, b in zip(seen0, seen1, strict=True):
        if a:
            assert not set(a.split()) & set(b.split()), "both ranks got the same clip in one step"
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4


def test_a_crop_too_short_for_the_encoder_names_the_key():
    from audiocl.config import RecipeError
    from audiocl.methods import ContrastiveMethod

    recipe = load_recipe(RECIPES / "clmr_magnatagatune.yaml", ["views.crop_samples=20000"])
    with pytest.raises(RecipeError, match="views.crop_samples: 20000 samples do not fit branch 'waveform'"):
        ContrastiveMethod(recipe)


def test_full_recipes_build(tmp_path):
    """The paper recipes build their models (the full-size training steps run in the slow test below)."""
    from audiocl.methods import ContrastiveMethod

    for name in PAPER_RECIPES:
        method = ContrastiveMethod(load_recipe(RECIPES / f"{name}.yaml"))
        assert sum(p.numel() for p in method.parameters()) > 1_000_000


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_trainer_the_machine_cannot_run_is_a_recipe_error(corpus, tmp_path):
    """Lightning's own refusals (here: a GPU asked for where there is none) name the trainer keys."""
    from audiocl.train import pretrain

    recipe = load_recipe(RECIPES / "clmr_tiny.yaml", [f"data.root={corpus}", f"output_dir={tmp_path / 'run'}"])
    recipe.trainer.accelerator = "gpu"
    with pytest.raises(RecipeError, match=r"trainer \(accelerator='gpu'"):
        pretrain(recipe)
    assert not (tmp_path / "run").exists()


def test_cola_recipe_feeds_the_encoder_98_frames_of_64_mel_bands():
    """COLA's pretraining input: 1 s segments (extract_window's 16000 samples) as 98 frames of 64 log-mel bands
    at 16 kHz, 1 + (16000 - 400) // 160 (the recipe's crop, through its own front-end)."""
    import torch

    from audiocl.methods import ContrastiveMethod

    recipe = load_recipe(RECIPES / "cola_audioset.yaml")
    branch = ContrastiveMethod(recipe).branches["logmel"]
    assert branch.frontend(torch.zeros(2, recipe.views.crop_samples)).shape == (2, 1, 64, 98)


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_full_recipe_starts_training_on_a_folder(name, corpus, tmp_path):
    """The paper-sized models take two real steps on a folder of generated audio (batch shrunk to 4)."""
    run = tmp_path / "run"
    overrides = [
        f"data.root={corpus}",
        f"output_dir={run}",
        "trainer.max_steps=2",
        "data.batch_size=4",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.precision=32-true",
        "trainer.progress_bar=false",
        "data.dataset=folder",
        "trainer.log_every_n_steps=1",
    ]
    if name == "clar_speech_commands":
        overrides.append("supervised.num_classes=4")  # the generated tree has 4 classes, not 35 words
    run_cli("pretrain", name, *overrides)
    assert all(loss == loss for loss in losses(run))  # finite (not NaN)
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2


@pytest.mark.slow
def test_gradient_caching_trains(corpus, tmp_path):
    """trainer.chunk_size switches to GradCache (manual optimisation) and training proceeds."""
    run = tmp_path / "run"
    run_cli(
        "pretrain",
        "cola_tiny",
        f"data.root={corpus}",
        f"output_dir={run}",
        "trainer.max_steps=3",
        "trainer.chunk_size=4",
        "trainer.progress_bar=false",
        "trainer.log_every_n_steps=1",
    )
    curve = losses(run)
    assert len(curve) == 3 and all(torch.isfinite(torch.tensor(curve)))
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3


@pytest.mark.slow
def test_gradient_caching_takes_the_whole_batch_step(corpus, tmp_path):
    """A training step with trainer.chunk_size, through Lightning, updates the weights as the whole-batch step
    does. Batch norm is held in eval mode: its per-chunk statistics are GradCache's documented caveat."""
    from lightning.pytorch.callbacks import Callback

    from audiocl.train import pretrain

    class HoldBatchNorm(Callback):
        def on_train_start(self, trainer, module):
            self.initial = {k: v.detach().clone() for k, v in module.state_dict().items()}

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            for m in module.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()

    after, before = {}, {}
    for name, extra in (("whole", []), ("cached", ["trainer.chunk_size=4"])):
        overrides = [f"data.root={corpus}", f"output_dir={tmp_path / name}", "trainer.max_steps=1", "optim.name=sgd",
                     "optim.lr=0.5", "data.batch_size=8", "trainer.progress_bar=false", *extra]  # fmt: skip
        hold = HoldBatchNorm()
        trainer = pretrain(load_recipe(RECIPES / "clmr_tiny.yaml", overrides), callbacks=[hold])
        after[name] = {k: v.detach().clone() for k, v in trainer.lightning_module.state_dict().items()}
        before[name] = hold.initial
    assert trainer.lightning_module.automatic_optimization is False  # the cached run took the GradCache path
    moved = 0
    for key, value in after["whole"].items():
        torch.testing.assert_close(before["cached"][key], before["whole"][key], rtol=0, atol=0)
        torch.testing.assert_close(after["cached"][key], value, rtol=0, atol=1e-5, msg=key)
        moved += int(not torch.equal(value, before["whole"][key]))
    assert moved > 0


def test_a_corrupt_file_is_skipped_and_reported(tmp_path):
    root = tmp_path / "audio"
    make_corpus(tmp_path, clips_per_class=3, clip_seconds=0.6, sample_rate=16000, classes=["plucked", "reed"])
    (root / "reed" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    run = tmp_path / "run"
    run_cli(
        "pretrain",
        "clmr_tiny",
        f"data.root={root}",
        f"output_dir={run}",
        "trainer.max_steps=4",
        "data.batch_size=7",
        "data.clip_seconds=0.6",
        "trainer.progress_bar=false",
    )
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    assert "broken.wav" in (run / "skipped_files.tsv").read_text()


def test_bench_train_reports_throughput_and_data_wait(capsys):
    assert main(["bench", "train", "--recipe", "clmr_tiny", "--steps", "8", "--warmup", "2", "--clips", "10"]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line.split()[-2:] for line in out.splitlines() if line.startswith(("clips/s", "data-wait"))
    }
    clips_per_s, wait = float(rows["clips/s"][0]), float(rows["data-wait"][0])
    assert clips_per_s > 0 and 0.0 <= wait <= 1.0


def test_probe_cli_puts_the_baselines_beside_a_checkpoint(corpus, tmp_path):
    """`--baseline random` next to `--checkpoint` uses the checkpoint's own encoder at random init."""
    import json

    run = tmp_path / "run"
    run_cli("pretrain", "cola_tiny", f"data.root={corpus}", f"output_dir={run}", "trainer.max_steps=2",
            "trainer.progress_bar=false")  # fmt: skip
    out = tmp_path / "results.json"
    ckpt = str(run / "checkpoints" / "last.ckpt")
    labels = str(corpus.parent / "labels.csv")
    run_cli("probe", "--task", "csv", "--data", labels, "--checkpoint", ckpt, "--baseline", "random",
            "--baseline", "mfcc", "--seeds", "0", "--no-progress", "--out", str(out))  # fmt: skip
    results = json.loads(out.read_text())["results"]
    assert len(results) == 3
    assert [r["embedding_dim"] for r in results] == [32, 32, 40]  # cola_tiny's encoder twice, then MFCC stats


def test_warmup_then_cosine():
    from functools import partial

    from audiocl.methods import warmup_cosine

    schedule = partial(warmup_cosine, warmup_steps=10, total_steps=110, min_ratio=0.1)
    assert schedule(0) == pytest.approx(0.1) and schedule(9) == pytest.approx(1.0)
    assert schedule(60) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the cosine
    assert schedule(110) == pytest.approx(0.1) and schedule(500) == pytest.approx(0.1)
    assert warmup_cosine(50, warmup_steps=0, total_steps=100, schedule="constant") == 1.0


def test_a_resumed_run_follows_its_own_schedule():
    """Resuming with a longer max_steps must not restore the old schedule from the checkpoint."""
    from audiocl.methods import ContrastiveMethod

    def scheduler(max_steps: int):
        recipe = load_recipe(RECIPES / "clmr_tiny.yaml", [f"trainer.max_steps={max_steps}", "optim.schedule=cosine"])
        method = ContrastiveMethod(recipe)
        method.trainer = type("T", (), {"world_size": 1})()  # configure_optimizers reads the world size
        return method.configure_optimizers()["lr_scheduler"]["scheduler"]

    old, new = scheduler(5), scheduler(8)
    new.load_state_dict(old.state_dict())
    factors = [new.lr_lambdas[0](step) for step in (5, 6, 7)]
    assert all(f > 0 for f in factors), factors


def test_lars_excludes_biases_and_norms_from_decay():
    from audiocl.methods import build_optimizer

    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    opt = build_optimizer(model.named_parameters(), "lars", lr=0.1, weight_decay=1e-6, momentum=0.9,
                          betas=(0.9, 0.999), lars_trust=0.001)  # fmt: skip
    decay, no_decay = opt.param_groups
    assert [p.ndim for p in decay["params"]] == [2, 2] and decay["weight_decay"] == 1e-6
    assert all(p.ndim == 1 for p in no_decay["params"]) and no_decay["weight_decay"] == 0.0
    model(torch.randn(5, 4)).sum().backward()
    opt.step()


@pytest.mark.slow
def test_bf16_lars_linear_scaling_run(corpus, tmp_path):
    """bf16 autocast, LARS with warm-up and the linear learning-rate rule train on the CPU."""
    run = tmp_path / "run"
    run_cli("pretrain", "multiformat_tiny", f"data.root={corpus}", f"output_dir={run}", "trainer.max_steps=6",
            "trainer.precision=bf16-mixed", "optim.name=lars", "optim.lr_scaling=linear", "optim.warmup_steps=4",
            "optim.weight_decay=1e-6", "trainer.progress_bar=false")  # fmt: skip
    curve = losses(run)
    assert len(curve) == 6 and all(torch.isfinite(torch.tensor(curve)))
    with open(run / "csv" / "metrics.csv") as f:
        lrs = [float(r["train/lr"]) for r in csv.DictReader(f) if r.get("train/lr")]
    assert lrs[0] < lrs[1] < lrs[2]  # warming up; base lr 1e-3 scaled by 8/256
    assert max(lrs) == pytest.approx(1e-3 * 8 / 256, rel=1e-6)  # logged as float32


def test_labels_follow_the_label_fraction_for_a_cache_too(corpus, tmp_path):
    from audiocl.config import RecipeError
    from audiocl.data import prepare
    from audiocl.data.datamodule import build_pretrain_dataset

    labelled = tmp_path / "labelled"
    shutil.copytree(corpus, labelled)
    cache = tmp_path / "cache"
    prepare("folder", labelled, cache, 16000, progress=False)
    common = [f"data.root={cache}", "data.dataset=cache"]
    unlabelled = build_pretrain_dataset(load_recipe(RECIPES / "clmr_tiny.yaml", common))
    assert all(unlabelled[i]["label"] == -1 for i in range(len(unlabelled)))
    with pytest.raises(RecipeError, match="label_fraction"):  # a cache of a plain folder has no labels
        build_pretrain_dataset(load_recipe(RECIPES / "clar_tiny.yaml", common))


def test_num_classes_is_checked_against_the_data(corpus):
    from audiocl.config import RecipeError
    from audiocl.data.datamodule import build_pretrain_dataset

    recipe = load_recipe(RECIPES / "clar_tiny.yaml", [f"data.root={corpus}", "supervised.num_classes=3",
                                                      "data.label_fraction=1.0"])  # fmt: skip
    with pytest.raises(RecipeError, match="supervised.num_classes: 3, but the data has 4 classes"):
        build_pretrain_dataset(recipe)


def test_overrides_may_follow_options_and_recipes_resolve_from_anywhere(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the repository: recipes/NAME.yaml falls back to the bundled recipe
    run = tmp_path / "run"
    run_cli("pretrain", "recipes/clmr_tiny.yaml", "--fresh", f"data.root={corpus}", f"output_dir={run}",
            "trainer.max_steps=2", "trainer.progress_bar=false")  # fmt: skip
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    assert main(["pretrain", "clmr_tiny", "--resume", str(tmp_path / "missing.ckpt"), f"data.root={corpus}"]) == 2
    # A bare --resume means the run folder's last.ckpt, also when overrides follow it
    # (a longer run is a change of the recipe: the resume takes it when told to)
    run_cli("pretrain", "clmr_tiny", "--resume", f"data.root={corpus}", f"output_dir={run}",
            "trainer.max_steps=3", "trainer.progress_bar=false", "--take-changes", "trainer.max_steps")  # fmt: skip
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3
    empty = ["pretrain", "clmr_tiny", f"data.root={corpus}", f"output_dir={tmp_path / 'empty'}", "--resume"]
    assert main(empty) == 2  # nothing to resume from


def test_progress_bar_shows_the_runs_step_out_of_max_steps():
    """Lightning's bar counts batches of the epoch (restarting on resume); ours adds the global step."""
    from types import SimpleNamespace

    from audiocl.train import StepProgressBar

    trainer = SimpleNamespace(global_step=12, max_steps=100, loggers=[], progress_bar_metrics={"train/loss": 1.5})
    assert StepProgressBar().get_metrics(trainer, None) == {"step": "12/100", "train/loss": 1.5}


def test_pretrain_cli_keeps_freed_memory_unless_told_not_to(monkeypatch):
    """The process-wide malloc setting is the CLI's choice (``--default-malloc`` opts out), not the library's."""
    import audiocl.train
    from audiocl.cli import main

    asked = []

    def fake_pretrain(recipe, **kwargs):
        asked.append(kwargs["keep_freed_memory"])
        raise FileNotFoundError("stop here")

    monkeypatch.setattr(audiocl.train, "pretrain", fake_pretrain)
    assert main(["pretrain", "clmr_tiny"]) == 2
    assert main(["pretrain", "clmr_tiny", "--default-malloc"]) == 2
    assert asked == [True, False]
