"""HEAR 2021 tasks (Turian et al., 2022) in the layout hear-preprocess writes and hear-eval-kit reads.

One task folder (``tasks/<task_name>-<version>-<mode>/``, e.g. ``esc50-v2.0.0-full``)::

    root/task_metadata.json      task_name, version, mode, embedding_type ("scene" | "event"),
                                 prediction_type ("multiclass" | "multilabel"), split_mode ("trainvaltest" |
                                 "presplit_kfold" | "new_split_kfold"), splits, nfolds, sample_duration, evaluation
    root/labelvocabulary.csv     idx,label  (idx 0..n-1)
    root/<split>.json            scene tasks: {"<file>.wav": ["label", ...]}; event tasks: {"<file>.wav":
                                 [{"label", "start", "end"}, ...]}
    root/<sample_rate>/<split>/<file>.wav      e.g. 16000/train/..., 48000/fold00/...

Read from the sources, not guessed:

- hear-preprocess (610d864), ``hearpreprocess/pipeline.py``: ``SubcorpusMetadata`` writes ``<split>.json`` (scene:
  the file's list of labels; event: its list of ``{label, start, end}``), ``MetadataVocabulary`` writes
  ``labelvocabulary.csv`` (``idx,label``, the labels sorted), ``ResampleSubcorpus`` writes
  ``<sr>/<split>/*.wav``, ``FinalCombine`` writes ``task_metadata.json`` (the task config) into
  ``<task_name>-<version>-<mode>``; ``hearpreprocess/util/task_config.py``: the three split modes, and the
  splits they make (``train``/``valid``/``test``, or ``fold00``, ``fold01``, ...).
- hear-eval-kit (8559649), ``heareval/embeddings/task_embeddings.py``: embeds each split of ``metadata["splits"]``
  from ``<sr>/<split>/`` and asserts one label per file of a multiclass task;
  ``heareval/predictions/task_predictions.py``: ``get_splits_from_metadata`` and ``data_splits_from_folds`` (the
  folds sorted; fold k tests, fold k+1 (cyclically) validates, the others train), labels looked up in the
  vocabulary as strings (``heareval/score.py``, ``label_vocab_as_dict``).

What carries over: ``trainvaltest`` tasks keep their train/valid/test splits as they are; k-fold tasks keep
HEAR's folds, numbered as HEAR names them (``fold00`` -> fold 0), and audiocl's k-fold protocol rotates them
exactly as hear-eval-kit does (test fold k, validation fold k+1, the rest train; the mean over folds).
Multiclass tasks are single-label (accuracy); multilabel ones are tagging (macro ROC-AUC and PR-AUC; HEAR's
``mAP`` is the macro PR-AUC). What differs: the heads are audiocl's probes (``--head linear|knn|mlp``), not
hear-eval-kit's MLP grid, and audiocl's ``published`` protocol (no validation fold) is not HEAR's. Event
(timestamp) tasks are refused for now, naming the task.

The sample rate: hear-preprocess writes 16000, 22050, 32000, 44100 and 48000 Hz, and HEAR's archives hold one
rate each. ``sample_rate=`` picks a folder; unset, the only one present is used, or else the highest (the
embedder resamples to its own rate, and from the highest nothing is lost).

>>> task = load_hear("/data/hear/tasks/esc50-v2.0.0-full")               # doctest: +SKIP
>>> task.name, task.folds, task.options                                   # doctest: +SKIP
('hear-esc50', [0, 1, 2, 3, 4], {'sample_rate': 48000})
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from audiocl.data.task import SPLITS, Item, LayoutError, Task, require_audio, require_file

__all__ = ["load_hear", "SPLIT_MODES", "FOLD_MODES"]

FOLD_MODES = ("presplit_kfold", "new_split_kfold")
SPLIT_MODES = ("trainvaltest", *FOLD_MODES)
_REQUIRED_KEYS = ("task_name", "embedding_type", "prediction_type", "split_mode", "splits")


def load_hear(root: str | Path, *, sample_rate: int | None = None) -> Task:
    """A HEAR scene task (clip-level, multiclass or multilabel) with HEAR's splits or folds.

    Args:
        root: the task folder holding ``task_metadata.json``.
        sample_rate: the audio folder to read (``root/<sample_rate>/``); None: the only one, else the highest.

    Raises:
        LayoutError: a metadata, label or audio file (or the sample-rate folder) is missing or malformed; the
            message names it.
        ValueError: the task is an event (timestamp) task.
    """
    root = Path(root)
    meta_path = _task_metadata_path(root)
    meta = _read_json(meta_path)
    if not isinstance(meta, dict):
        raise LayoutError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    missing = [k for k in _REQUIRED_KEYS if k not in meta]
    if missing:
        raise LayoutError(f"{meta_path}: missing key(s) {missing}; hear-preprocess writes {list(_REQUIRED_KEYS)}")
    name = meta["task_name"]
    if meta["embedding_type"] == "event":
        raise ValueError(f"HEAR task {name} is an event (timestamp) task: not supported yet; scene tasks are")
    _check_choice(meta_path, meta, "embedding_type", ("scene", "event"))
    _check_choice(meta_path, meta, "prediction_type", ("multiclass", "multilabel"))
    _check_choice(meta_path, meta, "split_mode", SPLIT_MODES)
    multilabel = meta["prediction_type"] == "multilabel"
    kfold = meta["split_mode"] in FOLD_MODES
    splits = _split_names(meta_path, meta["splits"], kfold)

    classes = _read_vocabulary(require_file(root / "labelvocabulary.csv", f"HEAR {name} label vocabulary"))
    index = {label: i for i, label in enumerate(classes)}
    rate = _sample_rate_folder(root, sample_rate)
    items: list[Item] = []
    for split in splits:
        label_path = require_file(root / f"{split}.json", f"HEAR {name} labels of split {split!r}")
        audio_dir = root / str(rate) / split
        if not audio_dir.is_dir():
            raise LayoutError(f"HEAR {name}: audio folder {audio_dir} of split {split!r} not found")
        split_items = [
            Item(
                audio_dir / filename,
                _target(label_path, filename, labels, index, multilabel),
                split=None if kfold else split,
                fold=int(split[len("fold") :]) if kfold else None,
            )
            for filename, labels in _read_labels(label_path).items()
        ]
        require_audio(split_items, label_path)
        items += split_items
    folds = sorted({it.fold for it in items}) if kfold else None
    where = (
        f"HEAR's {len(splits)} folds ({splits[0]}..{splits[-1]}; test k, validate k+1, train the rest)"
        if kfold
        else "HEAR's " + "/".join(splits) + " splits"
    )
    notes = (
        f"HEAR {name} {meta.get('version', '')} ({meta.get('mode', '')}): {where}; audio at {rate} Hz, "
        f"clips cut or padded to {meta.get('sample_duration')} s by hear-preprocess; HEAR scores "
        f"{', '.join(meta.get('evaluation', []))}"
    )
    return Task(
        f"hear-{name}", items, classes, multilabel=multilabel, folds=folds, notes=notes, options={"sample_rate": rate}
    )


def _task_metadata_path(root: Path) -> Path:
    path = root / "task_metadata.json"
    if path.is_file():
        return path
    # a HEAR archive unpacks to hear-<version>/tasks/<task>/: name the task folders one or two levels down
    found = [*root.glob("*/task_metadata.json"), *root.glob("*/*/task_metadata.json")]
    below = sorted(p.parent.relative_to(root).as_posix() for p in found)
    hint = f"; task folders under it: {', '.join(below)} (give one as the root)" if below else ""
    raise LayoutError(f"HEAR task metadata: expected file {path} not found{hint}")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LayoutError(f"{path}: not valid JSON ({err})") from None


def _check_choice(path: Path, meta: dict, key: str, choices: tuple[str, ...]) -> None:
    if meta[key] not in choices:
        raise LayoutError(f"{path}: {key} {meta[key]!r} is not one of {list(choices)}")


def _split_names(path: Path, splits, kfold: bool) -> list[str]:
    """The splits of ``task_metadata.json``: fold names sorted as hear-eval-kit sorts them, or train/valid/test."""
    if not isinstance(splits, list) or not splits or not all(isinstance(s, str) for s in splits):
        raise LayoutError(f"{path}: splits must be a non-empty list of split names, got {splits!r}")
    if kfold:
        bad = [s for s in splits if not (s.startswith("fold") and s[len("fold") :].isdigit())]
        if bad:
            raise LayoutError(f"{path}: a k-fold task's splits are fold00, fold01, ...; got {bad}")
        return sorted(splits)
    bad = [s for s in splits if s not in SPLITS]
    if bad or "test" not in splits:
        raise LayoutError(f"{path}: a trainvaltest task's splits are {list(SPLITS)} (test required); got {splits}")
    return [s for s in SPLITS if s in splits]


def _read_vocabulary(path: Path) -> list[str]:
    """Class names in ``idx`` order, as strings (hear-eval-kit matches labels to them as strings)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not {"idx", "label"} <= set(reader.fieldnames or []):
            raise LayoutError(f"{path}: expected columns idx,label, got {reader.fieldnames}")
        rows = list(reader)
    try:
        by_idx = {int(r["idx"]): r["label"] for r in rows}
    except ValueError:
        raise LayoutError(f"{path}: idx must be integers") from None
    if sorted(by_idx) != list(range(len(rows))):
        raise LayoutError(f"{path}: idx must run 0..{len(rows) - 1}, once each")
    return [by_idx[i] for i in range(len(rows))]


