"""The paper presets behave as the authors' augmentation code does, checked on what the transforms output.

References are transcriptions, in the test, of CLAR's ``utils.add_fade``/``time_masking`` (haideraltahan/CLAR at
3b5a782) and of the draws of torchaudio-augmentations 0.2.2 (CLMR's last commit, 423414d), not our constants.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from audiocl import augment as A
from audiocl.augment.time import CLAR_FADE_SHAPES


def clar_add_fade(x: np.ndarray, fade_shape: int, fade_in_len: int, fade_out_len: int) -> np.ndarray:
    """CLAR's ``utils.add_fade`` with its three random draws given (transcribed)."""
    n = x.shape[0]
    fade = np.linspace(0, 1, fade_in_len)
    rising = [fade, np.power(2, fade - 1) * fade, np.log10(0.1 + fade) + 1, np.sin(fade * math.pi / 2),
              np.sin(fade * math.pi - math.pi / 2) / 2 + 0.5][fade_shape]  # fmt: skip
    fade_in = np.clip(np.concatenate((rising, np.ones(n - fade_in_len))), 0, 1)
    fade = np.linspace(0, 1, fade_out_len)
    falling = [1 - fade, np.power(2, -fade) * (1 - fade), np.log10(1.1 - fade) + 1,
               np.sin(fade * math.pi / 2 + math.pi / 2),
               np.sin(fade * math.pi + math.pi / 2) / 2 + 0.5][fade_shape]  # fmt: skip
    fade_out = np.clip(np.concatenate((np.ones(n - fade_out_len), falling)), 0, 1)
    return np.float32(fade_in * fade_out * x)


@pytest.mark.parametrize("shape", range(5))
@pytest.mark.parametrize("lengths", [(0, 0), (1, 7000), (4321, 1), (7999, 2)])
def test_clar_fade_is_the_authors_add_fade(shape, lengths):
    """The preset's fade, given the same curve and lengths, is ``add_fade``'s output for every curve and length."""
    samples = 16000
    x = torch.randn(1, samples, generator=torch.Generator().manual_seed(shape), dtype=torch.float64)
    fade = A.clar(16000).transforms[0]
    assert fade.shapes == CLAR_FADE_SHAPES and fade.p == 0.5
    longest = int(0.5 * samples)  # add_fade: np.random.randint(int(len * 0.5)), i.e. 0 .. longest - 1
    params = {
        "fade_in_position": torch.tensor([(lengths[0] + 0.5) / longest], dtype=torch.float64),
        "fade_out_position": torch.tensor([(lengths[1] + 0.5) / longest], dtype=torch.float64),
        "shape": fade._shape_index[[shape]],
    }
    ours = fade.apply(x, params)[0].numpy()
    np.testing.assert_allclose(ours, clar_add_fade(x[0].numpy(), shape, *lengths), rtol=1e-6, atol=1e-6)


def test_clar_fade_draws_lengths_and_curves_as_add_fade():
    """Lengths are whole samples uniform in 0 .. len/2 - 1 at each end and curves uniform over five."""
    fade = A.Fade(0.5, 0.5, p=1.0)
    drawn = fade.draw(20000, torch.Generator().manual_seed(0))
    lengths = (drawn["fade_in_position"] * 8000).floor()
    assert lengths.min() == 0 and lengths.max() == 7999
    assert stats.kstest(lengths.numpy() / 8000, "uniform").pvalue > 1e-3
    counts = torch.bincount(drawn["shape"], minlength=6)
    assert counts[A.time.FADE_SHAPES.index("exponential")] == 0  # torchaudio's exponential is not CLAR's
    assert (counts[fade._shape_index] > 3700).all() and counts.sum() == 20000


def test_clar_time_masking_is_the_authors():
    """Half of the RandomApply's rows (the code's own coin) get ``int(0.125 * len)`` samples of N(0, 0.01**2)
    from one start; the rest of the clip untouched."""
    batch, samples = 4000, 16000
    x = torch.full((batch, samples), 0.5)
    mask = A.clar(16000).transforms[1]
    y = mask(x, torch.Generator().manual_seed(0))
    changed = y != x
    masked_rows = changed.any(dim=1)
    assert abs(masked_rows.float().mean().item() - 0.25) < 0.03  # RandomApply's 0.5 times the code's coin
    widths = changed[masked_rows].sum(dim=1)
    assert (widths == 2000).all()
    starts = changed[masked_rows].int().argmax(dim=1)
    assert ((changed[masked_rows].int().diff(dim=1) != 0).sum(dim=1) <= 2).all()  # one contiguous stretch
    assert starts.max() >= 13900  # anywhere it fits
    fill = y[changed]
    assert abs(fill.mean().item()) < 1e-3 and abs(fill.std().item() - 0.01) < 2e-4  # N(0, 0.01): no signal left


def test_clmr_noise_ratio_is_uniform_in_amplitude_as_torchaudio_augmentations_0_2_2():
    """``Noise(min_snr=0.001, max_snr=1.0)``: noise std = signal std times U(0.001, 1)."""
    noise = A.clmr(22050).transforms[1]
    x = torch.sin(torch.arange(20000) * 0.05)[None].repeat(2000, 1)
    y = A.AddNoise(noise.min_snr_db, noise.max_snr_db, snr_scale=noise.snr_scale, p=1.0)(
        x, torch.Generator().manual_seed(0)
    )
    ratio = ((y - x).std(dim=1) / x.pow(2).mean(dim=1).sqrt()).numpy()
    assert ratio.min() > 0.0009 and ratio.max() < 1.02
    assert stats.kstest((ratio - 0.001) / 0.999, "uniform").pvalue > 1e-3


def test_clmr_gain_pitch_and_cutoffs_take_the_whole_values_the_code_draws():
    """``torch.randint(-20, -1)`` dB (whole, -20 .. -2), ``random.randint(-700, 700)`` cents, whole Hz cutoffs."""
    chain = A.clmr(22050)
    g = torch.Generator().manual_seed(0)
    gains = chain.transforms[2].randomize_parameters(5000, g)["gain_db"]
    assert set(gains.tolist()) == set(float(v) for v in range(-20, -1))
    cents = chain.transforms[5].randomize_parameters(20000, g)["semitones"] * 100
    assert torch.allclose(cents, cents.round(), atol=1e-9) and cents.min() == -700 and cents.max() == 700
    for branch, (low, high) in zip(chain.transforms[3].transforms, [(200, 1200), (2200, 4000)], strict=True):
        cutoffs = branch.randomize_parameters(20000, g)["cutoff_hz"]
        assert torch.equal(cutoffs, cutoffs.round()) and (cutoffs.min(), cutoffs.max()) == (low, high)
