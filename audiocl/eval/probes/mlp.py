"""HEAR-style MLP probe: standardise, one hidden layer with dropout, Adam, early stopping on the validation score.

As hear-eval-kit's ``FullyConnectedPrediction`` (``heareval/predictions/task_predictions.py``) with one hidden
layer of 1024 and dropout 0.1: softmax cross-entropy or sigmoid + BCE, Adam, mini-batches of 1024, and, as its
``EarlyStopping`` and ``ModelCheckpoint`` (monitor the task's score, mode max, ``min_delta`` 0), the validation
score checked every 3 epochs, training stopped after 20 checks without a strictly better one (at most 500
epochs) and the weights of the best check kept. The score is the probe's primary metric on the valid items:
accuracy, or macro ROC-AUC for multi-label (HEAR monitors each task's own first metric, e.g. mAP); where no
class has both positives and negatives in valid, minus the validation loss. The learning rate is chosen on the
best validation score from :class:`audiocl.eval.probes.options.MlpOptions`.

Unlike HEAR: inputs are standardised on the training rows (HEAR feeds embeddings as they are), the hidden layer
is ``Linear -> ReLU -> Dropout`` without HEAR's ``BatchNorm1d``, the initialisation is ``nn.Linear``'s default
(HEAR: Xavier), the grid is the learning rates only (HEAR samples points of 1-2 hidden layers x 4 learning
rates x 2 initialisations), and the last epoch is also checked when ``max_epochs`` is not a multiple of
``check_every``. Every random draw (initialisation, order, dropout) comes from one generator seeded with ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from audiocl.eval.metrics import primary, score
from audiocl.eval.probes.options import ProbeOptions
from audiocl.eval.probes.rows import as_chunks, item_mean
from audiocl.eval.protocols import head_loss

__all__ = ["mlp_probe_embeddings"]


def _uniform(shape, bound, g, device):
    return ((torch.rand(shape, generator=g, device=device) * 2 - 1) * bound).requires_grad_()


def _forward(params, x, dropout: float, g=None):
    W1, b1, W2, b2 = params
    h = torch.relu(x @ W1.T + b1)
    if g is not None and dropout > 0:  # training: inverted dropout from our generator
        h = h * (torch.rand(h.shape, generator=g, device=h.device) >= dropout) / (1 - dropout)
    return h @ W2.T + b2


def _train(x_tr, y_tr, x_va, valid_score, multilabel, num_classes, lr, seed, opts):
    """Train at one learning rate; -> (best validation score, its weights, its epoch). As HEAR (Lightning's
    ``EarlyStopping`` and ``ModelCheckpoint`` on the score, mode max, ``min_delta`` 0): validate every
    ``check_every`` epochs (and after the last), keep the first check with the best score, and stop after
    ``patience`` checks without a strictly better one."""
    m, device = opts.mlp, x_tr.device
    g = torch.Generator(device=device).manual_seed(seed)
    dim = x_tr.shape[1]
    params = [
        _uniform((m.hidden, dim), 1 / math.sqrt(dim), g, device),  # nn.Linear's default bounds
        _uniform((m.hidden,), 1 / math.sqrt(dim), g, device),
        _uniform((num_classes, m.hidden), 1 / math.sqrt(m.hidden), g, device),
        _uniform((num_classes,), 1 / math.sqrt(m.hidden), g, device),
    ]
    opt = torch.optim.Adam(params, lr=lr)
    best, waited, n = (-math.inf, [p.detach().clone() for p in params], 0), 0, len(x_tr)
    for epoch in range(1, m.max_epochs + 1):
        order = torch.randperm(n, generator=g, device=device)
        for lo in range(0, n, m.batch_size):
            idx = order[lo : lo + m.batch_size]
            opt.zero_grad(set_to_none=True)
            head_loss(_forward(params, x_tr[idx], m.dropout, g), y_tr[idx], multilabel).backward()
            opt.step()
        if epoch % m.check_every and epoch < m.max_epochs:
            continue
        with torch.no_grad():
            current = valid_score(_forward(params, x_va, m.dropout))
        if current > best[0]:
            best, waited = (current, [p.detach().clone() for p in params], epoch), 0
        else:
            waited += 1
            if waited >= m.patience:
                break
    return best


def mlp_probe_embeddings(
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
) -> dict:
    """The MLP probe on rows or per-item chunks (as :func:`audiocl.eval.probes.linear.probe_embeddings`)."""
    opts = options or ProbeOptions()
    if X_valid is None:
        raise ValueError("the MLP probe chooses its learning rate and epoch on a validation split")
    device = torch.device(opts.device)
    xtr, own_tr = as_chunks(X_train)
    xva, own_va = as_chunks(X_valid)
    y_train, y_valid = np.asarray(y_train), np.asarray(y_valid)
    num_classes = len(classes) if classes is not None else (y_train.shape[1] if multilabel else None)
    if num_classes is None:
        num_classes = int(max(y_train.max(), y_valid.max(), np.max(y_test))) + 1
    mean = xtr.mean(0, dtype=np.float64)
    scale = xtr.std(0, dtype=np.float64)
    scale[scale < 1e-12] = 1.0

    def rows(x):
        return torch.as_tensor((x - mean) / scale, dtype=torch.float32, device=device)

    ydt = torch.float32 if multilabel else torch.long
    x_tr, x_va = rows(xtr), rows(xva)
    y_tr = torch.as_tensor(y_train[own_tr], dtype=ydt, device=device)
    y_va = torch.as_tensor(y_valid[own_va], dtype=ydt, device=device)

    def item_probabilities(logits, own, n):
        p = torch.sigmoid(logits) if multilabel else torch.softmax(logits, -1)
        return item_mean(p.double().cpu().numpy(), own, n)

    def predict(params, x, own, n):
        with torch.no_grad():
            return item_probabilities(_forward(params, rows(x), opts.mlp.dropout), own, n)

    def valid_score(logits):  # the probe's primary metric on the valid items; minus the loss where undefined
        try:
            probs = item_probabilities(logits, own_va, len(y_valid))
            return primary(score(probs, y_valid, multilabel), multilabel)
        except ValueError:  # multi-label, and no class has both positives and negatives in valid
            return -float(head_loss(logits, y_va, multilabel))

    chosen = None
    for lr in opts.mlp.lrs:
        valid, params, epochs = _train(x_tr, y_tr, x_va, valid_score, multilabel, num_classes, lr, seed, opts)
        if chosen is None or valid > chosen[0]:
            chosen = (valid, lr, params, epochs)
    valid, lr, params, epochs = chosen
    xte, own_te = as_chunks(X_test)
    probs = predict(params, xte, own_te, len(y_test))
    out = score(probs, np.asarray(y_test), multilabel, classes)
    out.update(valid_score=valid, epochs=epochs, settings=f"lr {lr:g}, {epochs} epochs", test_probabilities=probs)
    return out
