"""MagnaTagATune (Law et al., ISMIR 2009): 25,863 clips of ~29 s, 188 tags, scored on the top 50.

Official layout::

    root/annotations_final.csv   tab-separated, quoted: "clip_id", 188 tag columns (0/1), "mp3_path"
    root/0/ ... root/f/          the MP3s, e.g. f/american_bach_soloists-...-30-59.mp3

Tags: the 50 most frequent tag columns of ``annotations_final.csv`` (column sums, ties broken by column
order), ordered by frequency, the convention of Pons et al. and Won et al. Splits (``split=``):

- ``"pons"`` (default; alias ``"pons2017"``): Pons et al. (2018, musicnn-training)
  ``{train,val,test}_gt_mtt.tsv`` rows ``clip_id\\t[50 floats]``, in the top-50 order above, paths through
  ``annotations_final.csv``. This is the split CLMR's numbers are measured on: its ``MAGNATAGATUNE`` dataset
  class defaults to ``split="pons2017"`` (Spijkervet/CLMR ``clmr/datasets/magnatagatune.py``).
- ``"won"``: Won et al. (2020, sota-music-tagging-models) ``split/mtat/{train,valid,test}.npy`` (strings
  ``"index\\tpath"``), ``tags.npy`` (the 50 tag names) and ``binary.npy`` (multi-hot rows by index); CLMR's
  other option (``"won2020"``).
- ``"folder"``: the conventional folder split, folders 0-b train, c valid, d-f test (Dieleman & Schrauwen
  2014, Lee et al. 2017). Every clip is kept, also those with no top-50 tag.

The group of a clip is its track (the path without the ``-start-end.mp3`` suffix), so no track spans splits
in the folder split. The few empty/corrupt MP3s of the release stay in the list; the pretraining datasets and
the embedder skip them at decode time and report them by name.

>>> task = load_magnatagatune("/data/mtat")                                # doctest: +SKIP
>>> task.summary()                                                         # doctest: +SKIP
'magnatagatune: 25863 items, 50 classes (multi-label); train: 18706, valid: 1825, test: 5332'
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from audiocl.data.task import Item, LayoutError, Task, require_audio, require_file

__all__ = ["load_magnatagatune", "read_annotations", "top_tags", "FOLDER_SPLIT"]

ANNOTATIONS = "annotations_final.csv"
FOLDER_SPLIT = {**{c: "train" for c in "0123456789ab"}, "c": "valid", **{c: "test" for c in "def"}}
SPLITS = ("pons", "won", "folder")
SPLIT_ALIASES = {"pons2017": "pons", "won2020": "won"}  # the names CLMR's dataset class uses
_TRACK = re.compile(r"-\d+-\d+\.mp3$")


def read_annotations(path: Path) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """Parse ``annotations_final.csv``: ``(clip_ids, mp3_paths, tag_names, matrix (clips, tags) uint8)``."""
    require_file(path, "MagnaTagATune annotations")
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f, delimiter="\t", quotechar='"') if r]
    if not rows:
        raise LayoutError(f"{path} is empty")
    header = rows[0]
    for col in ("clip_id", "mp3_path"):
        if col not in header:
            raise LayoutError(
                f"{path}: missing column {col!r}; expected a tab-separated header clip_id, <tags>, mp3_path"
            )
    id_col, path_col = header.index("clip_id"), header.index("mp3_path")
    tag_cols = [i for i in range(len(header)) if i not in (id_col, path_col)]
    if any(len(r) != len(header) for r in rows[1:]):
        n = next(n for n, r in enumerate(rows[1:], start=2) if len(r) != len(header))
        raise LayoutError(f"{path}, row {n}: {len(rows[n - 1])} fields, the header has {len(header)}")
    # Every tag cell is one character "0" or "1": read them all as bytes at once (25,863 x 188 cells).
    text = "".join(r[i] for r in rows[1:] for i in tag_cols)
    codes = np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)
    if len(codes) != (len(rows) - 1) * len(tag_cols) or not np.isin(codes, (48, 49)).all():
        raise LayoutError(f"{path}: tag columns must hold 0 or 1 in every row")
    matrix = (codes - 48).reshape(len(rows) - 1, len(tag_cols))
    return [r[id_col] for r in rows[1:]], [r[path_col] for r in rows[1:]], [header[i] for i in tag_cols], matrix


def top_tags(matrix: np.ndarray, k: int = 50) -> np.ndarray:
    """Column indices of the ``k`` most frequent tags, most frequent first, ties by column order.

    >>> top_tags(np.array([[0, 1, 1], [0, 1, 0]]), k=2)
    array([1, 2])
    """
    counts = matrix.sum(axis=0, dtype=np.int64)
    return np.lexsort((np.arange(len(counts)), -counts))[:k]  # last key sorts first


def _match_columns(gt: np.ndarray, matrix: np.ndarray, preferred: np.ndarray, where: Path) -> list[int]:
    """For each column of ``gt`` (clips, k), the annotation column (of ``matrix`` (clips, 188)) that holds the
    same values, trying ``preferred`` (our top-k order) first. The Pons files carry no tag names, and their
    order can differ from ours where two tags are equally frequent, so the names come from the data."""
    order = list(preferred) + [c for c in range(matrix.shape[1]) if c not in set(preferred)]
    chosen: list[int] = []
    for j in range(gt.shape[1]):
        match = next((c for c in order if c not in chosen and np.array_equal(matrix[:, c], gt[:, j])), None)
        if match is None:
            raise LayoutError(f"{where}: label column {j} of the *_gt_mtt.tsv files matches no tag of {ANNOTATIONS}")
        chosen.append(match)
    return chosen


def _find(root: Path, split_dir: str | Path | None, candidates: list[Path], names: list[str], what: str) -> Path:
    dirs = [Path(split_dir).expanduser()] if split_dir is not None else candidates
    for d in dirs:
        if all((d / n).is_file() for n in names):
            return d
    d = dirs[0]
    missing = next(n for n in names if not (d / n).is_file())
    raise LayoutError(
        f"{what} split: expected file {d / missing} not found (looked in {', '.join(map(str, dirs))}); "
        "pass split_dir= to point at the split files"
    )


def load_magnatagatune(
    root: str | Path, *, split: str = "pons", top_k: int = 50, split_dir: str | Path | None = None
) -> Task:
    """MagnaTagATune as a multi-label task over its top ``top_k`` tags (see the module docstring).

    Args:
        root: folder with ``annotations_final.csv`` and the audio folders 0-9, a-f.
        split: "pons" (CLMR's default, alias "pons2017"), "won" (alias "won2020") or "folder" (0-b/c/d-f).
        top_k: number of most frequent tags (50 by convention; "won"/"pons" files fix it at 50).
        split_dir: folder of the Won or Pons split files; default ``root/split/mtat`` (won) or ``root``,
            ``root/index/mtt`` (pons).
    """
    split = SPLIT_ALIASES.get(split, split)
    root = Path(root)
    clip_ids, paths, tag_names, matrix = read_annotations(root / ANNOTATIONS)
    groups = [_TRACK.sub("", p) for p in paths]
    top = top_tags(matrix, top_k)
    classes = [tag_names[i] for i in top]
    rule = f"top {top_k} tags by frequency in {ANNOTATIONS} (ties by column order)"

    if split == "folder":
        items = []
        for p, g, row in zip(paths, groups, matrix[:, top], strict=True):
            folder = p.split("/", 1)[0]
            if folder not in FOLDER_SPLIT:
                raise LayoutError(f"{root / ANNOTATIONS}: mp3_path {p!r} is not under a folder 0-9 or a-f")
            items.append(Item(root / p, np.flatnonzero(row).tolist(), split=FOLDER_SPLIT[folder], group=g))
        notes = f"{rule}; folder split 0-b train, c valid, d-f test"

    elif split == "won":
        names = ["train.npy", "valid.npy", "test.npy", "tags.npy", "binary.npy"]
        d = _find(root, split_dir, [root / "split" / "mtat", root], names, "Won et al.")
        classes = [str(t) for t in np.load(d / "tags.npy")]
        binary = np.load(d / "binary.npy")
        if binary.ndim != 2 or binary.shape[1] != len(classes):
            raise LayoutError(f"{d / 'binary.npy'}: expected shape (clips, {len(classes)}), got {binary.shape}")
        items = []
        for s in ("train", "valid", "test"):
            for line in np.load(d / f"{s}.npy"):
                ix, p = str(line).split("\t")
                items.append(Item(root / p, np.flatnonzero(binary[int(ix)]).tolist(), split=s, group=_TRACK.sub("", p)))
        notes = f"Won et al. split files in {d} (tags.npy, binary.npy)"

    elif split == "pons":
        names = ["train_gt_mtt.tsv", "val_gt_mtt.tsv", "test_gt_mtt.tsv"]
        d = _find(root, split_dir, [root, root / "index" / "mtt", root / "split" / "mtat"], names, "Pons et al.")
        row_of = {cid: i for i, cid in enumerate(clip_ids)}
        rows, vecs, splits = [], [], []
        for s, name in zip(("train", "valid", "test"), names, strict=True):
            for n, line in enumerate((d / name).read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                cid, vec = line.split("\t")
                vec = json.loads(vec)
                if len(vec) != top_k:
                    raise LayoutError(f"{d / name}, line {n}: {len(vec)} labels, expected {top_k}")
                if cid not in row_of:
                    raise LayoutError(f"{d / name}, line {n}: clip_id {cid} is not in {ANNOTATIONS}")
                rows.append(row_of[cid])
                vecs.append(vec)
                splits.append(s)
        gt = np.array(vecs, dtype=np.uint8)
        classes = [tag_names[c] for c in _match_columns(gt, matrix[rows], top, d)]
        items = [
            Item(root / paths[r], np.flatnonzero(v).tolist(), split=s, group=groups[r])
            for r, v, s in zip(rows, gt, splits, strict=True)
        ]
        notes = f"Pons et al. split files in {d}; tag names by matching their columns to {ANNOTATIONS}"

    else:
        raise ValueError(f"split must be one of {', '.join(SPLITS)} (or {', '.join(SPLIT_ALIASES)}), got {split!r}")
    require_audio(items, d if split != "folder" else root / ANNOTATIONS)
    return Task("magnatagatune", items, classes, multilabel=True, notes=notes, options={"split": split})
