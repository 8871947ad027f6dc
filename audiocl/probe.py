"""Linear-probe evaluation of frozen embeddings, with the field's protocol and without its pitfalls.

The protocol (what :func:`run_probe` does for a :class:`audiocl.data.task.Task`):

1. **Embed once.** Every item is cut into chunks by the :class:`audiocl.embed.Embedder` and each chunk is
   embedded once; the per-chunk embeddings stay in memory for every seed, fold and label fraction.
2. **Splits.** Split tasks use their train/valid/test items. If a task has no validation items, one tenth
   of the training items (one of ``min(10, groups)`` folds) becomes the validation set (stratified, and
   grouped by ``Item.group`` so a speaker or source recording never straddles them). K-fold tasks (ESC-50):
   each fold is the test set once, the next fold (cyclically) is the validation set and the rest train; the
   score is the mean over folds. A group found on both sides of a test split is warned about.
3. **Label fraction.** A seeded subset of the training *items* keeps its labels (1%, 10%, 100% as in CLMR and
   CLAR): stratified per class for single-label tasks (at least one item per class), a plain random subset
   for multi-label ones.
4. **Standardise** (mean and population standard deviation per dimension, as scikit-learn's
   ``StandardScaler``) with statistics of the training chunks only; validation and test chunks are
   transformed with them.
5. **Linear classifier** (``torch``): softmax cross-entropy for single-label tasks, per-class sigmoid +
   binary cross-entropy for multi-label ones; Adam, full batch (mini-batches above ``batch_size`` chunks),
   every chunk labelled with its item's label. Early stopping on the validation loss (``patience`` epochs),
   keeping the best epoch. A small weight-decay grid is searched; the value with the best validation
   *score* (ties: the larger weight decay) is used once on the test set.
6. **Track-level aggregation.** Predictions are made per chunk and the class probabilities are averaged
   over each item's chunks; the item-level averages are scored, never the chunks. The item is, per task
   (:data:`ITEM_UNITS`): the clip for MagnaTagATune (about 29 s as released: the "track" of CLMR's
   track-level scores), the track for GTZAN, the clip for ESC-50, the utterance (or background-noise
   segment) for Speech Commands, the note for NSynth, the file for folder and CSV tasks.
7. **Metrics.** Accuracy for single-label tasks; macro ROC-AUC and macro PR-AUC (average precision,
   scikit-learn) over the classes with both positives and negatives in the test set for multi-label ones.
   Mean and sample standard deviation over seeds (default 0, 1, 2).

>>> task = load_task("esc50", "/data/ESC-50-master")                               # doctest: +SKIP
>>> result = run_probe(task, load_encoder("last.ckpt"), label_fraction=0.1)         # doctest: +SKIP
>>> result.metrics["accuracy"]["mean"]                                              # doctest: +SKIP
0.71
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from audiocl.eval.chunking import clmr_test_crops, random_crop_start
from audiocl.eval.metrics import score
from audiocl.eval.probes.knn import knn_probe_embeddings
from audiocl.eval.probes.linear import (
    LinearProbe,
    clmr_probe_embeddings,
    fit_clmr_probe,
    fit_probe,
    probe_embeddings,
)
from audiocl.eval.probes.mlp import mlp_probe_embeddings
from audiocl.eval.probes.options import AGGREGATIONS, HEADS, ProbeOptions
from audiocl.eval.protocols import PROTOCOLS, check_protocol
from audiocl.eval.stats import Predictions, bootstrap_ci, paired_difference
from audiocl.report import format_table, markdown_report, write_json

__all__ = [
    "AGGREGATIONS",
    "HEADS",
    "ITEM_UNITS",
    "PROTOCOLS",
    "ProbeResult",
    "paired",
    "ProbeOptions",
    "LinearProbe",
    "TaskEmbeddings",
    "embed_task",
    "fit_probe",
    "fit_clmr_probe",
    "clmr_probe_embeddings",
    "embed_crops",
    "probe_embeddings",
    "run_probe",
    "score",
    "format_table",
    "markdown_report",
    "write_json",
]


#: What one item is, per task name prefix: the unit that chunk predictions are averaged over.
#: No lengths: the protocol line states the measured chunks per item, and a generated layout may hold clips of
#: other lengths than the release (MagnaTagATune ~29 s, GTZAN 30 s, ESC-50 5 s, Speech Commands 1 s, NSynth 4 s).
ITEM_UNITS = {
    "magnatagatune": "clip (a track excerpt)",
    "gtzan": "track",
    "esc": "clip",
    "speech_commands": "utterance or background-noise segment",
    "nsynth": "note",
}


@dataclass
class ProbeResult:
    """What :func:`run_probe` returns: one embedder on one task at one label fraction.

    :meth:`to_dict` is the JSON that ``audiocl probe --out`` writes, field by field in this order.

    Attributes:
        task, name: the task's name and the embedder's name in tables.
        embedder, embedding_dim: the embedder's description and its embedding size.
        multilabel, label_fraction, seeds: as probed.
        metrics: metric -> ``{"mean", "std", "values"}`` over seeds, and ``"ci95"`` with bootstrap resamples.
        runs: one dict per seed and split (or fold): its scores, the head's settings and item counts.
        aggregation, protocol, head, protocol_details, intervals: what was done, named and in words.
        split: the task's named split (MagnaTagATune's ``"pons"``) or None; test_folds: k-fold tasks' test folds.
        counts, skipped, skipped_per_split: items embedded and unreadable items left out, overall and per split.
        group_overlap: groups (speakers, recordings) on both sides of a test split; 0 when none.
        notes: the task's notes on its labels and splits.
        per_class_roc_auc: multi-label tasks only: tag -> ROC-AUC, the mean over runs.
        paired: the paired difference against a reference (:func:`paired`), as :func:`probe_and_report` adds it.
        predictions: the item-level test predictions of every run (:class:`audiocl.eval.stats.Predictions`),
            which :func:`paired` compares; left out of the JSON.
    """

    task: str
    name: str
    embedder: str
    embedding_dim: int
    multilabel: bool
    label_fraction: float
    seeds: list[int]
    metrics: dict[str, dict]
    runs: list[dict]
    aggregation: str
    protocol: str
    head: str
    protocol_details: str
    intervals: str | None
    split: str | None
    test_folds: list[int] | None
    counts: dict[str, int]
    skipped: list[dict]
    skipped_per_split: dict[str, dict]
    group_overlap: int
    notes: str
    per_class_roc_auc: dict[str, float] | None = None
    paired: dict | None = None
    predictions: list = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        """The JSON-able result: every field but ``predictions``; ``per_class_roc_auc`` for multi-label tasks
        only and ``paired`` only when set, as ``audiocl probe --out`` has always written them."""
        optional = ("per_class_roc_auc", "paired", "predictions")
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in optional}
        if self.multilabel:
            out["per_class_roc_auc"] = self.per_class_roc_auc
        if self.paired is not None:
            out["paired"] = self.paired
        return out

    # Scripts (and running processes) written when run_probe returned a dict keep reading it, with a warning.
    def __getitem__(self, key: str):
        _warn_dict_access(key)
        return self.to_dict()[key]

    def get(self, key: str, default=None):
        _warn_dict_access(key)
        return self.to_dict().get(key, default)


def _warn_dict_access(key: str) -> None:
    warnings.warn(
        f"reading a ProbeResult as a dict is deprecated: use result.{key} (or result.to_dict())",
        DeprecationWarning,
        stacklevel=3,
    )


def paired(result: ProbeResult, reference: ProbeResult, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Paired bootstrap difference ``result - reference`` on the same test items, per metric:
    ``{"against": name, metric: {"difference", "ci95", "p_value", "n_boot"}}``."""
    out = {"against": reference.name}
    for m in result.metrics:
        out[m] = paired_difference(result.predictions, reference.predictions, m, n_boot=n_boot, seed=seed)
    return out


