"""ESC-50 (Piczak 2015): 2,000 five-second environmental sounds, 50 classes, 5 official folds.

Official layout (the ``ESC-50-master`` archive)::

    root/meta/esc50.csv   filename,fold,target,category,esc10,src_file,take
    root/audio/<fold>-<src_file>-<take>-<target>.wav

The protocol is 5-fold cross-validation over the official folds, reporting the mean over folds; clips cut
from one source recording (``src_file``, the item's group) are in one fold. ``esc10=True`` keeps the
ESC-10 subset (the ``esc10`` column), its 10 classes renumbered in the order of their ESC-50 targets.

>>> task = load_esc50("/data/ESC-50-master", esc10=True)                  # doctest: +SKIP
>>> task.num_classes, task.folds                                           # doctest: +SKIP
(10, [1, 2, 3, 4, 5])
"""

from __future__ import annotations

import csv
from pathlib import Path

from audiocl.data.task import Item, LayoutError, Task, require_audio, require_file

__all__ = ["load_esc50", "COLUMNS"]

COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")


def load_esc50(root: str | Path, *, esc10: bool = False) -> Task:
    """ESC-50 (or ESC-10) as a single-label 5-fold task.

    Args:
        root: folder holding ``meta/esc50.csv`` and ``audio/``.
        esc10: keep only the ESC-10 subset.
    """
    root = Path(root)
    meta = require_file(root / "meta" / "esc50.csv", "ESC-50 metadata")
    audio_dir = root / "audio"
    if not audio_dir.is_dir():
        raise LayoutError(f"ESC-50 audio folder {audio_dir} not found")
    with open(meta, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise LayoutError(f"{meta}: missing column(s) {missing}; expected {','.join(COLUMNS)}")
        rows = list(reader)
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        for column in ("fold", "target"):
            try:
                row[column] = int(row[column])
            except (TypeError, ValueError):
                raise LayoutError(
                    f"{meta}, line {line} ({row.get('filename')}): {column} {row[column]!r} is not an integer"
                ) from None
    if esc10:
        rows = [r for r in rows if r["esc10"].strip().lower() == "true"]
    names = {r["target"]: r["category"] for r in rows}
    targets = sorted(names)
    classes = [names[t] for t in targets]
    index = {t: i for i, t in enumerate(targets)}
    items = [Item(audio_dir / r["filename"], index[r["target"]], fold=r["fold"], group=r["src_file"]) for r in rows]
    require_audio(items, meta)
    folds = sorted({it.fold for it in items})
    name = "esc10" if esc10 else "esc50"
    notes = f"{name}: official {len(folds)} folds (meta/esc50.csv), mean over folds"
    return Task(name, items, classes, multilabel=False, folds=folds, notes=notes, options={"esc10": esc10})
