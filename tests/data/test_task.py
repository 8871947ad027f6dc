"""Task/Item basics, stratified splits, load_task dispatch, and pretrain_files for every data-set name."""

from __future__ import annotations

import shutil

import pytest

from audiocl.data import TASKS, LayoutError, load_task, prepare, pretrain_files
from audiocl.data.task import Item, Task, stratified_parts, stratified_splits


def test_stratified_splits():
    labels = ["a"] * 10 + ["b"] * 20 + ["c"] * 5
    splits = stratified_splits(labels, (0.8, 0.1, 0.1), seed=0)
    for label, want in (("a", (8, 1, 1)), ("b", (16, 2, 2)), ("c", (4, 1, 0))):
        got = [s for s, lab in zip(splits, labels, strict=True) if lab == label]
        assert (got.count("train"), got.count("valid"), got.count("test")) == want
    assert stratified_splits(labels, seed=0) == splits
    assert stratified_splits(labels, seed=1) != splits
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_splits(labels, (0.5, 0.1, 0.1))


def test_stratified_parts_keeps_a_class_in_part_zero_when_asked_and_ignores_the_order_of_examples():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 2
    parts = stratified_parts(labels, (0.1, 0.9), seed=0, at_least_one=True)
    assert [int((parts[[i for i, x in enumerate(labels) if x == c]] == 0).sum()) for c in "abc"] == [5, 3, 1]
    plain = stratified_parts(labels, (0.1, 0.9), seed=0)
    assert int((plain[-2:] == 0).sum()) == 0  # 0.2 of a class of 2 rounds to none
    three = stratified_parts(["a"] * 3, (0.1, 0.1, 0.8), seed=0, at_least_one=True)
    assert sorted(three.tolist()) == [0, 2, 2]  # part 0's minimum never leaves part 1 a negative share
    assert stratified_parts(labels, (0.1, 0.9), seed=0).tolist() == plain.tolist()
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_parts(labels, (0.5, 0.1))


def test_task_targets_and_select(tmp_path):
    items = [Item(tmp_path / "a.wav", [0, 2], split="train"), Item(tmp_path / "b.wav", [1], split="test")]
    task = Task("t", items, ["x", "y", "z"], multilabel=True)
    assert task.targets().tolist() == [[1, 0, 1], [0, 1, 0]]
    assert task.select(split="test") == items[1:]
    with pytest.raises(ValueError, match="split"):
        task.select(split="dev")
    with pytest.raises(LayoutError, match="no items"):
        Task("t", [], ["x"], multilabel=False)


def test_load_task_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown task"):
        load_task("audioset", tmp_path)
    with pytest.raises(LayoutError, match="does not exist"):
        load_task("esc50", tmp_path / "missing")
    assert set(TASKS) == {"magnatagatune", "speech_commands", "esc50", "gtzan", "nsynth", "folder", "csv", "hear"}


def test_pretrain_files(mtat_root, sc_root, esc_root, gtzan_root, nsynth_root, folder_root, csv_file, tmp_path):
    assert len(pretrain_files("magnatagatune", mtat_root, split="folder")) == 36  # train split (folders 0-b) only
    assert len(pretrain_files("magnatagatune", mtat_root, split="folder", splits=None)) == 48
    pons_train = (mtat_root / "train_gt_mtt.tsv").read_text().strip().splitlines()
    assert len(pretrain_files("magnatagatune", mtat_root)) == len(pons_train)  # CLMR's default: Pons' train split
    sc = pretrain_files("speech_commands", sc_root, convention="12")
    assert all("_background_noise_" not in str(f) for f in sc) and len(sc) == len(set(sc))
    files, labels = pretrain_files("esc50", esc_root, return_labels=True)
    assert len(files) == 60 and len(labels) == 60 and set(labels) == set(range(6))
    assert len(pretrain_files("esc50", esc_root, folds=[1, 2])) == 24
    assert len(pretrain_files("gtzan", gtzan_root)) == 20
    assert len(pretrain_files("nsynth", nsynth_root, splits=None)) == 15
    files, labels = pretrain_files("folder", folder_root, return_labels=True)
    assert len(files) == 30 and labels is None
    assert len(pretrain_files("csv", csv_file)) == 12  # the rows of its train split
    assert len(pretrain_files("csv", csv_file, splits=None)) == 18
    files, labels = pretrain_files("magnatagatune", mtat_root, return_labels=True)
    assert labels is None  # multi-label sets give no single labels
    prepare("csv", csv_file, tmp_path / "cache", 8000, progress=False)
    assert pretrain_files("cache", tmp_path / "cache") == [f.resolve() for f in pretrain_files("csv", csv_file)]
    with pytest.raises(ValueError, match="unknown pretraining"):
        pretrain_files("librispeech", tmp_path)
    with pytest.raises(LayoutError, match="no audio files"):
        pretrain_files("folder", tmp_path / "cache")


@pytest.mark.parametrize(
    "name, fixture, victim, options",
    [
        ("magnatagatune", "mtat_root", "5/artist_5-album_5-01-song_5-30-59.mp3", {"split": "folder"}),
        ("magnatagatune", "mtat_root", "1/artist_1-album_1-01-song_1-30-59.mp3", {"split": "won"}),
        ("esc50", "esc_root", "audio/3-120003-A-20.wav", {}),
        ("gtzan", "gtzan_root", "genres/jazz/jazz.00002.wav", {}),
        ("nsynth", "nsynth_root", "nsynth-valid/audio/guitar_acoustic_005-060-100.wav", {}),
        ("csv", "csv_file", "clips/clip_07.wav", {}),
    ],
)
def test_listed_audio_missing_is_named(request, tmp_path, name, fixture, victim, options):
    src = request.getfixturevalue(fixture)
    is_file = src.is_file()
    root = tmp_path / "copy"
    shutil.copytree(src.parent if is_file else src, root)
    assert (root / victim).is_file()
    (root / victim).unlink()
    with pytest.raises(LayoutError, match=victim.split("/")[-1]):
        load_task(name, root / src.name if is_file else root, **options)
