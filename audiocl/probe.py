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
   (:data:`ITEM_UNITS`): the 29-s clip for MagnaTagATune (the "track" of CLMR's track-level scores), the
   30-s track for GTZAN, the 5-s clip for ESC-50, the 1-s utterance (or 1-s background-noise segment) for
   Speech Commands, the 4-s note for NSynth, the file for folder and CSV tasks.
7. **Metrics.** Accuracy for single-label tasks; macro ROC-AUC and macro PR-AUC (average precision,
   scikit-learn) over the classes with both positives and negatives in the test set for multi-label ones.
   Mean and sample standard deviation over seeds (default 0, 1, 2).

>>> task = load_task("esc50", "/data/ESC-50-master")                               # doctest: +SKIP
>>> results = run_probe(task, load_encoder("last.ckpt"), label_fraction=0.1)        # doctest: +SKIP
>>> results["metrics"]["accuracy"]["mean"]                                          # doctest: +SKIP
0.71
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from audiocl.eval.chunking import clmr_test_crops, random_crop_start
from audiocl.eval.protocols import PROTOCOLS, ClmrOptions, PublishedOptions, check_protocol, train_clmr_linear
from audiocl.report import format_table, markdown_report, write_json

__all__ = [
    "ITEM_UNITS",
    "PROTOCOLS",
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
    "subsample",
    "format_table",
    "markdown_report",
    "write_json",
]


#: What one item is, per task name prefix: the unit that chunk predictions are averaged over.
ITEM_UNITS = {
    "magnatagatune": "29-s clip (a track excerpt)",
    "gtzan": "30-s track",
    "esc": "5-s clip",
    "speech_commands": "1-s utterance or background-noise segment",
    "nsynth": "4-s note",
}


def item_unit(task_name: str) -> str:
    return next((unit for prefix, unit in ITEM_UNITS.items() if task_name.startswith(prefix)), "file")


@dataclass
class ProbeOptions:
    """Hyper-parameters of the linear probe (the same for every task, so that numbers are comparable)."""

    lr: float = 1e-2  # Adam; full-batch steps on standardised inputs converge in ~100-300 epochs
    max_epochs: int = 500
    patience: int = 20  # epochs without a better validation loss before stopping
    weight_decays: tuple[float, ...] = (0.0, 1e-3, 1e-2)  # L2 penalty (Adam weight_decay), picked on valid
    batch_size: int = 4096  # chunks per step; full batch when the training set is no larger
    device: str = "cpu"
    clmr: ClmrOptions = field(default_factory=ClmrOptions)  # the settings of protocol="clmr"
    published: PublishedOptions = field(default_factory=PublishedOptions)  # and of protocol="published"


# -- the classifier -------------------------------------------------------------------------------------


class LinearProbe:
    """A fitted standardiser + linear layer. ``predict_proba`` gives per-chunk (or per-row) probabilities.

    Attributes:
        mean, scale: the standardiser's statistics (as scikit-learn's ``StandardScaler``: population std,
            1 for constant features), from the training rows only.
        weight ``(classes, dim)``, bias ``(classes,)``, multilabel, weight_decay, epochs (best epoch + 1),
        valid_loss, valid_score.
    """

    def __init__(self, mean, scale, weight, bias, multilabel, weight_decay, epochs, valid_loss):
        self.mean, self.scale = mean, scale
        self.weight, self.bias = weight, bias
        self.multilabel, self.weight_decay = multilabel, weight_decay
        self.epochs, self.valid_loss = epochs, valid_loss
        self.valid_score: float | None = None  # item-level valid score, set by fit_probe

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Shape: ``(n, dim)`` -> ``(n, classes)`` float64; softmax rows or independent sigmoids."""
        x = torch.as_tensor((np.asarray(X, np.float64) - self.mean) / self.scale, dtype=torch.float32)
        logits = x @ self.weight.T + self.bias
        probs = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=-1)
        return probs.double().numpy()


def _loss(logits: torch.Tensor, y: torch.Tensor, multilabel: bool) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, y) if multilabel else F.cross_entropy(logits, y)


def _train_linear(x_tr, y_tr, x_va, y_va, multilabel, num_classes, weight_decay, seed, opts: ProbeOptions):
    """Adam on a linear layer with early stopping on the validation loss; returns (W, b, epochs, loss).

    Without validation rows (``x_va`` None) it runs ``opts.max_epochs`` epochs and returns the last weights
    (loss nan)."""
    g = torch.Generator().manual_seed(seed)
    dim = x_tr.shape[1]
    bound = 1.0 / math.sqrt(dim)  # nn.Linear's default initialisation, drawn from our generator
    W = ((torch.rand(num_classes, dim, generator=g) * 2 - 1) * bound).to(x_tr.device).requires_grad_()
    b = ((torch.rand(num_classes, generator=g) * 2 - 1) * bound).to(x_tr.device).requires_grad_()
    opt = torch.optim.Adam([W, b], lr=opts.lr, weight_decay=weight_decay)
    n = len(x_tr)
    best = (math.inf, W.detach().clone(), b.detach().clone(), 0)
    waited = 0
    for epoch in range(opts.max_epochs):
        order = torch.randperm(n, generator=g).to(x_tr.device) if n > opts.batch_size else None
        for lo in range(0, n, opts.batch_size):
            idx = order[lo : lo + opts.batch_size] if order is not None else slice(None)
            opt.zero_grad(set_to_none=True)
            _loss(x_tr[idx] @ W.T + b, y_tr[idx], multilabel).backward()
            opt.step()
        if x_va is None:
            best = (math.nan, W.detach(), b.detach(), epoch + 1)
            continue
        with torch.no_grad():
            valid_loss = float(_loss(x_va @ W.T + b, y_va, multilabel))
        if valid_loss < best[0] - 1e-7:
            best, waited = (valid_loss, W.detach().clone(), b.detach().clone(), epoch + 1), 0
        else:
            waited += 1
            if waited >= opts.patience:
                break
    valid_loss, W, b, epochs = best
    return W.cpu(), b.cpu(), epochs, valid_loss


def _as_chunks(X) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(n, dim)``, a ``(n, chunks, dim)`` array or a list of ``(chunks_i, dim)`` arrays ->
    (all chunks ``(M, dim)``, item index of each chunk ``(M,)``)."""
    if isinstance(X, np.ndarray | torch.Tensor) and np.ndim(X) == 2:
        X = np.asarray(X, dtype=np.float32)
        return X, np.arange(len(X))
    parts = [np.asarray(x, dtype=np.float32).reshape(-1, np.shape(x)[-1]) for x in X]
    if not parts:
        raise ValueError("no embeddings given")
    owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    return np.concatenate(parts), owner


def _item_mean(probs: np.ndarray, owner: np.ndarray, num_items: int) -> np.ndarray:
    """Average per-chunk probabilities over each item: ``(M, C)`` -> ``(num_items, C)``."""
    sums = np.zeros((num_items, probs.shape[1]))
    np.add.at(sums, owner, probs)
    return sums / np.bincount(owner, minlength=num_items)[:, None]


def score(probs: np.ndarray, y: np.ndarray, multilabel: bool, classes: Sequence[str] | None = None) -> dict:
    """Item-level metrics. Single-label: ``accuracy``. Multi-label: macro ``roc_auc`` and ``pr_auc`` over
    the classes with both positives and negatives in ``y``, and ``per_class_roc_auc`` (name -> value)."""
    if not multilabel:
        return {"accuracy": float(np.mean(probs.argmax(1) == np.asarray(y)))}
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y)
    positives = y.sum(0)
    usable = (positives > 0) & (positives < len(y))
    if not usable.any():
        raise ValueError("no class has both positive and negative items in this split: ROC-AUC is undefined")
    names = list(classes) if classes is not None else [str(i) for i in range(y.shape[1])]
    scored = np.flatnonzero(usable)
    # Per class, then the unweighted mean: scikit-learn's average="macro", also when one class is left.
    roc = [float(roc_auc_score(y[:, c], probs[:, c])) for c in scored]
    pr = [float(average_precision_score(y[:, c], probs[:, c])) for c in scored]
    return {
        "roc_auc": float(np.mean(roc)),
        "pr_auc": float(np.mean(pr)),
        "per_class_roc_auc": {names[c]: v for c, v in zip(scored, roc, strict=True)},
        "classes_scored": len(scored),
    }


