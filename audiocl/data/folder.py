"""Generic data sets: any folder of audio, a folder-per-class tree, and a CSV/TSV list of files.

For pretraining, :func:`list_audio` (recursive, by extension) and :func:`read_file_list` (a CSV/TSV or
plain list of paths) give the files. For evaluation, :func:`load_folder` reads ``root/<class>/...`` (or
``root/{train,valid,test}/<class>/...``) and :func:`load_csv` reads ``path,label[,split][,group]`` rows
where a multi-label row joins its labels with ``;`` (``rock;guitar``).

>>> task = load_csv("labels.csv")                                          # doctest: +SKIP
>>> files = list_audio("/data/my_music")                                   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from audiocl.data.task import Item, LayoutError, Task, drawn_split_words, require_audio, stratified_splits

# A file listing inputs one per line is recognised by its suffix; anything else is treated as audio.
LIST_SUFFIXES = (".txt", ".lst", ".list")

__all__ = ["list_audio", "list_inputs", "read_file_list", "load_folder", "load_csv", "normalize_split"]

_SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "dev": "valid",
    "test": "test",
    "testing": "test",
    "eval": "test",
}


def _extensions(extensions: Sequence[str] | None) -> tuple[str, ...]:
    if extensions is None:
        from audiocl.audio import AUDIO_EXTENSIONS

        extensions = AUDIO_EXTENSIONS
    return tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)


def list_audio(root: str | os.PathLike, extensions: Sequence[str] | None = None) -> list[Path]:
    """Every audio file under ``root``, recursively, sorted; hidden files and folders are left out.

    Args:
        root: a folder (or a single audio file).
        extensions: suffixes to keep (case-insensitive); default :data:`audiocl.audio.AUDIO_EXTENSIONS`.

    >>> list_audio("songs/")[:1]                                               # doctest: +SKIP
    [PosixPath('songs/album/track01.mp3')]
    """
    root = Path(root).expanduser()
    exts = _extensions(extensions)
    if root.is_file():
        return [root] if root.suffix.lower() in exts else []
    if not root.is_dir():
        raise LayoutError(f"audio folder {root} does not exist")
    found, seen = [], {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        # Follow symlinked folders, but never into one already walked (a link cycle would never end).
        keep = [d for d in sorted(dirnames) if not d.startswith(".")]
        dirnames[:] = [d for d in keep if os.path.realpath(os.path.join(dirpath, d)) not in seen]
        seen.update(os.path.realpath(os.path.join(dirpath, d)) for d in dirnames)
        found.extend(Path(dirpath) / f for f in filenames if not f.startswith(".") and Path(f).suffix.lower() in exts)
    return sorted(found)


def normalize_split(value: str, where: str) -> str:
    """Map "train"/"training", "valid"/"validation"/"val"/"dev", "test"/"testing"/"eval" to our names."""
    key = value.strip().lower()
    if key not in _SPLIT_NAMES:
        raise LayoutError(f"{where}: unknown split {value!r}; use one of train, valid (validation), test")
    return _SPLIT_NAMES[key]


def _dialect(path: Path, sample: str, delimiter: str | None) -> str:
    if delimiter is not None:
        return delimiter
    if path.suffix.lower() == ".tsv":
        return "\t"
    first = sample.splitlines()[0] if sample else ""
    return "\t" if first.count("\t") > first.count(",") else ","


def _read_rows(path: Path, delimiter: str | None) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV/TSV file, whitespace stripped, blank lines dropped."""
    if not path.is_file():
        raise LayoutError(f"list file {path} not found")
    text = path.read_text(encoding="utf-8-sig")
    rows = [
        [c.strip() for c in row]
        for row in csv.reader(text.splitlines(), delimiter=_dialect(path, text, delimiter))
        if any(c.strip() for c in row)
    ]
    if not rows:
        raise LayoutError(f"{path} is empty")
    return rows[0], rows[1:]


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def list_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """The audio files that command-line inputs name (``audiocl embed``'s), in order, without duplicates.

    An input is a folder (searched recursively for :data:`audiocl.audio.AUDIO_EXTENSIONS`, sorted, hidden
    files and folders left out), a list
    file (suffix ``.txt``, ``.lst`` or ``.list``: one path per line, ``#`` comments and blank lines ignored,
    relative paths taken from the list file's folder) or an audio file. A missing input raises ValueError;
    a missing file named inside a list file is kept, so that it is reported and skipped with the unreadable ones.
    """
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            # Broken and looping links are kept, so that they are reported and skipped with the unreadable files.
            files.extend(list_audio(path))
        elif path.suffix.lower() in LIST_SUFFIXES:
            if not path.is_file():
                raise ValueError(f"list file not found: {path}")
            for line in path.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    entry = Path(line).expanduser()
                    files.append(entry if entry.is_absolute() else path.parent / entry)
        elif path.exists():
            files.append(path)
        else:
            raise ValueError(f"input not found: {path} (give audio files, folders or a .txt list of paths)")
    return list(dict.fromkeys(files))


def read_file_list(
    path: str | os.PathLike,
    *,
    delimiter: str | None = None,
    path_column: str = "path",
    splits: Sequence[str] | None = None,
) -> list[Path]:
    """Audio paths listed in a CSV/TSV file (its ``path`` column) or a plain list (one path a line).

    Relative paths are taken relative to the list file's folder. A file without a ``path`` header is read
    as a plain list whose first column is the path. With ``splits`` (e.g. ``("train",)``) and a ``split``
    column, only the rows of those splits are kept (pretraining must not see the audio a probe tests on).

    >>> read_file_list("train.csv")[:1]                                        # doctest: +SKIP
    [PosixPath('/data/clips/a.wav')]
    """
    path = Path(path).expanduser()
    header, rows = _read_rows(path, delimiter)
    names = [h.lower() for h in header]
    if path_column in names:
        col = names.index(path_column)
    else:  # no header: the first line is a path too
        col, rows = 0, [header, *rows]
    if splits is not None and path_column in names and "split" in names:
        at = names.index("split")
        rows = [row for row in rows if len(row) > at and normalize_split(row[at], str(path)) in splits]
    return [_resolve(path.parent, row[col]) for row in rows if len(row) > col and row[col]]


