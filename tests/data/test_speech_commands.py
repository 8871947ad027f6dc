"""Speech Commands loader: official lists, speaker groups without leakage, 35-word and 12-class conventions."""

from __future__ import annotations

import math
import shutil

import pytest
from layouts import SC_SPEAKERS, SC_WORDS, make_speech_commands_test_set, sc_speaker

from audiocl.data import LayoutError, load_task
from audiocl.data.speech_commands import SILENCE, UNKNOWN, WORDS_12, speaker_id

# utterances per word in each split (speakers 0 and 4 say each word twice)
PER_WORD = {"train": 5, "valid": 2, "test": 1}


def _no_leakage(task):
    splits_of = {}
    for it in task.items:
        splits_of.setdefault(it.group, set()).add(it.split)
    assert all(len(s) == 1 for s in splits_of.values())


def test_speaker_id():
    assert speaker_id("yes/0a7c2a8d_nohash_1.wav") == "0a7c2a8d"


def test_all_words(sc_root):
    task = load_task("speech_commands", sc_root)
    assert task.classes == sorted(SC_WORDS) and not task.multilabel
    for split, n in PER_WORD.items():
        assert len(task.select(split=split)) == n * len(SC_WORDS)
    valid = (sc_root / "validation_list.txt").read_text().split()
    assert sorted(f"{it.path.parent.name}/{it.path.name}" for it in task.select(split="valid")) == sorted(valid)
    assert all("_background_noise_" not in str(it.path) for it in task.items)
    for it in task.items:
        assert task.classes[it.target] == it.path.parent.name
        assert it.group == speaker_id(it.path)
    _no_leakage(task)
    speakers = {s: {it.group for it in task.select(split=s)} for s in PER_WORD}
    assert speakers["train"] == {sc_speaker(i) for i, s in SC_SPEAKERS.items() if s == "train"}
    assert not (speakers["train"] & speakers["valid"]) and not (speakers["train"] & speakers["test"])


def test_twelve_classes(sc_root):
    task = load_task("speech_commands", sc_root, convention="12", seed=3)
    assert task.classes == [*WORDS_12, SILENCE, UNKNOWN]
    unknown_words = [w for w in SC_WORDS if w not in WORDS_12]
    for split, n in PER_WORD.items():
        items = task.select(split=split)
        known = n * len(WORDS_12)
        want = math.ceil(0.1 * known)
        assert sum(it.target < 10 for it in items) == known
        unknown = [it for it in items if it.target == 11]
        assert len(unknown) == want and all(it.path.parent.name in unknown_words for it in unknown)
        silence = [it for it in items if it.target == 10]
        assert len(silence) == want
        lo, hi = {"train": (0.0, 3.2), "valid": (3.2, 3.6), "test": (3.6, 4.0)}[split]  # 4 s noises, 80/10/10
        for it in silence:
            assert it.path.parent.name == "_background_noise_"
            assert lo - 1e-9 <= it.offset_s and it.offset_s + it.duration_s <= hi + 1e-9
            assert it.duration_s == pytest.approx(min(1.0, hi - lo))
    _no_leakage(task)
    # a silence item decodes to its segment
    seg = next(it for it in task.select(split="train") if it.target == 10)
    audio, rate = seg.load()
    assert rate == 8000 and audio.shape == (8000,)


def test_twelve_classes_keep_all_unknown_and_no_silence(sc_root):
    task = load_task("speech_commands", sc_root, convention="12", unknown_fraction=None, silence_fraction=0)
    assert sum(it.target == 11 for it in task.items) == 3 * 8
    assert not any(it.target == 10 for it in task.items)


def test_seeded(sc_root):
    a = load_task("speech_commands", sc_root, convention="12", seed=1)
    b = load_task("speech_commands", sc_root, convention="12", seed=1)
    assert [(it.path, it.offset_s) for it in a.items] == [(it.path, it.offset_s) for it in b.items]


def test_missing_list_is_named(tmp_path, sc_root):
    shutil.copytree(sc_root, tmp_path / "sc")
    (tmp_path / "sc" / "testing_list.txt").unlink()
    with pytest.raises(LayoutError, match="testing_list.txt"):
        load_task("speech_commands", tmp_path / "sc")


def test_missing_background_noise_is_named(tmp_path, sc_root):
    shutil.copytree(sc_root, tmp_path / "sc", ignore=shutil.ignore_patterns("_background_noise_"))
    load_task("speech_commands", tmp_path / "sc")  # not needed for all words
    with pytest.raises(LayoutError, match="_background_noise_"):
        load_task("speech_commands", tmp_path / "sc", convention="12")


def test_listed_file_missing_on_disk(tmp_path, sc_root):
    shutil.copytree(sc_root, tmp_path / "sc")
    first = (tmp_path / "sc" / "validation_list.txt").read_text().split()[0]
    (tmp_path / "sc" / first).unlink()
    with pytest.raises(LayoutError, match=first.split("/")[1]):
        load_task("speech_commands", tmp_path / "sc")


def test_bad_convention(sc_root):
    with pytest.raises(ValueError, match="convention"):
        load_task("speech_commands", sc_root, convention="35")


def test_official_test_archive(tmp_path, sc_root):
    test_root = make_speech_commands_test_set(tmp_path / "speech_commands_test_set_v0.02")
    task = load_task("speech_commands", sc_root, convention="12", test_root=test_root)
    test = task.select(split="test")
    assert len(test) == 12 * 2 and all(str(it.path).startswith(str(test_root)) for it in test)
    assert all(task.classes[it.target] == it.path.parent.name for it in test)
    plain = load_task("speech_commands", sc_root, convention="12")
    for split in ("train", "valid"):
        assert [it.path for it in task.select(split=split)] == [it.path for it in plain.select(split=split)]
    shutil.rmtree(test_root / "_silence_")
    with pytest.raises(LayoutError, match="_silence_"):
        load_task("speech_commands", sc_root, convention="12", test_root=test_root)
    with pytest.raises(ValueError, match="convention='12'"):
        load_task("speech_commands", sc_root, test_root=test_root)
