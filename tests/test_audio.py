"""audiocl.audio: decoding, mix-down, offset/duration, resampling, and an AudioError for every bad file."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch
from signals import sine

from audiocl.audio import AUDIO_EXTENSIONS, AudioError, AudioInfo, info, load, resample, save

SR = 16000


def noise(seconds: float = 1.0, channels: int = 1, seed: int = 0, sample_rate: int = SR) -> np.ndarray:
    """Uniform noise in [-0.5, 0.5], shape (channels, samples)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.5, 0.5, (channels, int(seconds * sample_rate))).astype(np.float32)


def peak_hz(audio: torch.Tensor, sample_rate: int) -> float:
    spectrum = torch.fft.rfft(audio.double() * torch.hann_window(len(audio), dtype=torch.float64)).abs()
    return float(spectrum.argmax()) * sample_rate / len(audio)


def expect_error(path, match: str, **kwargs) -> AudioError:
    with pytest.raises(AudioError, match=match) as caught:
        load(path, **kwargs)
    assert caught.value.path == path
    assert str(path) in str(caught.value), "the message must name the file"
    return caught.value


# --- bad files: each raises AudioError naming the file ------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "absent.wav"
    expect_error(path, "not found")
    with pytest.raises(AudioError, match="not found"):
        info(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    expect_error(path, "empty")
    with pytest.raises(AudioError, match="empty"):
        info(path)


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3", ".aiff", ".opus"])
def test_truncated_file(tmp_path, suffix, fraction):
    whole = tmp_path / f"whole{suffix}"
    save(whole, noise(3.0, channels=2), SR)
    load(whole)  # the whole file is fine
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(len(data) * fraction)])
    expect_error(cut, "truncated|corrupt")


def test_header_only_file(tmp_path):
    whole = tmp_path / "whole.wav"
    save(whole, noise(0.1), SR)
    cut = tmp_path / "header.wav"
    cut.write_bytes(whole.read_bytes()[:30])
    expect_error(cut, "not a readable audio file")


