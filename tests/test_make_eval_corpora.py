"""scripts/make_eval_corpora.py: each corpus loads with audiocl's loader of its official layout.

The ESC-50 part needs only numpy/scipy and always runs; the speech and music parts need the Debian packages
espeak-ng and fluidsynth + fluid-soundfont-gm and are skipped where those are missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from repo_scripts import load_script

from audiocl.data import load_task

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_eval_corpora.py"


@pytest.fixture(scope="module")
def gen():
    return load_script("make_eval_corpora")


def test_sounds_esc50_layout_folds_and_determinism(gen, tmp_path):
    args = [
        "--only",
        "sounds",
        "--per-class",
        "10",
        "--sounds-seconds",
        "1.0",
        "--sample-rate",
        "8000",
        "--no-progress",
    ]
    assert gen.main(["--out", str(tmp_path / "a"), *args]) == 0
    task = load_task("esc50", tmp_path / "a" / "esc50")
    assert task.num_classes == len(gen.ESC_CLASSES) and task.folds == [1, 2, 3, 4, 5]
    assert len(task.items) == 10 * len(gen.ESC_CLASSES)
    # Both takes of a source recording are in one fold (the ESC-50 grouping).
    fold_of: dict[str, set] = {}
    for it in task.items:
        fold_of.setdefault(it.group, set()).add(it.fold)
    assert all(len(f) == 1 for f in fold_of.values())
    audio, sr = sf.read(task.items[0].path)
    assert sr == 8000 and len(audio) == 8000 and 0 < np.abs(audio).max() <= 1 and np.isfinite(audio).all()
    # Same seed, same bytes; another seed, other audio.
    gen.main(["--out", str(tmp_path / "b"), *args])
    gen.main(["--out", str(tmp_path / "c"), "--seed", "1", *args])
    name = task.items[0].path.name
    same = [(tmp_path / d / "esc50" / "audio" / name).read_bytes() for d in ("a", "b", "c")]
    assert same[0] == same[1] and same[0] != same[2]


def test_refuses_the_repository_and_a_non_empty_target(gen, tmp_path, capsys):
    with pytest.raises(SystemExit):
        gen.main(["--out", str(SCRIPT.parents[1] / "eval_data"), "--only", "sounds"])
    assert "inside the repository" in capsys.readouterr().err
    (tmp_path / "esc50").mkdir()
    (tmp_path / "esc50" / "keep.txt").write_text("user data")
    with pytest.raises(SystemExit, match="not empty"):
        gen.main(["--out", str(tmp_path), "--only", "sounds", "--per-class", "5", "--no-progress"])
    assert (tmp_path / "esc50" / "keep.txt").read_text() == "user data"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs the Debian package espeak-ng")
def test_speech_commands_layout_splits_by_speaker(gen, tmp_path):
    gen.main(["--out", str(tmp_path), "--only", "speech", "--speakers", "7", "--words", "yes", "no", "--no-progress"])
    task = load_task("speech_commands", tmp_path / "speech_commands")  # the loader checks speakers per split
    assert task.classes == ["no", "yes"]
    assert {it.split for it in task.items} == {"train", "valid", "test"}
    import json

    speakers = json.loads((tmp_path / "speech_commands" / "speakers.json").read_text())
    variants = {s: {p["variant"] for p in speakers if p["split"] == s} for s in ("train", "valid", "test")}
    assert not variants["train"] & (variants["valid"] | variants["test"])


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").is_file(),
    reason="needs the Debian packages fluidsynth and fluid-soundfont-gm",
)
def test_magnatagatune_layout_pons_and_folder_splits(gen, tmp_path):
    args = ["--only", "music", "--tracks", "16", "--clips-per-track", "1", "--music-seconds", "1.0", "--no-progress"]
    gen.main(["--out", str(tmp_path), *args])
    root = tmp_path / "magnatagatune"
    pons = load_task("magnatagatune", root)
    folder = load_task("magnatagatune", root, split="folder")
    assert pons.num_classes == 50 and set(pons.classes) == set(gen.MUSIC_TAGS)
    for task in (pons, folder):
        split_of: dict[str, set] = {}
        for it in task.items:
            split_of.setdefault(it.group, set()).add(it.split)
        assert all(len(s) == 1 for s in split_of.values())  # a track never spans splits
    audio, sr = sf.read(pons.items[0].path)
    assert sr == 16000 and np.abs(audio).max() > 0.001
