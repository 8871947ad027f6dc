"""A run folder holds one run, with the settings that really ran: resume diffs, --fresh, the lock, divergence."""

from __future__ import annotations

import csv
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from messy import TINY

from audiocl.cli import main
from audiocl.run_lock import RunLock


def lrs(run) -> dict[int, float]:
    with open(run / "csv" / "metrics.csv") as f:
        return {int(r["step"]): float(r["train/lr"]) for r in csv.DictReader(f) if r.get("train/lr")}


@pytest.fixture(scope="module")
def finished_run(messy_corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished") / "run"
    assert main(["pretrain", "clmr_tiny", f"data.root={messy_corpus}", f"output_dir={folder}", *TINY]) == 0
    return folder


@pytest.fixture()
def run(finished_run, messy_corpus, tmp_path):
    """A copy of a finished 4-step clmr_tiny run folder, and the arguments that continue it (output_dir is
    where a run is, not what it is: the copy resumes as the original would)."""
    folder = Path(shutil.copytree(finished_run, tmp_path / "run"))
    return folder, ["pretrain", "clmr_tiny", f"data.root={messy_corpus}", f"output_dir={folder}", *TINY]


def snapshot(folder) -> dict:
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_a_resume_with_another_lr_is_refused_then_applied_when_taken(run, capsys):
    folder, argv = run
    before = snapshot(folder)
    assert main([*argv, "optim.lr=0.5", "trainer.max_steps=6"]) == 2
    err = capsys.readouterr().err
    assert "optim.lr: 0.001 -> 0.5" in err and "trainer.max_steps: 4 -> 6" in err
    assert "--take-changes optim.lr,trainer.max_steps" in err
    assert snapshot(folder) == before  # nothing in the run folder was touched
    assert main([*argv, "optim.lr=0.5", "trainer.max_steps=6", "--take-changes", "optim.lr,trainer.max_steps"]) == 0
    logged = lrs(folder)
    assert [logged[s] for s in range(6)] == pytest.approx([1e-3] * 4 + [0.5] * 2)  # the run really used 0.5
    saved = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert (
        saved["hyper_parameters"]["recipe"]["optim"]["lr"] == 0.5 and "lr: 0.5" in (folder / "recipe.yaml").read_text()
    )


def test_another_recipe_into_a_run_folder_is_refused_untouched(run, messy_corpus, capsys):
    folder, _ = run
    before, recipe = snapshot(folder), (folder / "recipe.yaml").read_text()
    argv = ["pretrain", "cola_tiny", f"data.root={messy_corpus}", f"output_dir={folder}", *TINY]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "branches.0.encoder: 'tiny_cnn_1d' -> 'tiny_cnn'" in err and "cannot change in a resumed run" in err
    assert main([*argv, "--take-changes", "branches"]) == 2  # an architecture cannot be taken over
    assert snapshot(folder) == before and (folder / "recipe.yaml").read_text() == recipe


def test_fresh_moves_the_old_run_aside(run):
    folder, argv = run
    old = snapshot(folder)
    assert main([*argv, "--fresh", "optim.lr=0.5"]) == 0
    (aside,) = folder.parent.glob("run.replaced-*")
    assert snapshot(aside) == old  # the old run, whole
    names = sorted(p.name for p in (folder / "checkpoints").iterdir())
    assert names == ["last.ckpt"]  # no -v1 files beside old ones
    assert sorted(lrs(folder)) == [0, 1, 2, 3]


HOLD = """
import sys, time
from audiocl.run_lock import RunLock
RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_run_into_a_locked_folder_is_refused_naming_the_first(messy_corpus, tmp_path, capsys):
    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        argv = ["pretrain", "clmr_tiny", f"data.root={messy_corpus}", f"output_dir={folder}", *TINY]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"is in use by another run (PID {holder.pid}" in err
        assert list(folder.iterdir()) == [folder / "run.lock"]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel dropped the killed holder's lock: its file is stale and the next run takes it over.
    with RunLock(folder) as lock:
        assert lock.path.is_file()
    assert not (folder / "run.lock").exists()  # released on exit


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(run, capsys):
    folder, argv = run
    last = folder / "checkpoints" / "last.ckpt"
    good = last.read_bytes()
    diverge = [*argv, "optim.lr=1e30", "trainer.max_steps=12", "--take-changes", "optim.lr,trainer.max_steps"]
    assert main(diverge) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("audiocl pretrain")]
    assert len(err) == 1 and "training diverged: the loss was nan for 3 steps in a row" in err[0]
    saved = torch.load(last, weights_only=True)
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values() if v.is_floating_point())
    assert saved["global_step"] < 12 and (saved["global_step"] > 4 or last.read_bytes() == good)


KILL_AFTER_CHECKPOINT = """
import os, signal, sys
import audiocl.checkpoint as ck
from audiocl.cli import main

save = ck.save_atomic

def save_then_die(obj, path):
    save(obj, path)
    if str(path).endswith("last.ckpt") and obj.get("global_step") == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)  # right after the checkpoint, before Lightning writes its row

ck.save_atomic = save_then_die
sys.exit(main(sys.argv[2:]))
"""


def test_a_kill_right_after_a_checkpoint_loses_no_log_row(messy_corpus, tmp_path):
    folder = tmp_path / "run"
    argv = ["pretrain", "clmr_tiny", f"data.root={messy_corpus}", f"output_dir={folder}", *TINY]
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_CHECKPOINT, "2", *argv], capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    assert main(argv) == 0
    assert sorted(lrs(folder)) == list(range(4))  # one continuous curve: step 1's row came back from the checkpoint