def test_non_audio_file(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are not samples\n" * 50)
    expect_error(path, "not a readable audio file")
    with pytest.raises(AudioError, match="not a readable"):
        info(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, bad):
    samples = noise(0.1)[0]
    samples[100] = bad
    path = tmp_path / "bad.wav"
    sf.write(path, samples, SR, subtype="FLOAT")
    expect_error(path, "NaN or Inf")


def test_zero_length(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((0, 1), np.float32), SR)
    assert info(path).num_frames == 0
    expect_error(path, "zero length")


def test_offset_beyond_end(tmp_path):
    path = tmp_path / "short.wav"
    save(path, noise(0.5), SR)
    expect_error(path, "beyond the end", offset_s=0.5)
    expect_error(path, "beyond the end", offset_s=3.0)


def test_invalid_arguments(tmp_path):
    path = tmp_path / "a.wav"
    save(path, noise(0.1), SR)
    for kwargs in ({"sample_rate": 0}, {"sample_rate": 16000.5}, {"offset_s": -1.0}, {"duration_s": 0.0}):
        with pytest.raises(ValueError):
            load(path, **kwargs)
    with pytest.raises(ValueError, match="suffix"):
        save(tmp_path / "a.xyz", noise(0.1), SR)
    with pytest.raises(ValueError, match="shape"):
        save(tmp_path / "b.wav", np.zeros((1, 2, 3)), SR)
    with pytest.raises(ValueError, match="new_sr"):
        resample(torch.zeros(10), 16000, 0)


def test_error_survives_pickling(tmp_path):
    import pickle

    error = pickle.loads(pickle.dumps(AudioError(tmp_path / "x.wav", "empty file (0 bytes)")))
    assert error.path == tmp_path / "x.wav" and str(error) == f"{tmp_path / 'x.wav'}: empty file (0 bytes)"


# --- decoding -----------------------------------------------------------------------------------------


def test_multichannel_mixdown(tmp_path):
    x = noise(0.25, channels=3, seed=1)
    path = tmp_path / "three.wav"
    save(path, x, SR)
    audio, rate = load(path)
    assert rate == SR and audio.dtype == torch.float32 and audio.shape == (x.shape[1],)
    torch.testing.assert_close(audio, torch.from_numpy(x.mean(axis=0)), rtol=0, atol=1e-7)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_lossless_round_trip(tmp_path, suffix):
    x = noise(0.5, seed=2)[0]
    path = tmp_path / f"x{suffix}"
    save(path, x, SR)
    audio, rate = load(path)
    assert rate == SR
    atol = 0 if suffix == ".wav" else 2.0**-23  # float WAV is exact; FLAC is 24-bit PCM
    torch.testing.assert_close(audio, torch.from_numpy(x), rtol=0, atol=atol)


@pytest.mark.parametrize("suffix", [".ogg", ".mp3"])
def test_lossy_round_trip(tmp_path, suffix):
    x = sine(440.0, 44100, 1.0).numpy()
    path = tmp_path / f"x{suffix}"
    save(path, np.stack([x, x]), 44100)  # stereo on purpose: decoded through the mix-down too
    meta = info(path)
    assert (meta.sample_rate, meta.channels) == (44100, 2)
    audio, rate = load(path)
    assert rate == 44100 and audio.dtype == torch.float32
    assert abs(len(audio) - len(x)) <= 2048, "at most one codec frame of delay/padding"
    assert abs(peak_hz(audio, rate) - 440.0) <= 1.0
    rms_in, rms_out = np.sqrt(np.mean(x**2)), float(audio.pow(2).mean().sqrt())
    assert rms_out == pytest.approx(rms_in, rel=0.1)


def test_output_clipped_to_unit_range(tmp_path):
    path = tmp_path / "hot.wav"
    sf.write(path, np.array([0.5, 1.5, -2.0, 0.25], np.float32), SR, subtype="FLOAT")
    audio, _ = load(path)
    assert audio.tolist() == [0.5, 1.0, -1.0, 0.25]


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_offset_and_duration(tmp_path, suffix, monkeypatch):
    x = noise(2.0, seed=3)[0]
    path = tmp_path / f"long{suffix}"
    save(path, x, SR)
    requested = []
    original = sf.SoundFile.read
    monkeypatch.setattr(
        sf.SoundFile,
        "read",
        lambda self, frames=-1, **kw: requested.append(frames) or original(self, frames, **kw),
    )

    audio, _ = load(path, offset_s=0.5, duration_s=0.25)
    torch.testing.assert_close(audio, torch.from_numpy(x[8000:12000]), rtol=0, atol=2.0**-23)
    assert requested == [4000], "only the requested part is decoded"

    tail, _ = load(path, offset_s=1.75, duration_s=10.0)  # duration past the end stops at the end
    torch.testing.assert_close(tail, torch.from_numpy(x[28000:]), rtol=0, atol=2.0**-23)


def test_mp3_offset_and_duration(tmp_path):
    # libsndfile's MP3 seeks and second reads return wrong samples; load must not rely on them.
    x = sine(440.0, 44100, 1.5).numpy() * np.hanning(66150).astype(np.float32)
    path = tmp_path / "x.mp3"
    save(path, x, 44100)
    full, _ = load(path)
    for offset_s in (0.01, 0.5, 1.0):
        part, _ = load(path, offset_s=offset_s, duration_s=0.25)
        start = int(round(offset_s * 44100))
        torch.testing.assert_close(part, full[start : start + 11025], rtol=0, atol=0)


def test_mp3_length_estimate_is_not_truncation(tmp_path, monkeypatch):
    # Without a Xing/Info/VBRI tag libsndfile estimates an MP3's length from its size, often a little long
    # (libsndfile#1001): a short read is then no evidence of truncation. With the tag it is.
    tagged = tmp_path / "tagged.mp3"
    save(tagged, sine(440.0, 44100, 0.5), 44100)
    data = tagged.read_bytes()
    at = data.find(b"Xing") if b"Xing" in data[:200] else data.find(b"Info")
    untagged = tmp_path / "untagged.mp3"
    untagged.write_bytes(data[:at] + b"\0\0\0\0" + data[at + 4 :])
    decodable = len(load(untagged)[0])

    overestimate = property(lambda self: self._info.frames + 5000)
    monkeypatch.setattr(sf.SoundFile, "frames", overestimate)
    assert len(load(untagged)[0]) == decodable
    expect_error(tagged, "truncated")


def test_info_does_not_decode(tmp_path, monkeypatch):
    path = tmp_path / "i.flac"
    save(path, noise(0.75, channels=2), SR)
    monkeypatch.setattr(sf.SoundFile, "read", lambda *a, **k: pytest.fail("info() decoded samples"))
    meta = info(path)
    assert meta == AudioInfo(sample_rate=SR, num_frames=12000, channels=2, format="FLAC")
    assert meta.duration_s == pytest.approx(0.75)


# --- resampling ---------------------------------------------------------------------------------------


def test_resampled_sine_keeps_its_frequency(tmp_path):
    path = tmp_path / "sine44k.wav"
    save(path, sine(1000.0, 44100, 1.0), 44100)
    audio, rate = load(path, sample_rate=16000)
    assert rate == 16000 and audio.shape == (16000,)
    assert peak_hz(audio, rate) == pytest.approx(1000.0, abs=1.0)  # 1 Hz bins
    # and the amplitude survives (0.5 peak -> 0.354 RMS), away from the edges
    assert float(audio[1000:-1000].pow(2).mean().sqrt()) == pytest.approx(0.5 / 2**0.5, rel=0.01)


def test_resample_batched_and_identity():
    x = torch.stack([sine(500.0, 44100, 0.5), sine(3000.0, 44100, 0.5)])
    y = resample(x, 44100, 16000)
    assert y.shape == (2, 8000)
    torch.testing.assert_close(y[1], resample(x[1], 44100, 16000))
    assert resample(x, 44100, 44100) is x
    assert resample(x.double(), 44100, 16000).dtype == torch.float64


def test_extensions_are_lowercase_suffixes():
    assert {".wav", ".flac", ".ogg", ".mp3"} <= set(AUDIO_EXTENSIONS)
    assert all(e.startswith(".") and e == e.lower() for e in AUDIO_EXTENSIONS)


def test_resample_matches_an_fft_reference_at_an_odd_ratio():
    """22,051 -> 16,000 Hz (a reduced ratio of 22051:16000) against scipy's FFT resampling of a band-limited
    signal, away from the edges."""
    from scipy.signal import resample as fft_resample

    x = sine(440.0, 22051, 1.0) + 0.5 * sine(3000.0, 22051, 1.0)
    y = resample(x, 22051, 16000)
    assert y.shape == (math.ceil(22051 * 16000 / 22051),)
    reference = fft_resample(x.double().numpy(), 16000)
    np.testing.assert_allclose(y[500:-500].numpy(), reference[500:-500], atol=2e-3)


@pytest.mark.parametrize("orig_sr", [22051, 44099, 96001])
def test_resample_at_any_ratio_is_fast_and_small(orig_sr):
    """A kernel sized by the reduced ratio took 27 s and 6.4 GB for one second at 22,051 Hz: soxr's does not
    depend on it."""
    import resource
    import time

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    y = resample(torch.randn(orig_sr), orig_sr, 16000)
    assert time.perf_counter() - start < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB
    assert y.shape == (16000,)


def test_resample_keeps_shape_dtype_and_ceil_length():
    x = torch.randn(2, 3, 101, dtype=torch.float64)
    y = resample(x, 44100, 16000)
    assert y.shape == (2, 3, math.ceil(101 * 16000 / 44100)) and y.dtype == torch.float64
    assert resample(torch.ones(1), 44100, 16000).shape == (1,)
    assert resample(torch.randn(10).half(), 8000, 16000).dtype == torch.float16


@pytest.mark.parametrize("rate", [1_000_003, 999])
def test_a_header_with_an_absurd_rate_is_an_audio_error_naming_the_file(tmp_path, rate):
    path = tmp_path / "absurd.wav"
    sf.write(path, np.zeros(4000, np.float32), rate)
    for read in (lambda: load(path, 16000), lambda: info(path)):
        with pytest.raises(AudioError, match=rf"absurd\.wav: implausible sample rate {rate} Hz"):
            read()