def item_unit(task_name: str) -> str:
    return next((unit for prefix, unit in ITEM_UNITS.items() if task_name.startswith(prefix)), "file")


# -- tasks ----------------------------------------------------------------------------------------------


@dataclass
class TaskEmbeddings:
    """Per-chunk embeddings of every item of a task, computed once.

    Attributes:
        task: the task.
        chunks: per item, ``(chunks_i, dim)`` float32, or None for an item that could not be read.
        skipped: ``(path, reason)`` of every unreadable item (they take part in no split).
        embedder: a description of the embedder (for reports).
        chunk_s: chunk length in seconds; hop_s: distance between chunk starts.
        source: the :class:`audiocl.embed.Embedder` itself (the ``clmr`` protocol embeds random crops with it).
        crops: ``(seed, item index) -> (dim,)`` embeddings of the ``clmr`` protocol's random training crops.
    """

    task: object
    chunks: list
    skipped: list = field(default_factory=list)
    embedder: str = ""
    chunk_s: float = 0.0
    hop_s: float | None = None
    source: object = field(default=None, repr=False)
    crops: dict = field(default_factory=dict, repr=False)

    def pooled(self, indices: Sequence[int]) -> np.ndarray:
        """Mean over chunks of the given items: ``(len(indices), dim)``."""
        return np.stack([self.chunks[i].mean(0) for i in indices])


