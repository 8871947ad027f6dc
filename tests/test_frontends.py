"""audiocl.frontends, grouped by property: librosa compatibility, batch consistency, determinism, shapes,
dtype/device, validation. Every registered front-end is covered by the parametrized groups."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from audiocl.frontends import (
    FRONTENDS,
    MFCC,
    CLARStack,
    LogMel,
    Spectrogram,
    Waveform,
    create_frontend,
    list_frontends,
)

SR = 16000


NAMES = list_frontends()
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

# Tolerances against librosa (float64 reference, our filter banks are float32 buffers):
LOG_ATOL = 1e-4  # natural-log features (LogMel, Spectrogram): max observed ~7e-6
DB_ATOL = 1e-3  # dB features and MFCCs (values up to ~200): max observed ~6e-5


def signal(seconds: float = 0.5, seed: int = 0, sample_rate: int = SR) -> np.ndarray:
    """A 440 Hz tone in noise with a silent tail (exercises the log offset and the dB floor)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / sample_rate) + 0.05 * rng.standard_normal(n)
    x[-n // 5 :] = 0.0
    return x


def batch(b: int = 3, samples: int = 4000, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, samples, generator=torch.Generator().manual_seed(seed)) * 0.1


def pad_like_ours(x: np.ndarray, n_fft: int, win_length: int) -> np.ndarray:
    """center=False frames start at k * hop; librosa's start at k * hop - (n_fft - win) // 2."""
    left = (n_fft - win_length) // 2
    return np.pad(x, (left, n_fft - win_length - left))


def run(frontend, x: np.ndarray, dtype=torch.float64) -> np.ndarray:
    return frontend(torch.from_numpy(x).to(dtype)[None])[0].double().numpy()


# --- librosa compatibility ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("center", [False, True])
def test_logmel_matches_librosa(center, dtype):
    x = signal()
    ours = run(LogMel(center=center), x, dtype)[0]
    ref = librosa.feature.melspectrogram(
        y=x if center else pad_like_ours(x, 1024, 400),
        sr=SR, n_fft=1024, win_length=400, hop_length=160, center=center, pad_mode="constant",
        power=1.0, n_mels=64, fmin=60.0, fmax=7800.0, htk=True, norm=None,
    )  # fmt: skip
    np.testing.assert_allclose(ours, np.log(ref + 1e-6), rtol=0, atol=LOG_ATOL)


def test_logmel_matches_librosa_other_settings():
    x = signal(sample_rate=22050)
    frontend = LogMel(22050, win_ms=40.0, hop_ms=20.0, n_mels=40, f_min_hz=0.0, f_max_hz=None, log_offset=1e-3,
                      n_fft=None, power=2.0, mel_scale="slaney", norm="slaney", center=True)  # fmt: skip
    ref = librosa.feature.melspectrogram(
        y=x, sr=22050, n_fft=1024, win_length=882, hop_length=441, pad_mode="constant", n_mels=40
    )
    np.testing.assert_allclose(run(frontend, x)[0], np.log(ref + 1e-3), rtol=0, atol=LOG_ATOL)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("center", [False, True])
def test_mfcc_matches_librosa(center, dtype):
    x = signal()
    ours = run(MFCC(center=center), x, dtype)[0]
    ref = librosa.feature.mfcc(
        y=x if center else pad_like_ours(x, 512, 400),
        sr=SR, n_mfcc=20, n_fft=512, win_length=400, hop_length=160, center=center, pad_mode="constant",
        n_mels=64,
    )  # fmt: skip
    np.testing.assert_allclose(ours, ref, rtol=0, atol=DB_ATOL)


def test_mfcc_matches_librosa_other_settings():
    x = signal(sample_rate=22050)
    frontend = MFCC(22050, n_mfcc=13, n_mels=40, f_min_hz=50.0, f_max_hz=8000.0, top_db=None,
                    n_fft=2048, mel_scale="htk", norm=None, center=True)  # fmt: skip
    mel = librosa.feature.melspectrogram(
        y=x, sr=22050, n_fft=2048, win_length=551, hop_length=220, pad_mode="constant",
        n_mels=40, fmin=50.0, fmax=8000.0, htk=True, norm=None,
    )  # fmt: skip
    ref = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=13)
    np.testing.assert_allclose(run(frontend, x)[0], ref, rtol=0, atol=DB_ATOL)


