"""Miniatures of the official data-set layouts, for everyone's tests.

Each ``make_*`` writes tiny audio files (0.1-0.5 s, 8-16 kHz; MP3 for MagnaTagATune) with the exact file
names, metadata files and split files of the real release, and returns the path to hand to
``audiocl.data.load_task`` / ``pretrain_files``. The ``*_FACTS`` dicts hold the counts the tests expect.

>>> from layouts import make_esc50            # tests/ is on sys.path (conftest.py lives there)
>>> root = make_esc50(tmp_path)                                  # doctest: +SKIP
>>> load_task("esc50", root).folds                               # doctest: +SKIP
[1, 2, 3, 4, 5]
"""

from __future__ import annotations

import csv
import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = [
    "write_tone",
    "make_magnatagatune",
    "make_speech_commands",
    "make_speech_commands_test_set",
    "make_esc50",
    "make_gtzan",
    "make_nsynth",
    "make_folder",
    "make_csv",
]


def write_tone(path: Path, seconds: float, sample_rate: int, freq_hz: float = 440.0, noise: float = 0.05) -> Path:
    """A sine plus a little seeded noise, amplitude < 0.6, written by soundfile (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * sample_rate))
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    t = np.arange(n) / sample_rate
    audio = (0.5 * np.sin(2 * np.pi * freq_hz * t) + noise * rng.standard_normal(n)).astype(np.float32)
    if path.suffix == ".mp3":
        sf.write(path, audio, sample_rate, format="MP3", subtype="MPEG_LAYER_III")
    else:
        sf.write(path, audio, sample_rate, subtype="PCM_16")
    return path


# --------------------------------------------------------------------------------------------- MagnaTagATune
MTAT_FACTS = {"folders": "0123456789abcdef", "clips_per_folder": 3, "num_tags": 188, "corrupt": "0"}
_REAL_TAGS = [
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
    "ambient",
    "beat",
    "violin",
    "vocal",
    "synth",
    "female",
    "indian",
    "opera",
    "male",
    "singing",
]


def mtat_tags() -> list[str]:
    """188 tag column names in file order (some real names, the rest numbered), shuffled by a fixed seed."""
    names = _REAL_TAGS + [f"tag{i:03d}" for i in range(188 - len(_REAL_TAGS))]
    return [names[i] for i in np.random.default_rng(7).permutation(len(names))]


def make_magnatagatune(root: Path, *, won: bool = True, pons: bool = True, corrupt: bool = True) -> Path:
    """``annotations_final.csv`` (tab-separated, quoted, clip_id + 188 tags + mp3_path) and MP3s in 0-9, a-f.

    3 clips (one track) per folder, 0.2 s at 16 kHz. With ``corrupt``, the first clip of folder 0 is an empty
    file (the release has such clips). ``won`` writes ``split/mtat/{train,valid,test,tags,binary}.npy``
    (train = folders 0-7, valid = 8-9, test = a-f, clips without a top-50 tag left out, as Won et al. do);
    ``pons`` writes ``{train,val,test}_gt_mtt.tsv`` (train = 0-9, valid = a-b, test = c-f).
    """
    root = Path(root)
    tags = mtat_tags()
    rng = np.random.default_rng(3)
    # Tag j's probability falls with its rank in a fixed random order, so the top 50 are well defined.
    rank = rng.permutation(len(tags))
    prob = np.where(rank < 50, 0.9 - 0.015 * rank, 0.02)
    rows, paths = [], []
    clip_id = 0
    for folder in MTAT_FACTS["folders"]:
        track = f"artist_{folder}-album_{folder}-01-song_{folder}"
        for j in range(MTAT_FACTS["clips_per_folder"]):
            rel = f"{folder}/{track}-{29 * j + j}-{29 * (j + 1) + j}.mp3"
            onehot = (rng.random(len(tags)) < prob).astype(int)
            rows.append([str(clip_id), *map(str, onehot), rel])
            paths.append(rel)
            path = root / rel
            if corrupt and folder == MTAT_FACTS["corrupt"] and j == 0:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
            else:
                write_tone(path, 0.2, 16000, 200.0 + 20 * clip_id)
            clip_id += 2  # real clip ids have gaps
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "annotations_final.csv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", quotechar='"', quoting=csv.QUOTE_ALL)
        w.writerow(["clip_id", *tags, "mp3_path"])
        w.writerows(rows)

    matrix = np.array([[int(x) for x in r[1:-1]] for r in rows])
    counts = matrix.sum(0)
    top = sorted(range(len(tags)), key=lambda j: (-counts[j], j))[:50]
    binary = matrix[:, top]
    if won:
        d = root / "split" / "mtat"
        d.mkdir(parents=True, exist_ok=True)
        np.save(d / "tags.npy", np.array([tags[j] for j in top]))
        np.save(d / "binary.npy", binary)
        parts = {"train": "01234567", "valid": "89", "test": "abcdef"}
        for split, folders in parts.items():
            lines = [f"{i}\t{p}" for i, p in enumerate(paths) if p[0] in folders and binary[i].any()]
            np.save(d / f"{split}.npy", np.array(lines))
    if pons:
        parts = {"train": "0123456789", "val": "ab", "test": "cdef"}
        for split, folders in parts.items():
            lines = [
                f"{r[0]}\t{json.dumps([float(x) for x in binary[i]])}"
                for i, r in enumerate(rows)
                if paths[i][0] in folders
            ]
            (root / f"{split}_gt_mtt.tsv").write_text("\n".join(lines) + "\n")
    return root


# ------------------------------------------------------------------------------------------- Speech Commands
SC_WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed", "cat", "dog"]
# speaker index -> split: 0-3 train, 4 valid, 5 test; speakers 0 and 4 say every word twice.
SC_SPEAKERS = {0: "train", 1: "train", 2: "train", 3: "train", 4: "valid", 5: "test"}


def sc_speaker(i: int) -> str:
    return hashlib.sha1(f"speaker{i}".encode()).hexdigest()[:8]


def make_speech_commands(root: Path, *, words: list[str] | None = None, background: bool = True) -> Path:
    """Word folders of ``<speaker>_nohash_<n>.wav`` (0.25 s, 8 kHz), the two list files, README/LICENSE and
    ``_background_noise_`` (two 4 s noises + README.md). 13 words x 6 speakers, speakers 0 and 4 twice."""
    root = Path(root)
    words = SC_WORDS if words is None else words
    valid, test = [], []
    for w, word in enumerate(words):
        for s, split in SC_SPEAKERS.items():
            for n in range(2 if s in (0, 4) else 1):
                rel = f"{word}/{sc_speaker(s)}_nohash_{n}.wav"
                write_tone(root / rel, 0.25, 8000, 150.0 + 30 * w + 5 * s)
                (valid if split == "valid" else test if split == "test" else []).append(rel)
    (root / "validation_list.txt").write_text("\n".join(valid) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    (root / "README.md").write_text("Speech Commands miniature\n")
    (root / "LICENSE").write_text("CC-BY-4.0\n")
    if background:
        noise = root / "_background_noise_"
        for name in ("white_noise.wav", "pink_noise.wav"):
            write_tone(noise / name, 4.0, 8000, 0.0, noise=0.3)
        (noise / "README.md").write_text("background noise\n")
    return root


def make_speech_commands_test_set(root: Path, per_class: int = 2) -> Path:
    """The separate 12-class test archive (``speech_commands_test_set_v0.02``): a folder per class, including
    ``_silence_`` and ``_unknown_``, ``per_class`` files each (0.25 s, 8 kHz) from new speakers."""
    root = Path(root)
    for c, name in enumerate(["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
                              "_silence_", "_unknown_"]):  # fmt: skip
        for i in range(per_class):
            write_tone(root / name / f"{sc_speaker(100 + i)}_nohash_{c}.wav", 0.25, 8000, 180.0 + 20 * c)
    return root


# ------------------------------------------------------------------------------------------------- ESC-50
# (target, category, esc10) as in the real meta/esc50.csv
ESC_CLASSES = [
    (0, "dog", True),
    (1, "rooster", True),
    (2, "pig", False),
    (10, "rain", True),
    (20, "crying_baby", True),
    (30, "door_wood_knock", False),
]


def make_esc50(root: Path, *, per_fold: int = 2) -> Path:
    """``meta/esc50.csv`` + ``audio/<fold>-<src>-<take>-<target>.wav`` (0.1 s, 8 kHz): 6 classes (4 in
    ESC-10), 5 folds, ``per_fold`` takes of one source recording per class and fold."""
    root = Path(root)
    rows = []
    for target, category, esc10 in ESC_CLASSES:
        for fold in range(1, 6):
            src = f"{100000 + 1000 * target + fold}"
            for k in range(per_fold):
                name = f"{fold}-{src}-{'ABCDEFGH'[k]}-{target}.wav"
                write_tone(root / "audio" / name, 0.1, 8000, 300.0 + 10 * target + k)
                rows.append([name, fold, target, category, str(esc10), src, "ABCDEFGH"[k]])
    rows.sort()
    (root / "meta").mkdir(parents=True, exist_ok=True)
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        w.writerows(rows)
    return root


# -------------------------------------------------------------------------------------------------- GTZAN
GTZAN_GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]


def make_gtzan(
    root: Path,
    *,
    per_genre: int = 5,
    folder: str = "genres",
    filtered: bool = True,
    suffix: str = ".wav",
    split_subdir: str = "",
) -> Path:
    """``<folder>/<genre>/<genre>.000NN<suffix>`` (0.1 s, 8 kHz; ``.au`` as the original release, ``.wav`` as
    the Kaggle copy) and, with ``filtered``, the fault-filtered split files in ``root/<split_subdir>``, which
    name ``.wav`` files whatever the suffix (as distributed): per genre clips 0-1 train, 2 valid, 3 test, 4
    filtered out."""
    root = Path(root)
    for g, genre in enumerate(GTZAN_GENRES):
        for i in range(per_genre):
            write_tone(root / folder / genre / f"{genre}.{i:05d}{suffix}", 0.1, 8000, 200.0 + 40 * g + i)
    if filtered:
        (root / split_subdir).mkdir(parents=True, exist_ok=True)
        parts = {"train": (0, 1), "valid": (2,), "test": (3,)}
        for split, idx in parts.items():
            lines = [f"{genre}/{genre}.{i:05d}.wav" for genre in GTZAN_GENRES for i in idx if i < per_genre]
            (root / split_subdir / f"{split}_filtered.txt").write_text("\n".join(lines) + "\n")
    return root


# ------------------------------------------------------------------------------------------------- NSynth
NSYNTH_FAMILIES = [
    "bass",
    "brass",
    "flute",
    "guitar",
    "keyboard",
    "mallet",
    "organ",
    "reed",
    "string",
    "synth_lead",
    "vocal",
]
NSYNTH_SOURCES = ["acoustic", "electronic", "synthetic"]
# (family id, source id, instrument number, pitches) per split; pitch 9 and 120 lie outside 21-108.
NSYNTH_NOTES = {
    "train": [(0, 2, 33, [9, 22, 40]), (3, 0, 1, [40, 60]), (4, 1, 7, [21, 108, 120]), (10, 0, 2, [60])],
    "valid": [(0, 2, 34, [22, 40]), (3, 0, 5, [60])],
    "test": [(4, 1, 9, [21, 60]), (10, 0, 3, [108])],
}


def make_nsynth(root: Path) -> Path:
    """``nsynth-{train,valid,test}/examples.json`` + ``audio/<note_str>.wav`` (0.1 s, 16 kHz)."""
    root = Path(root)
    note = 0
    for split, instruments in NSYNTH_NOTES.items():
        d = root / f"nsynth-{split}"
        meta = {}
        for fam, src, num, pitches in instruments:
            instrument_str = f"{NSYNTH_FAMILIES[fam]}_{NSYNTH_SOURCES[src]}_{num:03d}"
            for pitch in pitches:
                note_str = f"{instrument_str}-{pitch:03d}-100"
                meta[note_str] = {
                    "note": note,
                    "note_str": note_str,
                    "instrument": 1000 + num,
                    "instrument_str": instrument_str,
                    "pitch": pitch,
                    "velocity": 100,
                    "sample_rate": 16000,
                    "qualities": [0] * 10,
                    "qualities_str": [],
                    "instrument_family": fam,
                    "instrument_family_str": NSYNTH_FAMILIES[fam],
                    "instrument_source": src,
                    "instrument_source_str": NSYNTH_SOURCES[src],
                }
                write_tone(d / "audio" / f"{note_str}.wav", 0.1, 16000, 440.0 * 2 ** ((pitch - 69) / 12))
                note += 1
        (d / "examples.json").write_text(json.dumps(meta, indent=1))
    return root


# --------------------------------------------------------------------------------------- generic folder/CSV
FOLDER_CLASSES = {"bird": 10, "car": 10, "rain": 10}


def make_folder(root: Path) -> Path:
    """``root/<class>/*.wav`` (0.1 s, 8 kHz), 10 files per class, one class with a nested folder, plus a
    non-audio file and a hidden file that listing must ignore."""
    root = Path(root)
    for c, (name, n) in enumerate(FOLDER_CLASSES.items()):
        for i in range(n):
            sub = "nested/" if name == "car" and i % 2 else ""
            write_tone(root / name / f"{sub}{name}_{i:02d}.wav", 0.1, 8000, 250.0 + 50 * c + i)
    (root / "bird" / "notes.txt").write_text("not audio\n")
    (root / "rain" / ".hidden.wav").write_bytes(b"")
    return root


def make_csv(root: Path, *, multilabel: bool = True, splits: bool = True, tsv: bool = False) -> Path:
    """``root/clips/*.wav`` (0.1 s, 8 kHz) and ``root/labels.csv`` (or ``.tsv``): ``path,label[,split]``
    with paths relative to the list file; multi-label rows join labels with ``;``. Returns the list file."""
    root = Path(root)
    labels = ["rock", "jazz", "rock;guitar", "jazz;piano", "guitar", "piano;jazz;guitar"] * 3
    split_of = ["train"] * 12 + ["valid"] * 3 + ["test"] * 3
    if not multilabel:
        labels = [lab.split(";")[0] for lab in labels]
    rows = []
    for i, (lab, split) in enumerate(zip(labels, split_of, strict=True)):
        rel = f"clips/clip_{i:02d}.wav"
        write_tone(root / rel, 0.1, 8000, 200.0 + 25 * i)
        rows.append([rel, lab, split] if splits else [rel, lab])
    path = root / ("labels.tsv" if tsv else "labels.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t" if tsv else ",")
        w.writerow(["path", "label", "split"] if splits else ["path", "label"])
        w.writerows(rows)
    return path