def _load_item(item, sample_rate: int):
    from audiocl.audio import AudioError

    try:
        return item.load(sample_rate)[0]
    except AudioError as e:
        return e


class _ItemAudio(torch.utils.data.Dataset):
    def __init__(self, items, sample_rate):
        self.items, self.sample_rate = items, sample_rate

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return _load_item(self.items[i], self.sample_rate)


def _first(batch):
    return batch[0]


def embed_task(task, embedder, *, num_workers: int = 0, progress: bool = True, cache=None) -> TaskEmbeddings:
    """Embed every item of ``task`` per chunk, decoding in ``num_workers`` DataLoader workers.

    Chunks of consecutive items are batched together (see :func:`audiocl.embed.embed_many`), so short clips
    still fill the encoder's batches. Unreadable items are reported on stderr and recorded in ``skipped``.
    With ``cache`` (an :class:`audiocl.eval.cache.EmbeddingCache`), embeddings of the same task, embedder and
    settings are read back memory-mapped instead (no forward pass), and new ones are stored there.
    """
    key = cache.key(task, embedder) if cache is not None else None  # before decoding: the files' stamps
    hit = cache.read(key) if key is not None else None
    if hit is not None:
        from audiocl.eval.cache import report_hit

        chunks, skipped = hit
        report_hit(cache.entry(key), task, chunks, skipped)
    else:
        chunks, skipped = _embed_items(task, embedder, num_workers, progress)
        if key is not None:
            cache.write(key, chunks, skipped, embedder=repr(embedder))
    sr = embedder.sample_rate
    return TaskEmbeddings(
        task, chunks, skipped, repr(embedder), embedder.segment_samples / sr, embedder.hop_samples / sr, embedder
    )


def _embed_items(task, embedder, num_workers: int, progress: bool) -> tuple[list, list]:
    """Per item ``(chunks_i, dim)`` float32 (None for an unreadable item), and ``(path, reason)`` per skip."""
    from tqdm.auto import tqdm

    from audiocl.embed import embed_many

    loader = torch.utils.data.DataLoader(
        _ItemAudio(task.items, embedder.sample_rate), batch_size=1, num_workers=num_workers, collate_fn=_first
    )
    chunks: list = [None] * len(task.items)
    skipped = []

    def audios():
        for i, audio in enumerate(tqdm(loader, desc=f"embed {task.name}", unit="item", disable=not progress)):
            if isinstance(audio, Exception):
                skipped.append((str(task.items[i].path), str(audio)))
                print(f"audiocl probe: skipping {audio}", file=sys.stderr)
                continue
            yield i, audio

    for i, emb in embed_many(embedder, audios()):
        chunks[i] = emb.numpy()
    return chunks, skipped


class _ItemCrop(_ItemAudio):
    """One random crop of ``segment`` samples per item, its start drawn from ``(seed, item index)`` alone (so
    a crop never depends on which other items are embedded, nor on the order)."""

    def __init__(self, items, indices, sample_rate, segment, seed):
        super().__init__([items[i] for i in indices], sample_rate)
        self.indices, self.segment, self.seed = list(indices), segment, seed

    def __getitem__(self, k):
        audio = super().__getitem__(k)
        if isinstance(audio, Exception):
            return audio
        start = random_crop_start(len(audio), self.segment, np.random.default_rng([self.seed, self.indices[k]]))
        crop = audio[start : start + self.segment]
        return torch.nn.functional.pad(crop, (0, self.segment - len(crop)))


def embed_crops(embeddings: TaskEmbeddings, indices: Sequence[int], seed: int, *, num_workers: int = 0) -> np.ndarray:
    """Embeddings of one random crop (of the encoder's input length) per item, as CLMR's linear evaluation
    trains on (``RandomResizedCrop``, embedded once): ``(len(indices), dim)``. Computed once per ``(seed,
    item)`` and kept in ``embeddings.crops``."""
    from audiocl.embed import embed_many

    embedder = embeddings.source
    if embedder is None:
        raise ValueError("the clmr protocol embeds a random crop per training clip: give run_probe the embedder")
    task = embeddings.task
    todo = [i for i in dict.fromkeys(int(i) for i in indices) if (seed, i) not in embeddings.crops]
    if todo:
        data = _ItemCrop(task.items, todo, embedder.sample_rate, embedder.segment_samples, seed)
        loader = torch.utils.data.DataLoader(data, batch_size=1, num_workers=num_workers, collate_fn=_first)

        def crops():
            for i, audio in zip(todo, loader, strict=True):
                if isinstance(audio, Exception):  # it was read once already: the file changed since
                    raise ValueError(f"cannot read a crop of {task.items[i].path} any more: {audio}")
                yield i, audio

        for i, emb in embed_many(embedder, crops()):
            embeddings.crops[(seed, i)] = emb.numpy()[0]
    return np.stack([embeddings.crops[(seed, int(i))] for i in indices])


