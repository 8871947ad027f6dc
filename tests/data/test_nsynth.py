"""NSynth loader: examples.json per split, instrument-family and pitch (MIDI 21-108) targets."""

from __future__ import annotations

import json
import shutil

import pytest
from layouts import NSYNTH_FAMILIES, NSYNTH_NOTES

from audiocl.data import LayoutError, load_task


def test_instrument_family(nsynth_root):
    task = load_task("nsynth", nsynth_root)
    assert task.classes == NSYNTH_FAMILIES and len(task.classes) == 11
    for split, notes in NSYNTH_NOTES.items():
        items = task.select(split=split)
        assert len(items) == sum(len(p) for *_, p in notes)
        meta = json.loads((nsynth_root / f"nsynth-{split}" / "examples.json").read_text())
        for it in items:
            ex = meta[it.path.stem]
            assert it.path.is_file() and it.target == ex["instrument_family"] and it.group == ex["instrument_str"]


def test_pitch(nsynth_root):
    task = load_task("nsynth", nsynth_root, target="pitch")
    assert task.classes == [str(p) for p in range(21, 109)] and len(task.classes) == 88
    pitches = [p for notes in NSYNTH_NOTES.values() for *_, ps in notes for p in ps]
    assert len(task.items) == sum(21 <= p <= 108 for p in pitches)
    for it in task.items:
        assert int(task.classes[it.target]) == int(it.path.stem.split("-")[1])


def test_missing_split_metadata_is_named(tmp_path, nsynth_root):
    shutil.copytree(nsynth_root, tmp_path / "ns")
    (tmp_path / "ns" / "nsynth-valid" / "examples.json").unlink()
    with pytest.raises(LayoutError, match="nsynth-valid/examples.json"):
        load_task("nsynth", tmp_path / "ns")


def test_missing_key_is_named(tmp_path, nsynth_root):
    shutil.copytree(nsynth_root, tmp_path / "ns")
    meta_path = tmp_path / "ns" / "nsynth-test" / "examples.json"
    meta = json.loads(meta_path.read_text())
    for ex in meta.values():
        del ex["pitch"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(LayoutError, match="'pitch'"):
        load_task("nsynth", tmp_path / "ns", target="pitch")
    with pytest.raises(ValueError, match="target"):
        load_task("nsynth", tmp_path / "ns", target="velocity")
