"""GTZAN loader: genre folders, fault-filtered split files, stratified default split."""

from __future__ import annotations

import pytest
from layouts import GTZAN_GENRES, make_gtzan

from audiocl.data import LayoutError, load_task


def test_filtered_split(gtzan_root):
    task = load_task("gtzan", gtzan_root)
    assert task.classes == GTZAN_GENRES and "fault-filtered" in task.notes and task.drawn_split is None
    counts = {s: len(task.select(split=s)) for s in ("train", "valid", "test")}
    assert counts == {"train": 20, "valid": 10, "test": 10}  # clip 4 of each genre is filtered out
    for it in task.items:
        assert it.path.is_file() and task.classes[it.target] == it.path.parent.name
    test = {it.path.name for it in task.select(split="test")}
    assert test == {f"{g}.00003.wav" for g in GTZAN_GENRES}


def test_default_stratified_split_and_genres_original(tmp_path):
    root = make_gtzan(tmp_path, per_genre=10, folder="genres_original", filtered=False)
    task = load_task("gtzan", root, seed=1)
    assert "stratified" in task.notes and task.drawn_split == "stratified 80/10/10, seed 1"
    for g in range(10):
        splits = [it.split for it in task.items if it.target == g]
        assert (splits.count("train"), splits.count("valid"), splits.count("test")) == (8, 1, 1)
    again = load_task("gtzan", root, seed=1)
    other = load_task("gtzan", root, seed=2)
    assert [it.split for it in again.items] == [it.split for it in task.items]
    assert [it.split for it in other.items] != [it.split for it in task.items]


def test_missing_layout_is_named(tmp_path, gtzan_root):
    with pytest.raises(LayoutError, match="genres"):
        load_task("gtzan", tmp_path)
    with pytest.raises(LayoutError, match="train_filtered.txt"):
        load_task("gtzan", gtzan_root, split_dir=tmp_path)


def test_original_au_release_with_the_split_files_of_sota_music_tagging_models(tmp_path):
    """The original release holds .au files; the split files name .wav ones and sit in split/gtzan/."""
    from audiocl.audio import load
    from audiocl.data import list_inputs

    root = make_gtzan(tmp_path, suffix=".au", split_subdir="split/gtzan")
    task = load_task("gtzan", root)
    assert "fault-filtered" in task.notes and len(task.select(split="train")) == 20
    assert all(it.path.suffix == ".au" and it.path.is_file() for it in task.items)
    assert load(task.items[0].path, 8000)[0].shape == (800,)
    assert len(list_inputs([root / "genres"])) == 50  # `audiocl embed genres/` finds the .au files


def test_an_incomplete_split_is_an_error_not_a_silent_leaky_fallback(tmp_path):
    root = make_gtzan(tmp_path)
    (root / "valid_filtered.txt").unlink()
    with pytest.raises(LayoutError, match="valid_filtered.txt"):
        load_task("gtzan", root)