def _labelled(train: np.ndarray, y: np.ndarray, fraction: float, multilabel: bool, seed: int) -> np.ndarray:
    """The training items whose labels the head sees: a seeded ``fraction`` of each class (at least one), or of
    all items for multi-hot targets (:func:`audiocl.data.task.stratified_parts`)."""
    from audiocl.data.task import stratified_parts

    if fraction == 1:
        return train
    labels = [0] * len(train) if multilabel else y[train].tolist()
    return train[stratified_parts(labels, (fraction, 1 - fraction), seed, at_least_one=True) == 0]


def _carve_valid(idx: np.ndarray, y: np.ndarray, groups: list, multilabel: bool, seed: int):
    """Split training items into (train, valid) ~ 90/10, grouped and (single-label) stratified."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    has_groups = any(g is not None for g in groups)
    g = np.array([str(x) if x is not None else f"__item{i}" for i, x in enumerate(groups)])
    k = min(10, len(np.unique(g)))
    if k < 2:
        raise ValueError(
            f"cannot take a validation split out of {len(idx)} training items in {len(np.unique(g))} group(s); "
            "give the task a 'valid' split"
        )
    labels = y if not multilabel else None
    counts = np.bincount(labels) if labels is not None else None
    stratify = labels is not None and counts[counts > 0].min() >= k
    if has_groups and stratify:
        splitter = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(idx, labels, g)
    elif has_groups:
        splitter = GroupKFold(k).split(idx, groups=g)
    elif stratify:
        splitter = StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, labels)
    else:
        splitter = KFold(k, shuffle=True, random_state=seed).split(idx)
    train, valid = next(iter(splitter))
    return idx[train], idx[valid]


def _splits(
    task, usable: np.ndarray, y: np.ndarray, seed: int, test_folds: Sequence[int] | None = None, protocol="audiocl"
):
    """Yield (name, train, valid, test) item indices: one per fold (or per fold of ``test_folds``) for k-fold
    tasks, else one. The ``published`` protocol trains on every fold but the test fold (valid is empty)."""
    items = task.items
    if task.folds:
        folds = list(task.folds)
        if len(folds) < 3:
            raise ValueError(f"task {task.name!r} has {len(folds)} folds; k-fold probing needs >= 3")
        unknown = sorted(set(test_folds or ()) - set(folds))
        if unknown:
            raise ValueError(f"test folds {unknown} are not folds of task {task.name!r} ({folds})")
        fold_of = np.array([items[i].fold for i in usable])
        for k, test_fold in enumerate(folds):
            if test_folds and test_fold not in test_folds:
                continue
            valid_fold = None if protocol == "published" else folds[(k + 1) % len(folds)]
            test, valid = usable[fold_of == test_fold], usable[fold_of == valid_fold]
            train = usable[(fold_of != test_fold) & (fold_of != valid_fold)]
            yield f"fold {test_fold}", train, valid, test
        return
    split_of = np.array([items[i].split for i in usable])
    train, valid, test = (usable[split_of == s] for s in ("train", "valid", "test"))
    if len(test) == 0:
        raise ValueError(f"task {task.name!r} has no test items (Item.split == 'test')")
    if len(valid) == 0:
        groups = [items[i].group for i in train]
        train, valid = _carve_valid(train, y[train], groups, task.multilabel, seed)
    yield "test", train, valid, test


def _split_losses(task, usable: np.ndarray) -> dict:
    """Per split (or fold): ``{"items", "skipped"}``; warns when a split lost items to unreadable files and
    refuses (ValueError) a split left empty or left without a class that it had."""
    kept = np.zeros(len(task.items), dtype=bool)
    kept[usable] = True
    where = [f"fold {it.fold}" if task.folds else (it.split or "none") for it in task.items]
    y = task.targets()
    y = y if task.multilabel else np.eye(len(task.classes), dtype=np.float32)[y]  # (items, classes) either way
    out = {}
    for name in dict.fromkeys(where):
        members = np.array([w == name for w in where])
        lost = int((members & ~kept).sum())
        out[name] = {"items": int(members.sum()), "skipped": lost}
        if not lost:
            continue
        if not (members & kept).any():
            raise ValueError(f"{task.name}: every item of split {name!r} is unreadable ({lost} skipped)")
        gone = (y[members].sum(0) > 0) & (y[members & kept].sum(0) == 0)
        if gone.any():
            names = [task.classes[c] for c in np.flatnonzero(gone)]
            raise ValueError(
                f"{task.name}: split {name!r} has no readable item of class(es) {names} any more "
                f"({lost} unreadable item(s) skipped): fix or remove those files"
            )
        warnings.warn(
            f"{task.name}: {lost} of {out[name]['items']} items of split {name!r} could not be read and are left "
            "out of its scores",
            stacklevel=3,
        )
    return out


def _group_overlap(task, a: np.ndarray, b: np.ndarray) -> int:
    ga = {task.items[i].group for i in a} - {None}
    return len(ga & {task.items[i].group for i in b})


def _mean_std(values: Sequence[float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "values": v.tolist()}


def check_head(head: str, aggregation: str | None, protocol: str) -> str:
    """The aggregation to use for ``head`` (its default when None); ValueError for an unknown or unfit choice."""
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {sorted(HEADS)}")
    if head != "linear" and protocol != "audiocl":
        raise ValueError(f"protocol {protocol!r} is a linear evaluation; the {head} head runs under 'audiocl'")
    aggregation = aggregation or HEADS[head]
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    if protocol == "clmr" and aggregation != "probability":
        raise ValueError("protocol 'clmr' averages the head's outputs over crops (aggregation 'probability')")
    return aggregation


def _aggregation(protocol: str, aggregation: str, task, embeddings: TaskEmbeddings, chunks_per_item: float) -> str:
    unit, chunk = item_unit(task.name), f"{embeddings.chunk_s:.2f} s"
    if aggregation == "embedding":
        return (
            f"embedding mean before the head: each {unit}'s chunk embeddings ({chunks_per_item:.1f} chunks of "
            f"{chunk} on average) averaged into one row; item-level scores"
        )
    if protocol == "clmr":
        out = "sigmoid" if task.multilabel else "softmax"
        return (
            f"probability mean after the head: per-crop {out} outputs averaged over each {unit}'s contiguous "
            f"non-overlapping {chunk} crops, the last piece dropped (CLMR's concat_clip); item-level scores"
        )
    return (
        f"probability mean after the head: per-chunk class probabilities averaged over each item, a {unit} "
        f"({chunks_per_item:.1f} chunks of {chunk} per item on average); item-level scores"
    )


def _split_words(task) -> str:
    """How a split task's items came to be in train/valid/test: drawn by audiocl, given with the data, or the
    data set's official split; and whether audiocl carved the validation set out of train (:func:`_splits`)."""
    drawn = getattr(task, "drawn_split", None)
    if drawn:
        return f"train/valid/test split drawn by audiocl ({drawn}; the data has none)"
    carved = not any(it.split == "valid" for it in task.items)
    parts = "train/test" if carved else "train/valid/test"
    if task.name in ("folder", "csv"):
        words = f"the {parts} split given with the data"
    else:
        words = f"official {parts} split ({getattr(task, 'options', {}).get('split') or 'as released'})"
    return words + (", validation: a tenth of the training items, carved by audiocl" if carved else "")


