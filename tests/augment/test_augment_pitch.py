"""Pitch shift, speed and time stretch measured on tones: frequency by FFT peak, duration by envelope."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import torch

from audiocl import augment as A
from audiocl.augment.pitch import phase_vocoder

SR = 16000
METHODS = ["phase_vocoder", "wsola"]


def tone(freq_hz: float, seconds: float, start_s: float = 0.0, stop_s: float | None = None) -> torch.Tensor:
    """(1, samples) sine of amplitude 0.5, silent outside [start_s, stop_s)."""
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    x = 0.5 * torch.sin(2 * math.pi * freq_hz * t)
    stop_s = seconds if stop_s is None else stop_s
    return (x * ((t >= start_s) & (t < stop_s))).float()[None]


def peak_hz(x: torch.Tensor) -> float:
    """Frequency of the strongest spectral peak (Hann window, zero-padded FFT, parabolic interpolation)."""
    x = x.double().flatten()
    spectrum = torch.fft.rfft(x * torch.hann_window(len(x), dtype=torch.float64), n=8 * len(x)).abs()
    k = int(spectrum[1:-1].argmax()) + 1
    a, b, c = (spectrum[k - 1 : k + 2] + 1e-12).log().tolist()
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * SR / (8 * len(x))


def burst_seconds(x: torch.Tensor) -> tuple[float, float]:
    """(start, duration) of where the 10 ms RMS envelope exceeds half its maximum."""
    frame = SR // 100
    envelope = x.flatten()[: len(x.flatten()) // frame * frame].view(-1, frame).pow(2).mean(dim=1).sqrt()
    on = (envelope > envelope.max() / 2).nonzero().flatten()
    return on[0].item() * frame / SR, (on[-1] - on[0] + 1).item() * frame / SR


def apply(transform, x):
    return transform(x, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("semitones, expected_hz", [(12.0, 880.0), (-12.0, 220.0), (7.0, 440 * 2 ** (7 / 12))])
def test_pitch_shift_moves_a_tone_and_keeps_its_length(semitones, expected_hz, method):
    x = tone(440.0, 1.0)
    y = apply(A.PitchShift(SR, min_semitones=semitones, max_semitones=semitones, method=method), x)
    assert y.shape == x.shape
    middle = y[0, SR // 4 : 3 * SR // 4]
    assert peak_hz(middle) == pytest.approx(expected_hz, rel=0.01)
    # The level is kept (a phase vocoder that lost coherence between bins would cancel itself).
    assert middle.pow(2).mean().sqrt().item() == pytest.approx(0.5 / math.sqrt(2), rel=0.05)


@pytest.mark.parametrize("method", METHODS)
def test_pitch_shift_keeps_the_timing_of_a_burst(method):
    x = tone(440.0, 1.0, start_s=0.3, stop_s=0.7)
    y = apply(A.PitchShift(SR, min_semitones=5.0, max_semitones=5.0, method=method), x)
    start, duration = burst_seconds(y)
    assert start == pytest.approx(0.3, abs=0.03) and duration == pytest.approx(0.4, abs=0.03)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rate", [0.75, 0.9])
@pytest.mark.parametrize("start_s", [0.1, 0.2, 0.25])
def test_stretched_tone_after_quiet_noise_keeps_its_level(rate, start_s, method):
    # The bins of a partial that starts after noise must stay coherent (phase locking); without it the
    # tone can come out 10-20 dB too quiet depending on where it starts.
    x = tone(587.33, 1.0, start_s=start_s, stop_s=start_s + 0.4)
    x = x + 1e-4 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    y = apply(A.TimeStretch(SR, min_rate=rate, max_rate=rate, method=method), x)[0]
    steady = y[int((start_s + 0.1) / rate * SR) : int((start_s + 0.3) / rate * SR)]
    assert steady.pow(2).mean().sqrt().item() == pytest.approx(0.5 / math.sqrt(2), rel=0.05)


def test_speed_shortens_a_burst_and_raises_its_pitch():
    x = tone(440.0, 1.0, start_s=0.2, stop_s=0.8)
    y = apply(A.Speed(SR, min_rate=1.25, max_rate=1.25), x)
    assert y.shape == x.shape
    start, duration = burst_seconds(y)
    assert duration == pytest.approx(0.6 / 1.25, abs=0.015)
    assert start == pytest.approx(0.2 / 1.25, abs=0.015)
    assert peak_hz(y[0, int(0.2 * SR) : int(0.6 * SR)]) == pytest.approx(440 * 1.25, rel=0.01)


def test_slowing_down_pads_with_silence_and_lowers_the_pitch():
    x = tone(440.0, 1.0)
    y = apply(A.Speed(SR, min_rate=0.8, max_rate=0.8), x)
    assert peak_hz(y[0, : SR // 2]) == pytest.approx(440 * 0.8, rel=0.01)
    assert y.shape == x.shape


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rate", [1.25, 0.8])
def test_time_stretch_changes_duration_not_pitch(rate, method):
    x = tone(440.0, 1.0, start_s=0.1, stop_s=0.6)
    y = apply(A.TimeStretch(SR, min_rate=rate, max_rate=rate, method=method), x)
    assert y.shape == x.shape
    start, duration = burst_seconds(y)
    assert duration == pytest.approx(0.5 / rate, abs=0.03)
    assert start == pytest.approx(0.1 / rate, abs=0.03)
    assert peak_hz(y[0, int(0.15 * SR) : int(0.45 * SR)]) == pytest.approx(440.0, rel=0.01)


@pytest.mark.slow  # importing librosa's STFT takes a few seconds
def test_phase_vocoder_matches_librosa():
    """Same STFT in, same stretched STFT out as librosa's reference implementation."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4000).astype(np.float32)
    spec = librosa.stft(x, n_fft=256, hop_length=64)
    ours = phase_vocoder(
        torch.from_numpy(spec)[None], torch.tensor([0.8]), 64, int(np.ceil(spec.shape[1] / 0.8)), phase_lock=False
    )
    reference = librosa.phase_vocoder(spec, rate=0.8, hop_length=64, n_fft=256)
    frames = min(reference.shape[1], ours.shape[2])
    np.testing.assert_allclose(np.abs(ours[0, :, :frames].numpy()), np.abs(reference[:, :frames]), atol=1e-3)
    # Phases of the bins that carry energy. librosa sums unwrapped float32 phases (hundreds of
    # radians), so it drifts by ~1e-2 rad over these frames; ours wraps each step before summing.
    loud = np.abs(reference[:, :frames]) > 0.1
    diff = np.angle(ours[0, :, :frames].numpy()[loud] * np.conj(reference[:, :frames][loud]))
    assert np.abs(diff).max() < 0.05