def _primary(metrics: dict, multilabel: bool) -> float:
    return metrics["roc_auc"] if multilabel else metrics["accuracy"]


def fit_probe(
    X_train,
    y_train,
    X_valid,
    y_valid,
    *,
    multilabel: bool = False,
    num_classes: int | None = None,
    seed: int = 0,
    options: ProbeOptions | None = None,
) -> LinearProbe:
    """Standardise on the training rows, train a linear classifier per weight decay, keep the best on valid.

    Args:
        X_train, X_valid: ``(n, dim)`` rows (one per item), or per-item chunks: a ``(n, chunks, dim)`` array
            or a list of ``(chunks_i, dim)`` arrays (each chunk is trained on with its item's label; the
            validation score averages chunk probabilities per item).
        y_train, y_valid: ``(n,)`` class indices, or ``(n, classes)`` multi-hot for ``multilabel``.
        multilabel: sigmoid + BCE and ROC-AUC instead of softmax + cross-entropy and accuracy.
        num_classes: default ``max(label) + 1`` (single-label) or the width of ``y`` (multi-label).
        seed: initialisation and mini-batch order.

    With ``X_valid=None`` (the ``published`` protocol) no weight decay is chosen: one probe is trained with
    ``options.published`` (fixed epochs and weight decay) and returned with ``valid_score`` None.
    """
    opts = options or ProbeOptions()
    xtr, own_tr = _as_chunks(X_train)
    y_train = np.asarray(y_train)
    if multilabel:
        num_classes = num_classes or y_train.shape[1]
    else:
        num_classes = num_classes or int(max(y_train.max(), np.max(y_valid) if X_valid is not None else 0)) + 1
    # The standardiser sees the training chunks only: the validation and test sets are transformed with it.
    mean = xtr.mean(0, dtype=np.float64)
    scale = xtr.std(0, dtype=np.float64)
    scale[scale < 1e-12] = 1.0  # constant features (as StandardScaler does)
    device = torch.device(opts.device)

    def tensors(x, y, owner):
        xt = torch.as_tensor((x - mean) / scale, dtype=torch.float32, device=device)
        yt = torch.as_tensor(y[owner], dtype=torch.float32 if multilabel else torch.long, device=device)
        return xt, yt

    x_tr_t, y_tr_t = tensors(xtr, y_train, own_tr)
    if X_valid is None:  # the published protocol: hyper-parameters fixed in advance, no validation rows
        fixed = opts.published
        run = ProbeOptions(**{**vars(opts), "max_epochs": fixed.epochs})
        W, b, epochs, _ = _train_linear(x_tr_t, y_tr_t, None, None, multilabel, num_classes, fixed.weight_decay,
                                        seed, run)  # fmt: skip
        return LinearProbe(mean, scale, W, b, multilabel, fixed.weight_decay, epochs, math.nan)
    xva, own_va = _as_chunks(X_valid)
    y_valid = np.asarray(y_valid)
    x_va_t, y_va_t = tensors(xva, y_valid, own_va)
    best, best_score = None, -math.inf
    # Strongest penalty first, so that a tie on the (often small) validation set goes to the simpler model:
    # the first-listed weak penalty used to win ties, and ran 1-4 points below plain logistic regression on
    # MFCC statistics (issue 18).
    for wd in sorted(opts.weight_decays, reverse=True):
        W, b, epochs, vloss = _train_linear(x_tr_t, y_tr_t, x_va_t, y_va_t, multilabel, num_classes, wd, seed, opts)
        probe = LinearProbe(mean, scale, W, b, multilabel, wd, epochs, vloss)
        probs = _item_mean(probe.predict_proba(xva), own_va, len(y_valid))
        try:
            valid_score = _primary(score(probs, y_valid, multilabel), multilabel)
        except ValueError:  # a tiny validation set where no tag is both present and absent: use the loss
            valid_score = -vloss
        if valid_score > best_score:
            best, best_score = probe, valid_score
    best.valid_score = best_score
    return best