def _protocol_details(protocol: str, task, opts: ProbeOptions, test_folds, head: str = "linear") -> str:
    """One sentence: the split, what the head trains on, its loss, optimiser and stopping rule."""
    loss = "sigmoid + BCE" if task.multilabel else "softmax + cross-entropy"
    if task.folds:
        folds = (
            f"test folds {sorted(test_folds)}" if test_folds else "each fold tests once, the mean over folds per seed"
        )
        split = (
            f"k-fold ({folds}): every other fold trains, no validation fold; "
            if protocol == "published"
            else f"k-fold ({folds}): the next fold validates, the others train; "
        )
    else:
        split = _split_words(task) + "; "
    if head == "knn":
        k = opts.knn
        return split + (
            f"weighted cosine kNN on the training rows (k={k.k}, T={k.temperature:g}, votes exp(cos/T)), no training"
        )
    if head == "mlp":
        m = opts.mlp
        return split + (
            f"MLP (HEAR-style): standardised, Linear-ReLU-Dropout({m.dropout:g})-Linear, hidden {m.hidden}, {loss}, "
            f"Adam batch {m.batch_size}, lr from {list(m.lrs)} on the valid score, early stopping on valid loss "
            f"(patience {m.patience}, at most {m.max_epochs} epochs)"
        )
    if protocol == "clmr":
        c = opts.clmr
        return split + (
            f"CLMR's linear evaluation (Spijkervet/CLMR 423414d): one random crop per training and validation clip, "
            f"embedded once; no standardiser; {loss}, Adam lr={c.lr:g}, weight decay {c.weight_decay:g}, batch "
            f"{c.batch_size}, ReduceLROnPlateau(x{c.plateau_factor:g}, patience {c.plateau_patience}), early "
            f"stopping on valid loss (patience {c.patience}, at most {c.max_epochs} epochs), last weights tested"
        )
    if protocol == "published":
        p = opts.published
        return split + (
            f"{loss}, Adam lr={opts.lr}, full batch, hyper-parameters fixed in advance: {p.epochs} epochs, "
            f"weight decay {p.weight_decay:g}; standardiser fitted on train only"
        )
    return split + (
        f"{loss}, Adam lr={opts.lr}, early stopping on valid loss (patience {opts.patience}), "
        f"weight decay from {list(opts.weight_decays)} on the valid score; standardiser fitted on train only"
    )


