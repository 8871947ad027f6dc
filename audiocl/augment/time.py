"""Transforms along time on the waveform: fade in/out, time masking, time shift."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from audiocl.augment.base import Transform, check_range, row_noise, row_seeds, uniform

FADE_SHAPES = ("linear", "logarithmic", "exponential", "quarter_sine", "half_sine", "clar_exponential")
CLAR_FADE_SHAPES = ("linear", "clar_exponential", "logarithmic", "quarter_sine", "half_sine")  # utils.add_fade's 0-4


def fade_curve(ramp: Tensor, shape: Tensor) -> Tensor:
    """Map a 0..1 ramp ``r`` to a gain curve, shape chosen per row (index into ``FADE_SHAPES``).

    torchaudio's ``Fade`` shapes (linear ``r``, logarithmic ``log10(0.1 + r) + 1``, exponential
    ``2**((r - 1) * 5)``, quarter sine, half sine) and CLAR's exponential ``2**(r - 1) * r`` (its
    ``utils.add_fade``), clamped to [0, 1].

    Shape:
        - ramp: ``(batch, samples)``; shape: ``(batch,)`` int64; output: same as ramp.
    """
    shape = shape[:, None]
    curve = ramp
    curve = torch.where(shape == 1, torch.log10(0.1 + ramp) + 1, curve)
    curve = torch.where(shape == 2, torch.pow(2.0, (ramp - 1) * 5), curve)
    curve = torch.where(shape == 3, torch.sin(ramp * (torch.pi / 2)), curve)
    curve = torch.where(shape == 4, torch.sin(ramp * torch.pi - torch.pi / 2) / 2 + 0.5, curve)
    curve = torch.where(shape == 5, torch.pow(2.0, ramp - 1) * ramp, curve)
    return curve.clamp(0, 1)


def edge_ramp(distance: Tensor, length: Tensor) -> Tensor:
    """0..1 over the first ``length`` samples from an edge (``distance`` 0 .. ``length - 1``), 1 beyond.

    As ``numpy.linspace(0, 1, length)``: the ramp reaches 1 on its last sample; ``length`` 0 leaves every
    sample at 1.

    Shape:
        - distance: ``(1, samples)`` (samples from the edge); length: ``(batch, 1)``; output: ``(batch, samples)``.
    """
    return torch.where(distance < length, distance / (length - 1).clamp_min(1), 1.0)


class Fade(Transform):
    """Fade in at the start and out at the end, lengths and curve drawn per example.

    Each fade lasts a whole number of samples uniform in ``0 .. floor(max_fade_in_fraction * samples) - 1``
    (resp. out), and rises (falls) along one curve drawn per example from ``shapes`` (any of
    ``FADE_SHAPES``), the same at both ends. Defaults are CLAR's code (``utils.add_fade``): up to half the
    segment per side, one of its five curves with equal chance.

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> fade = Fade(max_fade_in_fraction=0.5, max_fade_out_fraction=0.5)
    >>> fade(torch.ones(2, 100), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 100])
    """

    def __init__(
        self,
        max_fade_in_fraction: float = 0.5,
        max_fade_out_fraction: float = 0.5,
        shapes: Sequence[str] = CLAR_FADE_SHAPES,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        for name, value in (("in", max_fade_in_fraction), ("out", max_fade_out_fraction)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"max_fade_{name}_fraction={value} must lie in [0, 1] (a fraction of the segment)")
        unknown = [s for s in shapes if s not in FADE_SHAPES]
        if not shapes or unknown:
            raise ValueError(f"shapes={tuple(shapes)} must be a non-empty subset of {FADE_SHAPES}")
        self.max_fade_in_fraction = float(max_fade_in_fraction)
        self.max_fade_out_fraction = float(max_fade_out_fraction)
        self.shapes = tuple(shapes)
        self._shape_index = torch.tensor([FADE_SHAPES.index(s) for s in self.shapes])

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        pick = torch.randint(len(self.shapes), (batch,), generator=generator)
        return {  # where in the range of lengths each fade lies: the segment's length is known in apply only
            "fade_in_position": torch.rand(batch, generator=generator, dtype=torch.float64),
            "fade_out_position": torch.rand(batch, generator=generator, dtype=torch.float64),
            "shape": self._shape_index[pick],
        }

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        samples = x.shape[-1]
        n = torch.arange(samples, device=x.device, dtype=x.dtype)[None, :]
        longest_in = int(self.max_fade_in_fraction * samples)
        longest_out = int(self.max_fade_out_fraction * samples)
        fade_in = (params["fade_in_position"] * longest_in).floor()[:, None]
        fade_out = (params["fade_out_position"] * longest_out).floor()[:, None]
        shape = params["shape"]
        # add_fade's ramps are linspace(0, 1, length) read forwards at the start and backwards at the end, so a
        # one-sample fade silences the first sample but leaves the last one as it is.
        ramp_out = edge_ramp(samples - 1 - n, fade_out).masked_fill(fade_out == 1, 1.0)
        return x * fade_curve(edge_ramp(n, fade_in), shape) * fade_curve(ramp_out, shape)

    def extra_repr(self) -> str:
        return (
            f"max_fade_in_fraction={self.max_fade_in_fraction}, max_fade_out_fraction="
            f"{self.max_fade_out_fraction}, shapes={self.shapes}, p={self.p}"
        )


class TimeMask(Transform):
    """Replace one stretch of each example by silence or noise.

    The stretch lasts ``floor(fraction * samples)`` samples, the fraction uniform in ``[min_fraction,
    max_fraction]``, and starts anywhere it fits. ``fill="zeros"`` silences it; ``fill="noise"`` puts Gaussian
    noise there, at the example's RMS level or, with ``noise_std``, at that fixed standard deviation (CLAR's
    code: ``time_masking`` fills 1/8 of the clip with N(0, 0.01**2)).

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> mask = TimeMask(min_fraction=0.1, max_fraction=0.1)
    >>> int((mask(torch.ones(1, 100), torch.Generator().manual_seed(0)) == 0).sum())
    10
    """

    def __init__(
        self,
        min_fraction: float = 0.0,
        max_fraction: float = 0.125,
        fill: str = "zeros",
        p: float = 1.0,
        noise_std: float | None = None,
    ) -> None:
        super().__init__(p)
        check_range("fraction", min_fraction, max_fraction, min_value=0.0)
        if max_fraction > 1:
            raise ValueError(f"max_fraction={max_fraction} must be <= 1 (a fraction of the segment)")
        if fill not in ("zeros", "noise"):
            raise ValueError(f"fill={fill!r} must be 'zeros' or 'noise'")
        if noise_std is not None and (fill != "noise" or not noise_std >= 0):
            raise ValueError(f"noise_std={noise_std} needs fill='noise' and must be >= 0")
        self.min_fraction, self.max_fraction, self.fill = float(min_fraction), float(max_fraction), fill
        self.noise_std = None if noise_std is None else float(noise_std)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        params = {
            "fraction": uniform(batch, self.min_fraction, self.max_fraction, generator),
            "start": torch.rand(batch, generator=generator, dtype=torch.float64),  # of the free room
        }
        if self.fill == "noise":
            params["seed"] = row_seeds(batch, generator)
        return params

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        samples = x.shape[-1]
        width = (params["fraction"] * samples).floor()
        start = (params["start"] * (samples - width + 1)).floor().clamp(max=samples - width)
        n = torch.arange(samples, device=x.device, dtype=x.dtype)[None, :]
        masked = (n >= start[:, None]) & (n < (start + width)[:, None])
        if self.fill == "zeros":
            return x.masked_fill(masked, 0.0)
        level = x.pow(2).mean(dim=1, keepdim=True).sqrt() if self.noise_std is None else self.noise_std
        noise = row_noise(params["seed"], samples, x) * level
        return torch.where(masked, noise, x)

    def extra_repr(self) -> str:
        std = "" if self.noise_std is None else f", noise_std={self.noise_std}"
        return f"fraction=[{self.min_fraction}, {self.max_fraction}], fill={self.fill!r}{std}, p={self.p}"


class TimeShift(Transform):
    """Shift forwards or backwards by a fraction of the segment uniform in ``[min_fraction, max_fraction]``.

    ``rollover=True`` re-enters what falls off one end at the other; otherwise the gap is silent.
    Defaults are CLAR's (up to half the signal either way, with rollover).

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> shift = TimeShift(min_fraction=0.25, max_fraction=0.25)
    >>> shift(torch.arange(4.0)[None], torch.Generator().manual_seed(0)).tolist()
    [[3.0, 0.0, 1.0, 2.0]]
    """

    def __init__(
        self, min_fraction: float = -0.5, max_fraction: float = 0.5, rollover: bool = True, p: float = 1.0
    ) -> None:
        super().__init__(p)
        check_range("fraction", min_fraction, max_fraction, min_value=-1.0)
        if max_fraction > 1:
            raise ValueError(f"max_fraction={max_fraction} must be <= 1 (a fraction of the segment)")
        self.min_fraction, self.max_fraction, self.rollover = float(min_fraction), float(max_fraction), rollover

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        return {"fraction": uniform(batch, self.min_fraction, self.max_fraction, generator)}

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        samples = x.shape[-1]
        shift = (params["fraction"] * samples).round().long()
        source = torch.arange(samples, device=x.device)[None, :] - shift[:, None]  # (B, T)
        if self.rollover:
            return x.gather(1, torch.remainder(source, samples))
        inside = (source >= 0) & (source < samples)
        return x.gather(1, source.clamp(0, samples - 1)) * inside

    def extra_repr(self) -> str:
        return f"fraction=[{self.min_fraction}, {self.max_fraction}], rollover={self.rollover}, p={self.p}"
