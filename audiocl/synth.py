"""A small labelled synthetic corpus whose classes differ in timbre only.

Every class plays notes at random pitch, loudness and timing over background noise, so pitch, gain and noise are
genuine nuisances: an encoder that has learned the augmentations' invariances sorts the clips by timbre, one that
has not sorts them by pitch and level. Used by ``audiocl demo``, the notebook and the tests; nothing is downloaded.

>>> table = make_corpus("demo-data", clips_per_class=40, sample_rate=16000)   # doctest: +SKIP
>>> table[0]                                                                     # doctest: +SKIP
{'path': 'audio/plucked/plucked_0000.wav', 'label': 'plucked', 'split': 'train'}
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

# Class -> synthesiser(frequency_hz, duration_s, sample_rate, rng) -> mono note, peak 1.
Synth = Callable[[float, float, int, np.random.Generator], np.ndarray]


def _harmonics(f0: float, t: np.ndarray, amplitudes: np.ndarray, decays: np.ndarray, sr: int) -> np.ndarray:
    """Sum of harmonics k*f0 (k = 1..K) below Nyquist with amplitude a_k and decay rate d_k (1/s)."""
    k = np.arange(1, len(amplitudes) + 1)
    keep = k * f0 < 0.45 * sr
    phases = 2 * np.pi * np.outer(k[keep] * f0, t)
    env = np.exp(-np.outer(decays[keep], t))
    return (amplitudes[keep, None] * env * np.sin(phases)).sum(axis=0)


def plucked(f0: float, dur: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A plucked string: bright attack, upper harmonics dying much faster than the fundamental."""
    t = np.arange(int(dur * sr)) / sr
    k = np.arange(1, 31)
    pos = rng.uniform(0.1, 0.3)  # pluck position shapes the harmonic amplitudes
    amps = np.abs(np.sin(np.pi * k * pos)) / k
    decays = rng.uniform(2.0, 4.0) * (1 + 0.6 * k)
    return _harmonics(f0, t, amps, decays, sr)


def bowed(f0: float, dur: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A bowed string: sawtooth spectrum, slow attack, vibrato, sustained."""
    t = np.arange(int(dur * sr)) / sr
    vibrato = 1 + 0.006 * np.sin(2 * np.pi * rng.uniform(5, 6.5) * t)
    phase = 2 * np.pi * f0 * np.cumsum(vibrato) / sr
    k = np.arange(1, 31)
    k = k[k * f0 < 0.45 * sr]
    tone = (np.sin(np.outer(k, phase)) / k[:, None]).sum(axis=0)
    attack = np.clip(t / rng.uniform(0.12, 0.25), 0, 1)
    return tone * attack


def reed(f0: float, dur: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A reed (clarinet-like): odd harmonics only, quick attack, slight tremolo."""
    t = np.arange(int(dur * sr)) / sr
    k = np.arange(1, 31)
    amps = np.where(k % 2 == 1, 1.0 / k, 0.0)
    tone = _harmonics(f0, t, amps, np.zeros_like(amps, dtype=float), sr)
    tremolo = 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(4, 6) * t)
    attack = np.clip(t / 0.03, 0, 1)
    return tone * tremolo * attack


