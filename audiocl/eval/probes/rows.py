"""Per-item chunk embeddings as rows, and per-chunk outputs back to items."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_chunks", "item_mean"]


def as_chunks(X) -> tuple[np.ndarray, np.ndarray]:
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


def item_mean(probs: np.ndarray, owner: np.ndarray, num_items: int) -> np.ndarray:
    """Average per-chunk probabilities over each item: ``(M, C)`` -> ``(num_items, C)``."""
    sums = np.zeros((num_items, probs.shape[1]))
    np.add.at(sums, owner, probs)
    return sums / np.bincount(owner, minlength=num_items)[:, None]