def probe_embeddings(
    X_train,
    y_train,
    X_valid,
    y_valid,
    X_test,
    y_test,
    *,
    multilabel: bool = False,
    classes: Sequence[str] | None = None,
    seed: int = 0,
    options: ProbeOptions | None = None,
    fit=None,
) -> dict:
    """Fit a linear probe on arrays and score it on the test items: the protocol without a Task.

    ``fit`` is the fitting function: :func:`fit_probe` (default) or :func:`fit_clmr_probe`.

    Inputs as in :func:`fit_probe` (rows or per-item chunks). Returns a dict with ``accuracy``
    (single-label) or ``roc_auc``, ``pr_auc`` and ``per_class_roc_auc`` (multi-label), plus
    ``valid_score``, ``weight_decay``, ``epochs`` and ``test_probabilities`` ``(n_test, classes)``.

    >>> probe_embeddings(Xtr, ytr, Xva, yva, Xte, yte)["accuracy"]  # doctest: +SKIP
    0.97
    """
    num_classes = len(classes) if classes is not None else None
    if num_classes is None and not multilabel:
        num_classes = int(max(np.max(y_train), np.max(y_valid) if X_valid is not None else 0, np.max(y_test))) + 1
    probe = (fit or fit_probe)(
        X_train, y_train, X_valid, y_valid, multilabel=multilabel, num_classes=num_classes, seed=seed, options=options
    )
    xte, own_te = _as_chunks(X_test)
    probs = _item_mean(probe.predict_proba(xte), own_te, len(y_test))
    out = score(probs, np.asarray(y_test), multilabel, classes)
    out.update(
        valid_score=probe.valid_score,
        weight_decay=probe.weight_decay,
        epochs=probe.epochs,
        test_probabilities=probs,
    )
    return out


