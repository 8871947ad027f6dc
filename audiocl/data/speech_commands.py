"""Speech Commands v1/v2 (Warden 2018): one-second words, split by speaker.

Official layout::

    root/<word>/<speaker>_nohash_<n>.wav   30 words (v0.01) or 35 words (v0.02)
    root/_background_noise_/*.wav          minutes of noise (not a word)
    root/validation_list.txt               "word/<speaker>_nohash_<n>.wav" per line
    root/testing_list.txt

Train is every word file in neither list. The group of an item is its speaker (the hash before
``_nohash_``); the official lists keep each speaker in one split, which :func:`load_speech_commands` checks.

Two label conventions (``convention=``):

- ``"all"``: every word folder is a class (35 for v2, 30 for v1).
- ``"12"``: yes, no, up, down, left, right, on, off, stop, go, ``_silence_`` and ``_unknown_``, as in the
  TensorFlow speech_commands example (``input_data.py``): per split, the other words become ``_unknown_``,
  subsampled (seeded) to ``ceil(unknown_fraction * n)`` items, and ``ceil(silence_fraction * n)``
  ``_silence_`` items are added, where ``n`` is the number of the 10 words' items in that split (both
  fractions 0.1 by default; ``unknown_fraction=None`` keeps every unknown word). A ``_silence_`` item is a
  ``clip_s``-long segment of a ``_background_noise_`` file at a seeded random offset; the files' first 80 %
  serve train, the next 10 % valid and the last 10 % test, so no noise is shared across splits. (The
  TensorFlow example instead uses digital silence mixed with noise at training time.) ``test_root=`` takes the
  test split from the separate official 12-class test archive (``speech_commands_test_set_v0.02``) instead.

>>> task = load_speech_commands("/data/speech_commands_v0.02", convention="12")  # doctest: +SKIP
>>> task.classes[-2:]                                                             # doctest: +SKIP
['_silence_', '_unknown_']
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from audiocl.data.task import Item, LayoutError, Task, require_file

__all__ = ["load_speech_commands", "speaker_id", "WORDS_12", "SILENCE", "UNKNOWN", "BACKGROUND_NOISE"]

WORDS_12 = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
SILENCE, UNKNOWN, BACKGROUND_NOISE = "_silence_", "_unknown_", "_background_noise_"
# Where each split's silence comes from, as fractions of every background-noise file's duration.
_NOISE_REGIONS = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}


def speaker_id(path: str | Path) -> str:
    """The speaker hash of a Speech Commands file name: ``"0a7c2a8d"`` for ``0a7c2a8d_nohash_0.wav``."""
    return Path(path).name.split("_nohash_")[0]


def _read_list(path: Path) -> set[str]:
    require_file(path, "Speech Commands split list")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _silence_items(root: Path, counts: dict[str, int], clip_s: float, target: int, rng) -> list[Item]:
    from audiocl.audio import info

    noise_dir = root / BACKGROUND_NOISE
    files = sorted(noise_dir.glob("*.wav")) if noise_dir.is_dir() else []
    if not files:
        raise LayoutError(
            f"{noise_dir}: no background-noise .wav files, needed for the _silence_ class; "
            "pass silence_fraction=0 to leave _silence_ out"
        )
    durations = [info(f).duration_s for f in files]
    items = []
    for split, n in counts.items():
        lo, hi = _NOISE_REGIONS[split]
        for j in range(n):
            k = j % len(files)
            start, end = lo * durations[k], hi * durations[k]
            length = min(clip_s, end - start)
            offset = start + rng.uniform(0.0, end - start - length)
            items.append(
                Item(
                    files[k],
                    target,
                    split=split,
                    group=f"{BACKGROUND_NOISE}/{files[k].stem}/{split}",
                    offset_s=float(offset),
                    duration_s=float(length),
                )
            )
    return items


def _test_set_items(test_root: Path, classes: list[str]) -> list[Item]:
    """The official 12-class test archive: one folder per class, ``_silence_`` and ``_unknown_`` included."""
    items = []
    for target, name in enumerate(classes):
        folder = test_root / name
        if not folder.is_dir():
            raise LayoutError(f"Speech Commands test archive: folder {folder} not found")
        items += [Item(f, target, split="test", group=speaker_id(f)) for f in sorted(folder.glob("*.wav"))]
    return items


def load_speech_commands(
    root: str | Path,
    *,
    convention: str = "all",
    silence_fraction: float = 0.1,
    unknown_fraction: float | None = 0.1,
    clip_s: float = 1.0,
    seed: int = 0,
    test_root: str | Path | None = None,
) -> Task:
    """Speech Commands as a single-label task (see the module docstring for the conventions).

    Args:
        root: the extracted archive (word folders, the two list files, ``_background_noise_``).
        convention: "all" (every word) or "12" (10 words + ``_silence_`` + ``_unknown_``).
        silence_fraction, unknown_fraction: sizes of ``_silence_``/``_unknown_`` per split ("12" only).
        clip_s: length of a ``_silence_`` segment in seconds.
        seed: the unknown-word subsample and the silence offsets.
        test_root: ("12" only) the separate official test archive (``speech_commands_test_set_v0.02``:
            folders for the 10 words, ``_silence_`` and ``_unknown_``), used as the test split instead of
            ``testing_list.txt``.
    """
    root = Path(root)
    valid_list = _read_list(root / "validation_list.txt")
    test_list = _read_list(root / "testing_list.txt")
    words = sorted(
        d.name for d in root.iterdir() if d.is_dir() and d.name != BACKGROUND_NOISE and not d.name.startswith(".")
    )
    if not words:
        raise LayoutError(f"{root}: no word folders found; expected root/<word>/<speaker>_nohash_<n>.wav")
    files = [f for w in words for f in sorted((root / w).glob("*.wav"))]
    on_disk = {f"{f.parent.name}/{f.name}" for f in files}
    for name, listed in (("validation_list.txt", valid_list), ("testing_list.txt", test_list)):
        missing = sorted(listed - on_disk)
        if missing:
            raise LayoutError(f"{root / name} lists {len(missing)} files not on disk, e.g. {root / missing[0]}")

    def split_of(f: Path) -> str:
        rel = f"{f.parent.name}/{f.name}"
        return "valid" if rel in valid_list else "test" if rel in test_list else "train"

    rng = np.random.default_rng(seed)
    if convention == "all":
        if test_root is not None:
            raise ValueError("test_root (the 12-class test archive) needs convention='12'")
        classes = words
        items = [Item(f, words.index(f.parent.name), split=split_of(f), group=speaker_id(f)) for f in files]
        notes = f"all {len(words)} words as classes; official validation/testing lists"
    elif convention == "12":
        missing = [w for w in WORDS_12 if w not in words]
        if missing:
            raise LayoutError(f"{root}: word folder(s) {missing} not found, needed for the 12-class convention")
        classes = [*WORDS_12, SILENCE, UNKNOWN]
        items, counts = [], {}
        for split in ("train", "valid") if test_root is not None else ("train", "valid", "test"):
            known = [f for f in files if f.parent.name in WORDS_12 and split_of(f) == split]
            unknown = [f for f in files if f.parent.name not in WORDS_12 and split_of(f) == split]
            if unknown_fraction is not None:
                keep = min(len(unknown), math.ceil(unknown_fraction * len(known)))
                unknown = [unknown[i] for i in sorted(rng.choice(len(unknown), keep, replace=False))]
            items += [Item(f, WORDS_12.index(f.parent.name), split=split, group=speaker_id(f)) for f in known]
            items += [Item(f, len(WORDS_12) + 1, split=split, group=speaker_id(f)) for f in unknown]
            counts[split] = math.ceil(silence_fraction * len(known))
        if sum(counts.values()):
            items += _silence_items(root, counts, clip_s, len(WORDS_12), rng)
        notes = (
            f"12-class convention: 10 words, _silence_ ({silence_fraction:g} x words per split, {clip_s:g} s "
            f"segments of {BACKGROUND_NOISE}, files split 80/10/10 in time), _unknown_ "
            f"({'all other words' if unknown_fraction is None else f'{unknown_fraction:g} x words per split'}), "
            f"seed {seed}; official validation/testing lists"
        )
        if test_root is not None:
            items += _test_set_items(Path(test_root), classes)
            notes += f"; test split from the official test archive {test_root}"
    else:
        raise ValueError(f"convention must be 'all' or '12', got {convention!r}")

    # The official lists are built by speaker hash; a speaker in two splits means a corrupted list.
    seen: dict[str, str] = {}
    for it in items if test_root is None else [it for it in items if it.split != "test"]:
        if it.split != seen.setdefault(it.group, it.split):
            raise LayoutError(f"{root}: speaker {it.group} appears in both {seen[it.group]} and {it.split}")
    return Task("speech_commands", items, classes, multilabel=False, notes=notes, options={"convention": convention})
