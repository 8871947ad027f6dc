"""audiocl bench probe: every head runs through run_probe on the synthetic cached-embedding task next to its
scikit-learn peer, learns it (accuracy well above chance), and the table names what each row includes; a
missing scikit-learn is named in one line and ours still runs. Not timed: the figures are in
docs/benchmarks.md."""

from __future__ import annotations

import argparse
import re
import sys
from functools import partial

import numpy as np
import pytest

import audiocl.probe
from audiocl.bench import probe as bench_probe
from audiocl.cli import main
from audiocl.eval.probes.options import MlpOptions

TINY = ["bench", "probe", "--clips", "200", "--dim", "16", "--classes", "5", "--n-boot", "100", "--default-malloc"]
CHANCE = 1 / 5


@pytest.fixture(autouse=True)
def few_epochs(monkeypatch):
    """The synthetic task at dim 16 is separable, so no early stop comes: cap the epochs to keep the test short."""
    short = partial(audiocl.probe.ProbeOptions, max_epochs=40, mlp=MlpOptions(max_epochs=10))
    monkeypatch.setattr(audiocl.probe, "ProbeOptions", short)


def _args(**kw) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench_probe.add_arguments(parser)
    return parser.parse_args([f"--{k.replace('_', '-')}={v}" for k, v in kw.items()])


def test_synthetic_task_is_what_run_probe_takes_split_80_10_10():
    emb = bench_probe.synthetic_embeddings(200, 16, 3, 5)
    assert len(emb.chunks) == 200 and emb.chunks[0].shape == (3, 16) and emb.chunks[0].dtype == np.float32
    splits = [it.split for it in emb.task.items]
    assert (splits.count("train"), splits.count("valid"), splits.count("test")) == (160, 20, 20)
    assert np.bincount(emb.task.targets()).tolist() == [40] * 5
    again = bench_probe.synthetic_embeddings(200, 16, 3, 5)
    assert all(np.array_equal(a, b) for a, b in zip(emb.chunks, again.chunks, strict=True))  # seeded


def test_measure_gives_ours_then_the_peer_per_head_all_well_above_chance():
    rows = bench_probe.measure(_args(clips=200, dim=16, classes=5, n_boot=100))
    assert [(r["head"], r["implementation"]) for r in rows] == [
        ("linear", "audiocl linear"), ("linear", "sklearn LogisticRegression"),
        ("knn", "audiocl knn"), ("knn", "sklearn KNeighborsClassifier"),
        ("mlp", "audiocl mlp"), ("mlp", "sklearn MLPClassifier"),
    ]  # fmt: skip
    for r in rows:
        assert r["accuracy"] >= 3 * CHANCE, r
        assert r["seconds"] > 0
    ours = [r for r in rows if r["implementation"].startswith("audiocl")]
    assert [r["fits"] for r in ours] == [3, 0, 2]  # weight decays, none, learning rates
    assert all(r["ci95"][0] <= r["accuracy"] <= r["ci95"][1] and r["ci_seconds"] > 0 for r in ours)
    assert ours[1]["settings"] == "k=20, T=0.07"


def test_table_prints_every_row_and_the_speed_ups(capsys):
    assert main([*TINY, "--heads", "knn", "linear"]) == 0
    out = capsys.readouterr().out
    assert "synthetic task of 200 clips x 4 chunks, 16-d, 5 classes (chance 20.0%)" in out
    acc = r"([0-9.]+)%"
    for name in ("audiocl knn", "audiocl linear"):
        row = re.search(rf"^\w+ +{name} +[0-9.]+ +[0-9.]+ +[0-9] +{acc} +[0-9.]+-[0-9.]+% *$", out, re.M)
        assert row and float(row[1]) >= 300 * CHANCE, name
    for name in ("sklearn KNeighborsClassifier", "sklearn LogisticRegression"):
        row = re.search(rf"^\w+ +{name} +[0-9.]+ +- +[01] +{acc} +- +[0-9.]+x$", out, re.M)
        assert row and float(row[1]) >= 300 * CHANCE, name
    assert not re.search(r"^mlp ", out, re.M)  # only the heads asked for
    assert re.search(r"per head: knn [0-9.]+x \(sklearn KNeighborsClassifier\); linear [0-9.]+x", out)
    assert "include its choices on valid" in out


def test_without_scikit_learn_says_what_to_install_and_runs_ours(capsys, monkeypatch):
    for module in ("sklearn.linear_model", "sklearn.neighbors", "sklearn.neural_network"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    assert main([*TINY, "--heads", "knn"]) == 0
    out = capsys.readouterr().out
    missing = [line for line in out.splitlines() if "pip install" in line]
    assert missing == ["peer scikit-learn is not installed, so its rows are left out: pip install scikit-learn"]
    assert "sklearn KNeighborsClassifier" not in out and "no peer ran" in out
    assert re.search(r"^knn +audiocl knn +[0-9.]+ ", out, re.M)


def test_refuses_too_few_clips_per_class():
    with pytest.raises(SystemExit, match="at least 10 per class"):
        main(["bench", "probe", "--clips", "20", "--classes", "5"])