def test_spectrogram_matches_librosa():
    x = signal()
    ours = run(Spectrogram(), x)[0]
    ref = np.abs(librosa.stft(pad_like_ours(x, 512, 400), n_fft=512, win_length=400, hop_length=160, center=False))
    np.testing.assert_allclose(ours, np.log(ref + 1e-6), rtol=0, atol=LOG_ATOL)


def _clar_frames(x: np.ndarray, n_fft: int = 2048, hop: int = 128) -> np.ndarray:
    """Centred frames with reflect padding (nnAudio's STFT, as CLAR calls it): (frames, n_fft), float64."""
    padded = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    return np.stack([padded[s : s + n_fft] for s in range(0, len(padded) - n_fft + 1, hop)])


def test_clar_stack_magnitude_and_phase_match_a_float64_dft_at_log_spaced_frequencies():
    """Channels 0 and 1: the dB magnitude and the phase of a DFT at CLAR's 128 log-spaced frequencies (40-8000
    Hz), computed here directly with complex exponentials in float64."""
    x = signal()
    ours = run(CLARStack(), x)
    frames = _clar_frames(x) * scipy.signal.get_window("hann", 2048, fftbins=True)
    freqs = 40.0 * np.exp(np.arange(128) * np.log(8000.0 / 40.0) / 128)
    t = np.arange(2048)
    dft = frames @ np.exp(-2j * np.pi * freqs[None, :] * t[:, None] / SR)  # (frames, 128)
    magnitude_db = 20 * np.log10(np.maximum(np.sqrt(np.abs(dft) ** 2 + 1e-8), 1e-5)) - 20
    np.testing.assert_allclose(ours[0], magnitude_db.T, rtol=0, atol=2e-3)
    loud = np.abs(dft.T) > 1e-2  # the phase of a near-zero value is rounding noise
    wrapped = np.angle(np.exp(1j * (ours[1] - np.angle(dft.T))))
    assert np.abs(wrapped[loud]).max() < 1e-3
    assert ours.shape == (3, 128, 1 + len(x) // 128)


def test_clar_stack_phase_channel_is_the_phase_of_a_tone():
    """A cosine at one of the log-spaced frequencies with phase phi: at frame m (centred on sample 128 m) the
    phase channel reads phi + 2 pi f (128 m - 1024) / sr, the phase at the frame's first sample."""
    frontend = CLARStack()
    k = 90
    f = 40.0 * np.exp(k * np.log(8000.0 / 40.0) / 128)
    phi = 0.7
    n = np.arange(SR)
    x = np.cos(2 * np.pi * f * n / SR + phi).astype(np.float32)
    phase = frontend(torch.from_numpy(x)[None])[0, 1, k].double().numpy()
    for m in (40, 60, 80):  # frames well inside the clip (no reflected padding)
        expected = phi + 2 * np.pi * f * (128 * m - 1024) / SR
        assert abs(np.angle(np.exp(1j * (phase[m] - expected)))) < 0.02
    magnitude = frontend(torch.from_numpy(x)[None])[0, 0, :, 60]
    assert int(magnitude.argmax()) == k


def test_clar_stack_mel_channel_matches_librosa():
    """Channel 2: 10 log10(max(mel, 1e-5)) - 10 of 128 Slaney mel bands (40-8000 Hz) of a 2048-point, hop-128,
    reflect-padded power STFT: librosa's melspectrogram with those settings."""
    x = signal()
    ours = run(CLARStack(), x)
    mel = librosa.feature.melspectrogram(
        y=x, sr=SR, n_fft=2048, hop_length=128, center=True, pad_mode="reflect", n_mels=128, fmin=40, fmax=8000
    )
    np.testing.assert_allclose(ours[2], 10 * np.log10(np.maximum(mel, 1e-5)) - 10, rtol=0, atol=DB_ATOL)


def test_logmel_defaults_are_colas():
    frontend = LogMel()
    assert (frontend.sample_rate, frontend.win_length, frontend.hop_length, frontend.n_mels) == (SR, 400, 160, 64)
    fft_hz = np.linspace(0, SR / 2, frontend.n_fft // 2 + 1)
    used = fft_hz[frontend.fb.sum(dim=0).numpy() > 0]
    assert used.min() > 60.0 and used.max() < 7800.0


# --- every registered front-end ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_frames(name):
    frontend = create_frontend(name)
    for samples in (4000, 4321):
        out = frontend(batch(samples=samples))
        if name == "waveform":
            assert out.shape == (3, 1, samples)
        else:
            assert out.shape == (3, frontend.out_channels, frontend.freq_bins, frontend.frames(samples))
        assert out.shape[1] == frontend.out_channels


@pytest.mark.parametrize("name", NAMES)
def test_batch_consistency(name):
    frontend = create_frontend(name)
    x = batch()
    batched = frontend(x)
    one_by_one = torch.cat([frontend(item[None]) for item in x])
    torch.testing.assert_close(batched, one_by_one, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_repeated_calls_are_identical(name):
    frontend = create_frontend(name)
    x = batch()
    assert torch.equal(frontend(x), frontend(x))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_output_dtype_follows_input(name, dtype):
    frontend = create_frontend(name)
    x = batch()
    out = frontend(x.to(dtype))
    assert out.dtype == dtype
    if dtype == torch.float64:  # same values as float32, to float32 precision
        torch.testing.assert_close(out.float(), frontend(x), rtol=1e-4, atol=1e-3)


@CUDA
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(name):
    frontend = create_frontend(name)
    x = batch()
    out = frontend.to("cuda")(x.cuda())
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), frontend.cpu()(x), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_attributes_and_state(name):
    frontend = create_frontend(name)
    assert frontend.out_channels == (3 if name == "clar_stack" else 1)
    assert frontend.sample_rate == (None if name == "waveform" else SR)
    assert frontend.state_dict() == {}, "buffers are derived from the arguments, not saved in checkpoints"
    assert isinstance(frontend, FRONTENDS[name])


# --- validation and registry --------------------------------------------------------------------------


def test_create_frontend_passes_arguments_and_rejects_unknown_names():
    assert create_frontend("mfcc", sample_rate=22050, n_mfcc=13).freq_bins == 13
    assert create_frontend("waveform", sample_rate=22050).sample_rate == 22050
    with pytest.raises(ValueError, match="logmel"):
        create_frontend("melspec")


@pytest.mark.parametrize(
    "build",
    [
        lambda: LogMel(sample_rate=8000),  # f_max_hz 7800 above Nyquist
        lambda: LogMel(f_min_hz=8000.0, f_max_hz=100.0),
        lambda: LogMel(n_fft=256),  # shorter than the 400-sample window
        lambda: LogMel(sample_rate=0),
        lambda: MFCC(n_mfcc=80, n_mels=64),
        lambda: Spectrogram(hop_length=0),
        lambda: CLARStack(n_fft=128),  # fewer FFT bins than the 128 bands
        lambda: CLARStack(f_min_hz=0.0),  # log-spaced bins need f_min_hz > 0
    ],
)
def test_invalid_arguments(build):
    with pytest.raises(ValueError):
        build()


def test_frames_of_a_too_short_input():
    with pytest.raises(ValueError, match="shorter than one window"):
        LogMel().frames(399)
    assert LogMel().frames(400) == 1
    assert LogMel(center=True).frames(399) == 3
    assert Waveform().frames(1234) == 1234


def test_bench_frontend_agrees_with_its_peers(capsys):
    import argparse

    from audiocl.bench import frontend as bench

    args = argparse.Namespace(batch_size=2, seconds=0.1, device="cpu", repeats=1)
    assert bench.run(args) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith(("logmel", "mfcc"))]
    assert len(rows) == 6, "audiocl, torchaudio and librosa for each of logmel and mfcc"
    for row in rows:
        assert float(row[-3]) > 0  # clips/s
        assert float(row[-1]) < DB_ATOL, f"{row[0]} {row[1]} disagrees with librosa"
