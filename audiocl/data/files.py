"""The audio files of a pretraining data set, by data-set name: ``pretrain_files("magnatagatune", root)``.

Pretraining only needs audio (labels are returned when a single-label layout has them, e.g. for SupCon).
For the official layouts only the training split is used by default, so that a later linear probe on the
same data set never sees its test audio during pretraining; k-fold sets (ESC-50) have no held-out split
and give every fold unless ``folds=`` says otherwise.

>>> files = pretrain_files("folder", "/data/my_music")                     # doctest: +SKIP
>>> files, labels = pretrain_files("gtzan", "/data/gtzan", return_labels=True)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from audiocl.data.folder import list_audio, read_file_list
from audiocl.data.task import TASKS, LayoutError, check_options, load_task

__all__ = ["pretrain_files", "PRETRAIN_DATASETS"]

PRETRAIN_DATASETS = ("folder", "csv", "magnatagatune", "speech_commands", "esc50", "gtzan", "nsynth", "cache")


def pretrain_files(
    dataset: str,
    root: str | os.PathLike,
    *,
    return_labels: bool = False,
    splits: Sequence[str] | None = ("train",),
    folds: Sequence[int] | None = None,
    **options,
) -> list[Path] | tuple[list[Path], list[int] | None]:
    """List the audio files of ``dataset`` under ``root`` for pretraining.

    Args:
        dataset: "folder" (recursive, by extension), "csv" (a CSV/TSV with a ``path`` column and, optionally,
            a ``split`` column, or one path a line), "magnatagatune", "speech_commands", "esc50", "gtzan",
            "nsynth", or "cache" (the source files recorded in an ``audiocl prepare`` cache).
        root: the folder, list file or cache folder.
        return_labels: also return single-label class indices (None when the data set has none).
        splits: splits of an official layout (or of a list's ``split`` column) to use (None = all).
        folds: folds of a k-fold layout to use (None = all).
        **options: passed to the layout's loader (e.g. ``split="won"``).

    Returns:
        The files, sorted as the layout lists them, each once; with ``return_labels`` also the labels.
    """
    root = Path(root).expanduser()
    labels: list[int] | None = None
    if dataset == "folder":
        check_options(list_audio, options, dataset)
        files = list_audio(root, options.pop("extensions", None))
    elif dataset == "csv":
        check_options(read_file_list, {**options, "splits": splits}, dataset)
        files = read_file_list(root, splits=splits, **options)
    elif dataset == "cache":
        index = root / "index.json"
        if not index.is_file():
            raise LayoutError(f"cache index {index} not found; run `audiocl prepare` first")
        files = [Path(c["path"]) for c in json.loads(index.read_text())["clips"]]
    elif dataset in TASKS:
        task = load_task(dataset, root, **options)
        items = [
            it
            for it in task.items
            if (it.split is None or splits is None or it.split in splits)
            and (it.fold is None or folds is None or it.fold in folds)
            and it.offset_s == 0.0
            and it.duration_s is None  # segments (Speech Commands' _silence_) are not files of their own
        ]
        seen: set[Path] = set()
        items = [it for it in items if not (it.path in seen or seen.add(it.path))]
        files = [it.path for it in items]
        if not task.multilabel:
            labels = [int(it.target) for it in items]
    else:
        raise ValueError(f"unknown pretraining data set {dataset!r}; choose one of {PRETRAIN_DATASETS}")
    if not files:
        raise LayoutError(f"no audio files found for data set {dataset!r} under {root}")
    return (files, labels) if return_labels else files
