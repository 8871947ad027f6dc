"""audiocl.eval.protocols through run_probe: CLMR's linear evaluation and the published k-fold protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_probe import FAST, SR, tiny_embedder, tone_items

import audiocl.probe as probe_module
from audiocl.data.task import Task
from audiocl.eval.protocols import ClmrOptions
from audiocl.probe import ProbeOptions, clmr_probe_embeddings, fit_clmr_probe, run_probe

CLMR_FAST = ProbeOptions(clmr=ClmrOptions(max_epochs=200))


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tags(n, rng, dim=8):
    y = (rng.random((n, 3)) < 0.5).astype(np.float32)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x[:, :3] += 2.0 * (2 * y - 1)
    return x, y


def test_clmr_test_outputs_are_the_mean_of_per_crop_sigmoids():
    rng = np.random.default_rng(0)
    (xtr, ytr), (xva, yva) = tags(120, rng), tags(40, rng)
    yte = (rng.random((40, 3)) < 0.5).astype(np.float32)
    crops = [rng.standard_normal((k, 8)).astype(np.float32) + 2.0 * np.pad(2 * y - 1, (0, 5)) for k, y in
             zip(rng.integers(1, 5, 40), yte, strict=True)]  # fmt: skip
    out = clmr_probe_embeddings(xtr, ytr, xva, yva, crops, yte, multilabel=True, seed=3, options=CLMR_FAST)
    probe = fit_clmr_probe(xtr, ytr, xva, yva, multilabel=True, seed=3, options=CLMR_FAST)  # the same fit
    W, b = probe.weight.double().numpy(), probe.bias.double().numpy()
    by_hand = np.stack([(1 / (1 + np.exp(-(c.astype(np.float64) @ W.T + b)))).mean(0) for c in crops])
    np.testing.assert_allclose(out["test_probabilities"], by_hand, rtol=1e-5)
    np.testing.assert_array_equal(probe.mean, 0)  # CLMR standardises nothing
    assert probe.weight_decay == 1e-6 and out["roc_auc"] > 0.8


def test_clmr_optimiser_runs_batches_of_48_with_adam_1e_3(monkeypatch):
    steps, seen = [], []
    real_adam = torch.optim.Adam

    class Recording(real_adam):
        def __init__(self, params, **kw):
            seen.append(kw)
            super().__init__(params, **kw)

        def step(self, closure=None):
            steps.append(1)
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "Adam", Recording)
    rng = np.random.default_rng(1)
    (xtr, ytr), (xva, yva) = tags(100, rng), tags(20, rng)
    probe = fit_clmr_probe(xtr, ytr, xva, yva, multilabel=True, options=ProbeOptions(clmr=ClmrOptions(max_epochs=4)))
    assert seen == [{"lr": 1e-3, "weight_decay": 1e-6}]
    assert len(steps) == probe.epochs * 3  # ceil(100 / 48) mini-batches per epoch


def test_clmr_early_stopping_waits_ten_epochs_after_the_best_validation_loss():
    rng = np.random.default_rng(2)
    xtr, ytr = tags(60, rng)
    xva = rng.standard_normal((30, 8)).astype(np.float32)  # no signal: validation stops improving early
    yva = (rng.random((30, 3)) < 0.5).astype(np.float32)
    probe = fit_clmr_probe(xtr, ytr, xva, yva, multilabel=True, options=ProbeOptions(clmr=ClmrOptions()))
    assert 10 < probe.epochs < 200


def tone_task(tmp_path, *, folds: bool, n: int = 6, seconds: float = 0.3):
    if folds:
        items = tone_items(tmp_path, n, fold_of=lambda i: 1 + i % 5, seconds=seconds)
        return Task("tones", items, ["low", "mid", "high"], multilabel=False, folds=[1, 2, 3, 4, 5])
    split_of = lambda i: "train" if i < n - 2 else "valid" if i < n - 1 else "test"  # noqa: E731
    items = tone_items(tmp_path, n, split_of=split_of, seconds=seconds)
    return Task("tones", items, ["low", "mid", "high"], multilabel=False)


def test_clmr_protocol_trains_on_one_crop_per_clip_and_tests_on_contiguous_crops(tmp_path, monkeypatch):
    task = tone_task(tmp_path, folds=False, seconds=0.3)  # 4800 samples: crops of 1600, 3 pieces, last dropped
    embedder = tiny_embedder()
    calls = []
    real = probe_module.clmr_probe_embeddings

    def recording(*args, **kw):
        calls.append(args)
        return real(*args, **kw)

    monkeypatch.setattr(probe_module, "clmr_probe_embeddings", recording)
    res = run_probe(task, embedder, seeds=(0,), protocol="clmr", options=CLMR_FAST, progress=False)
    assert res.protocol == "clmr" and "CLMR" in res.protocol_details
    assert "last piece dropped" in res.aggregation
    x_train, _, _, _, x_test, _ = calls[0]
    train = [i for i, it in enumerate(task.items) if it.split == "train"]
    test = [i for i, it in enumerate(task.items) if it.split == "test"]
    assert x_train.shape == (len(train), embedder.embedding_dim)  # one row per clip
    S = embedder.segment_samples
    for row, i in zip(x_train[:3], train, strict=False):  # the row is the embedding of one crop of the clip
        audio = task.items[i].load(SR)[0]
        windows = audio.unfold(0, S, 1)  # every crop start in [0, samples - S]
        distance = (embedder._forward(windows) - torch.as_tensor(row)).abs().amax(1)
        assert float(distance.min()) < 1e-5
    for crops, i in zip(x_test, test, strict=True):  # contiguous crops, the last piece dropped
        audio = task.items[i].load(SR)[0]
        assert len(audio) == 4800 and crops.shape[0] == 2
        by_hand = embedder._forward(torch.stack([audio[:S], audio[S : 2 * S]]))
        np.testing.assert_allclose(crops, by_hand.numpy(), rtol=1e-5, atol=1e-6)


def test_published_protocol_fits_on_the_four_other_folds(tmp_path, monkeypatch):
    task = tone_task(tmp_path, folds=True, n=5)
    calls = []
    real = probe_module.probe_embeddings

    def recording(*args, **kw):
        calls.append(args)
        return real(*args, **kw)

    monkeypatch.setattr(probe_module, "probe_embeddings", recording)
    emb = probe_module.embed_task(task, tiny_embedder(), progress=False)
    res = run_probe(task, embeddings=emb, seeds=(0,), protocol="published", options=FAST)
    assert [r["split"] for r in res.runs] == [f"fold {k}" for k in range(1, 6)]
    for k, (args, run) in enumerate(zip(calls, res.runs, strict=True), start=1):
        x_train, _, x_valid = args[:3]
        expected = [emb.chunks[i] for i, it in enumerate(task.items) if it.fold != k]  # every item of 4 folds
        assert len(x_train) == len(expected) == 12 and all(a is b for a, b in zip(x_train, expected, strict=True))
        assert x_valid is None and run["valid_items"] == 0
        assert run["train_folds"] == [f for f in range(1, 6) if f != k] and "200 epochs" in run["settings"]
    assert "no validation fold" in res.protocol_details and res.protocol == "published"
    only5 = run_probe(task, embeddings=emb, seeds=(0,), protocol="published", options=FAST, test_folds=[5])
    assert [r["train_folds"] for r in only5.runs] == [[1, 2, 3, 4]]
    audiocl = run_probe(task, embeddings=emb, seeds=(0,), options=FAST, test_folds=[5])
    assert audiocl.runs[0]["train_folds"] == [2, 3, 4] and audiocl.runs[0]["valid_folds"] == [1]
    (tmp_path / "split").mkdir()
    with pytest.raises(ValueError, match="published"):
        run_probe(tone_task(tmp_path / "split", folds=False), embeddings=emb, protocol="published")
    with pytest.raises(ValueError, match="unknown protocol"):
        run_probe(task, embeddings=emb, protocol="hear")


def test_cli_names_the_protocol_in_table_json_and_report(tmp_path, capsys):
    from layouts import make_esc50

    from audiocl.cli import main

    root = make_esc50(tmp_path / "esc50")
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    code = main(["probe", "--task", "esc50", "--data", str(root), "--option", "esc10=true", "--baseline", "mfcc",
                 "--sample-rate", "8000", "--chunk-s", "0.05", "--seeds", "0", "--protocol", "published",
                 "--test-folds", "5", "--out", str(out), "--report", str(md), "--no-progress"])  # fmt: skip
    assert code == 0
    res = json.loads(out.read_text())["results"][0]
    assert res["protocol"] == "published" and res["runs"][0]["train_folds"] == [1, 2, 3, 4]
    table = capsys.readouterr().out
    assert "protocol" in table and "published" in table
    assert "protocol `published`" in md.read_text()
    code = main(["probe", "--task", "esc50", "--data", str(root), "--baseline", "mfcc", "--protocol", "clmr",
                 "--sample-rate", "8000", "--chunk-s", "0.05", "--hop-s", "0.025", "--seeds", "0",
                 "--no-progress"])  # fmt: skip
    assert code == 2 and "non-overlapping" in capsys.readouterr().err
