"""`--baseline mfcc` is at least as strong as the field's plain MFCC baseline (issue 18): MFCC mean and std over
the whole clip (librosa's defaults) and scikit-learn's logistic regression, on the same held-out items."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiocl.audio import save
from audiocl.data.task import Item, Task
from audiocl.embed import build_embedder
from audiocl.probe import run_probe

SR = 16000


def chirp_clip(c: int, rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    """Six classes: three base pitches x rising/falling, a 0.3-0.6 s chirp at a random place in noise of random
    level (so that neither pitch nor loudness alone gives the class)."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 300 * 1.25 ** (c // 2) * (1 + 0.1 * rng.standard_normal())
    direction = 2 * (c % 2) - 1
    dur = rng.uniform(0.3, 0.6)
    start = rng.uniform(0, seconds - dur)
    inside, tt = (t >= start) & (t < start + dur), t - start
    freq = f0 * (1 + 0.5 * direction * tt / dur)
    x = 0.1 * rng.uniform(0.3, 1) * rng.standard_normal(len(t))
    x += inside * 0.3 * np.sin(2 * np.pi * np.cumsum(freq) / SR) * (1 + 0.5 * np.sin(2 * np.pi * 3 * tt))
    return np.clip(x, -1, 1).astype(np.float32)


@pytest.mark.slow  # 1200 one-second clips: big enough that a 2-point gap is not noise
def test_mfcc_baseline_is_at_least_as_strong_as_plain_mfcc_statistics_and_logistic_regression(tmp_path):
    librosa = pytest.importorskip("librosa")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    items, audio = [], []
    per_class = 200
    for c in range(6):
        for i in range(per_class):
            x = chirp_clip(c, rng)
            path = tmp_path / f"{c}_{i}.wav"
            save(path, torch.from_numpy(x), SR)
            split = "train" if i < 0.6 * per_class else "valid" if i < 0.7 * per_class else "test"
            items.append(Item(path, c, split=split))
            audio.append(x)
    task = Task("chirps", items, [str(c) for c in range(6)], multilabel=False)
    y = task.targets()
    split = np.array([it.split for it in items])

    # The plain baseline, as people write it: clip-level MFCC mean and std, standardise, logistic regression.
    mfcc = librosa.feature.mfcc(y=np.stack(audio), sr=SR, n_mfcc=20)  # (clips, 20, frames), one call
    features = np.concatenate([mfcc.mean(-1), mfcc.std(-1)], axis=1)
    plain = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    plain.fit(features[split == "train"], y[split == "train"])
    plain_accuracy = plain.score(features[split == "test"], y[split == "test"])

    torch.set_num_threads(1)
    ours = run_probe(task, build_embedder(baseline="mfcc", sample_rate=SR), seeds=(0, 1, 2), progress=False)
    accuracy = ours.metrics["accuracy"]["mean"]
    assert 0.5 < plain_accuracy < 0.95  # a task with room both ways
    assert accuracy >= plain_accuracy, (accuracy, plain_accuracy)
