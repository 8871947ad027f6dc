"""HEAR task folders (hear-preprocess's output): splits, folds as HEAR rotates them, labels, refusals, and a probe.

The fixtures are written here in the layout of ``hearpreprocess/pipeline.py`` (``task_metadata.json``,
``labelvocabulary.csv``, ``<split>.json``, ``<sample_rate>/<split>/<file>.wav``).
"""

from __future__ import annotations

import json

import pytest
from layouts import write_tone

from audiocl.data import LayoutError, load_task

MULTICLASS = ["dog", "rain", "siren"]  # hear-preprocess sorts the vocabulary
MULTILABEL = ["60", "bird", "car"]  # "60" is written as the number 60 in the split files, as a pitch label can be
TONE_HZ = {"dog": 300.0, "rain": 1200.0, "siren": 3000.0}


def write_task(root, *, split_labels: dict, vocabulary: list[str], sample_rates=(16000,), **metadata):
    """A task folder: ``split_labels`` is {split: {filename: labels}}; ``metadata`` overrides the scene defaults."""
    meta = {
        "task_name": "tiny",
        "version": "v1.0.0",
        "mode": "full",
        "embedding_type": "scene",
        "prediction_type": "multiclass",
        "split_mode": "trainvaltest",
        "splits": list(split_labels),
        "sample_duration": 0.3,
        "evaluation": ["top1_acc"],
        **metadata,
    }
    root.mkdir(parents=True)
    (root / "task_metadata.json").write_text(json.dumps(meta, indent=True))
    (root / "labelvocabulary.csv").write_text("idx,label\n" + "".join(f"{i},{c}\n" for i, c in enumerate(vocabulary)))
    for split, labels in split_labels.items():
        (root / f"{split}.json").write_text(json.dumps(labels, indent=True))
        for rate in sample_rates:
            for filename, file_labels in labels.items():
                hz = sum(TONE_HZ.get(str(label), 600.0 + 500.0 * k) for k, label in enumerate(file_labels))
                write_tone(root / str(rate) / split / filename, 0.3, rate, freq_hz=hz or 200.0)
    return root


def multiclass_trainvaltest(root, **kw):
    per_split = {"train": 4, "valid": 2, "test": 2}
    split_labels = {
        split: {f"{split}-{label}-{k}.wav": [label] for label in MULTICLASS for k in range(n)}
        for split, n in per_split.items()
    }
    return write_task(root, split_labels=split_labels, vocabulary=MULTICLASS, **kw)


def multilabel_folds(root, nfolds=5, **kw):
    patterns = [[60], ["bird"], ["car"], [60, "car"], ["bird", "car"], []]  # every class both on and off per fold
    split_labels = {
        f"fold{f:02d}": {f"clip{f}_{k}.wav": labels for k, labels in enumerate(patterns)} for f in range(nfolds)
    }
    return write_task(
        root, split_labels=split_labels, vocabulary=MULTILABEL, prediction_type="multilabel",
        split_mode="new_split_kfold", nfolds=nfolds, evaluation=["mAP", "aucroc"], **kw,
    )  # fmt: skip


def test_multiclass_trainvaltest_keeps_the_splits_and_the_vocabulary_order(tmp_path):
    root = multiclass_trainvaltest(tmp_path / "tiny-v1.0.0-full")
    task = load_task("hear", root)
    assert task.name == "hear-tiny" and not task.multilabel and task.folds is None
    assert task.classes == MULTICLASS and task.options == {"sample_rate": 16000}
    assert {s: len(task.select(split=s)) for s in ("train", "valid", "test")} == {"train": 12, "valid": 6, "test": 6}
    for it in task.items:
        split, label, _ = it.path.stem.split("-")
        assert it.split == split and it.fold is None and task.classes[it.target] == label
        assert it.path.parent == root / "16000" / split and it.path.is_file()
    assert "train/valid/test" in task.notes and "top1_acc" in task.notes


def test_multilabel_folds_are_numbered_as_hear_names_them(tmp_path):
    task = load_task("hear", multilabel_folds(tmp_path / "ml"))
    assert task.multilabel and task.folds == [0, 1, 2, 3, 4] and task.classes == MULTILABEL
    assert all(it.split is None for it in task.items)
    by_name = {it.path.name: it for it in task.items}
    assert by_name["clip3_3.wav"].fold == 3 and by_name["clip3_3.wav"].target == [0, 2]  # 60 (a number) and car
    assert by_name["clip0_5.wav"].target == []  # a clip with no label is a negative for every class
    assert task.targets(task.select(folds=[2])).sum(0).tolist() == [2.0, 2.0, 3.0]


def test_the_sample_rate_folder_is_chosen_or_listed(tmp_path):
    root = multiclass_trainvaltest(tmp_path / "t", sample_rates=(16000, 48000))
    assert load_task("hear", root).options == {"sample_rate": 48000}  # the highest, when several are there
    task = load_task("hear", root, sample_rate=16000)
    assert all(it.path.parent.parent.name == "16000" for it in task.items)
    with pytest.raises(LayoutError, match=r"22050.*sample-rate folders: 16000, 48000"):
        load_task("hear", root, sample_rate=22050)


