"""Properties every transform must have, checked on all of them (a new transform joins by a line here)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from audiocl import augment as A
from audiocl.augment.base import select_rows

SR = 16000


@pytest.fixture(scope="module")
def ir_folder(tmp_path_factory):
    """Six small impulse responses as WAV files: decaying noise of different lengths (six, so that six rows
    drawing one each give several distinct outputs)."""
    folder = tmp_path_factory.mktemp("irs")
    rng = np.random.default_rng(0)
    for i, seconds in enumerate((0.05, 0.08, 0.1, 0.13, 0.16, 0.2)):
        n = int(seconds * SR)
        ir = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.2 * n))
        sf.write(folder / f"ir{i}.wav", (0.5 * ir / np.abs(ir).max()).astype(np.float32), SR)
    return folder


# name -> factory(p, ir_folder); spectral ones take (batch, channels, freq, frames).
WAVEFORM = {
    "polarity": lambda p, _: A.PolarityInversion(p=p),
    "gain": lambda p, _: A.Gain(p=p),
    "noise": lambda p, _: A.AddNoise(min_snr_db=5, max_snr_db=20, colors=("white", "pink", "brown"), p=p),
    "lowpass": lambda p, _: A.LowPass(SR, p=p),
    "highpass": lambda p, _: A.HighPass(SR, p=p),
    "bandpass": lambda p, _: A.BandPass(SR, p=p),
    "delay": lambda p, _: A.Delay(SR, min_delay_ms=10, max_delay_ms=100, step_ms=0, p=p),
    "pitch_shift": lambda p, _: A.PitchShift(SR, n_fft=256, p=p),
    "pitch_shift_wsola": lambda p, _: A.PitchShift(SR, method="wsola", p=p),
    "time_stretch": lambda p, _: A.TimeStretch(SR, n_fft=256, p=p),
    "time_stretch_wsola": lambda p, _: A.TimeStretch(SR, method="wsola", p=p),
    "speed": lambda p, _: A.Speed(SR, p=p),
    "reverb": lambda p, _: A.Reverb(SR, max_rt60_s=0.3, p=p),
    "impulse_response": lambda p, folder: A.ImpulseResponse(folder, SR, p=p),
    "fade": lambda p, _: A.Fade(p=p),
    "time_mask": lambda p, _: A.TimeMask(min_fraction=0.05, p=p),
    "time_mask_noise": lambda p, _: A.TimeMask(min_fraction=0.05, fill="noise", p=p),
    "time_shift": lambda p, _: A.TimeShift(min_fraction=0.1, max_fraction=0.4, p=p),
    "compose": lambda p, _: A.Compose([A.Gain(p=p), A.PolarityInversion(p=p)]),
    "random_apply": lambda p, _: A.RandomApply([A.Gain(), A.LowPass(SR)], p=p),
    "one_of": lambda p, _: A.OneOf([A.Gain(), A.HighPass(SR)], p=p),
    "clmr": lambda p, _: A.Compose([A.PolarityInversion(p=p), A.PitchShift(SR, n_fft=256, p=p)]),
}
SPECTRAL = {
    "frequency_mask": lambda p, _: A.FrequencyMask(max_width=8, min_width=1, num_masks=2, p=p),
    "spec_time_mask": lambda p, _: A.SpecTimeMask(max_width=10, min_width=1, fill="mean", p=p),
}
ALL = {**WAVEFORM, **SPECTRAL}
# Draw random signals (noise, synthetic responses): equal across devices in distribution only.
RANDOM_SIGNALS = {"noise", "reverb", "time_mask_noise"}


def batch_for(name: str, dtype=torch.float32, same_rows: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    shape = (6, 2, 32, 40) if name in SPECTRAL else (6, 4000)
    x = 0.3 * torch.randn(shape, generator=g, dtype=dtype)
    if same_rows:
        x = x[:1].expand_as(x).clone()
    return x


def run(name, x, p, ir_folder, seed=0):
    transform = ALL[name](p, ir_folder)
    return transform.to(x.device)(x, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_shape_dtype(name, dtype, ir_folder):
    x = batch_for(name, dtype)
    y = run(name, x, 1.0, ir_folder)
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ALL)
def test_p0_is_identity_and_p1_changes_every_example(name, ir_folder):
    x = batch_for(name)
    assert torch.equal(run(name, x, 0.0, ir_folder), x)
    y = run(name, x, 1.0, ir_folder)
    changed = (y - x).flatten(1).abs().amax(dim=1) > 1e-6
    assert changed.all(), f"{name} with p=1 left examples {(~changed).nonzero().flatten().tolist()} unchanged"


@pytest.mark.parametrize("name", ALL)
def test_input_is_not_modified(name, ir_folder):
    x = batch_for(name)
    before = x.clone()
    run(name, x, 1.0, ir_folder)
    assert torch.equal(x, before)


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_output_other_seed_other_output(name, ir_folder):
    x = batch_for(name)
    a, b = run(name, x, 0.7, ir_folder, seed=3), run(name, x, 0.7, ir_folder, seed=3)
    assert torch.equal(a, b)
    if name != "polarity":  # no parameter: with p=0.7 another seed could pick the same examples
        assert not torch.equal(a, run(name, x, 0.7, ir_folder, seed=4))


@pytest.mark.parametrize("name", sorted(set(ALL) - {"polarity", "compose"}))
def test_examples_get_their_own_parameters(name, ir_folder):
    # The same clip in every row: with p=1 the rows differ only through their parameters.
    y = run(name, batch_for(name, same_rows=True), 1.0, ir_folder, seed=1).flatten(1)
    distinct = {tuple(row.round(decimals=5).tolist()) for row in y}
    assert len(distinct) >= 3, f"{name}: only {len(distinct)} distinct outputs for 6 examples"


def test_p_is_drawn_per_example():
    x = torch.ones(2000, 8)
    y = A.Gain(min_gain_db=-6, max_gain_db=-6, p=0.3)(x, torch.Generator().manual_seed(0))
    fraction = (y[:, 0] < 1).float().mean().item()
    assert abs(fraction - 0.3) < 0.04


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="p="):
        A.Gain(p=1.5)
    with pytest.raises(ValueError, match="min_gain_db"):
        A.Gain(min_gain_db=0, max_gain_db=-6)
    with pytest.raises(ValueError, match="Nyquist"):
        A.LowPass(16000, min_cutoff_hz=1000, max_cutoff_hz=9000)
    with pytest.raises(ValueError, match="colors"):
        A.AddNoise(colors=("blue",))
    with pytest.raises(ValueError, match="rt60_s"):
        A.Reverb(16000, min_rt60_s=0.0)
    with pytest.raises(ValueError, match="no impulse response"):
        A.ImpulseResponse("tests", 16000)  # a folder without audio files


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ALL)
def test_cuda_matches_cpu(name, ir_folder):
    x = batch_for(name)
    cpu = run(name, x, 0.7, ir_folder, seed=5)
    cuda = run(name, x.cuda(), 0.7, ir_folder, seed=5)
    assert cuda.device.type == "cuda" and torch.isfinite(cuda).all()
    if name not in RANDOM_SIGNALS:
        torch.testing.assert_close(cuda.cpu(), cpu, atol=2e-4, rtol=1e-3)


@pytest.mark.parametrize(
    "make",
    [
        lambda: A.PitchShift(SR, min_semitones=-5, max_semitones=5, n_fft=256),  # sorted by shift
        lambda: A.TimeStretch(SR, n_fft=256),
    ],
)
def test_cpu_chunks_give_the_whole_batch_result(make):
    """The phase vocoder's large CPU batches are applied ``cpu_chunk`` examples at a time, in ``chunk_order``;
    the result must not change, over the whole length (test_augment_batch_independence forces chunks of 3 on
    every transform)."""
    transform = make()
    x = 0.3 * torch.randn(transform.cpu_chunk * 2 + 3, 4000, generator=torch.Generator().manual_seed(0))
    chunked = transform(x, torch.Generator().manual_seed(1))
    transform.cpu_chunk = None
    whole = transform(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize("make", [lambda: A.PolarityInversion(p=0.5), lambda: A.Gain(p=0.5)])
def test_row_factor_shortcut_equals_apply_on_the_chosen_rows(make):
    """Gain and polarity scale the batch in one pass (``row_factors``): the chosen rows must get exactly
    what ``apply`` gives them, and the others stay untouched."""
    transform, x = make(), torch.randn(16, 100, generator=torch.Generator().manual_seed(0))
    fast = transform(x, torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(2)
    chosen = torch.rand(16, generator=g) < 0.5
    params = {k: v[chosen].float() for k, v in transform.randomize_parameters(16, g).items()}
    assert 0 < int(chosen.sum()) < 16
    expected = x.clone()
    expected[chosen] = transform.apply(x[chosen], params)
    torch.testing.assert_close(fast, expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: A.LowPass(SR, p=0.7),
        lambda: A.PitchShift(SR, n_fft=256, p=0.7),  # chunked, sorted by shift
        lambda: A.PitchShift(SR, method="wsola", p=0.7),
        lambda: A.Reverb(SR, max_rt60_s=0.3, p=0.7),  # chunked, sorted by RT60, with random signals
        lambda: A.Gain(p=0.7),  # one pass over the batch (row factors)
    ],
)
def test_apply_drawn_on_some_rows_equals_forward_on_the_gathered_rows(make):
    """A draw narrowed to some rows transforms those rows where they are: the same result as ``forward`` on
    those rows gathered, the other rows as they were, and the input untouched (out of place)."""
    transform = make()
    x = 0.3 * torch.randn(60, 4000, generator=torch.Generator().manual_seed(0))
    rows = torch.cat([torch.arange(1, 60, 2), torch.arange(2, 24, 2)]).sort().values  # 41 rows, some runs
    drawn = transform.draw(60, torch.Generator().manual_seed(3))
    expected = x.clone()
    expected[rows] = transform.apply_drawn(x[rows], select_rows(drawn, rows))
    mine = torch.zeros(60, dtype=torch.bool)
    mine[rows] = True
    source = x.clone()
    got = transform.apply_drawn(source, {**drawn, "chosen": drawn["chosen"] & mine})
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    assert got is not source and torch.equal(source, x)


@pytest.mark.parametrize(
    "make",
    [
        lambda: A.RandomApply([A.AddNoise(p=1.0), A.LowPass(SR)], p=0.9),
        lambda: A.OneOf([A.AddNoise(), A.HighPass(SR)], p=1.0, weights=[1.0, 0.0]),  # one branch, whole batch
    ],
)
def test_gradients_flow_through_chunked_chains(make):
    """Gradients reach the input through chunked, partly applied chains (every step is out of place, so no
    tensor autograd saved for backward is ever written over)."""
    x = (0.3 * torch.randn(40, 4000, generator=torch.Generator().manual_seed(0))).requires_grad_()
    make()(x, torch.Generator().manual_seed(1)).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_one_of_gives_each_branch_its_rows():
    one_of = A.OneOf([A.LowPass(SR), A.PitchShift(SR, n_fft=256), A.Gain()], p=0.9)
    x = 0.3 * torch.randn(30, 4000, generator=torch.Generator().manual_seed(0))
    got = one_of(x, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    chosen = torch.rand(30, generator=g) < 0.9
    which = torch.multinomial(torch.ones(3, dtype=torch.float64), 30, replacement=True, generator=g)
    draws = [branch.draw(30, g) for branch in one_of.transforms]  # every branch draws for every row
    expected = x.clone()
    for k, branch in enumerate(one_of.transforms):
        mine = (chosen & (which == k)).nonzero().squeeze(1)
        assert len(mine) > 0
        expected[mine] = branch.apply_drawn(x[mine], select_rows(draws[k], mine))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
