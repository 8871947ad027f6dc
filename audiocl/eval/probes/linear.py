"""The linear probe: a standardiser and a linear layer (``audiocl`` and ``published`` protocols), and CLMR's
linear evaluation (``clmr`` protocol); see :mod:`audiocl.probe` for the protocol and
:mod:`audiocl.eval.protocols` for CLMR's settings."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from audiocl.eval.metrics import primary, score
from audiocl.eval.probes.options import ProbeOptions
from audiocl.eval.probes.rows import as_chunks, item_mean
from audiocl.eval.protocols import head_loss, train_clmr_linear

__all__ = ["LinearProbe", "fit_probe", "probe_embeddings", "fit_clmr_probe", "clmr_probe_embeddings"]


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


def _train_linear(x_tr, y_tr, x_va, y_va, multilabel, num_classes, weight_decays, seed, opts: ProbeOptions):
    """Adam on a linear layer per weight decay, each with early stopping on the validation loss; returns one
    ``(W, b, epochs, loss)`` per weight decay.

    The weight decays train side by side in one loop, from the same initialisation and mini-batch order, each
    with its own weights, Adam state and stopping epoch: a stopped one gets no gradient, so Adam leaves it
    alone. Each result is the one it gets trained alone, for a fraction of the per-step Python overhead.

    Without validation rows (``x_va`` None) each runs ``opts.max_epochs`` epochs and returns its last weights
    (loss nan)."""
    g = torch.Generator().manual_seed(seed)
    dim = x_tr.shape[1]
    bound = 1.0 / math.sqrt(dim)  # nn.Linear's default initialisation, drawn from our generator
    W0 = (torch.rand(num_classes, dim, generator=g) * 2 - 1) * bound
    b0 = (torch.rand(num_classes, generator=g) * 2 - 1) * bound
    runs = []
    for _ in weight_decays:
        W, b = W0.to(x_tr.device, copy=True).requires_grad_(), b0.to(x_tr.device, copy=True).requires_grad_()
        runs.append(
            {"W": W, "b": b, "best": (math.inf, W.detach().clone(), b.detach().clone(), 0), "waited": 0, "active": True}
        )
    groups = [{"params": [r["W"], r["b"]], "weight_decay": wd} for r, wd in zip(runs, weight_decays, strict=True)]
    opt = torch.optim.Adam(groups, lr=opts.lr)
    n = len(x_tr)
    for epoch in range(opts.max_epochs):
        active = [r for r in runs if r["active"]]
        if not active:
            break
        order = torch.randperm(n, generator=g).to(x_tr.device) if n > opts.batch_size else None
        for lo in range(0, n, opts.batch_size):
            idx = order[lo : lo + opts.batch_size] if order is not None else slice(None)
            x, y = x_tr[idx], y_tr[idx]
            opt.zero_grad(set_to_none=True)
            sum(head_loss(x @ r["W"].T + r["b"], y, multilabel) for r in active).backward()
            opt.step()
        for r in active:
            if x_va is None:
                r["best"] = (math.nan, r["W"].detach(), r["b"].detach(), epoch + 1)
                continue
            with torch.no_grad():
                valid_loss = float(head_loss(x_va @ r["W"].T + r["b"], y_va, multilabel))
            if valid_loss < r["best"][0] - 1e-7:
                r["best"], r["waited"] = (valid_loss, r["W"].detach().clone(), r["b"].detach().clone(), epoch + 1), 0
            else:
                r["waited"] += 1
                r["active"] = r["waited"] < opts.patience
    return [(W.cpu(), b.cpu(), epochs, valid_loss) for valid_loss, W, b, epochs in (r["best"] for r in runs)]


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
    xtr, own_tr = as_chunks(X_train)
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
        [(W, b, epochs, _)] = _train_linear(x_tr_t, y_tr_t, None, None, multilabel, num_classes,
                                            [fixed.weight_decay], seed, run)  # fmt: skip
        return LinearProbe(mean, scale, W, b, multilabel, fixed.weight_decay, epochs, math.nan)
    xva, own_va = as_chunks(X_valid)
    y_valid = np.asarray(y_valid)
    x_va_t, y_va_t = tensors(xva, y_valid, own_va)
    best, best_score = None, -math.inf
    # Strongest penalty first, so that a tie on the (often small) validation set goes to the simpler model:
    # the first-listed weak penalty used to win ties, and ran 1-4 points below plain logistic regression on
    # MFCC statistics (issue 18).
    decays = sorted(opts.weight_decays, reverse=True)
    fits = _train_linear(x_tr_t, y_tr_t, x_va_t, y_va_t, multilabel, num_classes, decays, seed, opts)
    for wd, (W, b, epochs, vloss) in zip(decays, fits, strict=True):
        probe = LinearProbe(mean, scale, W, b, multilabel, wd, epochs, vloss)
        probs = item_mean(probe.predict_proba(xva), own_va, len(y_valid))
        try:
            valid_score = primary(score(probs, y_valid, multilabel), multilabel)
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
    xte, own_te = as_chunks(X_test)
    probs = item_mean(probe.predict_proba(xte), own_te, len(y_test))
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
        probe.valid_score = primary(score(probe.predict_proba(xva), y_valid, multilabel), multilabel)
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