def _sample_rate_folder(root: Path, sample_rate: int | None) -> int:
    present = sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())
    if sample_rate is None:
        if not present:
            raise LayoutError(f"HEAR task {root}: no sample-rate folder (e.g. 16000/ or 48000/) found")
        return present[-1]  # the only one, or the highest: the embedder resamples to its own rate
    if int(sample_rate) not in present:
        there = ", ".join(map(str, present)) or "none"
        raise LayoutError(f"HEAR task {root}: no audio folder {root / str(sample_rate)} (sample-rate folders: {there})")
    return int(sample_rate)


def _read_labels(path: Path) -> dict:
    labels = _read_json(path)
    if not isinstance(labels, dict):
        raise LayoutError(f"{path}: expected {{filename: [labels]}}, got {type(labels).__name__}")
    return labels


def _target(path: Path, filename: str, labels, index: dict[str, int], multilabel: bool) -> int | list[int]:
    if not isinstance(labels, list):
        raise LayoutError(f"{path}: {filename}: expected a list of labels, got {labels!r}")
    unknown = [label for label in labels if str(label) not in index]
    if unknown:
        raise LayoutError(f"{path}: {filename}: label(s) {unknown} are not in labelvocabulary.csv")
    targets = sorted({index[str(label)] for label in labels})
    if multilabel:
        return targets
    if len(targets) != 1:
        raise LayoutError(f"{path}: {filename}: a multiclass task gives one label per file, got {labels!r}")
    return targets[0]
