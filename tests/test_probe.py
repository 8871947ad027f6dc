"""audiocl.probe and audiocl.report: the linear-probe protocol, its metrics, and the reports it writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from signals import sine
from torch import nn

from audiocl.audio import save
from audiocl.data.task import Item, Task
from audiocl.embed import Embedder
from audiocl.frontends import LogMel
from audiocl.probe import (
    ProbeOptions,
    TaskEmbeddings,
    _carve_valid,
    _protocol_details,
    embed_task,
    fit_probe,
    paired,
    probe_and_report,
    probe_embeddings,
    run_probe,
    score,
)
from audiocl.report import markdown_report, write_json

FAST = ProbeOptions(max_epochs=150, patience=10)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(autouse=True)
def one_thread():
    # The probe's matrices are tiny: with two threads on a busy 2-core machine each step waits for the other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def clusters(n: int, rng, classes: int = 4, dim: int = 16, spread: float = 1.0):
    y = rng.integers(0, classes, n)
    return 3.0 * np.eye(classes, dim)[y] + spread * rng.standard_normal((n, dim)), y


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
@pytest.mark.parametrize("multilabel", [False, True])
def test_weight_decays_trained_side_by_side_equal_each_trained_alone(multilabel, device):
    from audiocl.eval.probes.linear import _train_linear

    rng = np.random.default_rng(5)
    x = torch.tensor(rng.standard_normal((300, 6)), dtype=torch.float32)
    y = torch.tensor((x[:, :3] > 0).float().numpy() if multilabel else (x[:, 0] > 0).long().numpy())
    x, y = x.to(device), y.to(device)  # on CUDA, Adam's foreach path: a stopped run's group has no gradient
    opts = ProbeOptions(max_epochs=200, patience=5, batch_size=64)  # mini-batches: the shuffled order is shared
    decays = [0.3, 1e-2, 0.0]  # stop at different epochs: the first soonest
    together = _train_linear(x[:200], y[:200], x[200:], y[200:], multilabel, 3 if multilabel else 2, decays, 0, opts)
    for wd, (W, b, epochs, loss) in zip(decays, together, strict=True):
        [(W1, b1, epochs1, loss1)] = _train_linear(
            x[:200], y[:200], x[200:], y[200:], multilabel, 3 if multilabel else 2, [wd], 0, opts
        )
        assert (epochs, loss) == (epochs1, loss1)
        assert torch.equal(W, W1) and torch.equal(b, b1)
    assert len({epochs for _, _, epochs, _ in together}) > 1  # they did stop apart


def test_separable_embeddings_give_high_accuracy():
    rng = np.random.default_rng(0)
    (xtr, ytr), (xva, yva), (xte, yte) = clusters(200, rng), clusters(60, rng), clusters(300, rng)
    out = probe_embeddings(xtr, ytr, xva, yva, xte, yte, options=FAST)
    assert out["accuracy"] > 0.9
    assert out["test_probabilities"].shape == (300, 4)
    np.testing.assert_allclose(out["test_probabilities"].sum(1), 1.0, rtol=1e-6)  # softmax rows
    assert out["weight_decay"] in FAST.weight_decays and 0 < out["epochs"] <= FAST.max_epochs


def test_standardiser_is_fitted_on_train_only():
    # Class is the sign of feature 0. Every test item is class 1 with a small positive value: standardised
    # with the training statistics they stay positive; standardising with test (or train+test) statistics
    # would centre them at zero and flip about half of them to class 0.
    rng = np.random.default_rng(1)
    xtr = rng.uniform(-1, 1, (200, 2))
    ytr = (xtr[:, 0] > 0).astype(int)
    xva = rng.uniform(-1, 1, (60, 2))
    yva = (xva[:, 0] > 0).astype(int)
    xte = np.stack([rng.uniform(0.2, 0.6, 100), rng.uniform(-1, 1, 100)], 1)
    yte = np.ones(100, dtype=int)
    probe = fit_probe(xtr, ytr, xva, yva, seed=0, options=FAST)
    np.testing.assert_allclose(probe.mean, xtr.mean(0), rtol=1e-5)  # float32 embeddings
    np.testing.assert_allclose(probe.scale, xtr.std(0), rtol=1e-5)
    assert probe_embeddings(xtr, ytr, xva, yva, xte, yte, options=FAST)["accuracy"] == 1.0
    # The leaky alternative really would fail here, so the check above can tell them apart.
    leaky = (xte - xte.mean(0)) / xte.std(0)
    logits = torch.as_tensor(leaky, dtype=torch.float32) @ probe.weight.T + probe.bias
    assert (logits.argmax(1).numpy() == 1).mean() < 0.8


def tags(n: int, rng, dim: int = 12):
    """Three independent tags, each read from its own feature; many items carry two or three tags."""
    y = (rng.random((n, 3)) < 0.5).astype(np.float32)
    x = rng.standard_normal((n, dim))
    x[:, :3] += 2.5 * (2 * y - 1)
    return x, y


def test_multilabel_uses_sigmoid_and_reports_roc_and_pr_auc():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(2)
    (xtr, ytr), (xva, yva), (xte, yte) = tags(300, rng), tags(80, rng), tags(200, rng)
    out = probe_embeddings(xtr, ytr, xva, yva, xte, yte, multilabel=True, classes=["a", "b", "c"], options=FAST)
    probs = out["test_probabilities"]
    both = (yte[:, 0] == 1) & (yte[:, 1] == 1)
    assert ((probs[both, 0] > 0.5) & (probs[both, 1] > 0.5)).mean() > 0.8  # impossible under a softmax
    assert probs.sum(1).max() > 1.5
    assert out["roc_auc"] == pytest.approx(roc_auc_score(yte, probs, average="macro"))
    assert out["pr_auc"] == pytest.approx(average_precision_score(yte, probs, average="macro"))
    assert out["roc_auc"] > 0.9 and set(out["per_class_roc_auc"]) == {"a", "b", "c"}


def test_auc_leaves_out_tags_without_positives_in_the_test_set():
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]], dtype=np.float32)
    probs = np.array([[0.9, 0.1], [0.2, 0.3], [0.6, 0.2], [0.4, 0.8]])
    out = score(probs, y, multilabel=True, classes=["x", "never"])
    assert out["classes_scored"] == 1 and out["roc_auc"] == 1.0 and list(out["per_class_roc_auc"]) == ["x"]


def test_tiny_validation_set_without_scorable_tags_falls_back_to_the_loss():
    rng = np.random.default_rng(4)
    x, y = tags(60, rng)
    every_tag = np.ones((3, 3), dtype=np.float32)  # ROC-AUC undefined on this validation set
    out = probe_embeddings(x, y, x[:3], every_tag, x, y, multilabel=True, options=FAST)
    assert out["valid_score"] < 0 and 0 <= out["roc_auc"] <= 1  # minus the validation loss; test still scored
    with pytest.raises(ValueError, match="no class has both"):
        score(np.full((3, 3), 0.5), every_tag, multilabel=True)


def test_chunk_predictions_are_averaged_per_item():
    rng = np.random.default_rng(3)
    xtr, ytr = clusters(150, rng)
    xva, yva = clusters(40, rng)
    # Test items of three chunks: two typical ones and an outlier pointing at another class.
    yte = rng.integers(0, 4, 50)
    chunks = 3.0 * np.eye(4, 16)[yte][:, None].repeat(3, 1) + 0.5 * rng.standard_normal((50, 3, 16))
    chunks[:, 2] = 6.0 * np.eye(4, 16)[(yte + 1) % 4]
    out = probe_embeddings(xtr, ytr, xva, yva, chunks, yte, seed=0, options=FAST)
    probe = fit_probe(xtr, ytr, xva, yva, seed=0, options=FAST)  # deterministic: the same probe
    per_chunk = probe.predict_proba(chunks.reshape(-1, 16)).reshape(50, 3, 4)
    np.testing.assert_allclose(out["test_probabilities"], per_chunk.mean(1), rtol=1e-6)
    assert out["accuracy"] == np.mean(per_chunk.mean(1).argmax(1) == yte)
    assert out["accuracy"] > np.mean(per_chunk.argmax(2) == yte[:, None])  # item-level, not chunk-level


def test_label_fraction_is_stratified_seeded_and_keeps_every_class():
    from audiocl.probe import _labelled

    y = np.repeat([0, 1, 2], [50, 30, 2])
    idx = np.arange(len(y))
    keep = _labelled(idx, y, 0.1, multilabel=False, seed=0)
    assert np.bincount(y[keep]).tolist() == [5, 3, 1]
    assert keep.tolist() == _labelled(idx, y, 0.1, multilabel=False, seed=0).tolist()
    assert keep.tolist() != _labelled(idx, y, 0.1, multilabel=False, seed=1).tolist()
    assert len(_labelled(idx, np.zeros((82, 3)), 0.5, multilabel=True, seed=0)) == 41
    assert len(_labelled(idx, y, 1.0, multilabel=False, seed=0)) == 82
    with pytest.raises(ValueError, match="label_fraction"):
        run_probe(Task("t", [Item("a.wav", 0)], ["a"], multilabel=False), label_fraction=0.0)


def test_carved_validation_keeps_groups_together():
    idx = np.arange(200)
    y = np.tile(np.arange(4), 50)
    groups = [f"speaker{i // 5}" for i in range(200)]
    train, valid = _carve_valid(idx, y, groups, multilabel=False, seed=0)
    assert len(valid) and len(train) + len(valid) == 200
    assert not {groups[i] for i in train} & {groups[i] for i in valid}


# -- results --------------------------------------------------------------------------------------------

# The keys of `audiocl probe --out`'s JSON, in order, as it was written when run_probe returned a dict.
JSON_KEYS = [
    "task", "name", "embedder", "embedding_dim", "multilabel", "label_fraction", "seeds", "metrics", "runs",
    "aggregation", "protocol", "head", "protocol_details", "intervals", "split", "test_folds", "counts", "skipped",
    "skipped_per_split", "group_overlap", "notes",
]  # fmt: skip


def cluster_embeddings(name: str, *, multilabel: bool = False, folds: bool = False, **task_fields) -> TaskEmbeddings:
    """30 items of 3 classes with 2 separable chunk embeddings each, and no audio: split 18/6/6, or 3 folds."""
    rng = np.random.default_rng(0)
    items = [
        Item(f"{i}.wav", [i % 3] if multilabel else i % 3, split=None if folds else "train" if i < 18
             else "valid" if i < 24 else "test", fold=1 + (i // 3) % 3 if folds else None)
        for i in range(30)
    ]  # fmt: skip
    task = Task(name, items, ["a", "b", "c"], multilabel=multilabel, folds=[1, 2, 3] if folds else None, **task_fields)
    chunks = [(3.0 * np.eye(3, 16)[i % 3] + 0.5 * rng.standard_normal((2, 16))).astype(np.float32) for i in range(30)]
    return TaskEmbeddings(task, chunks, embedder="clusters", chunk_s=1.0, hop_s=1.0)


def test_probe_result_to_dict_is_the_json_as_it_was_written(tmp_path):
    emb = cluster_embeddings("tones")
    res = run_probe(emb.task, embeddings=emb, seeds=(0, 1), options=FAST, n_boot=0, name="c")
    d = res.to_dict()
    assert list(d) == JSON_KEYS  # no per_class_roc_auc (single-label), no paired, no predictions
    assert d["name"] == res.name == "c" and d["metrics"] is res.metrics and len(res.predictions) == 2
    write_json([res], tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == {"results": [d]}
    with pytest.warns(DeprecationWarning, match="deprecated: use result"):  # code written for the dict still reads it
        assert res["metrics"] == res.metrics and res.get("paired") is None

    emb = cluster_embeddings("tags", multilabel=True)
    tags = run_probe(emb.task, embeddings=emb, seeds=(0,), options=FAST, n_boot=0)
    assert list(tags.to_dict()) == [*JSON_KEYS, "per_class_roc_auc"]
    assert set(tags.per_class_roc_auc) == {"a", "b", "c"}
    tags.paired = paired(tags, tags, n_boot=50)  # as probe_and_report(..., against=...) sets it
    assert list(tags.to_dict())[-2:] == ["per_class_roc_auc", "paired"]
    json.dumps(tags.to_dict())


def test_protocol_details_say_who_made_the_split():
    emb = cluster_embeddings("folder", drawn_split="stratified 80/10/10, seed 0")  # as load_folder draws one
    details = run_probe(emb.task, embeddings=emb, seeds=(0,), options=FAST, n_boot=0).protocol_details
    assert details.startswith("train/valid/test split drawn by audiocl (stratified 80/10/10, seed 0; the data has")
    assert "official" not in details
    given = cluster_embeddings("csv").task  # a split column
    assert _protocol_details("audiocl", given, FAST, None).startswith("the train/valid/test split given with the data")
    pons = cluster_embeddings("magnatagatune", multilabel=True, options={"split": "pons"}).task
    assert _protocol_details("audiocl", pons, FAST, None).startswith("official train/valid/test split (pons); ")
    for item in given.items:  # train and test only: the probe carves its validation set
        item.split = "train" if item.split == "valid" else item.split
    assert _protocol_details("audiocl", given, FAST, None).startswith(
        "the train/test split given with the data, validation: a tenth of the training items, carved by audiocl; "
    )


def test_an_esc50_item_is_a_clip_of_no_assumed_length():
    emb = cluster_embeddings("esc50", folds=True)  # the clips are whatever the layout holds, not always 5 s
    res = run_probe(emb.task, embeddings=emb, seeds=(0,), options=FAST, n_boot=0)
    assert "averaged over each item, a clip (2.0 chunks of 1.00 s per item on average)" in res.aggregation
    assert "5-s" not in res.aggregation


# -- tasks with audio ------------------------------------------------------------------------------------

SR = 16000
FREQS = (300.0, 1200.0, 4000.0)  # three classes a tiny log-mel encoder separates easily


def tiny_embedder() -> Embedder:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d((4, 1)), nn.Flatten())
    return Embedder(LogMel(SR, n_mels=32), encoder, SR, 1600, batch_size=32)


def tone_items(root, n_per_class: int, *, fold_of=None, split_of=None, seconds: float = 0.25):
    items, rng = [], np.random.default_rng(0)
    for c, f in enumerate(FREQS):
        for i in range(n_per_class):
            path = root / f"c{c}_{i}.wav"
            audio = sine(f * (1 + 0.03 * rng.standard_normal()), SR, seconds) + 0.02 * torch.randn(int(seconds * SR))
            save(path, audio.clamp(-1, 1), SR)
            items.append(Item(path, c, split=split_of(i) if split_of else None, fold=fold_of(i) if fold_of else None))
    return items


@pytest.mark.slow  # 2 seeds x 3 folds x 3 weight decays
def test_kfold_task_reports_the_mean_over_folds(tmp_path):
    items = tone_items(tmp_path, 6, fold_of=lambda i: 1 + i % 3)
    task = Task("tones", items, ["low", "mid", "high"], multilabel=False, folds=[1, 2, 3])
    res = run_probe(task, tiny_embedder(), seeds=(0, 1), options=FAST, progress=False)
    assert [(r["seed"], r["split"]) for r in res.runs] == [(s, f"fold {k}") for s in (0, 1) for k in (1, 2, 3)]
    assert all(r["test_items"] == 6 and r["valid_items"] == 6 and r["train_items"] == 6 for r in res.runs)
    per_seed = [np.mean([r["accuracy"] for r in res.runs if r["seed"] == s]) for s in (0, 1)]
    assert res.metrics["accuracy"]["mean"] == pytest.approx(np.mean(per_seed))
    assert res.metrics["accuracy"]["std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert res.metrics["accuracy"]["mean"] > 0.8
    assert "averaged over each item" in res.aggregation
    json.dumps(res.to_dict())  # JSON-able as it is


def test_label_fraction_and_unreadable_items(tmp_path):
    split_of = lambda i: "train" if i < 6 else "valid" if i < 8 else "test"  # noqa: E731
    items = tone_items(tmp_path, 10, split_of=split_of)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not a wav")
    items.append(Item(broken, 0, split="train"))
    task = Task("tones", items, ["low", "mid", "high"], multilabel=False)
    with pytest.warns(UserWarning) as caught:
        for it in items:
            it.group = "same-session"  # one group everywhere: the probe must flag possible leakage
        res = run_probe(task, tiny_embedder(), seeds=(0,), label_fraction=0.34, options=FAST, progress=False)
    messages = [str(w.message) for w in caught]
    assert any("groups" in m for m in messages) and any("1 of 19 items of split 'train'" in m for m in messages)
    assert res.runs[0]["train_items"] == 6  # 2 of 6 per class
    assert res.counts["skipped"] == 1 and res.skipped[0]["path"].endswith("broken.wav")
    assert res.group_overlap == 1


@pytest.mark.slow  # matplotlib import and three figures
def test_probe_and_report_writes_json_markdown_and_plots(tmp_path, capsys):
    rng = np.random.default_rng(0)
    audio_root = tmp_path / "audio"
    audio_root.mkdir()
    items = []
    for i in range(36):  # multi-label: "low" and "high" tones, alone or together
        on = rng.random(2) < 0.5
        audio = 0.02 * torch.randn(SR // 4)
        for f, flag in zip((300.0, 4000.0), on, strict=True):
            audio = audio + (0.4 * sine(f, SR, 0.25) if flag else 0)
        save(audio_root / f"{i}.wav", audio, SR)
        split = "train" if i < 24 else "valid" if i < 30 else "test"
        items.append(Item(audio_root / f"{i}.wav", [t for t in range(2) if on[t]], split=split))
    task = Task("pairs", items, ["low", "high"], multilabel=True)
    results = probe_and_report(
        task,
        {"tiny": tiny_embedder()},
        label_fractions=(0.5, 1.0),
        seeds=(0, 1),
        out=tmp_path / "r.json",
        report=tmp_path / "report" / "r.md",
        plot_dir=tmp_path / "report" / "plots",
        options=FAST,
        progress=False,
    )
    assert [r.label_fraction for r in results] == [0.5, 1.0]
    table = capsys.readouterr().out
    assert "roc_auc" in table and "pr_auc" in table and "50%" in table and "±" in table
    saved = json.loads((tmp_path / "r.json").read_text())["results"]
    assert saved[1]["metrics"]["roc_auc"]["mean"] == pytest.approx(results[1].metrics["roc_auc"]["mean"])
    assert results[1].metrics["roc_auc"]["mean"] > 0.8
    md = (tmp_path / "report" / "r.md").read_text()
    assert "| pairs | audiocl | linear | tiny | 100% |" in md and "sigmoid + BCE" in md and "Aggregation" in md
    assert "protocol `audiocl`" in md and "audiocl" in table.splitlines()[1]
    pngs = sorted(p.name for p in (tmp_path / "report" / "plots").iterdir())
    assert pngs == ["pairs_tiny_100pct_tag_auc.png", "pairs_tiny_50pct_tag_auc.png", "pairs_tiny_pca.png"]
    assert "](plots/pairs_tiny_pca.png)" in md
    for name in pngs:
        assert (tmp_path / "report" / "plots" / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_cli_probe_on_the_esc50_layout_with_the_mfcc_baseline_and_a_loader_option(tmp_path, capsys):
    from layouts import make_esc50

    from audiocl.cli import main

    root = make_esc50(tmp_path / "esc50")
    out = tmp_path / "res.json"
    code = main(["probe", "--task", "esc50", "--data", str(root), "--option", "esc10=true",
                 "--baseline", "mfcc", "--sample-rate", "8000",
                 "--chunk-s", "0.05", "--seeds", "0", "--max-epochs", "60", "--device", "cpu", "--out", str(out),
                 "--report", str(tmp_path / "r.md"), "--plot", str(tmp_path / "plots"), "--projection", "tsne",
                 "--no-progress"])  # fmt: skip
    assert code == 0
    res = json.loads(out.read_text())["results"][0]
    assert [r["split"] for r in res["runs"]] == [f"fold {k}" for k in range(1, 6)]
    assert res["task"] == "esc10" and res["counts"]["items"] == 40  # 4 ESC-10 classes x 5 folds x 2
    assert res["name"] == "mfcc" and 0 <= res["metrics"]["accuracy"]["mean"] <= 1
    assert (tmp_path / "plots" / "esc10_mfcc_tsne.png").is_file()
    assert "esc10" in capsys.readouterr().out
    assert main(["probe", "--task", "esc50", "--data", str(root)]) == 2  # no embedder chosen
    # --test-folds: an encoder pretrained on folds 1-4 (multiformat_esc50) is scored on fold 5 only
    code = main(["probe", "--task", "esc50", "--data", str(root), "--option", "esc10=true", "--baseline", "mfcc",
                 "--sample-rate", "8000", "--chunk-s", "0.05", "--seeds", "0", "--max-epochs", "20",
                 "--test-folds", "5", "--out", str(tmp_path / "fold5.json"), "--no-progress"])  # fmt: skip
    assert code == 0
    res = json.loads((tmp_path / "fold5.json").read_text())["results"][0]
    assert [r["split"] for r in res["runs"]] == ["fold 5"] and res["test_folds"] == [5]
    assert "test folds [5]" in res["protocol_details"] and res["protocol"] == "audiocl"
    assert main(["probe", "--task", "esc50", "--data", str(root), "--baseline", "mfcc", "--test-folds", "9",
                 "--no-progress"]) == 2  # fmt: skip


def test_unreadable_items_are_reported_per_split_and_a_split_left_without_a_class_is_refused(tmp_path):
    split_of = lambda i: "train" if i < 4 else "valid" if i < 6 else "test"  # noqa: E731
    items = tone_items(tmp_path, 8, split_of=split_of)
    emb = embed_task(Task("tones", items, ["low", "mid", "high"], multilabel=False), tiny_embedder(), progress=False)
    test_items = [i for i, it in enumerate(items) if it.split == "test"]
    emb.chunks[test_items[0]] = None  # as embed_task leaves an unreadable file
    emb.skipped.append((str(items[test_items[0]].path), "unreadable"))
    with pytest.warns(UserWarning, match="1 of 6 items of split 'test' could not be read"):
        res = run_probe(emb.task, embeddings=emb, seeds=(0,), options=FAST)
    assert res.skipped_per_split == {"train": {"items": 12, "skipped": 0}, "valid": {"items": 6, "skipped": 0},
                                        "test": {"items": 6, "skipped": 1}}  # fmt: skip
    assert res.runs[0]["test_items"] == 5
    assert "Unreadable items left out**: test: 1 of 6" in markdown_report([res])
    same_class = [i for i in test_items if items[i].target == items[test_items[0]].target]
    for i in same_class:  # the test split loses every item of one class: refused
        emb.chunks[i] = None
    with pytest.raises(ValueError, match="split 'test' has no readable item of class"):
        run_probe(emb.task, embeddings=emb, seeds=(0,), options=FAST)
    for i in test_items:
        emb.chunks[i] = None
    with pytest.raises(ValueError, match="every item of split 'test' is unreadable"):
        run_probe(emb.task, embeddings=emb, seeds=(0,), options=FAST)


def test_cli_probe_refuses_to_clobber_outputs_before_any_work(tmp_path, capsys):
    from layouts import make_csv, make_esc50

    from audiocl.cli import main

    root = make_esc50(tmp_path / "esc50")
    base = ["probe", "--task", "esc50", "--data", str(root), "--baseline", "mfcc", "--no-progress"]
    old = tmp_path / "r.json"
    old.write_text("earlier results")
    assert main([*base, "--out", str(old)]) == 2 and "pass --overwrite" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path)]) == 2 and "is a folder" in capsys.readouterr().err
    assert main([*base, "--out", str(old), "--report", str(old), "--overwrite"]) == 2
    assert "both name" in capsys.readouterr().err
    meta = root / "meta" / "esc50.csv"
    assert main([*base, "--report", str(meta), "--overwrite"]) == 2 and "of the data set" in capsys.readouterr().err
    assert main([*base, "--out", str(root), "--overwrite"]) == 2 and "is a folder" in capsys.readouterr().err
    csv = make_csv(tmp_path / "csvtask")  # a CSV task: the listed audio files lie outside the --data file
    wav = next(p for p in csv.parent.rglob("*.wav"))
    code = main(["probe", "--task", "csv", "--data", str(csv), "--baseline", "mfcc", "--report", str(wav),
                 "--overwrite", "--no-progress"])  # fmt: skip
    assert code == 2 and "is also an input" in capsys.readouterr().err
    assert old.read_text() == "earlier results"