def test_an_event_task_is_refused_naming_it(tmp_path):
    events = {"fold00": {"a.wav": [{"label": "dog", "start": 10.0, "end": 200.0}]}}
    root = write_task(
        tmp_path / "dcase", split_labels=events, vocabulary=["dog"], task_name="dcase2016_task2",
        embedding_type="event", prediction_type="multilabel", split_mode="presplit_kfold",
    )  # fmt: skip
    with pytest.raises(ValueError, match="HEAR task dcase2016_task2 is an event \\(timestamp\\) task: not supported"):
        load_task("hear", root)


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(LayoutError, match="task_metadata.json"):
        load_task("hear", tmp_path)
    root = multiclass_trainvaltest(tmp_path / "tasks" / "tiny-v1.0.0-full")
    with pytest.raises(LayoutError, match="task folders under it: tiny-v1.0.0-full"):
        load_task("hear", tmp_path / "tasks")  # the parent of the task folders
    with pytest.raises(LayoutError, match="task folders under it: tasks/tiny-v1.0.0-full"):
        load_task("hear", tmp_path)  # the top of a HEAR archive

    (root / "valid.json").rename(root / "valid.bak")
    with pytest.raises(LayoutError, match="valid.json"):
        load_task("hear", root)
    (root / "valid.bak").rename(root / "valid.json")

    (root / "16000" / "test" / "test-rain-1.wav").unlink()
    with pytest.raises(LayoutError, match="test.json lists 1 audio file.*test-rain-1.wav"):
        load_task("hear", root)


def test_invalid_metadata_and_labels_are_named(tmp_path):
    root = multiclass_trainvaltest(tmp_path / "t")
    meta = root / "task_metadata.json"
    good = meta.read_text()
    meta.write_text("{not json")
    with pytest.raises(LayoutError, match="task_metadata.json: not valid JSON"):
        load_task("hear", root)
    meta.write_text(json.dumps({**json.loads(good), "split_mode": "stratified_kfold"}))
    with pytest.raises(LayoutError, match="split_mode 'stratified_kfold' is not one of"):
        load_task("hear", root)
    meta.write_text(good)

    train = root / "train.json"
    labels = json.loads(train.read_text())
    train.write_text(json.dumps({**labels, "train-dog-0.wav": ["dog", "rain"]}))
    with pytest.raises(LayoutError, match="train-dog-0.wav: a multiclass task gives one label"):
        load_task("hear", root)
    train.write_text(json.dumps({**labels, "train-dog-0.wav": ["cat"]}))
    with pytest.raises(LayoutError, match=r"train-dog-0.wav: label\(s\) \['cat'\] are not in labelvocabulary"):
        load_task("hear", root)


def probe_with_mfcc(root, out, max_epochs: int) -> dict:
    """``audiocl probe --task hear`` with the MFCC baseline at tiny settings: the result of its JSON."""
    from audiocl.cli import main

    code = main(["probe", "--task", "hear", "--data", str(root), "--baseline", "mfcc", "--sample-rate", "8000",
                 "--chunk-s", "0.1", "--seeds", "0", "--max-epochs", str(max_epochs), "--bootstrap", "0",
                 "--device", "cpu", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    return json.loads(out.read_text())["results"][0]


@pytest.mark.slow
def test_cli_probes_a_multilabel_kfold_task_with_hears_fold_rotation(tmp_path):
    res = probe_with_mfcc(multilabel_folds(tmp_path / "ml"), tmp_path / "res.json", max_epochs=20)
    assert res["task"] == "hear-tiny" and res["multilabel"] and set(res["metrics"]) == {"roc_auc", "pr_auc"}
    # hear-eval-kit's data_splits_from_folds: fold k tests, fold k+1 (cyclically) validates, the others train
    folds = list(range(5))
    for k, run in enumerate(res["runs"]):
        assert run["split"] == f"fold {k}"
        assert run["valid_folds"] == [folds[(k + 1) % 5]]
        assert run["train_folds"] == [f for f in folds if f not in (k, (k + 1) % 5)]
        assert run["test_items"] == 6


@pytest.mark.slow
def test_cli_probes_a_multiclass_trainvaltest_task_on_its_test_split(tmp_path):
    from audiocl.cli import main

    res = probe_with_mfcc(multiclass_trainvaltest(tmp_path / "t"), tmp_path / "res.json", max_epochs=60)
    run = res["runs"][0]
    assert [r["split"] for r in res["runs"]] == ["test"]
    assert (run["train_items"], run["valid_items"], run["test_items"]) == (12, 6, 6)  # HEAR's valid split is kept
    assert res["metrics"]["accuracy"]["mean"] >= 0.8  # three well-separated tones
    assert main(["probe", "--task", "hear", "--data", str(tmp_path), "--baseline", "mfcc", "--no-progress"]) == 2
