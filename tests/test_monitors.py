"""audiocl.monitors: the statistics against float64 references, the collapse warning on a collapsed and a healthy
encoder in real (tiny) pretraining runs, the online kNN monitor, and the training report they feed."""

from __future__ import annotations

import csv
import itertools
import math
import warnings

import numpy as np
import pytest
import torch

from audiocl.config import load_recipe
from audiocl.monitors import (
    CollapseMonitor,
    CollapseWarning,
    alignment,
    effective_rank,
    embedding_monitors,
    knn_scores,
    normalised_std,
    std_ratio,
    uniformity,
)
from audiocl.recipes_path import RECIPES


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ----- values against independent float64 computations --------------------------------------------------------


def test_statistics_match_float64_references():
    g = np.random.default_rng(0)
    h = g.standard_normal((40, 12)) @ np.diag(np.linspace(3, 0.1, 12))  # anisotropic: rank well under 12
    z1, z2 = g.standard_normal((40, 8)), g.standard_normal((40, 8))
    th, t1, t2 = (torch.tensor(a, dtype=torch.float32) for a in (h, z1, z2))

    u = _unit(h)
    ref_std = np.mean([np.sqrt(np.mean((u[:, d] - u[:, d].mean()) ** 2)) for d in range(12)])
    assert normalised_std(th) == pytest.approx(ref_std, rel=1e-5)
    assert std_ratio(th) == pytest.approx(ref_std * math.sqrt(12), rel=1e-5)

    s = np.linalg.svd(h, compute_uv=False)  # RankMe, eq. (1) of Garrido et al. (2023), eps = 1e-7
    p = s / s.sum() + 1e-7
    assert effective_rank(th) == pytest.approx(np.exp(-np.sum(p * np.log(p))), rel=1e-5)

    a, b = _unit(z1), _unit(z2)
    assert alignment(t1, t2) == pytest.approx(np.mean(np.sum((a - b) ** 2, axis=1)), rel=1e-5)
    pairs = [np.exp(-2 * np.sum((a[i] - a[j]) ** 2)) for i, j in itertools.combinations(range(40), 2)]
    assert uniformity(t1) == pytest.approx(np.log(np.mean(pairs)), rel=1e-5)


def test_known_values_of_collapsed_and_spread_embeddings():
    point = torch.ones(64, 16) * torch.arange(1, 17)  # every row the same vector
    assert effective_rank(point) == pytest.approx(1.0, abs=1e-3)
    assert std_ratio(point) == pytest.approx(0.0, abs=1e-6)
    assert uniformity(point) == pytest.approx(0.0, abs=1e-9)
    spread = torch.randn(4096, 16, generator=torch.Generator().manual_seed(0))
    assert std_ratio(spread) == pytest.approx(1.0, abs=0.02)  # 1/sqrt(dim) per dimension on the sphere
    assert effective_rank(spread) > 15
    eye = torch.eye(16)
    assert effective_rank(eye) == pytest.approx(16.0, rel=1e-5)  # equal singular values: the full rank
    assert alignment(eye, eye) == 0.0
    assert effective_rank(torch.zeros(8, 4)) == 0.0  # nothing left: below every threshold, not NaN


def test_embedding_monitors_pairs_views_0_and_1_of_a_view_major_batch():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(3 * 5, 8, generator=g)  # 3 views of 5 clips
    stats = embedding_monitors(torch.randn(15, 4, generator=g), z, num_views=3)
    assert stats["alignment"] == pytest.approx(alignment(z[:5], z[5:10]))
    assert stats["uniformity"] == pytest.approx(uniformity(z[:5]))
    assert set(stats) == {"std", "std_ratio", "rank", "z_std_ratio", "z_rank", "alignment", "uniformity"}


