"""Confidence intervals over test items and paired differences, by the bootstrap.

A probe's score is a statistic of its test items. The 95% interval here answers "how different could this
number be on another test set like this one?": test items (clips or tracks, never chunks) are resampled with
replacement, ``n`` of ``n``, the metric is recomputed on each replicate, and the 2.5th and 97.5th percentiles
are the interval (the percentile bootstrap, Efron & Tibshirani 1993, ch. 13). A resample is a vector of counts
(multinomial weights), so every metric is a weighted statistic and a replicate costs a few array operations:

- accuracy: the weighted share of correct items;
- ROC-AUC: the Mann-Whitney statistic with ties counted half, per class (scikit-learn's ``roc_auc_score``
  on the duplicated items);
- PR-AUC: average precision over the distinct thresholds (scikit-learn's ``average_precision_score``);
- multi-label: the macro mean over the classes with positives and negatives in the replicate.

Several seeds or folds share one resample per replicate: a fold's items are resampled within the fold, and
the replicate's value is the mean over folds and seeds, as the reported score is. A **paired** difference
applies the same resamples to two embedders' predictions on the same items; its two-sided p-value is twice
the smaller tail of the replicates around zero.

>>> lo, hi = bootstrap_ci([Predictions(probs, y)], "accuracy")       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Predictions", "weighted_metric", "bootstrap_replicates", "bootstrap_ci", "paired_difference"]


@dataclass
class Predictions:
    """One run's item-level test predictions.

    Attributes:
        probs: ``(n, classes)`` item-level probabilities (or scores).
        y: ``(n,)`` class indices or ``(n, classes)`` multi-hot.
        items: ``(n,)`` task item indices (to pair runs of two embedders); default ``arange(n)``.
        group: resampling stratum (the fold), runs with the same group share their resample.
        seed: the run's seed (a replicate averages over folds, then over seeds).
    """

    probs: np.ndarray
    y: np.ndarray
    items: np.ndarray | None = None
    group: str = "test"
    seed: int = 0


def _auc(scores: np.ndarray, pos: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted ROC-AUC of one class for each row of weights ``w (B, n)``; nan where a side has no weight."""
    order = np.argsort(scores, kind="stable")
    s, p, w = scores[order], pos[order].astype(bool), w[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # tie groups, ascending
    wp = np.add.reduceat(w * p, starts, axis=1)  # (B, groups) positive weight per group
    wn = np.add.reduceat(w * ~p, starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn  # negative weight strictly below each group
    P, N = wp.sum(1), wn.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((P > 0) & (N > 0), (wp * (below + 0.5 * wn)).sum(1) / (P * N), np.nan)


def _ap(scores: np.ndarray, pos: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted average precision of one class for each row of ``w (B, n)``; nan without positives."""
    order = np.argsort(-scores, kind="stable")
    s, p, w = scores[order], pos[order].astype(bool), w[:, order]
    ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # last index of each tie group, descending
    tp = np.cumsum(w * p, axis=1)[:, ends]
    seen = np.cumsum(w, axis=1)[:, ends]
    P = tp[:, -1]
    recall_step = np.diff(tp, axis=1, prepend=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(seen > 0, tp / seen, 0.0)
        return np.where(P > 0, (recall_step * precision).sum(1) / P, np.nan)


def weighted_metric(metric: str, probs: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``metric`` ("accuracy", "roc_auc" or "pr_auc") of the items weighted by each row of ``w (B, n)``: ``(B,)``.

    With ``w`` all ones it equals scikit-learn's value on the items (the macro mean for multi-label ``y``).
    """
    probs, y, w = np.asarray(probs), np.asarray(y), np.atleast_2d(np.asarray(w, dtype=np.float64))
    if metric == "accuracy":
        correct = probs.argmax(1) == y
        return (w * correct).sum(1) / w.sum(1)
    if metric not in ("roc_auc", "pr_auc"):
        raise ValueError(f"no bootstrap for metric {metric!r}; use accuracy, roc_auc or pr_auc")
    fn = _auc if metric == "roc_auc" else _ap
    y = y if y.ndim == 2 else np.eye(probs.shape[1])[y]
    per_class = np.stack([fn(probs[:, c], y[:, c], w) for c in range(y.shape[1])], axis=1)  # (B, C)
    if metric == "pr_auc":  # a class needs negatives too, as the point estimate's class filter
        negatives = np.stack([(w * (1 - y[:, c])).sum(1) for c in range(y.shape[1])], axis=1)
        per_class = np.where(negatives > 0, per_class, np.nan)
    with np.errstate(invalid="ignore"), _quiet():
        return np.nanmean(per_class, axis=1)


class _quiet:
    """Silence numpy's "mean of empty slice" for a replicate where no class is scorable (it is nan then)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def _weights(runs: Sequence[Predictions], n_boot: int, seed: int) -> dict:
    """One multinomial resample per group (fold), shared by every run of that group: group -> (B, n)."""
    rng = np.random.default_rng(seed)
    out = {}
    for r in runs:
        n = len(r.y)
        if r.group in out:
            if out[r.group].shape[1] != n:
                raise ValueError(f"runs of group {r.group!r} have different numbers of test items")
            continue
        out[r.group] = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    return out


def _score(runs: Sequence[Predictions], metric: str, weights: dict) -> np.ndarray:
    """Per seed the mean over groups (folds), then the mean over seeds, for each row of the weights."""
    by_seed: dict[int, list[np.ndarray]] = {}
    for r in runs:
        by_seed.setdefault(r.seed, []).append(weighted_metric(metric, r.probs, r.y, weights[r.group]))
    return np.mean([np.mean(v, axis=0) for v in by_seed.values()], axis=0)


def bootstrap_replicates(runs: Sequence[Predictions], metric: str, *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """``(n_boot,)`` replicates of the reported score, each on one resample of every group's items."""
    return _score(runs, metric, _weights(runs, n_boot, seed))


def _interval(replicates: np.ndarray, level: float) -> list[float]:
    finite = replicates[np.isfinite(replicates)]
    if not len(finite):
        return [float("nan"), float("nan")]
    tail = 100 * (1 - level) / 2
    return [float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))]


def bootstrap_ci(
    runs: Sequence[Predictions], metric: str, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> list[float]:
    """The percentile bootstrap interval ``[lo, hi]`` of the reported score over test items (module docstring)."""
    return _interval(bootstrap_replicates(runs, metric, n_boot=n_boot, seed=seed), level)


def paired_difference(
    runs_a: Sequence[Predictions],
    runs_b: Sequence[Predictions],
    metric: str,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict:
    """Score of ``a`` minus score of ``b`` on the same test items, with its bootstrap interval and p-value.

    The runs must pair up (same seeds, groups and items in the same order); each replicate resamples the
    items once and scores both embedders on that resample.

    Returns:
        ``{"difference", "ci95": [lo, hi], "p_value", "n_boot"}``.
    """
    if len(runs_a) != len(runs_b):
        raise ValueError(f"cannot pair {len(runs_a)} runs with {len(runs_b)}: probe both with the same seeds")
    for a, b in zip(runs_a, runs_b, strict=True):
        same = a.group == b.group and a.seed == b.seed and len(a.y) == len(b.y)
        if same and a.items is not None and b.items is not None:
            same = np.array_equal(a.items, b.items)
        if not same:
            raise ValueError(
                f"runs do not share their test items (seed {a.seed}/{b.seed}, {a.group}/{b.group}): a paired "
                "difference needs the same task, split, seeds and readable items"
            )
    weights = _weights(runs_a, n_boot, seed)
    ones = {g: np.ones((1, w.shape[1])) for g, w in weights.items()}
    diff = _score(runs_a, metric, weights) - _score(runs_b, metric, weights)
    point = float((_score(runs_a, metric, ones) - _score(runs_b, metric, ones))[0])
    finite = diff[np.isfinite(diff)]
    p = min(1.0, 2 * min(np.mean(finite <= 0), np.mean(finite >= 0))) if len(finite) else float("nan")
    return {"difference": point, "ci95": _interval(diff, level), "p_value": float(p), "n_boot": int(n_boot)}