def fit_clmr_probe(
    X_train,
    y_train,
    X_valid,
    y_valid,
    *,
    multilabel: bool = False,
    num_classes: int | None = None,
    seed: int = 0,
    options: ProbeOptions | None = None,
) -> LinearProbe:
    """CLMR's linear evaluation (:mod:`audiocl.eval.protocols`): a linear layer on raw (unstandardised) rows,
    one per clip (its random crop), trained with ``options.clmr``. Returns a :class:`LinearProbe` whose
    standardiser is the identity, so ``predict_proba`` is ``sigmoid`` or ``softmax`` of ``x @ W.T + b``.

    Shape:
        ``X_train (n, dim)``, ``X_valid (m, dim)``; ``y`` ``(n,)`` class indices or ``(n, classes)`` multi-hot.
    """
    opts = options or ProbeOptions()
    xtr, xva = np.asarray(X_train, np.float32), np.asarray(X_valid, np.float32)
    y_train, y_valid = np.asarray(y_train), np.asarray(y_valid)
    if multilabel:
        num_classes = num_classes or y_train.shape[1]
    else:
        num_classes = num_classes or int(max(y_train.max(), y_valid.max())) + 1
    device = torch.device(opts.device)
    ydt = torch.float32 if multilabel else torch.long
    W, b, epochs, vloss = train_clmr_linear(
        torch.as_tensor(xtr, device=device), torch.as_tensor(y_train, dtype=ydt, device=device),
        torch.as_tensor(xva, device=device), torch.as_tensor(y_valid, dtype=ydt, device=device),
        multilabel=multilabel, num_classes=num_classes, seed=seed, options=opts.clmr,
    )  # fmt: skip
    dim = xtr.shape[1]
    probe = LinearProbe(np.zeros(dim), np.ones(dim), W, b, multilabel, opts.clmr.weight_decay, epochs, vloss)
    try:
        probe.valid_score = _primary(score(probe.predict_proba(xva), y_valid, multilabel), multilabel)
    except ValueError:
        probe.valid_score = -vloss
    return probe


