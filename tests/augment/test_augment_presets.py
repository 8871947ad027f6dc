"""Presets carry the papers' values; the audiomentations adapter agrees with audiomentations."""

from __future__ import annotations

import random

import audiomentations as am
import numpy as np
import pytest
import torch

from audiocl import augment as A


def leaves(module):
    return [m for m in module.modules() if isinstance(m, (A.Transform, A.OneOf))]


def test_clmr_has_the_papers_probabilities_and_ranges():
    chain = A.clmr(22050)
    by_type = {type(m).__name__: m for m in leaves(chain)}
    # github.com/spijkervet/CLMR config/config.yaml, in main.py's order
    assert [m.p for m in chain.transforms] == [0.8, 0.01, 0.3, 0.8, 0.3, 0.6, 0.6]
    assert (by_type["Gain"].min_gain_db, by_type["Gain"].max_gain_db, by_type["Gain"].step_db) == (-20.0, -2.0, 1.0)
    assert (by_type["HighPass"].min_cutoff_hz, by_type["HighPass"].max_cutoff_hz) == (200.0, 1200.0)
    assert (by_type["LowPass"].min_cutoff_hz, by_type["LowPass"].max_cutoff_hz) == (2200.0, 4000.0)
    assert (by_type["Delay"].min_delay_ms, by_type["Delay"].max_delay_ms, by_type["Delay"].step_ms) == (200, 450, 50)
    assert (by_type["PitchShift"].min_semitones, by_type["PitchShift"].max_semitones) == (-7.0, 7.0)
    assert by_type["PitchShift"].method == "wsola"  # sox's pitch (CLMR's) is WSOLA too; and 5x faster
    assert (by_type["AddNoise"].min_snr_db, by_type["AddNoise"].max_snr_db) == (0.0, 60.0)
    assert by_type["AddNoise"].snr_scale == "amplitude" and by_type["PitchShift"].step_semitones == 0.01


def test_clar_six_has_the_papers_ranges():
    by_type = {type(m).__name__: m for m in leaves(A.clar_six(16000))}
    assert (by_type["PitchShift"].min_semitones, by_type["PitchShift"].max_semitones) == (-15.0, 15.0)
    assert (by_type["TimeStretch"].min_rate, by_type["TimeStretch"].max_rate) == (0.5, 1.5)
    assert (by_type["TimeShift"].min_fraction, by_type["TimeShift"].max_fraction) == (-0.5, 0.5)
    assert set(by_type["AddNoise"].colors) == {"white", "pink", "brown"}
    assert [type(m).__name__ for m in A.clar(16000).transforms] == ["Fade", "TimeMask"]  # the code's fd + tm


@pytest.mark.parametrize(
    "name, rate, samples", [("clmr", 22050, 59049), ("clar", 16000, 16000), ("clar_six", 16000, 16000)]
)
def test_presets_run_and_are_reproducible(name, rate, samples):
    x = 0.1 * torch.randn(4, samples, generator=torch.Generator().manual_seed(0))
    aug = A.create_augment(name, rate)
    a, b = aug(x, torch.Generator().manual_seed(1)), aug(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.isfinite(a).all() and torch.equal(a, b)
    assert not torch.equal(a, x)


@pytest.mark.parametrize("name", ["cola", "none"])
def test_cola_and_none_are_identity(name):
    x = torch.randn(3, 100)
    assert torch.equal(A.create_augment(name, 16000)(x), x)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="clar"):
        A.create_augment("simclr", 16000)


def test_adapter_matches_audiomentations_and_our_gain():
    x = torch.randn(5, 300, generator=torch.Generator().manual_seed(0))
    theirs = A.Audiomentations(am.Gain(min_gain_db=-6.0, max_gain_db=-6.0, p=1.0), 16000)(x)
    ours = A.Gain(min_gain_db=-6.0, max_gain_db=-6.0)(x)
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-6)
    inverted = A.Audiomentations(am.PolarityInversion(p=1.0), 16000)(x)
    assert torch.equal(inverted, A.PolarityInversion()(x))


def test_adapter_is_seeded_and_leaves_global_random_state_alone():
    pipeline = am.Compose([am.AddGaussianSNR(p=1.0), am.Gain(p=0.5)])
    aug = A.Audiomentations(pipeline, 16000)
    x = torch.randn(4, 200, dtype=torch.float64)
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - checking that the adapter restores the global state
    expected = (random.random(), np.random.random())  # noqa: NPY002
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002
    a = aug(x, torch.Generator().manual_seed(3))
    assert (random.random(), np.random.random()) == expected  # noqa: NPY002
    b = aug(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.dtype == torch.float64
    assert not torch.equal(a, aug(x, torch.Generator().manual_seed(4)))
