"""Each transform measured for the effect it promises: SNR, attenuation, decay, delay, gain, masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from audiocl import augment as A

SR = 16000


def tone(freq_hz: float, seconds: float = 1.0, sample_rate: int = SR) -> torch.Tensor:
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    return (0.5 * torch.sin(2 * math.pi * freq_hz * t)).float()[None]


def db(ratio: float) -> float:
    return 10 * math.log10(ratio)


def apply(transform, x, seed=0):
    return transform(x, torch.Generator().manual_seed(seed))


def gain_db(transform, freq_hz: float, sample_rate: int = SR) -> float:
    """Level change of a steady tone (middle half, away from the edges) in dB."""
    x = tone(freq_hz, sample_rate=sample_rate)
    y = apply(transform, x)
    n = x.shape[-1]
    mid = slice(n // 4, 3 * n // 4)
    return db(y[0, mid].pow(2).mean().item() / x[0, mid].pow(2).mean().item())


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 30.0])
def test_noise_has_the_requested_snr(color, snr_db):
    x = tone(440.0).repeat(4, 1)
    y = apply(A.AddNoise(min_snr_db=snr_db, max_snr_db=snr_db, colors=(color,)), x)
    noise = y - x
    measured = [db(x[i].pow(2).sum().item() / noise[i].pow(2).sum().item()) for i in range(4)]
    assert measured == pytest.approx([snr_db] * 4, abs=0.5)


@pytest.mark.parametrize("color, slope_db_per_octave", [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_noise_color_has_its_spectral_slope(color, slope_db_per_octave):
    x = torch.ones(8, 32000) * 0.1
    noise = apply(A.AddNoise(min_snr_db=0, max_snr_db=0, colors=(color,)), x) - x
    psd = torch.fft.rfft(noise).abs().pow(2).mean(dim=0)
    freqs = torch.fft.rfftfreq(32000, 1 / SR)

    def band(lo, hi):  # mean power density in [lo, hi) Hz
        return psd[(freqs >= lo) & (freqs < hi)].mean().item()

    # From the octave around 250 Hz to the one around 4 kHz: four octaves.
    slope = db(band(2828, 5657) / band(177, 354)) / 4
    assert slope == pytest.approx(slope_db_per_octave, abs=0.5)


def test_noise_keeps_silence_silent():
    y = apply(A.AddNoise(min_snr_db=10, max_snr_db=10), torch.zeros(2, 1000))
    assert torch.equal(y, torch.zeros(2, 1000))


FILTERS = [
    # (transform, sample rate, pass-band tone, stop-band tones)
    (lambda: A.LowPass(SR, min_cutoff_hz=1000, max_cutoff_hz=1000), SR, 250.0, [4000.0, 6000.0]),
    (lambda: A.HighPass(SR, min_cutoff_hz=1000, max_cutoff_hz=1000), SR, 4000.0, [250.0, 100.0]),
    (
        lambda: A.BandPass(
            32000, min_center_hz=2000, max_center_hz=2000, min_bandwidth_fraction=1.5, max_bandwidth_fraction=1.5
        ),
        32000,
        1323.0,  # geometric centre of the 500-3500 Hz band
        [125.0, 14000.0],
    ),
    (lambda: A.LowPass(SR, min_cutoff_hz=1000, max_cutoff_hz=1000, order=4), SR, 500.0, [1900.0]),
]


@pytest.mark.parametrize("make, sample_rate, pass_hz, stop_hz", FILTERS)
def test_filter_pass_and_stop_bands(make, sample_rate, pass_hz, stop_hz):
    assert abs(gain_db(make(), pass_hz, sample_rate)) < 1.0
    for f in stop_hz:
        assert gain_db(make(), f, sample_rate) < -20.0


def test_filter_matches_scipy_butterworth_magnitude():
    """Our response is the (analog) Butterworth magnitude: compare a tone's attenuation with scipy's design."""
    from scipy import signal

    b, a = signal.butter(2, 2 * math.pi * 1000, btype="low", analog=True)
    _, h = signal.freqs(b, a, worN=[2 * math.pi * 3000])
    expected = 20 * math.log10(abs(h[0]))
    assert gain_db(A.LowPass(SR, min_cutoff_hz=1000, max_cutoff_hz=1000), 3000.0) == pytest.approx(expected, abs=0.2)


def decay_rt60(h: torch.Tensor, sample_rate: int) -> float:
    """RT60 from Schroeder's backward integration, fitted between -5 and -25 dB (T20 x 3)."""
    energy = h.double().pow(2).flip(0).cumsum(0).flip(0)
    edc = 10 * torch.log10(energy / energy[0])
    t = torch.arange(len(h), dtype=torch.float64) / sample_rate
    fit = (edc <= -5) & (edc >= -25)
    slope = np.polyfit(t[fit].numpy(), edc[fit].numpy(), 1)[0]
    return -60.0 / slope


