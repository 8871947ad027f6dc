"""Evaluation tasks: a labelled list of audio items with its splits or folds, and ``load_task`` by name.

A :class:`Task` is what every data-set loader returns and what the probe consumes. Items point at files
(and, for segments such as Speech Commands' ``_silence_``, a part of a file); nothing is decoded here.

>>> task = load_task("esc50", "/data/ESC-50-master")                     # doctest: +SKIP
>>> task.classes[:2], len(task.items), task.folds
(['dog', 'rooster'], 2000, [1, 2, 3, 4, 5])
>>> train = task.select(split="train")                                     # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Item", "Task", "TASKS", "load_task", "require_file", "require_audio", "LayoutError", "stratified_parts",
    "stratified_splits", "drawn_split_words",
]  # fmt: skip

SPLITS = ("train", "valid", "test")


class LayoutError(ValueError):
    """A data-set folder does not have the official layout; the message names the missing file or column."""


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is an existing file, else raise :class:`LayoutError` naming it."""
    if not path.is_file():
        raise LayoutError(f"{what}: expected file {path} not found. Check the data root and its layout.")
    return path


def require_audio(items: Sequence[Item], source: Path | str) -> None:
    """Raise :class:`LayoutError` if any item's file is missing, naming ``source`` (the list) and a file."""
    missing = [it.path for it in items if not it.path.is_file()]
    if missing:
        raise LayoutError(
            f"{source} lists {len(missing)} audio file(s) not found under the data root, e.g. {missing[0]}"
        )


@dataclass
class Item:
    """One labelled example.

    Attributes:
        path: the audio file.
        target: a class index (single-label) or the list of positive class indices (multi-label).
        split: "train", "valid" or "test" for split tasks; None for k-fold tasks.
        fold: the fold number for k-fold tasks (as the data set numbers them: ESC-50 1..5, HEAR 0..); None otherwise.
        group: items sharing a group (speaker, source recording, track) must stay in one split or fold.
        offset_s, duration_s: the part of the file this item uses (None = to the end of the file).
    """

    path: Path
    target: int | list[int]
    split: str | None = None
    fold: int | None = None
    group: str | None = None
    offset_s: float = 0.0
    duration_s: float | None = None

    def load(self, sample_rate: int | None = None):
        """Decode this item's audio with :func:`audiocl.audio.load`: ``(audio (samples,), rate)``."""
        from audiocl.audio import load

        return load(self.path, sample_rate, offset_s=self.offset_s, duration_s=self.duration_s)


@dataclass
class Task:
    """A labelled data set in its official protocol.

    Attributes:
        name: e.g. "magnatagatune", "speech_commands".
        items: every example, each with its split or fold.
        classes: class names; ``Item.target`` indexes into it.
        multilabel: True for tagging (sigmoid/BCE, ROC-AUC/PR-AUC), False for single-label (softmax, accuracy).
        folds: the fold numbers of a k-fold task (ESC-50: [1, 2, 3, 4, 5]); None for split tasks.
        notes: how the labels and splits were built (written into reports).
        options: the loader options that made this task (e.g. ``{"split": "won"}``).
        drawn_split: how audiocl drew the train/valid/test split when the data gives none (e.g. "stratified
            80/10/10, seed 0"); None when the split comes with the data.
    """

    name: str
    items: list[Item]
    classes: list[str]
    multilabel: bool
    folds: list[int] | None = None
    notes: str = ""
    options: dict = field(default_factory=dict)
    drawn_split: str | None = None

    def __post_init__(self):
        if not self.items:
            raise LayoutError(f"task {self.name!r} has no items: the data root holds none of its audio files")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def select(self, *, split: str | None = None, folds: Sequence[int] | None = None) -> list[Item]:
        """Items of one split, or of the given folds."""
        if split is not None:
            if split not in SPLITS:
                raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
            return [it for it in self.items if it.split == split]
        if folds is not None:
            wanted = set(folds)
            return [it for it in self.items if it.fold in wanted]
        return list(self.items)

    def targets(self, items: Sequence[Item] | None = None) -> np.ndarray:
        """Targets as an array: ``(n,)`` int64 class indices, or ``(n, num_classes)`` float32 multi-hot.

        >>> task.targets(task.select(split="test")).shape                     # doctest: +SKIP
        (5329, 50)
        """
        items = self.items if items is None else items
        if not self.multilabel:
            return np.array([it.target for it in items], dtype=np.int64)
        out = np.zeros((len(items), len(self.classes)), dtype=np.float32)
        for row, it in enumerate(items):
            out[row, it.target] = 1.0
        return out

    def summary(self) -> str:
        where = (
            ", ".join(f"fold {f}: {sum(it.fold == f for it in self.items)}" for f in self.folds)
            if self.folds
            else ", ".join(f"{s}: {sum(it.split == s for it in self.items)}" for s in SPLITS)
        )
        kind = "multi-label" if self.multilabel else "single-label"
        return f"{self.name}: {len(self.items)} items, {len(self.classes)} classes ({kind}); {where}"