def test_knn_scores_match_a_loop_reference():
    g = np.random.default_rng(2)
    bank, queries = g.standard_normal((30, 6)), g.standard_normal((7, 6))
    y = g.integers(0, 4, 30)
    onehot = np.eye(4)[y]
    got = knn_scores(torch.tensor(bank), torch.tensor(onehot), torch.tensor(queries), k=5, temperature=0.1).numpy()
    for q in range(7):
        sims = _unit(bank) @ _unit(queries[q : q + 1]).T
        top = np.argsort(-sims[:, 0])[:5]
        votes = np.zeros(4)
        for i in top:
            votes[y[i]] += np.exp(sims[i, 0] / 0.1)
        np.testing.assert_allclose(got[q], votes / votes.sum(), rtol=1e-9)
    # k = 1 is the nearest neighbour's class.
    nn = knn_scores(torch.tensor(bank), torch.tensor(onehot), torch.tensor(bank[:5]), k=1, temperature=1.0)
    assert nn.argmax(1).tolist() == y[:5].tolist()


def test_the_warning_fires_once_with_its_step():
    monitor = CollapseMonitor(every_n_steps=1, min_rank=2.0, min_std_ratio=0.1)
    healthy = {"rank": 6.0, "std_ratio": 0.6}
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        monitor.check(healthy, 1)
    with pytest.warns(CollapseWarning, match="collapse at step 7: effective rank 1.10 < 2"):
        monitor.check({"rank": 1.1, "std_ratio": 0.6}, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        monitor.check({"rank": 1.0, "std_ratio": 0.0}, 8)  # already warned: silent
    assert monitor.collapsed_at_step == 7


# ----- real runs: a collapsed encoder warns, a healthy one does not ----------------------------------------------


def _run(tmp_path, collapse: bool):
    from lightning.pytorch.callbacks import Callback

    from audiocl.train import pretrain

    class ZeroEncoder(Callback):
        """Zero every weight of the encoder before each step: every clip gets the same embedding."""

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            with torch.no_grad():
                for p in pl_module.branches["waveform"].encoder.parameters():
                    p.zero_()

    recipe = load_recipe(
        RECIPES / "clmr_tiny.yaml",
        [
            f"output_dir={tmp_path / 'run'}",
            "trainer.max_steps=4",
            "trainer.progress_bar=false",
            "data.synthetic_clips_per_class=4",
            "eval.monitors.every_n_steps=1",
            "eval.knn.every_n_steps=2",
            "eval.knn.k=3",
        ],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollapseWarning)
        trainer = pretrain(recipe, resume=False, callbacks=[ZeroEncoder()] if collapse else [])
    collapse_warnings = [w for w in caught if issubclass(w.category, CollapseWarning)]
    return trainer, collapse_warnings, tmp_path / "run"


def _metrics(run) -> list[dict]:
    with open(run / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_collapsed_encoder_warns_once_with_the_step(tmp_path):
    trainer, caught, run = _run(tmp_path, collapse=True)
    assert len(caught) == 1 and "collapse at step 1" in str(caught[0].message)
    monitor = next(c for c in trainer.callbacks if isinstance(c, CollapseMonitor))
    assert monitor.collapsed_at_step == 1
    assert all(stats["rank"] < 1.01 and stats["std_ratio"] < 1e-3 for _, stats in monitor.history)
    assert "Collapse warning at step 1" in (run / "training_report.md").read_text()


def test_healthy_encoder_is_silent_and_everything_is_logged_and_plotted(tmp_path):
    trainer, caught, run = _run(tmp_path, collapse=False)
    assert caught == []
    rows = _metrics(run)
    logged = {k for r in rows for k, v in r.items() if v}
    for key in ("monitor/rank", "monitor/std_ratio", "monitor/alignment", "monitor/uniformity", "train/loss"):
        assert key in logged
    knn = [(int(r["step"]), float(r["monitor/knn_accuracy"])) for r in rows if r.get("monitor/knn_accuracy")]
    assert [s for s, _ in knn] == [0, 2, 4]  # the start (random init), every 2 steps, the end
    assert all(0.0 <= v <= 1.0 for _, v in knn)
    ranks = [float(r["monitor/rank"]) for r in rows if r.get("monitor/rank")]
    assert min(ranks) > 2.0
    assert (run / "training_curves.png").stat().st_size > 0
    report = (run / "training_report.md").read_text()
    assert "No collapse warning" in report and "kNN accuracy" in report and "rank of h" in report
    assert (run / "tensorboard").is_dir()