@pytest.mark.parametrize("rt60_s", [0.2, 0.6])
def test_reverb_decay_follows_rt60(rt60_s):
    impulse = torch.zeros(4, SR)
    impulse[:, 0] = 1.0
    y = apply(A.Reverb(SR, min_rt60_s=rt60_s, max_rt60_s=rt60_s, min_drr_db=0, max_drr_db=0), impulse)
    assert y[:, 0].tolist() == pytest.approx([1.0] * 4, abs=1e-6)  # the direct path
    for row in y:
        tail = row[1:]
        assert decay_rt60(tail, SR) == pytest.approx(rt60_s, rel=0.15)
        assert db(tail.pow(2).sum().item()) == pytest.approx(0.0, abs=0.01)  # DRR of 0 dB


def test_longer_rt60_lengthens_the_decay():
    impulse = torch.zeros(1, SR)
    impulse[0, 0] = 1.0

    def time_to_minus_30_db(rt60):
        y = apply(A.Reverb(SR, min_rt60_s=rt60, max_rt60_s=rt60), impulse)[0, 1:]
        energy = y.pow(2).flip(0).cumsum(0).flip(0)
        return int((energy > energy[0] * 1e-3).sum())

    short, long = time_to_minus_30_db(0.2), time_to_minus_30_db(0.8)
    assert long / short == pytest.approx(4.0, rel=0.2)


def test_impulse_response_from_a_folder(tmp_path):
    # Two responses: a pure delay of 100 samples, and of 300 samples at half amplitude.
    for name, delay in (("a.wav", 100), ("b.flac", 300)):
        ir = np.zeros(400, dtype=np.float32)
        ir[delay] = 0.5
        sf.write(tmp_path / name, ir, SR)
    (tmp_path / "notes.txt").write_text("not audio")
    transform = A.ImpulseResponse(tmp_path, SR)  # normalised to unit energy: a pure delay
    x = torch.randn(16, 2000, generator=torch.Generator().manual_seed(0))
    y = apply(transform, x)
    for xi, yi in zip(x, y, strict=True):
        lag = 100 if torch.allclose(yi[100:], xi[:-100], atol=1e-5) else 300
        torch.testing.assert_close(yi[lag:], xi[:-lag], atol=1e-5, rtol=0)
        assert yi[:lag].abs().max() < 1e-5
    assert {int(i) for i in transform.randomize_parameters(64, torch.Generator().manual_seed(0))["index"]} == {0, 1}


def test_impulse_response_resamples_files_at_another_rate(tmp_path):
    ir = np.zeros(800, dtype=np.float32)
    ir[0] = 1.0
    sf.write(tmp_path / "ir.wav", ir, 8000)
    transform = A.ImpulseResponse(tmp_path / "ir.wav", SR)
    assert transform.responses.shape[-1] == 1600


def test_delay_adds_one_echo():
    x = torch.zeros(3, 2000)
    x[:, 0] = 1.0
    y = apply(A.Delay(1000, min_delay_ms=100, max_delay_ms=300, step_ms=100, volume_factor=0.5, mix=0.5), x)
    for row in y:
        nonzero = row.nonzero().flatten().tolist()
        assert nonzero[0] == 0 and row[0] == 0.5
        assert len(nonzero) == 2 and nonzero[1] in (100, 200, 300) and row[nonzero[1]] == pytest.approx(0.25)


def test_gain_in_db():
    y = apply(A.Gain(min_gain_db=-6, max_gain_db=-6), torch.ones(2, 10))
    assert db(y[0, 0].item() ** 2) == pytest.approx(-6.0, abs=1e-4)
    y = apply(A.Gain(min_gain_db=-20, max_gain_db=-1), torch.ones(500, 1))
    levels = 20 * torch.log10(y[:, 0])
    assert levels.min() >= -20 - 1e-4 and levels.max() <= -1 + 1e-4 and levels.std() > 4  # spread over the range


def test_polarity_inversion():
    x = torch.randn(2, 10)
    assert torch.equal(apply(A.PolarityInversion(), x), -x)


@pytest.mark.parametrize("shape", ["linear", "logarithmic", "exponential", "quarter_sine", "half_sine"])
def test_fade_starts_and_ends_silent_and_leaves_the_middle(shape):
    x = torch.ones(8, 1000)
    y = apply(A.Fade(0.25, 0.25, shapes=(shape,)), x)
    # torchaudio's curves: all start at 0 except the exponential one, at 2**-5
    assert torch.all(y[:, 0] <= 2**-5) and torch.all(y[:, -1] <= 2**-5)
    assert torch.all(y[:, 500] == 1)
    assert torch.all(y.diff(dim=1)[:, :250] >= -1e-6)  # rising at the start


