"""Item-level metrics: accuracy; macro ROC-AUC and PR-AUC (scikit-learn) for multi-label tasks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["score", "primary"]


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


def primary(metrics: dict, multilabel: bool) -> float:
    return metrics["roc_auc"] if multilabel else metrics["accuracy"]