def run_probe(
    task,
    embedder=None,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    label_fraction: float = 1.0,
    embeddings: TaskEmbeddings | None = None,
    options: ProbeOptions | None = None,
    name: str | None = None,
    num_workers: int = 0,
    progress: bool = True,
    test_folds: Sequence[int] | None = None,
    protocol: str = "audiocl",
    head: str = "linear",
    aggregation: str | None = None,
    n_boot: int = 1000,
) -> ProbeResult:
    """Run a probe protocol on ``task`` and return its :class:`ProbeResult` (``to_dict()`` for the JSON).

    Args:
        task: a :class:`audiocl.data.task.Task`.
        embedder: an :class:`audiocl.embed.Embedder` (or baseline); not needed when ``embeddings`` is given.
        seeds: one run per seed (label subset, validation carve, initialisation, batch order).
        label_fraction: fraction of training items whose labels are used (0.01, 0.1, 1.0 in the papers).
        embeddings: per-chunk embeddings from :func:`embed_task`, to reuse them across label fractions.
        options: probe hyper-parameters (:class:`ProbeOptions`).
        name: the embedder's name in tables (default its description).
        test_folds: k-fold tasks only: test on these folds alone (e.g. ``[5]`` for an encoder pretrained on
            ESC-50's folds 1-4, whose other folds it has seen); None tests every fold once.
        protocol: ``"audiocl"`` (the module docstring), ``"clmr"`` (CLMR's own linear evaluation) or
            ``"published"`` (k-fold tasks: train on every fold but the test fold, fixed hyper-parameters); see
            :mod:`audiocl.eval.protocols`. The result names it (``protocol``) and describes it
            (``protocol_details``).
        head: ``"linear"``, ``"knn"`` (:mod:`audiocl.eval.probes.knn`) or ``"mlp"``
            (:mod:`audiocl.eval.probes.mlp`); kNN and MLP run under the ``audiocl`` protocol.
        aggregation: ``"probability"`` (chunks through the head, probabilities averaged per item) or
            ``"embedding"`` (the mean chunk embedding through the head); default per head (:data:`HEADS`).
        n_boot: bootstrap replicates of the 95% interval over test items (:mod:`audiocl.eval.stats`);
            0 skips it.

    Returns:
        a :class:`ProbeResult`: ``metrics`` (metric -> ``{"mean", "std", "values", "ci95"}``), ``runs`` (per
        seed and fold), ``per_class_roc_auc`` (multi-label, mean over runs), what was done in words
        (``aggregation``, ``protocol_details``, ``intervals``), the items embedded and skipped, and
        ``predictions`` for :func:`paired`.
    """
    if not 0 < label_fraction <= 1:
        raise ValueError(f"label_fraction must be in (0, 1], got {label_fraction}")
    check_protocol(protocol, task)
    aggregation = check_head(head, aggregation, protocol)
    if embeddings is None:
        if embedder is None:
            raise ValueError("run_probe needs an embedder or precomputed embeddings")
        embeddings = embed_task(task, embedder, num_workers=num_workers, progress=progress)
    if embeddings.source is None and embedder is not None:
        embeddings.source = embedder
    if protocol == "clmr" and embeddings.hop_s is not None and abs(embeddings.hop_s - embeddings.chunk_s) > 1e-9:
        raise ValueError(
            "protocol 'clmr' tests on contiguous non-overlapping crops: embed with the hop equal to the chunk "
            f"(got chunk {embeddings.chunk_s:g} s, hop {embeddings.hop_s:g} s)"
        )
    opts = options or ProbeOptions()
    multilabel = task.multilabel
    usable = np.array([i for i, c in enumerate(embeddings.chunks) if c is not None], dtype=np.int64)
    if len(usable) == 0:
        raise ValueError(f"no item of task {task.name!r} could be embedded")
    losses = _split_losses(task, usable)
    y = task.targets()
    metric_names = ("roc_auc", "pr_auc") if multilabel else ("accuracy",)
    runs, per_class, overlap, predictions = [], [], 0, []

    def rows(idx):  # what the head sees per item: its chunks, or their mean
        return embeddings.pooled(idx) if aggregation == "embedding" else [embeddings.chunks[i] for i in idx]

    for seed in seeds:
        for split_name, train, valid, test in _splits(task, usable, y, seed, test_folds, protocol):
            overlap = max(overlap, _group_overlap(task, train, test), _group_overlap(task, valid, test))
            train = _labelled(train, y, label_fraction, multilabel, seed)
            chunks = embeddings.chunks
            if protocol == "clmr":
                res = clmr_probe_embeddings(
                    embed_crops(embeddings, train, seed, num_workers=num_workers), y[train],
                    embed_crops(embeddings, valid, seed, num_workers=num_workers), y[valid],
                    [chunks[i][: clmr_test_crops(len(chunks[i]))] for i in test], y[test],
                    multilabel=multilabel, classes=task.classes, seed=seed, options=opts,
                )  # fmt: skip
            else:
                fit = {"linear": probe_embeddings, "knn": knn_probe_embeddings, "mlp": mlp_probe_embeddings}[head]
                res = fit(
                    rows(train), y[train],
                    rows(valid) if protocol != "published" else None, y[valid],
                    rows(test), y[test],
                    multilabel=multilabel, classes=task.classes, seed=seed, options=opts,
                )  # fmt: skip
            predictions.append(Predictions(res["test_probabilities"], y[test], test, split_name, int(seed)))
            if multilabel:
                per_class.append(res["per_class_roc_auc"])
            runs.append(
                {
                    "seed": int(seed),
                    "split": split_name,
                    **{m: res[m] for m in metric_names},
                    "valid_score": res["valid_score"],
                    "settings": res.get("settings") or f"weight decay {res['weight_decay']:g}, {res['epochs']} epochs",
                    "train_items": int(len(train)),
                    "valid_items": int(len(valid)),
                    "test_items": int(len(test)),
                    **(
                        {
                            "train_folds": sorted({int(task.items[i].fold) for i in train}),
                            "valid_folds": sorted({int(task.items[i].fold) for i in valid}),
                        }
                        if task.folds
                        else {}
                    ),
                }
            )
    if overlap:
        warnings.warn(
            f"{task.name}: {overlap} groups (speakers/source recordings/tracks) occur both in a training or "
            "validation split and in the test split: scores may be inflated by leakage",
            stacklevel=2,
        )
    # Per seed: the mean over folds (one "fold" for split tasks); then mean and std over seeds.
    metrics = {}
    for m in metric_names:
        per_seed = [np.mean([r[m] for r in runs if r["seed"] == s]) for s in seeds]
        metrics[m] = _mean_std(per_seed)
        if n_boot:
            metrics[m]["ci95"] = bootstrap_ci(predictions, m, n_boot=n_boot)
    chunks_per_item = np.mean([len(embeddings.chunks[i]) for i in usable])
    per_class_roc_auc = None
    if multilabel:
        names = sorted({k for d in per_class for k in d}, key=task.classes.index)
        per_class_roc_auc = {k: float(np.mean([d[k] for d in per_class if k in d])) for k in names}
    return ProbeResult(
        task=task.name,
        name=name or embeddings.embedder,
        embedder=embeddings.embedder,
        embedding_dim=int(embeddings.chunks[usable[0]].shape[1]),
        multilabel=bool(multilabel),
        label_fraction=float(label_fraction),
        seeds=[int(s) for s in seeds],
        metrics=metrics,
        runs=runs,
        aggregation=_aggregation(protocol, aggregation, task, embeddings, chunks_per_item),
        protocol=protocol,
        head=head,
        protocol_details=_protocol_details(protocol, task, opts, test_folds, head),
        intervals=(
            f"95% percentile bootstrap over test items ({n_boot} resamples; folds resampled within themselves), "
            "for the mean over seeds"
            if n_boot
            else None
        ),
        split=getattr(task, "options", {}).get("split"),  # e.g. MagnaTagATune's "pons" (CLMR's)
        test_folds=sorted(test_folds or task.folds) if task.folds else None,
        counts={"items": len(task.items), "embedded": int(len(usable)), "skipped": len(embeddings.skipped)},
        skipped=[{"path": p, "reason": r} for p, r in embeddings.skipped],
        skipped_per_split=losses,
        group_overlap=int(overlap),
        notes=getattr(task, "notes", ""),
        per_class_roc_auc=per_class_roc_auc,
        predictions=predictions,
    )


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("_") or "embedder"