def load_folder(
    root: str | os.PathLike,
    *,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    extensions: Sequence[str] | None = None,
) -> Task:
    """A folder-per-class tree as a single-label task.

    Two layouts: ``root/{train,valid,test}/<class>/**/audio`` keeps the given splits;
    ``root/<class>/**/audio`` is split per class into ``fractions`` (train, valid, test) with ``seed``
    (see :func:`audiocl.data.task.stratified_splits`). Class names are the sorted folder names.

    >>> load_folder("birds/").classes                                          # doctest: +SKIP
    ['crow', 'robin']
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LayoutError(f"folder-per-class root {root} does not exist")
    subdirs = {d.name: d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")}
    split_dirs = {normalize_split(n, str(root)): d for n, d in subdirs.items() if n.lower() in _SPLIT_NAMES}
    if split_dirs and set(split_dirs) >= {"train", "test"}:
        classes = sorted({c.name for d in split_dirs.values() for c in d.iterdir() if c.is_dir()})
        index = {c: i for i, c in enumerate(classes)}
        items = [
            Item(path=f, target=index[c.name], split=split)
            for split, d in split_dirs.items()
            for c in sorted(d.iterdir())
            if c.is_dir()
            for f in list_audio(c, extensions)
        ]
        notes = f"folder-per-class tree with given splits ({', '.join(sorted(split_dirs))})"
        drawn = None
    else:
        classes = sorted(n for n in subdirs)
        if not classes:
            raise LayoutError(f"{root} has no class folders: expected root/<class>/<audio files>")
        pairs = [(f, i) for i, c in enumerate(classes) for f in list_audio(subdirs[c], extensions)]
        splits = stratified_splits([t for _, t in pairs], fractions, seed)
        items = [Item(path=f, target=t, split=s) for (f, t), s in zip(pairs, splits, strict=True)]
        notes = f"folder-per-class tree, stratified split {fractions} (train, valid, test), seed {seed}"
        drawn = drawn_split_words("stratified", fractions, seed)
    return Task("folder", items, classes, multilabel=False, notes=notes, drawn_split=drawn)


def load_csv(
    root: str | os.PathLike,
    *,
    delimiter: str | None = None,
    multilabel: bool | None = None,
    label_separator: str = ";",
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> Task:
    """A CSV/TSV of ``path,label[,split][,group]`` rows (with that header) as a task.

    Args:
        root: the CSV/TSV file, or a folder holding exactly one ``*.csv``/``*.tsv``.
        delimiter: None picks tab for ``.tsv`` (or a tab-heavy header line), else comma.
        multilabel: None decides from the data: multi-label when any label holds ``label_separator``.
        fractions, seed: the split when there is no ``split`` column (stratified by label when
            single-label, random when multi-label).

    Paths are relative to the CSV's folder unless absolute. Classes are the sorted label names.

    >>> load_csv("tags.tsv").multilabel                                        # doctest: +SKIP
    True
    """
    path = Path(root).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".tsv"))
        if len(found) != 1:
            raise LayoutError(f"{path}: expected exactly one .csv/.tsv label file, found {[p.name for p in found]}")
        path = found[0]
    header, rows = _read_rows(path, delimiter)
    cols = {h.lower(): i for i, h in enumerate(header)}
    for needed in ("path", "label"):
        if needed not in cols:
            raise LayoutError(f"{path}: missing column {needed!r} (header is {header}); expected path,label[,split]")
    labels = []
    for n, row in enumerate(rows, start=2):
        if len(row) < len(header):
            raise LayoutError(f"{path}, line {n}: expected {len(header)} fields, got {len(row)}")
        labels.append([x.strip() for x in row[cols["label"]].split(label_separator) if x.strip()])
    if multilabel is None:
        multilabel = any(len(ls) > 1 for ls in labels)
    if not multilabel and any(len(ls) != 1 for ls in labels):
        bad = next(n for n, ls in enumerate(labels, start=2) if len(ls) != 1)
        raise LayoutError(f"{path}, line {bad}: a single-label task needs exactly one label per row")
    classes = sorted({x for ls in labels for x in ls})
    index = {c: i for i, c in enumerate(classes)}
    targets = [sorted(index[x] for x in ls) if multilabel else index[ls[0]] for ls in labels]
    if "split" in cols:
        splits = [normalize_split(row[cols["split"]], f"{path}, line {n}") for n, row in enumerate(rows, start=2)]
        notes = "CSV list with given splits"
        drawn = None
    else:
        splits = stratified_splits([0] * len(rows) if multilabel else targets, fractions, seed)
        kind = "random" if multilabel else "stratified"
        notes = f"CSV list, {kind} split {fractions} (train, valid, test), seed {seed}"
        drawn = drawn_split_words(kind, fractions, seed)
    group_col = cols.get("group")
    items = [
        Item(
            path=_resolve(path.parent, row[cols["path"]]),
            target=t,
            split=s,
            group=row[group_col] if group_col is not None and row[group_col] else None,
        )
        for row, t, s in zip(rows, targets, splits, strict=True)
    ]
    require_audio(items, path)
    return Task("csv", items, classes, multilabel=multilabel, notes=notes, drawn_split=drawn)
