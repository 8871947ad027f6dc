"""Weighted k-nearest-neighbour probe: no training, cosine similarity, votes weighted by ``exp(cos / T)``.

The convention of DINO (``eval_knn.py``) and solo-learn (Wu et al. 2018): rows are L2-normalised, each test
row takes its ``k`` most similar training rows, and class ``c`` scores ``sum(exp(cos_j / T) [y_j = c])``,
normalised to sum to one. For multi-label tasks a tag scores the weighted share of neighbours carrying it.
The validation rows are not needed (no hyper-parameter is chosen); they are scored for the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from audiocl.eval.metrics import primary, score
from audiocl.eval.probes.options import ProbeOptions
from audiocl.eval.probes.rows import as_chunks, item_mean

__all__ = ["knn_scores", "knn_probe_embeddings"]


def knn_scores(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_query: torch.Tensor,
    *,
    k: int = 20,
    temperature: float = 0.07,
    batch_size: int = 1024,
) -> torch.Tensor:
    """Class scores of each query row.

    Shape:
        ``x_train (n, dim)``, ``y_train (n, classes)`` one- or multi-hot float, ``x_query (m, dim)`` ->
        ``(m, classes)``: rows sum to one for one-hot labels.
    """
    train = torch.nn.functional.normalize(x_train.float(), dim=1)
    k = min(k, len(train))
    out = []
    for lo in range(0, len(x_query), batch_size):  # bounded memory: (batch, n) similarities at a time
        q = torch.nn.functional.normalize(x_query[lo : lo + batch_size].float(), dim=1)
        sim, idx = (q @ train.T).topk(k, dim=1)  # (b, k)
        w = (sim / temperature).exp()
        votes = (w[..., None] * y_train[idx]).sum(1)  # (b, classes)
        out.append(votes / w.sum(1, keepdim=True))
    return torch.cat(out)


def knn_probe_embeddings(
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
    """The kNN probe on rows or per-item chunks (as :func:`audiocl.eval.probes.linear.probe_embeddings`);
    chunk outputs are averaged per item. ``seed`` is unused (nothing is random)."""
    opts = options or ProbeOptions()
    device = torch.device(opts.device)
    xtr, own_tr = as_chunks(X_train)
    y_train = np.asarray(y_train)
    num_classes = len(classes) if classes is not None else (y_train.shape[1] if multilabel else None)
    if num_classes is None:
        num_classes = int(max(y_train.max(), np.max(y_test), np.max(y_valid) if X_valid is not None else 0)) + 1
    hot = y_train if multilabel else np.eye(num_classes, dtype=np.float32)[y_train]
    x_t = torch.as_tensor(xtr, device=device)
    y_t = torch.as_tensor(hot[own_tr], dtype=torch.float32, device=device)

    def predict(X, n):
        x, own = as_chunks(X)
        s = knn_scores(x_t, y_t, torch.as_tensor(x, device=device), k=opts.knn.k, temperature=opts.knn.temperature)
        return item_mean(s.double().cpu().numpy(), own, n)

    valid_score = None
    if X_valid is not None and len(y_valid):
        try:
            valid_score = primary(score(predict(X_valid, len(y_valid)), np.asarray(y_valid), multilabel), multilabel)
        except ValueError:
            valid_score = None
    probs = predict(X_test, len(y_test))
    out = score(probs, np.asarray(y_test), multilabel, classes)
    out.update(
        valid_score=valid_score,
        settings=f"k={opts.knn.k}, T={opts.knn.temperature:g}",
        test_probabilities=probs,
    )
    return out
