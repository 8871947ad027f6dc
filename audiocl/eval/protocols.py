"""Linear-evaluation protocols: what the head is trained on, with which settings, and how it is scored.

- ``audiocl`` (the default): every chunk of every training item, standardised with training statistics;
  Adam full batch, early stopping on the validation loss, weight decay chosen on the validation score;
  per-chunk probabilities averaged per item (:mod:`audiocl.probe`).
- ``clmr``: CLMR's own linear evaluation, as its code does it at commit 423414d (``linear_evaluation.py``,
  ``clmr/modules/linear_evaluation.py``, ``clmr/evaluation.py``, ``clmr/data.py``, ``config/config.yaml``):

  - the linear model is trained on **one random crop per training clip** (``RandomResizedCrop(audio_length)``),
    embedded once (``extract_representations``); the validation clips get one random crop each too;
  - no standardiser; ``nn.Linear`` at its default initialisation; cross-entropy (single-label) or
    ``BCEWithLogitsLoss`` (tags);
  - mini-batches of 48 (``batch_size: 48``), shuffled; ``Adam(lr=finetuner_learning_rate=1e-3,
    weight_decay=1e-6)``; ``ReduceLROnPlateau(factor=0.1, patience=5, threshold=1e-4)`` on the validation
    loss; ``EarlyStopping(monitor="Valid/loss", patience=10)``; at most ``finetuner_max_epochs=200`` epochs.
    The model tested is the one in memory when training stops (Lightning restores no best epoch here);
  - at test time each clip is cut into contiguous non-overlapping crops of the encoder's input length, the
    last piece dropped (``concat_clip``), and the sigmoid (tags) or softmax outputs are averaged over the crops
    (``evaluate``); macro ROC-AUC and PR-AUC for tags, accuracy otherwise.
- ``published`` (k-fold tasks such as ESC-50): the published cross-validation protocol: the head trains on all
  the folds but the test fold, with hyper-parameters fixed in advance (:class:`PublishedOptions`), no fold
  held out for validation; each fold tests once (5-fold cross-validation), or only ``test_folds``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: `audiocl --help` reads PROTOCOLS without it
    import torch

__all__ = ["PROTOCOLS", "ClmrOptions", "PublishedOptions", "check_protocol", "train_clmr_linear"]

#: Protocol name -> one line for ``--help``.
PROTOCOLS = {
    "audiocl": "all chunks, standardised, early stopping and weight decay chosen on valid, chunk probabilities "
    "averaged per item",
    "clmr": "CLMR's linear evaluation: one random crop per training clip, batch 48, Adam 1e-3, wd 1e-6, "
    "early stopping (patience 10); test outputs averaged over contiguous crops",
    "published": "k-fold tasks: train on every fold but the test fold, fixed hyper-parameters, no validation fold",
}


def check_protocol(protocol: str, task) -> str:
    """``protocol`` if it exists and applies to ``task``, else a ValueError naming both."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}")
    if protocol == "published" and not task.folds:
        raise ValueError(
            f"protocol 'published' trains on all but the test fold of a k-fold task; task {task.name!r} has "
            "train/valid/test splits instead (use 'audiocl' or 'clmr')"
        )
    return protocol


@dataclass(frozen=True)
class ClmrOptions:
    """CLMR's linear-evaluation settings (``config/config.yaml`` and ``linear_evaluation.py`` at 423414d)."""

    batch_size: int = 48  # batch_size (the linear model's loaders use args.batch_size, not finetuner_batch_size)
    lr: float = 1e-3  # finetuner_learning_rate
    weight_decay: float = 1e-6  # weight_decay, passed to the linear model's Adam
    patience: int = 10  # EarlyStopping(monitor="Valid/loss", patience=10)
    max_epochs: int = 200  # finetuner_max_epochs
    plateau_factor: float = 0.1  # ReduceLROnPlateau(factor=0.1, patience=5, threshold=1e-4, mode="min")
    plateau_patience: int = 5
    plateau_threshold: float = 1e-4


@dataclass(frozen=True)
class PublishedOptions:
    """The ``published`` protocol's head, fixed before any data is seen (no validation fold to choose them):
    the standardised linear probe of ``audiocl`` at the middle of its weight-decay grid, trained full batch for
    a fixed number of epochs (the ``audiocl`` protocol's early stopping lands at 100-300 on standardised
    inputs) [here]."""

    epochs: int = 200
    weight_decay: float = 1e-3


def head_loss(logits: torch.Tensor, y: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Mean BCE with logits (multi-label) or cross-entropy: the loss of every probe head."""
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(logits, y) if multilabel else F.cross_entropy(logits, y)


def train_clmr_linear(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_valid: torch.Tensor,
    y_valid: torch.Tensor,
    *,
    multilabel: bool,
    num_classes: int,
    seed: int,
    options: ClmrOptions = ClmrOptions(),
) -> tuple[torch.Tensor, torch.Tensor, int, float]:
    """CLMR's ``LinearEvaluation`` fit on embeddings: returns ``(W (classes, dim), b, epochs, last valid loss)``.

    The validation loss is the mean over the validation rows (Lightning's epoch mean of per-batch means,
    weighted by batch size). The returned weights are those of the last epoch run, as CLMR tests them.

    Shape:
        ``x_train (n, dim)`` and ``x_valid (m, dim)`` on one device; ``y`` ``(n,)`` long or ``(n, classes)``.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    dim, device = x_train.shape[1], x_train.device
    bound = 1.0 / math.sqrt(dim)  # nn.Linear's default initialisation, drawn from our generator
    W = ((torch.rand(num_classes, dim, generator=g) * 2 - 1) * bound).to(device).requires_grad_()
    b = ((torch.rand(num_classes, generator=g) * 2 - 1) * bound).to(device).requires_grad_()
    opt = torch.optim.Adam([W, b], lr=options.lr, weight_decay=options.weight_decay)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=options.plateau_factor, patience=options.plateau_patience,
        threshold=options.plateau_threshold, threshold_mode="rel",
    )  # fmt: skip
    n = len(x_train)
    best, waited, valid_loss, epochs = math.inf, 0, math.inf, 0
    while epochs < options.max_epochs:
        epochs += 1
        order = torch.randperm(n, generator=g).to(device)  # DataLoader(shuffle=True)
        for lo in range(0, n, options.batch_size):
            idx = order[lo : lo + options.batch_size]
            opt.zero_grad(set_to_none=True)
            head_loss(x_train[idx] @ W.T + b, y_train[idx], multilabel).backward()
            opt.step()
        with torch.no_grad():
            valid_loss = float(head_loss(x_valid @ W.T + b, y_valid, multilabel))
        plateau.step(valid_loss)
        if valid_loss < best:  # Lightning's EarlyStopping: strictly better (min_delta 0)
            best, waited = valid_loss, 0
        else:
            waited += 1
            if waited >= options.patience:
                break
    return W.detach().cpu(), b.detach().cpu(), epochs, valid_loss