def _plot_label(task, item_indices: np.ndarray) -> np.ndarray:
    """One colour per item: its class, or for tagging its most frequent tag in the task (-1 for none)."""
    if not task.multilabel:
        return np.array([task.items[i].target for i in item_indices])
    freq = task.targets().sum(0)
    out = []
    for i in item_indices:
        tags = list(task.items[i].target)
        out.append(max(tags, key=lambda t: freq[t]) if tags else -1)
    return np.array(out)


def probe_and_report(
    task,
    embedders: dict,
    *,
    label_fractions: Sequence[float] = (1.0,),
    seeds: Sequence[int] = (0, 1, 2),
    out=None,
    report=None,
    plot_dir=None,
    projection: str = "pca",
    options: ProbeOptions | None = None,
    num_workers: int = 0,
    progress: bool = True,
    test_folds: Sequence[int] | None = None,
    protocol: str = "audiocl",
    head: str = "linear",
    aggregation: str | None = None,
    against: str | None = None,
    n_boot: int = 1000,
    cache=None,
) -> list[ProbeResult]:
    """Probe several embedders (e.g. a checkpoint and its baselines) at several label fractions: one
    :class:`ProbeResult` per embedder and fraction, in that order.

    Each embedder embeds the task once; every label fraction reuses those embeddings. Prints the table and
    writes the JSON (``out``), the markdown report (``report``) and the plots (``plot_dir``): a 2-D
    ``projection`` ("pca" or "tsne") of the test items' mean embeddings per embedder, coloured by label
    (for k-fold tasks every item is a test item once), and for tagging a per-tag ROC-AUC bar chart per run.

    Args:
        embedders: name -> :class:`audiocl.embed.Embedder`, in table order.
        protocol, head, aggregation, n_boot: as :func:`run_probe`.
        against: the name of one of ``embedders``: every other result at the same label fraction gets
            ``paired``, its paired bootstrap difference against that one on the same test items.
        cache: an :class:`audiocl.eval.cache.EmbeddingCache` to read embeddings from and store them in
            (:func:`embed_task`); None embeds every time and stores nothing.
    """
    from pathlib import Path

    from audiocl.report import plot_projection, plot_tag_auc

    check_protocol(protocol, task)  # before any embedding
    check_head(head, aggregation, protocol)
    if against is not None and against not in embedders:
        raise ValueError(f"--against {against!r} is none of the embedders probed: {list(embedders)}")
    results, plots = [], []
    for name, embedder in embedders.items():
        emb = embed_task(task, embedder, num_workers=num_workers, progress=progress, cache=cache)
        for fraction in label_fractions:
            r = run_probe(
                task, embeddings=emb, seeds=seeds, label_fraction=fraction, options=options, name=name,
                test_folds=test_folds, protocol=protocol, num_workers=num_workers, head=head,
                aggregation=aggregation, n_boot=n_boot,
            )  # fmt: skip
            results.append(r)
            if plot_dir is not None and task.multilabel:
                path = Path(plot_dir) / f"{task.name}_{_slug(name)}_{100 * fraction:g}pct_tag_auc.png"
                title = f"{task.name}: per-tag ROC-AUC, {name}, {100 * fraction:g}% labels"
                plots.append(plot_tag_auc(r.per_class_roc_auc, path, title=title))
        if plot_dir is not None:
            shown = [i for i, c in enumerate(emb.chunks) if c is not None]
            if not task.folds:
                shown = [i for i in shown if task.items[i].split == "test"] or shown
            shown = np.array(shown)
            path = Path(plot_dir) / f"{task.name}_{_slug(name)}_{projection}.png"
            title = f"{task.name}: {projection.upper()} of test embeddings, {name}"
            plots.append(
                plot_projection(emb.pooled(shown), _plot_label(task, shown), task.classes, path, method=projection,
                                title=title)
            )  # fmt: skip
    if against is not None:
        for r in results:
            ref = next(x for x in results if x.name == against and x.label_fraction == r.label_fraction)
            if r is not ref:
                r.paired = paired(r, ref, n_boot=n_boot or 1000)
    print(format_table(results))
    if out is not None:
        write_json(results, out)
    if report is not None:
        from audiocl.report import write_text

        write_text(markdown_report(results, plots, relative_to=Path(report).parent), report)
    return results