def stratified_parts(
    labels: Sequence, fractions: Sequence[float], seed: int = 0, *, at_least_one: bool = False
) -> np.ndarray:
    """Which of ``len(fractions)`` parts each example falls in, every class cut in ``fractions``: audiocl's one
    stratified sampler (the train/valid/test split of a task without one, the probe's label fraction, the
    supervised head's labelled clips).

    Within each class (classes in sorted order) the examples are shuffled with ``seed`` and cut by rounding the
    cumulative fractions half up, so a class of 10 gets 8/1/1 and a class of 5 gets 4/1/0 at (0.8, 0.1, 0.1).

    Args:
        labels: one hashable label per example; the same label for all: no stratification (multi-hot targets).
        fractions: the parts' shares, each >= 0, summing to 1.
        seed: the shuffle; the same seed gives the same parts.
        at_least_one: part 0 gets at least one example of every class (a label fraction keeps every class).

    >>> np.bincount(stratified_parts(["a"] * 10 + ["b"] * 5, (0.8, 0.1, 0.1))).tolist()
    [12, 2, 1]
    """
    if len(fractions) < 2 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be two or more numbers >= 0 that sum to 1, got {tuple(fractions)}")
    rng = np.random.default_rng(seed)
    parts = np.zeros(len(labels), dtype=np.int64)
    by_class: dict = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    bounds = np.cumsum(fractions)[:-1]
    for label in sorted(by_class, key=str):
        idx = rng.permutation(by_class[label])
        cuts = [math.floor(len(idx) * b + 0.5) for b in bounds]  # round half up, unlike round()
        if at_least_one:
            cuts = np.maximum.accumulate([max(1, c) for c in cuts])
        parts[idx] = np.searchsorted(cuts, np.arange(len(idx)), side="right")
    return parts


def stratified_splits(
    labels: Sequence, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[str]:
    """ "train"/"valid"/"test" for each example, every class split in ``fractions`` (:func:`stratified_parts`).

    >>> stratified_splits(["a"] * 10, seed=0).count("train")
    8
    """
    if len(fractions) != 3:
        raise ValueError(f"fractions must be three numbers >= 0 that sum to 1, got {fractions}")
    return [("train", "valid", "test")[p] for p in stratified_parts(labels, fractions, seed)]


def drawn_split_words(kind: str, fractions: Sequence[float], seed: int) -> str:
    """``"stratified 80/10/10, seed 0"``: a split that a loader drew, for :attr:`Task.drawn_split`."""
    return f"{kind} {'/'.join(f'{100 * f:g}' for f in fractions)}, seed {seed}"


# name -> "module:function"; each function takes (root, **options) and returns a Task.
TASKS: dict[str, str] = {
    "magnatagatune": "audiocl.data.magnatagatune:load_magnatagatune",
    "speech_commands": "audiocl.data.speech_commands:load_speech_commands",
    "esc50": "audiocl.data.esc50:load_esc50",
    "gtzan": "audiocl.data.gtzan:load_gtzan",
    "nsynth": "audiocl.data.nsynth:load_nsynth",
    "folder": "audiocl.data.folder:load_folder",
    "csv": "audiocl.data.folder:load_csv",
    "hear": "audiocl.data.hear_tasks:load_hear",
}


def _loader(name: str) -> Callable[..., Task]:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS)}")
    module, func = TASKS[name].split(":")
    return getattr(importlib.import_module(module), func)


def check_options(func: Callable, options: dict, where: str) -> None:
    """A LayoutError naming an option ``func`` does not take (``esc100=true``), instead of a TypeError."""
    import inspect

    named = [p for p in inspect.signature(func).parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    params = [p.name for p in named[1:]]  # the first is the root
    unknown = [k for k in options if k not in params]
    if unknown:
        known = ", ".join(params) or "none"
        raise LayoutError(f"unknown option {unknown[0]!r} of the {where} loader (its options: {known})")


def load_task(name: str, root: str | os.PathLike, **options) -> Task:
    """Read the data set ``name`` from its official layout under ``root``.

    Args:
        name: one of :data:`TASKS` ("magnatagatune", "speech_commands", "esc50", "gtzan", "nsynth",
            "folder", "csv", "hear").
        root: the data-set folder (for "csv": the CSV/TSV file).
        **options: loader options, e.g. ``split="won"`` (MagnaTagATune), ``convention="12"`` (Speech
            Commands), ``esc10=True`` (ESC-50), ``target="pitch"`` (NSynth), ``sample_rate=16000`` (HEAR).

    Raises:
        LayoutError: a file or column of the official layout is missing (the message names it).

    >>> load_task("speech_commands", "/data/speech_commands_v0.02", convention="12")  # doctest: +SKIP
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise LayoutError(f"data root {root} does not exist")
    loader = _loader(name)
    check_options(loader, options, name)
    return loader(root, **options)
