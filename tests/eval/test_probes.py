"""audiocl.eval.probes: the kNN and MLP heads, run_probe's intervals, and paired comparisons (--against)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_probe import FAST, clusters, tiny_embedder, tone_items

from audiocl.data.task import Task
from audiocl.embed import Embedder
from audiocl.eval.probes.knn import knn_probe_embeddings, knn_scores
from audiocl.eval.probes.mlp import mlp_probe_embeddings
from audiocl.eval.probes.options import MlpOptions, ProbeOptions
from audiocl.frontends import LogMel
from audiocl.probe import embed_task, probe_and_report, probe_embeddings, run_probe


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_knn_scores_match_a_numpy_reference():
    rng = np.random.default_rng(0)
    xtr, xq = rng.standard_normal((30, 5)), rng.standard_normal((7, 5))
    ytr = rng.integers(0, 3, 30)
    got = knn_scores(torch.tensor(xtr), torch.eye(3)[ytr], torch.tensor(xq), k=4, temperature=0.1, batch_size=3)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    sim = unit(xq) @ unit(xtr).T
    ref = np.zeros((7, 3))
    for i in range(7):
        top = np.argsort(-sim[i])[:4]
        for j in top:
            ref[i, ytr[j]] += np.exp(sim[i, j] / 0.1)
    np.testing.assert_allclose(got.numpy(), ref / ref.sum(1, keepdims=True), rtol=1e-5)


def test_knn_probe_classifies_clusters_and_tags_without_training():
    rng = np.random.default_rng(1)
    (xtr, ytr), (xte, yte) = clusters(200, rng), clusters(100, rng)
    out = knn_probe_embeddings(xtr, ytr, None, None, xte, yte)
    assert out["accuracy"] > 0.9 and "k=20" in out["settings"]
    tags = (rng.random((300, 2)) < 0.5).astype(np.float32)
    x = rng.standard_normal((300, 6)) + np.pad(4 * tags - 2, ((0, 0), (0, 4)))
    out = knn_probe_embeddings(x[:200], tags[:200], None, None, x[200:], tags[200:], multilabel=True)
    assert out["roc_auc"] > 0.9


def test_mlp_probe_learns_what_a_linear_probe_cannot():
    rng = np.random.default_rng(2)

    def xor(n):
        x = rng.uniform(-1, 1, (n, 2))
        return x, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(int)

    (xtr, ytr), (xva, yva), (xte, yte) = xor(300), xor(100), xor(200)
    opts = ProbeOptions(mlp=MlpOptions(hidden=64, lrs=(1e-2,), max_epochs=80, batch_size=150))
    mlp = mlp_probe_embeddings(xtr, ytr, xva, yva, xte, yte, options=opts)
    linear = probe_embeddings(xtr, ytr, xva, yva, xte, yte, options=FAST)
    assert mlp["accuracy"] > 0.9 > 0.7 > linear["accuracy"]
    again = mlp_probe_embeddings(xtr, ytr, xva, yva, xte, yte, options=opts)  # seeded: the same result
    np.testing.assert_array_equal(again["test_probabilities"], mlp["test_probabilities"])


def test_mlp_probe_stops_on_the_valid_score_for_tags_and_falls_back_to_the_loss():
    rng = np.random.default_rng(3)
    tags = (rng.random((400, 3)) < 0.5).astype(np.float32)
    x = rng.standard_normal((400, 8)) + np.pad(4 * tags - 2, ((0, 0), (0, 5)))
    opts = ProbeOptions(mlp=MlpOptions(hidden=32, lrs=(1e-2, 1e-3), max_epochs=300, patience=3, batch_size=100))
    splits = x[:200], tags[:200], x[200:300], tags[200:300], x[300:], tags[300:]
    out = mlp_probe_embeddings(*splits, multilabel=True, options=opts)
    assert out["roc_auc"] > 0.9 and 0.9 < out["valid_score"] <= 1
    # the best check's epoch (a multiple of check_every), well before max_epochs: 3 checks without a better score
    assert out["epochs"] % 3 == 0 and out["epochs"] < 100 and f"{out['epochs']} epochs" in out["settings"]
    blank = list(splits)
    blank[3] = np.zeros_like(tags[200:300])  # no class has positives in valid: ROC-AUC undefined, minus the loss
    out = mlp_probe_embeddings(*blank, multilabel=True, options=opts)
    assert out["valid_score"] < 0 and out["roc_auc"] > 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("multilabel", [False, True])
def test_every_head_on_cuda_agrees_with_the_cpu(multilabel):
    """The heads on per-item chunks, on CUDA and on the CPU with the same seed. The linear head draws its
    initialisation and order from a CPU generator and kNN draws nothing: their probabilities agree. The MLP's
    draws come from a generator on its device, so only its score is compared."""
    rng = np.random.default_rng(4)

    def split(n):
        if multilabel:
            y = (rng.random((n, 3)) < 0.5).astype(np.float32)
            x = rng.standard_normal((n, 8)) + np.pad(3 * y - 1.5, ((0, 0), (0, 5)))
        else:
            x, y = clusters(n, rng, dim=8)
        return [row + rng.standard_normal((3, 8)) for row in x], y  # 3 chunks an item, (3, dim) each

    (xtr, ytr), (xva, yva), (xte, yte) = split(300), split(80), split(120)
    metric = "roc_auc" if multilabel else "accuracy"
    mlp = MlpOptions(hidden=64, lrs=(1e-2,), max_epochs=60, batch_size=128)
    heads = {"linear": probe_embeddings, "knn": knn_probe_embeddings, "mlp": mlp_probe_embeddings}
    for name, head in heads.items():
        options = {d: ProbeOptions(max_epochs=150, patience=10, mlp=mlp, device=d) for d in ("cpu", "cuda")}
        out = {d: head(xtr, ytr, xva, yva, xte, yte, multilabel=multilabel, options=o) for d, o in options.items()}
        assert out["cuda"][metric] > 0.85, name
        if name == "mlp":
            assert abs(out["cuda"][metric] - out["cpu"][metric]) < 0.05
        else:
            np.testing.assert_allclose(out["cuda"]["test_probabilities"], out["cpu"]["test_probabilities"], atol=1e-3)


@pytest.fixture
def tone_task(tmp_path):
    split_of = lambda i: "train" if i < 8 else "valid" if i < 10 else "test"  # noqa: E731
    items = tone_items(tmp_path, 14, split_of=split_of)
    return Task("tones", items, ["low", "mid", "high"], multilabel=False)


def test_run_probe_gives_every_head_an_interval_and_names_its_aggregation(tone_task):
    emb = embed_task(tone_task, tiny_embedder(), progress=False)
    small_mlp = ProbeOptions(mlp=MlpOptions(hidden=32, lrs=(1e-2,), max_epochs=50))
    for head, words in (("linear", "probability mean"), ("knn", "embedding mean"), ("mlp", "embedding mean")):
        res = run_probe(tone_task, embeddings=emb, seeds=(0, 1), head=head, options=small_mlp, n_boot=200)
        acc = res.metrics["accuracy"]
        lo, hi = acc["ci95"]
        assert 0 <= lo <= acc["mean"] <= hi <= 1
        assert res.head == head and words in res.aggregation and "bootstrap" in res.intervals
        assert [p.seed for p in res.predictions] == [0, 1] and len(res.predictions[0].y) == 12
    pooled = run_probe(tone_task, embeddings=emb, seeds=(0,), aggregation="embedding", options=FAST, n_boot=0)
    assert "embedding mean" in pooled.aggregation and "ci95" not in pooled.metrics["accuracy"]
    with pytest.raises(ValueError, match="runs under 'audiocl'"):
        run_probe(tone_task, embeddings=emb, head="knn", protocol="clmr")


def test_against_gives_paired_differences_in_the_json_and_the_table(tone_task, capsys):
    torch.manual_seed(1)
    deaf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(4))  # noise-level features
    weak = Embedder(LogMel(16000, n_mels=4), deaf, 16000, 1600)
    results = probe_and_report(tone_task, {"tiny": tiny_embedder(), "weak": weak}, seeds=(0, 1), options=FAST,
                               against="weak", progress=False)  # fmt: skip
    d = results[0].paired["accuracy"]
    assert results[0].paired["against"] == "weak" and results[1].paired is None
    gap = results[0].metrics["accuracy"]["mean"] - results[1].metrics["accuracy"]["mean"]
    assert d["difference"] == pytest.approx(gap) and d["ci95"][0] <= gap <= d["ci95"][1]
    table = capsys.readouterr().out
    assert "Δ accuracy vs weak" in table and "ref" in table and "p=" in table
    with pytest.raises(ValueError, match="none of the embedders"):
        probe_and_report(tone_task, {"tiny": tiny_embedder()}, against="mfcc", progress=False)