def clmr_probe_embeddings(*args, **kwargs) -> dict:
    """CLMR's protocol on arrays: :func:`probe_embeddings` with :func:`fit_clmr_probe`.

    ``X_train`` and ``X_valid`` are ``(n, dim)``, one random crop's embedding per clip; ``X_test`` holds per
    test clip its crops' embeddings (CLMR's contiguous crops, :func:`audiocl.eval.chunking.clmr_test_crops`),
    whose outputs are averaged.
    """
    return probe_embeddings(*args, fit=fit_clmr_probe, **kwargs)


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


def embed_task(task, embedder, *, num_workers: int = 0, progress: bool = True) -> TaskEmbeddings:
    """Embed every item of ``task`` per chunk, decoding in ``num_workers`` DataLoader workers.

    Chunks of consecutive items are batched together (see :func:`audiocl.embed.embed_many`), so short clips
    still fill the encoder's batches. Unreadable items are reported on stderr and recorded in ``skipped``.
    """
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
    sr = embedder.sample_rate
    return TaskEmbeddings(
        task, chunks, skipped, repr(embedder), embedder.segment_samples / sr, embedder.hop_samples / sr, embedder
    )


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


def subsample(items_idx: np.ndarray, y: np.ndarray, fraction: float, multilabel: bool, seed: int) -> np.ndarray:
    """A seeded ``fraction`` of the training items (positions into ``items_idx``), sorted.

    Single-label: per class ``max(1, round(fraction * n_class))`` items. Multi-label: ``max(1, round(fraction
    * n))`` items at random (no stratification for multi-hot targets).

    >>> subsample(np.arange(10), np.array([0] * 5 + [1] * 5), 0.2, False, seed=0).size
    2
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"label_fraction must be in (0, 1], got {fraction}")
    n = len(items_idx)
    if fraction == 1:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if multilabel:
        return np.sort(rng.permutation(n)[: max(1, round(fraction * n))])
    keep = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        keep.append(rng.permutation(members)[: max(1, round(fraction * len(members)))])
    return np.sort(np.concatenate(keep))


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


def _aggregation(protocol: str, task, embeddings: TaskEmbeddings, chunks_per_item: float) -> str:
    unit, chunk = item_unit(task.name), f"{embeddings.chunk_s:.2f} s"
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


def _protocol_details(protocol: str, task, opts: ProbeOptions, test_folds) -> str:
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
        split = f"official train/valid/test split ({getattr(task, 'options', {}).get('split') or 'as released'}); "
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
) -> dict:
    """Run a linear-probe protocol on ``task`` and return the results as a JSON-able dict.

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

    Returns:
        ``{"task", "name", "multilabel", "label_fraction", "seeds", "metrics": {metric: {"mean", "std",
        "values"}}, "runs": [per seed and fold], "per_class_roc_auc" (multi-label, mean over runs),
        "aggregation", "protocol", "protocol_details", "split", "test_folds", "counts", "skipped",
        "group_overlap", "embedder", "embedding_dim", "notes"}``.
    """
    check_protocol(protocol, task)
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
    runs, per_class, overlap = [], [], 0
    for seed in seeds:
        for split_name, train, valid, test in _splits(task, usable, y, seed, test_folds, protocol):
            overlap = max(overlap, _group_overlap(task, train, test), _group_overlap(task, valid, test))
            train = train[subsample(train, y[train], label_fraction, multilabel, seed)]
            chunks = embeddings.chunks
            if protocol == "clmr":
                res = clmr_probe_embeddings(
                    embed_crops(embeddings, train, seed, num_workers=num_workers), y[train],
                    embed_crops(embeddings, valid, seed, num_workers=num_workers), y[valid],
                    [chunks[i][: clmr_test_crops(len(chunks[i]))] for i in test], y[test],
                    multilabel=multilabel, classes=task.classes, seed=seed, options=opts,
                )  # fmt: skip
            else:
                res = probe_embeddings(
                    [chunks[i] for i in train], y[train],
                    [chunks[i] for i in valid] if protocol != "published" else None, y[valid],
                    [chunks[i] for i in test], y[test],
                    multilabel=multilabel, classes=task.classes, seed=seed, options=opts,
                )  # fmt: skip
            if multilabel:
                per_class.append(res["per_class_roc_auc"])
            runs.append(
                {
                    "seed": int(seed),
                    "split": split_name,
                    **{m: res[m] for m in metric_names},
                    "valid_score": res["valid_score"],
                    "weight_decay": res["weight_decay"],
                    "epochs": res["epochs"],
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
    chunks_per_item = np.mean([len(embeddings.chunks[i]) for i in usable])
    results = {
        "task": task.name,
        "name": name or embeddings.embedder,
        "embedder": embeddings.embedder,
        "embedding_dim": int(embeddings.chunks[usable[0]].shape[1]),
        "multilabel": bool(multilabel),
        "label_fraction": float(label_fraction),
        "seeds": [int(s) for s in seeds],
        "metrics": metrics,
        "runs": runs,
        "aggregation": _aggregation(protocol, task, embeddings, chunks_per_item),
        "protocol": protocol,
        "protocol_details": _protocol_details(protocol, task, opts, test_folds),
        "split": getattr(task, "options", {}).get("split"),  # e.g. MagnaTagATune's "pons" (CLMR's)
        "test_folds": sorted(test_folds or task.folds) if task.folds else None,
        "counts": {"items": len(task.items), "embedded": int(len(usable)), "skipped": len(embeddings.skipped)},
        "skipped": [{"path": p, "reason": r} for p, r in embeddings.skipped],
        "skipped_per_split": losses,
        "group_overlap": int(overlap),
        "notes": getattr(task, "notes", ""),
    }
    if multilabel:
        names = sorted({k for d in per_class for k in d}, key=task.classes.index)
        results["per_class_roc_auc"] = {k: float(np.mean([d[k] for d in per_class if k in d])) for k in names}
    return results


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
) -> list[dict]:
    """Probe several embedders (e.g. a checkpoint and its baselines) at several label fractions.

    Each embedder embeds the task once; every label fraction reuses those embeddings. Prints the table and
    writes the JSON (``out``), the markdown report (``report``) and the plots (``plot_dir``): a 2-D
    ``projection`` ("pca" or "tsne") of the test items' mean embeddings per embedder, coloured by label
    (for k-fold tasks every item is a test item once), and for tagging a per-tag ROC-AUC bar chart per run.

    Args:
        embedders: name -> :class:`audiocl.embed.Embedder`, in table order.
    """
    from pathlib import Path

    from audiocl.report import plot_projection, plot_tag_auc

    check_protocol(protocol, task)  # before any embedding
    results, plots = [], []
    for name, embedder in embedders.items():
        emb = embed_task(task, embedder, num_workers=num_workers, progress=progress)
        for fraction in label_fractions:
            r = run_probe(
                task, embeddings=emb, seeds=seeds, label_fraction=fraction, options=options, name=name,
                test_folds=test_folds, protocol=protocol, num_workers=num_workers,
            )  # fmt: skip
            results.append(r)
            if plot_dir is not None and task.multilabel:
                path = Path(plot_dir) / f"{task.name}_{_slug(name)}_{100 * fraction:g}pct_tag_auc.png"
                title = f"{task.name}: per-tag ROC-AUC, {name}, {100 * fraction:g}% labels"
                plots.append(plot_tag_auc(r["per_class_roc_auc"], path, title=title))
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
    print(format_table(results))
    if out is not None:
        write_json(results, out)
    if report is not None:
        from audiocl.report import write_text

        write_text(markdown_report(results, plots, relative_to=Path(report).parent), report)
    return results