@pytest.mark.parametrize("semitones", [[3.0, -7.0], [-3.0, 0.5, 6.0], [12.0, -12.0, 7.0, 0.0]])
def test_batched_equals_one_by_one(semitones):
    """Each row is resampled to its own length and the vocoder reads the shared STFT's frames past a row's end
    as silence: every row gets what it gets alone, over the whole length (the last window included)."""
    from audiocl.augment.pitch import pitch_shift

    x = 0.1 * torch.randn(len(semitones), 16000, generator=torch.Generator().manual_seed(0))
    semitones = torch.tensor(semitones)
    batched = pitch_shift(x, semitones)
    single = torch.cat([pitch_shift(x[i : i + 1], semitones[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(batched, single, atol=1e-6, rtol=0)


def test_interpolation_is_exactly_zero_past_each_rows_end():
    """Read at 2x, output sample 8000 of a 16000-sample row reads sample 16000, past its end: exactly zero, or
    the row would depend on how long the batch's output is (the float32 grid lands a hair before the end)."""
    from audiocl.augment.pitch import interpolate

    x = 0.1 * torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    y = interpolate(x, torch.tensor([2.0, 2 ** (-3 / 12)]), 24000)
    assert torch.all(y[0, 8000:] == 0) and y[0, 7999] != 0
    assert torch.all(y[1, math.ceil(16000 / 2 ** (-3 / 12)) :] == 0)
    torch.testing.assert_close(y[0, :8000], interpolate(x[:1], torch.tensor([2.0]), 8000)[0], atol=0, rtol=0)


def test_wsola_batched_equals_one_by_one():
    x = torch.randn(3, 4000, generator=torch.Generator().manual_seed(0))
    semitones = torch.tensor([-3.0, 0.5, 6.0])
    from audiocl.augment.pitch import pitch_shift_wsola

    batched = pitch_shift_wsola(x, semitones, 400, 64, 100)
    single = torch.cat([pitch_shift_wsola(x[i : i + 1], semitones[i : i + 1], 400, 64, 100) for i in range(3)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)


@pytest.mark.parametrize("semitones", [[-3.0, 0.5, 6.0, -0.2], [2.0, 7.0], [-7.0, -1.0], [0.0]])
def test_wsola_pitch_shift_is_resample_then_stretch(semitones):
    """The pitch shift resamples straight into WSOLA's padded input, rows going up and down apart: it must
    equal the plain composition, ``wsola(resample_rows(x, f), 1 / f)``."""
    from audiocl.augment.pitch import pitch_shift_wsola, resample_rows, wsola, wsola_sizes

    semitones = torch.tensor(semitones)
    x = torch.randn(len(semitones), 8000, generator=torch.Generator().manual_seed(0))
    factor = 2.0 ** (semitones.double() / 12)
    sizes = wsola_sizes(SR)
    plain = wsola(resample_rows(x, factor, math.ceil(8000 / float(factor.min()))), 1 / factor, 8000, *sizes)
    torch.testing.assert_close(pitch_shift_wsola(x, semitones, *sizes), plain, atol=1e-6, rtol=0)


def test_wsola_grains_continue_each_other_in_phase():
    # Without the similarity search (plain overlap-add at the nominal positions) a stretched tone
    # cancels itself where two grains meet out of phase; with it, the level is flat grain after grain.
    x = tone(523.25, 1.0)
    y = apply(A.TimeStretch(SR, min_rate=0.8, max_rate=0.8, method="wsola"), x)[0, SR // 10 : 7 * SR // 10]
    envelope = y[: len(y) // 80 * 80].view(-1, 80).pow(2).mean(dim=1).sqrt()  # 5 ms RMS
    assert envelope.min().item() > 0.9 * 0.5 / math.sqrt(2)
    assert peak_hz(y) == pytest.approx(523.25, rel=0.01)


def test_method_is_validated():
    with pytest.raises(ValueError, match="wsola"):
        A.PitchShift(SR, method="psola")
    with pytest.raises(ValueError, match="n_fft"):
        A.TimeStretch(SR, n_fft=512, method="wsola")


@pytest.mark.parametrize(
    "transform",
    [
        A.PitchShift(SR, min_semitones=7.0, max_semitones=7.0),
        A.PitchShift(SR, min_semitones=7.0, max_semitones=7.0, method="wsola"),
        A.Speed(SR, min_rate=1.5, max_rate=1.5),
    ],
    ids=["pitch_shift", "pitch_shift_wsola", "speed"],
)
def test_shifting_above_nyquist_does_not_alias(transform):
    # 6 kHz up by a factor 1.5 is 9 kHz, above the 8 kHz Nyquist frequency: it must vanish, not fold to 7 kHz.
    x = tone(6000.0, 1.0)
    y = apply(transform, x)[0, SR // 4 : SR // 2]
    assert 10 * math.log10(y.pow(2).mean().item() / x.pow(2).mean().item()) < -30


@pytest.mark.parametrize("d", [1, 2, 3, 4, 6, 9])
def test_wsola_box_sums_equal_a_plain_sum(d):
    from audiocl.augment.pitch import _box_sums

    x = torch.randn(3, 100, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(_box_sums(x, d), x[:, : 100 // d * d].view(3, -1, d).sum(2))
