"""Generic sets: recursive audio listing, folder-per-class tree, CSV/TSV lists (multi-label), file lists."""

from __future__ import annotations

import shutil

import pytest
from layouts import FOLDER_CLASSES, make_csv, write_tone

from audiocl.data import LayoutError, list_audio, load_task, read_file_list


def test_list_audio_recursive_by_extension(folder_root):
    files = list_audio(folder_root)
    assert len(files) == sum(FOLDER_CLASSES.values())
    assert files == sorted(files)
    assert any("nested" in f.parts for f in files)
    assert not any(f.name.startswith(".") or f.suffix == ".txt" for f in files)
    assert list_audio(folder_root, extensions=["flac"]) == []
    with pytest.raises(LayoutError, match="does not exist"):
        list_audio(folder_root / "nope")


def test_folder_per_class(folder_root):
    task = load_task("folder", folder_root)
    assert task.classes == sorted(FOLDER_CLASSES) and not task.multilabel
    for c in range(len(task.classes)):
        splits = [it.split for it in task.items if it.target == c]
        assert (splits.count("train"), splits.count("valid"), splits.count("test")) == (8, 1, 1)
    assert all(task.classes[it.target] in it.path.parts for it in task.items)
    assert task.drawn_split == "stratified 80/10/10, seed 0"  # the folder has no split: audiocl drew one


def test_folder_with_given_splits(tmp_path):
    for split, n in (("train", 3), ("valid", 1), ("test", 2)):
        for c in ("a", "b"):
            for i in range(n):
                write_tone(tmp_path / split / c / f"{i}.wav", 0.1, 8000)
    task = load_task("folder", tmp_path)
    assert task.classes == ["a", "b"]
    assert {s: len(task.select(split=s)) for s in ("train", "valid", "test")} == {"train": 6, "valid": 2, "test": 4}
    assert all(it.path.parts[-3] == it.split for it in task.items)
    assert task.drawn_split is None


def test_csv_multilabel(csv_file):
    task = load_task("csv", csv_file)
    assert task.multilabel and task.classes == ["guitar", "jazz", "piano", "rock"]
    first = task.items[:6]
    assert [it.target for it in first] == [[3], [1], [0, 3], [1, 2], [0], [0, 1, 2]]
    assert all(it.path.is_file() for it in task.items)
    assert {s: len(task.select(split=s)) for s in ("train", "valid", "test")} == {"train": 12, "valid": 3, "test": 3}
    assert task.drawn_split is None  # the split column's
    assert task.targets().shape == (18, 4) and task.targets()[5].tolist() == [1, 1, 1, 0]
    # the folder holding a single CSV works too
    assert len(load_task("csv", csv_file.parent).items) == 18


def test_tsv_single_label_without_splits(tmp_path):
    path = make_csv(tmp_path, multilabel=False, splits=False, tsv=True)
    task = load_task("csv", path, seed=3)
    assert not task.multilabel and task.classes == ["guitar", "jazz", "piano", "rock"]
    assert task.drawn_split == "stratified 80/10/10, seed 3"
    assert "stratified" in task.notes and {it.split for it in task.items} <= {"train", "valid", "test"}


def test_csv_errors(tmp_path, csv_file):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\na.wav,x\n")
    with pytest.raises(LayoutError, match="'path'"):
        load_task("csv", bad)
    bad.write_text("path,label,split\na.wav,x,holdout\n")
    with pytest.raises(LayoutError, match="holdout"):
        load_task("csv", bad)
    with pytest.raises(LayoutError, match="single-label"):
        load_task("csv", csv_file, multilabel=False)


def test_read_file_list(tmp_path, csv_file):
    files = read_file_list(csv_file)
    assert len(files) == 18 and all(f.is_file() for f in files)
    plain = tmp_path / "list.txt"
    shutil.copy(files[0], tmp_path / "x.wav")
    plain.write_text(f"x.wav\n{files[1]}\n")
    assert read_file_list(plain) == [tmp_path / "x.wav", files[1]]


def test_list_audio_follows_links_without_cycles(tmp_path, folder_root):
    (tmp_path / "linked").symlink_to(folder_root / "bird")
    (tmp_path / "loop").symlink_to(tmp_path)  # a cycle
    files = list_audio(tmp_path)
    assert len(files) == FOLDER_CLASSES["bird"] and all(f.parts[-2] == "linked" for f in files)


def test_pretraining_reads_only_the_train_rows_of_a_list_with_splits(tmp_path, csv_file):
    from audiocl.data import pretrain_files

    every = read_file_list(csv_file)
    task = load_task("csv", csv_file)
    train = [it.path for it in task.items if it.split == "train"]
    assert 0 < len(train) < len(every)
    assert read_file_list(csv_file, splits=("train",)) == train
    assert pretrain_files("csv", csv_file) == train  # a later probe never sees its test audio
    assert pretrain_files("csv", csv_file, splits=None) == every