def metal(f0: float, dur: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A struck metal bar: inharmonic modes (free-free bar ratios), sharp attack, long ring."""
    t = np.arange(int(dur * sr)) / sr
    ratios = np.array([1.0, 2.756, 5.404, 8.933, 13.34])
    keep = ratios * f0 < 0.45 * sr
    amps = np.array([1.0, 0.6, 0.4, 0.25, 0.15])[keep]
    decays = rng.uniform(1.0, 2.0) * (1 + ratios[keep])
    phases = 2 * np.pi * np.outer(ratios[keep] * f0, t)
    return (amps[:, None] * np.exp(-np.outer(decays, t)) * np.sin(phases)).sum(axis=0)


def noise_burst(f0: float, dur: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Band-passed noise centred on the note frequency (a breathy hit), fast attack and decay."""
    n = int(dur * sr)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    centre = f0 * 4  # the 'pitch' moves the band, like the notes of the other classes
    spectrum *= np.exp(-0.5 * (np.log2(np.maximum(freqs, 1) / centre) / 0.7) ** 2)
    t = np.arange(n) / sr
    env = np.clip(t / 0.005, 0, 1) * np.exp(-t * rng.uniform(6, 12))
    return np.fft.irfft(spectrum, n) * env


SYNTHS: dict[str, Synth] = {
    "plucked": plucked,
    "bowed": bowed,
    "reed": reed,
    "metal": metal,
    "noise_burst": noise_burst,
}


def make_clip(synth: Synth, sample_rate: int, clip_seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One clip: 1-3 notes at random pitch (MIDI 45-75) and onset over background noise, at a random RMS level."""
    n = int(clip_seconds * sample_rate)
    clip = np.zeros(n)
    for _ in range(rng.integers(1, 4)):
        f0 = 440.0 * 2 ** ((rng.uniform(45, 75) - 69) / 12)
        dur = rng.uniform(0.4, clip_seconds)
        note = synth(f0, dur, sample_rate, rng)
        note /= np.abs(note).max() + 1e-9
        start = rng.integers(0, max(1, n - len(note) // 2))
        end = min(n, start + len(note))
        clip[start:end] += note[: end - start] * 10 ** (rng.uniform(-12, 0) / 20)
    clip /= np.abs(clip).max() + 1e-9
    noise = np.cumsum(rng.standard_normal(n)) * 0.02 + rng.standard_normal(n)  # white + a little brown
    noise *= np.sqrt(np.mean(clip**2) / np.mean(noise**2)) * 10 ** (-rng.uniform(15, 30) / 20)
    out = clip + noise
    out *= 10 ** (rng.uniform(-35, -15) / 20) / np.sqrt(np.mean(out**2))  # random RMS level, whatever the class
    return (out / max(1.0, np.abs(out).max())).astype(np.float32)


def make_corpus(
    root: str | Path,
    *,
    clips_per_class: int = 60,
    sample_rate: int = 16000,
    clip_seconds: float = 2.0,
    test_fraction: float = 0.3,
    seed: int = 0,
    classes: list[str] | None = None,
) -> list[dict]:
    """Write ``root/audio/<class>/<class>_NNNN.wav`` and ``root/labels.csv`` (``path,label,split``).

    The split is stratified: ``test_fraction`` of each class is ``test``, the rest ``train``. Paths in the CSV
    are relative to ``root``. Returns the rows of the CSV.
    """
    if clips_per_class < 2:
        raise ValueError(f"clips_per_class must be >= 2, got {clips_per_class}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be within (0, 1), got {test_fraction}")
    classes = classes or list(SYNTHS)
    unknown = set(classes) - set(SYNTHS)
    if unknown:
        raise ValueError(f"unknown classes {sorted(unknown)}; known: {sorted(SYNTHS)}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    n_test = max(1, round(clips_per_class * test_fraction))
    rows = []
    for label in classes:
        folder = root / "audio" / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(clips_per_class):
            rel = f"audio/{label}/{label}_{i:04d}.wav"
            sf.write(root / rel, make_clip(SYNTHS[label], sample_rate, clip_seconds, rng), sample_rate)
            rows.append({"path": rel, "label": label, "split": "test" if i < n_test else "train"})
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def ensure_corpus(
    root: str | Path, *, clips_per_class: int, sample_rate: int, clip_seconds: float, seed: int = 0
) -> Path:
    """The corpus of :func:`make_corpus` in ``root``, generated there the first time; returns ``root``.

    Safe when several processes (DDP ranks) ask at once: each writes a private folder and renames it into
    place, the first rename wins and the others discard theirs. The settings are part of the folder name,
    so other settings get a corpus of their own.
    """
    import os
    import shutil
    import tempfile

    from audiocl.atomic import make_public_dir

    root = Path(root) / f"{clips_per_class}x{clip_seconds:g}s_{sample_rate}Hz_seed{seed}"
    if (root / "labels.csv").is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=root.parent))
    try:
        make_public_dir(tmp)  # mkdtemp's 0700 would keep the corpus from teammates
        make_corpus(tmp, clips_per_class=clips_per_class, sample_rate=sample_rate, clip_seconds=clip_seconds, seed=seed)
        try:
            os.rename(tmp, root)
        except OSError:  # another process got there first
            if not (root / "labels.csv").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
