"""Where one line is promised: each bad input ends in one line on stderr naming the file or key, exit status 2,
and nothing written into the run folder."""

from __future__ import annotations

import csv
import os

import pytest
import torch
from messy import TINY

from audiocl.cli import main


def one_line_error(capsys, argv: list[str], *expected: str, status: int = 2) -> str:
    assert main(argv) == status
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("audiocl ")]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    for text in expected:
        assert text in err[0], (text, err[0])
    return err[0]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Checkpoints that are not audiocl's: a bare tensor, random bytes, a dict without a recipe, an empty file."""
    root = tmp_path_factory.mktemp("ckpts")
    torch.save(torch.zeros(3), root / "tensor.ckpt")
    (root / "random.ckpt").write_bytes(os.urandom(4096))
    torch.save({"state_dict": {}, "global_step": 3}, root / "lightning_only.ckpt")
    (root / "empty.ckpt").write_bytes(b"")
    return root


CHECKPOINT_ERRORS = {
    "tensor.ckpt": "holds a Tensor, not a training checkpoint",
    "random.ckpt": "not a PyTorch checkpoint (neither a zip archive nor a pickle stream)",
    "lightning_only.ckpt": "not an audiocl checkpoint",
    "empty.ckpt": "not a PyTorch checkpoint (an empty file)",
}


@pytest.mark.parametrize("name", sorted(CHECKPOINT_ERRORS))
def test_resume_from_a_checkpoint_that_is_not_audiocls(checkpoints, messy_corpus, tmp_path, capsys, name):
    run = tmp_path / "run"
    argv = ["pretrain", "clmr_tiny", f"data.root={messy_corpus}", f"output_dir={run}", *TINY]
    one_line_error(capsys, [*argv, "--resume", str(checkpoints / name)], name, CHECKPOINT_ERRORS[name])
    assert not run.exists()


@pytest.mark.parametrize("name", sorted(CHECKPOINT_ERRORS))
def test_embed_with_a_checkpoint_that_is_not_audiocls(checkpoints, messy_corpus, tmp_path, capsys, name):
    out = tmp_path / "e.npz"
    argv = ["embed", "--checkpoint", str(checkpoints / name), str(messy_corpus), "--out", str(out), "--no-progress"]
    one_line_error(capsys, argv, name, CHECKPOINT_ERRORS[name])
    assert not out.exists()


@pytest.mark.parametrize(
    "override, expected",
    [
        ("data.clip_seconds=inf", "data.clip_seconds: must be a finite number > 0, got inf"),
        ("data.num_workers=-1", "data.num_workers: must be an int >= 0, got -1"),
        ("optim.lr=inf", "optim.lr: must be a finite number > 0"),
        ("optim.weight_decay=-1", "optim.weight_decay: must be a finite number >= 0"),
        ("optim.warmup_steps=-3", "optim.warmup_steps: must be an int >= 0"),
    ],
)
def test_bad_recipe_values_write_nothing(messy_corpus, tmp_path, capsys, override, expected):
    run = tmp_path / "run"
    argv = ["pretrain", "clmr_tiny", f"data.root={messy_corpus}", f"output_dir={run}", *TINY, override]
    one_line_error(capsys, argv, expected)
    assert not run.exists()


def test_an_option_the_layout_does_not_take(tmp_path, capsys):
    from layouts import make_esc50

    root = make_esc50(tmp_path / "esc")
    run = tmp_path / "run"
    argv = ["pretrain", "clmr_tiny", "data.dataset=esc50", f"data.root={root}", f"output_dir={run}", *TINY]
    one_line_error(capsys, [*argv, "data.options.esc100=true"], "unknown option 'esc100'", "esc10")
    assert not run.exists()
    one_line_error(capsys, ["prepare", "esc50", "--data", str(root), "--out", str(tmp_path / "c"),
                            "--option", "esc100=true"], "unknown option 'esc100'")  # fmt: skip


def test_an_esc50_fold_that_is_not_a_number_names_the_file_and_line(tmp_path, capsys):
    from layouts import make_esc50

    root = make_esc50(tmp_path / "esc")
    meta = root / "meta" / "esc50.csv"
    rows = list(csv.reader(meta.open()))
    rows[3][1] = "abc"  # line 4 of the file
    with meta.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    line = one_line_error(capsys, ["prepare", "esc50", "--data", str(root), "--out", str(tmp_path / "c"),
                                   "--no-progress"], "esc50.csv, line 4", "fold 'abc' is not an integer")  # fmt: skip
    assert rows[3][0] in line  # and the row's file name


def test_a_folder_of_unreadable_files(unreadable_folder, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["pretrain", "clmr_tiny", f"data.root={unreadable_folder}", f"output_dir={run}", *TINY]
    one_line_error(capsys, argv, "none of the 3 files", "is readable audio")
    assert not run.exists()
