"""Batch independence: a row's result depends on that row and its draws only, never on the rest of the batch.

Checked on every ``Transform`` that ``audiocl.augment`` exports (found, not listed: a new one is tested for
free), on every preset and on nested combinators. Draws for a batch, applied to the batch, to each row
alone and to the rows inside another batch, must agree over the whole length.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import soundfile as sf
import torch

from audiocl import augment as A
from audiocl.augment.base import select_rows
from audiocl.augment.presets import PRESETS

SR = 16000
SAMPLES = 8000
BATCH = 12
TOLERANCE = {"atol": 1e-5, "rtol": 0}  # float32 rounding differs between FFTs of one row and of many
TOLERANCE_64 = {"atol": 1e-9, "rtol": 0}

# Settings that take a transform down other code paths (or to the edges of its ranges); every exported
# transform is also tested with its defaults.
VARIANTS = {
    "AddNoise": [{"colors": ("white", "pink", "brown")}],
    "BandPass": [{"order": 1, "min_center_hz": 50.0}],
    "Delay": [{"min_delay_ms": 1.0, "max_delay_ms": 600.0, "step_ms": 0.0}],
    "Fade": [{"shapes": ("quarter_sine", "half_sine")}],
    "FrequencyMask": [{"fill": "mean", "min_width": 1, "num_masks": 3}],
    "HighPass": [{"order": 1, "max_cutoff_hz": 7000.0}],
    "LowPass": [{"order": 1, "min_cutoff_hz": 30.0}],
    "PitchShift": [{"method": "wsola"}, {"min_semitones": -12.0, "max_semitones": 12.0, "n_fft": 256}],
    "Reverb": [{"min_rt60_s": 0.01, "max_rt60_s": 2.0}],
    "SpecTimeMask": [{"fill": "mean", "min_width": 1, "max_width": 30}],
    "Speed": [{"min_rate": 0.5, "max_rate": 4.0}],
    "TimeMask": [{"fill": "noise", "min_fraction": 0.1}],
    "TimeShift": [{"rollover": False}],
    "TimeStretch": [{"method": "wsola"}, {"min_rate": 0.5, "max_rate": 1.5, "n_fft": 256}],
}


def exported_transforms() -> list[type]:
    found = {getattr(A, name) for name in A.__all__}
    return sorted(
        (c for c in found if isinstance(c, type) and issubclass(c, A.Transform) and c is not A.Transform),
        key=lambda c: c.__name__,
    )


CASES = [(cls, kwargs) for cls in exported_transforms() for kwargs in [{}, *VARIANTS.get(cls.__name__, [])]]
IDS = [cls.__name__ + "".join(f"-{k}={v}" for k, v in kwargs.items()) for cls, kwargs in CASES]


@pytest.fixture(scope="module")
def ir_folder(tmp_path_factory):
    """Impulse responses of different lengths, as WAV files."""
    folder = tmp_path_factory.mktemp("irs")
    rng = np.random.default_rng(0)
    for i, n in enumerate((100, 800, 3000)):
        ir = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.2 * n))
        sf.write(folder / f"ir{i}.wav", (0.5 * ir / np.abs(ir).max()).astype(np.float32), SR)
    return folder


def build(cls: type, kwargs: dict, ir_folder, **extra) -> A.Transform:
    """``cls`` with ``kwargs``; a sample rate and an impulse-response folder where its signature asks for them."""
    signature = inspect.signature(cls)
    given = {**kwargs, **extra}
    if "sample_rate" in signature.parameters:
        given["sample_rate"] = SR
    if "source" in signature.parameters:
        given["source"] = ir_folder
    missing = [n for n, p in signature.parameters.items() if p.default is p.empty and n not in given]
    assert not missing, f"{cls.__name__} needs {missing}: teach build() where to find them"
    return cls(**given)


def batch(transform: A.Transform, seed: int, rows: int = BATCH) -> torch.Tensor:
    shape = (rows, SAMPLES) if transform.input_dims == 2 else (rows, 2, 32, 40)
    return 0.3 * torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def interleave(a, b):
    """Rows of ``a`` at the even positions, of ``b`` at the odd ones (tensors, or dicts of them)."""
    if isinstance(a, dict):
        return {k: interleave(a[k], b[k]) for k in a}
    return torch.stack([a, b], dim=1).flatten(0, 1)


def as_apply_gets_them(params: dict, like: torch.Tensor) -> dict:
    """Parameters as ``forward`` hands them to ``apply``: floating point ones in the input's dtype."""
    return {k: v.to(like.dtype) if v.is_floating_point() else v for k, v in params.items()}


def assert_rows_match(got: torch.Tensor, expected: torch.Tensor, what: str, tolerance=TOLERANCE) -> None:
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        torch.testing.assert_close(g, e, **tolerance, msg=lambda m, i=i: f"{what}, row {i}: {m}")


