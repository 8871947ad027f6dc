"""audiocl.eval.stats: weighted metrics equal scikit-learn's, intervals cover, paired differences pair."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from audiocl.eval.stats import Predictions, bootstrap_ci, paired_difference, weighted_metric


def test_weighted_metrics_equal_scikit_learn_on_the_duplicated_items():
    rng = np.random.default_rng(0)
    n, C = 60, 4
    y_tags = (rng.random((n, C)) < 0.4).astype(int)
    probs = np.round(rng.random((n, C)), 1)  # rounded: many ties
    w = rng.integers(0, 4, n)
    w[:3] = 1
    dup = np.repeat(np.arange(n), w)
    for metric, fn in (("roc_auc", roc_auc_score), ("pr_auc", average_precision_score)):
        ones = weighted_metric(metric, probs, y_tags, np.ones(n))[0]
        assert ones == pytest.approx(fn(y_tags, probs, average="macro"))
        got = weighted_metric(metric, probs, y_tags, w[None])[0]
        assert got == pytest.approx(fn(y_tags[dup], probs[dup], average="macro"))
    y = rng.integers(0, C, n)
    assert weighted_metric("accuracy", probs, y, w[None])[0] == pytest.approx(
        accuracy_score(y[dup], probs[dup].argmax(1))
    )


def test_the_95_percent_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    # Known answer: each test item is classified correctly with probability 0.7, so the accuracy of the
    # probe on the population is 0.7; each trial draws a fresh test set of 150 items.
    rng = np.random.default_rng(1)
    trials, n, hits = 200, 150, 0
    for t in range(trials):
        y = rng.integers(0, 3, n)
        correct = rng.random(n) < 0.7
        probs = np.eye(3)[np.where(correct, y, (y + 1) % 3)]
        lo, hi = bootstrap_ci([Predictions(probs, y)], "accuracy", n_boot=300, seed=t)
        hits += lo <= 0.7 <= hi
    assert 0.9 <= hits / trials <= 0.99


def test_roc_auc_interval_covers_a_known_auc():
    # Scores N(0,1) for negatives and N(d,1) for positives: AUC = Phi(d / sqrt(2)).
    from scipy.stats import norm

    d, rng, hits, trials = 1.0, np.random.default_rng(2), 0, 100
    truth = norm.cdf(d / np.sqrt(2))
    for t in range(trials):
        y = (rng.random(200) < 0.5).astype(int)
        s = rng.standard_normal(200) + d * y
        lo, hi = bootstrap_ci([Predictions(s[:, None], y[:, None])], "roc_auc", n_boot=300, seed=t)
        hits += lo <= truth <= hi
    assert 0.88 <= hits / trials <= 1.0


def test_paired_difference_sees_a_small_gap_that_separate_intervals_miss():
    rng = np.random.default_rng(3)
    n = 400
    y = rng.integers(0, 2, n)
    base = rng.random(n) < 0.75
    better = base | (rng.random(n) < 0.12)  # b is right wherever a is, and on some more items
    a, b = (np.eye(2)[np.where(ok, y, 1 - y)] for ok in (better, base))
    res = paired_difference([Predictions(a, y)], [Predictions(b, y)], "accuracy", n_boot=2000)
    assert res["difference"] == pytest.approx(better.mean() - base.mean())
    assert res["ci95"][0] > 0 and res["p_value"] < 0.01
    lo_a, _ = bootstrap_ci([Predictions(a, y)], "accuracy")
    _, hi_b = bootstrap_ci([Predictions(b, y)], "accuracy")
    assert lo_a < hi_b  # the unpaired intervals overlap
    same = paired_difference([Predictions(a, y)], [Predictions(a, y)], "accuracy")
    assert same["difference"] == 0 and same["p_value"] == 1.0
    with pytest.raises(ValueError, match="share their test items"):
        paired_difference([Predictions(a, y, items=np.arange(n))], [Predictions(b, y, items=np.arange(n) + 1)],
                          "accuracy")  # fmt: skip
