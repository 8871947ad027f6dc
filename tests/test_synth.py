import csv

import numpy as np
import soundfile as sf

from audiocl.synth import SYNTHS, make_clip, make_corpus


def test_corpus_layout_and_split(tmp_path):
    rows = make_corpus(tmp_path, clips_per_class=4, clip_seconds=0.5, sample_rate=8000, test_fraction=0.25)
    assert len(rows) == 4 * len(SYNTHS)
    with open(tmp_path / "labels.csv") as f:
        table = list(csv.DictReader(f))
    assert table == [{k: str(v) for k, v in row.items()} for row in rows]
    for label in SYNTHS:
        splits = [r["split"] for r in rows if r["label"] == label]
        assert splits.count("test") == 1 and splits.count("train") == 3
    audio, sr = sf.read(tmp_path / rows[0]["path"])
    assert sr == 8000 and audio.shape == (4000,)


def test_clips_are_finite_bounded_and_seeded():
    a = make_clip(SYNTHS["bowed"], 16000, 1.0, np.random.default_rng(0))
    b = make_clip(SYNTHS["bowed"], 16000, 1.0, np.random.default_rng(0))
    assert a.dtype == np.float32 and np.isfinite(a).all() and np.abs(a).max() <= 1.0
    np.testing.assert_array_equal(a, b)


def test_classes_differ_in_timbre_not_level():
    """Levels overlap across classes (loudness is random), yet MFCC statistics without c0 (timbre, not level)
    separate the classes well above chance with a nearest-centroid rule."""
    import librosa

    rng = np.random.default_rng(1)
    levels, features, labels = {}, [], []
    for label, (name, synth) in enumerate(SYNTHS.items()):
        clips = [make_clip(synth, 16000, 1.0, rng) for _ in range(12)]
        levels[name] = np.median([20 * np.log10(np.sqrt(np.mean(c**2))) for c in clips])
        for c in clips:
            m = librosa.feature.mfcc(y=c, sr=16000, n_mfcc=13)[1:]
            features.append(np.concatenate([m.mean(1), m.std(1)]))
            labels.append(label)
    assert max(levels.values()) - min(levels.values()) < 4  # dB: level does not give the class away
    x, y = np.array(features), np.array(labels)
    train = np.arange(len(y)) % 12 < 8
    x = (x - x[train].mean(0)) / x[train].std(0)
    centroids = np.stack([x[train & (y == c)].mean(0) for c in range(len(SYNTHS))])
    predicted = np.argmin(((x[~train, None] - centroids) ** 2).sum(-1), axis=1)
    assert (predicted == y[~train]).mean() >= 0.5  # chance is 0.2


def test_ensure_corpus_generates_once_and_tolerates_a_concurrent_writer(tmp_path, monkeypatch):
    import audiocl.synth as synth

    first = synth.ensure_corpus(tmp_path, clips_per_class=2, sample_rate=8000, clip_seconds=0.5)
    assert (first / "labels.csv").is_file() and len(list(first.rglob("*.wav"))) == 10
    calls = []
    monkeypatch.setattr(synth, "make_corpus", lambda *a, **k: calls.append(a))
    assert synth.ensure_corpus(tmp_path, clips_per_class=2, sample_rate=8000, clip_seconds=0.5) == first
    assert calls == []  # the second call found it
    monkeypatch.undo()

    # Another rank renames its corpus into place while this one is still writing: this one's is discarded.
    real = synth.make_corpus

    def racing(root, **kwargs):
        real(tmp_path / "other", **kwargs)
        (tmp_path / "other").rename(tmp_path / "3x0.5s_8000Hz_seed0")
        return real(root, **kwargs)

    monkeypatch.setattr(synth, "make_corpus", racing)
    won = synth.ensure_corpus(tmp_path, clips_per_class=3, sample_rate=8000, clip_seconds=0.5)
    assert won == tmp_path / "3x0.5s_8000Hz_seed0" and (won / "labels.csv").is_file()
    assert not list(tmp_path.glob(".partial-*"))