def test_time_mask_length_and_fill():
    x = torch.ones(5, 1000)
    y = apply(A.TimeMask(min_fraction=0.1, max_fraction=0.1), x)
    assert ((y == 0).sum(dim=1) == 100).all()
    zeros = (y == 0).int()
    assert (zeros.diff(dim=1).abs().sum(dim=1) <= 2).all()  # one contiguous stretch
    noisy = apply(A.TimeMask(min_fraction=0.1, max_fraction=0.1, fill="noise"), x)
    assert ((noisy != 1).sum(dim=1) == 100).all()


@pytest.mark.parametrize("rollover", [True, False])
def test_time_shift(rollover):
    x = torch.arange(1, 101, dtype=torch.float32)[None].repeat(6, 1)
    y = apply(A.TimeShift(min_fraction=-0.3, max_fraction=0.3, rollover=rollover), x)
    for row in y:
        shift = int(row.argmin()) if rollover else None
        if rollover:
            assert torch.equal(row, torch.roll(x[0], shift))
        else:
            kept = row[row != 0]
            assert len(kept) >= 70 and torch.all(kept.diff() == 1)


def test_spectral_masks_cover_whole_bands():
    x = torch.ones(4, 2, 64, 50)
    y = apply(A.FrequencyMask(max_width=10, min_width=10), x)
    rows = (y == 0).all(dim=3)  # (B, C, F): a masked bin is masked in every frame
    assert torch.equal(rows[:, 0], rows[:, 1]) and (rows[:, 0].sum(dim=1) == 10).all()
    y = apply(A.SpecTimeMask(max_width=7, min_width=7, num_masks=1), x)
    cols = (y == 0).all(dim=2)
    assert (cols[:, 0].sum(dim=1) == 7).all()


def test_one_of_applies_exactly_one():
    y = apply(A.OneOf([A.Gain(-6, -6), A.Gain(-20, -20)], weights=[1, 3]), torch.ones(400, 1))
    levels = (20 * torch.log10(y[:, 0])).round()
    assert set(levels.tolist()) == {-6.0, -20.0}
    assert (levels == -20).float().mean().item() == pytest.approx(0.75, abs=0.07)


def test_random_apply_applies_the_whole_chain_or_nothing():
    chain = A.RandomApply([A.Gain(-6, -6), A.PolarityInversion()], p=0.5)
    y = apply(chain, torch.ones(400, 1))[:, 0]
    applied = torch.isclose(y, torch.tensor(-(10 ** (-6 / 20))))
    assert torch.all(applied | (y == 1)) and 0.4 < applied.float().mean() < 0.6


def test_compose_applies_in_order():
    delay = A.Delay(1000, min_delay_ms=1, max_delay_ms=1, step_ms=0, mix=1.0, volume_factor=1.0)
    advance = A.TimeShift(min_fraction=-0.25, max_fraction=-0.25, rollover=False)
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert apply(A.Compose([delay, advance]), x).tolist() == [[1.0, 2.0, 3.0, 0.0]]
    assert apply(A.Compose([advance, delay]), x).tolist() == [[0.0, 2.0, 3.0, 4.0]]


def test_chains_never_modify_their_input():
    """Every step is out of place: the caller's batch is untouched, and the chain gives what its steps give one
    after the other, each on a fresh copy."""
    chain = A.Compose(
        [
            A.Gain(-6, -1, p=0.5),  # row factors: one pass over the batch
            A.PolarityInversion(p=0.5),
            A.OneOf([A.LowPass(SR), A.Compose([A.Gain(p=0.5), A.Delay(SR, p=0.5)])], p=0.7),
            A.RandomApply([A.TimeShift(p=0.5), A.Fade(p=0.5)], p=0.6),
            A.Reverb(SR, p=0.5),
        ]
    )
    x = torch.randn(12, 2000, generator=torch.Generator().manual_seed(0))
    before = x.clone()
    out = chain(x, torch.Generator().manual_seed(1))
    assert torch.equal(x, before)
    g, y = torch.Generator().manual_seed(1), x
    for step in chain.transforms:  # each step on a fresh copy
        y = step(y.clone(), g)
    torch.testing.assert_close(out, y, atol=1e-6, rtol=0)


def test_chains_never_overwrite_what_another_module_returns():
    """A module that is not one of ours may return memory it keeps (a buffer, a cache): the next step must not
    write into it."""

    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("value", torch.ones(4, 100))

        def forward(self, x, generator=None):
            return self.value

    constant = Constant()
    out = A.Compose([A.Gain(-6, -6), constant, A.Gain(-6, -6), A.PolarityInversion()])(torch.ones(4, 100))
    assert torch.equal(constant.value, torch.ones(4, 100))
    torch.testing.assert_close(out, torch.full((4, 100), -(10 ** (-6 / 20))))