@pytest.mark.parametrize("cls, kwargs", CASES, ids=IDS)
def test_apply_gives_each_row_what_it_gets_alone(cls, kwargs, ir_folder):
    transform = build(cls, kwargs, ir_folder)
    x = batch(transform, seed=0)
    params = as_apply_gets_them(transform.randomize_parameters(BATCH, torch.Generator().manual_seed(1)), x)
    y = transform.apply(x, params)
    alone = torch.cat([transform.apply(x[i : i + 1], select_rows(params, torch.tensor([i]))) for i in range(BATCH)])
    assert_rows_match(alone, y, "alone")
    # The same rows among others (other signals, other parameters), at other positions.
    x2 = batch(transform, seed=2)
    params2 = as_apply_gets_them(transform.randomize_parameters(BATCH, torch.Generator().manual_seed(3)), x2)
    mixed = transform.apply(interleave(x2, x), interleave(params2, params))
    assert_rows_match(mixed[1::2], y, "among other rows")
    assert_rows_match(mixed[0::2], transform.apply(x2, params2), "the other rows")


@pytest.mark.parametrize("chunk", [None, 3], ids=["own_chunks", "chunks_of_3"])
@pytest.mark.parametrize("cls, kwargs", CASES, ids=IDS)
def test_forward_gives_each_row_what_its_draws_give_it_alone(cls, kwargs, chunk, ir_folder):
    """``forward`` = ``draw`` for the batch, then ``apply_drawn``: on the CPU in chunks (in ``chunk_order``), or
    by one pass over the batch (``row_factors``); each row must get what its draws give it alone."""
    transform = build(cls, kwargs, ir_folder, p=0.7)
    if chunk is not None:
        transform.cpu_chunk = chunk
    x = batch(transform, seed=0)
    out = transform(x, torch.Generator().manual_seed(4))
    drawn = transform.draw(BATCH, torch.Generator().manual_seed(4))
    assert 0 < int(drawn["chosen"].sum()) < BATCH
    alone = torch.cat(
        [transform.apply_drawn(x[i : i + 1], select_rows(drawn, torch.tensor([i]))) for i in range(BATCH)]
    )
    assert_rows_match(alone, out, "alone")
    assert torch.equal(out[~drawn["chosen"]], x[~drawn["chosen"]])


def nested_chain() -> A.Compose:
    """Every combinator inside another, around transforms with random signals and chunked ones."""
    return A.Compose(
        [
            A.Gain(p=0.5),
            A.OneOf(
                [
                    A.LowPass(SR),
                    A.Compose([A.AddNoise(colors=("white", "pink")), A.PolarityInversion(p=0.5)]),
                    A.RandomApply([A.Reverb(SR, max_rt60_s=0.3), A.Delay(SR, p=0.5)], p=0.7),
                ],
                p=0.9,
            ),
            A.RandomApply([A.PitchShift(SR, n_fft=256, p=0.8), A.OneOf([A.HighPass(SR), A.Speed(SR)])], p=0.6),
            A.TimeMask(fill="noise", p=0.5),
        ]
    )


CHAINS = {
    **{f"preset_{name}": (lambda name=name: A.create_augment(name, SR)) for name in PRESETS},
    "nested": nested_chain,
}


@pytest.mark.parametrize("make", CHAINS.values(), ids=CHAINS.keys())
def test_chains_give_each_row_what_its_draws_give_it_alone(make):
    """A chain's draws are one flat dict of per-row tensors (``draw``): any rows of it, applied to those rows of
    the batch alone or among other rows, give those rows of the batch's result.

    In float64: the phase vocoder turns the float32 rounding differences of an earlier step (an FFT of one row
    against one of many, ~1e-7) into differences of ~1e-5 (which peak a bin locks to can flip); that is its
    sensitivity to its input, not a dependence on the batch, which the transforms' own tests check in float32.
    """
    chain = make()
    x = 0.3 * torch.randn(2 * BATCH, SAMPLES, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = chain(x, torch.Generator().manual_seed(5))
    drawn = chain.draw(2 * BATCH, torch.Generator().manual_seed(5))
    assert all(v.shape[0] == 2 * BATCH for v in drawn.values())
    for i in range(2 * BATCH):
        alone = chain.apply_drawn(x[i : i + 1], select_rows(drawn, torch.tensor([i])))
        torch.testing.assert_close(alone[0], out[i], **TOLERANCE_64, msg=lambda m, i=i: f"alone, row {i}: {m}")
    # The first half of the rows among other rows (other signals, other draws).
    x2 = 0.3 * torch.randn(BATCH, SAMPLES, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    drawn2 = chain.draw(BATCH, torch.Generator().manual_seed(7))
    half = select_rows(drawn, torch.arange(BATCH))
    mixed = chain.apply_drawn(interleave(x2, x[:BATCH]), interleave(drawn2, half))
    assert_rows_match(mixed[1::2], out[:BATCH], "among other rows", TOLERANCE_64)


def test_every_exported_transform_is_found():
    """The cases above are found in ``audiocl.augment.__all__``, not listed: check that the search finds them."""
    found = {cls.__name__ for cls in exported_transforms()}
    assert {"PitchShift", "Reverb", "AddNoise", "FrequencyMask", "ImpulseResponse"} <= found
    assert set(VARIANTS) <= found  # a renamed transform must not silently lose its variants
