"""Additive noise at a target signal-to-noise ratio: white, pink or brown, per example."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from audiocl.augment.base import Transform, check_range, row_noise, row_seeds, uniform

# Exponent of the power spectrum, P(f) ~ 1 / f**exponent.
NOISE_COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0}


def color_noise(white: Tensor, exponent: Tensor) -> Tensor:
    """Shape each row of white Gaussian noise so that its power spectrum falls as ``1 / f**exponent``; unit RMS.

    Rows with ``exponent == 0`` stay white (only rescaled).

    Shape:
        - white: ``(batch, samples)``; exponent: ``(batch,)`` on the same device; output: same as white.
    """
    samples = white.shape[-1]
    colored = (exponent != 0).nonzero().squeeze(1)
    noise = white
    if len(colored):  # only the coloured rows pay for the FFTs
        freqs = torch.fft.rfftfreq(samples, device=white.device, dtype=white.dtype)
        freqs[0] = freqs[1] if samples > 1 else 1.0  # no infinite DC gain
        # Amplitude falls as f**(-exponent/2) so that power falls as f**(-exponent).
        shaping = freqs[None, :] ** (-exponent[colored, None] / 2)  # (colored, F)
        shaped = torch.fft.irfft(torch.fft.rfft(white[colored]) * shaping, n=samples)
        noise = shaped if len(colored) == len(exponent) else white.index_copy(0, colored, shaped)
    return noise / noise.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-12)


class AddNoise(Transform):
    """Add noise at an SNR drawn per example in ``[min_snr_db, max_snr_db]``.

    ``snr_scale="db"`` draws the SNR uniformly in dB; ``"amplitude"`` draws the noise-to-signal amplitude ratio
    uniformly in ``[10**(-max_snr_db / 20), 10**(-min_snr_db / 20)]`` instead, as torchaudio-augmentations'
    ``Noise`` does (most draws then lie near the lowest SNR). The SNR is measured against each example's mean
    power over the whole segment, so a silent example stays silent. ``colors`` is the set of noise colours
    drawn from per example (white: flat, pink: -3 dB/octave, brown: -6 dB/octave).

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> aug = AddNoise(min_snr_db=20.0, max_snr_db=20.0, colors=("pink",), p=1.0)
    >>> aug(torch.randn(2, 1000), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 1000])
    """

    def __init__(
        self,
        min_snr_db: float = 3.0,
        max_snr_db: float = 30.0,
        colors: Sequence[str] = ("white",),
        p: float = 1.0,
        snr_scale: str = "db",
    ) -> None:
        super().__init__(p)
        check_range("snr_db", min_snr_db, max_snr_db)
        if snr_scale not in ("db", "amplitude"):
            raise ValueError(f"snr_scale={snr_scale!r} must be 'db' or 'amplitude'")
        self.snr_scale = snr_scale
        if isinstance(colors, str):
            colors = (colors,)
        unknown = [c for c in colors if c not in NOISE_COLORS]
        if not colors or unknown:
            raise ValueError(f"colors={tuple(colors)} must be a non-empty subset of {tuple(NOISE_COLORS)}")
        self.min_snr_db, self.max_snr_db = float(min_snr_db), float(max_snr_db)
        self.colors = tuple(colors)
        self._exponents = torch.tensor([NOISE_COLORS[c] for c in self.colors], dtype=torch.float64)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        color = torch.randint(len(self.colors), (batch,), generator=generator)
        if self.snr_scale == "db":
            snr_db = uniform(batch, self.min_snr_db, self.max_snr_db, generator)
        else:  # the amplitude ratio uniform, then in dB
            ratio = uniform(batch, 10.0 ** (-self.max_snr_db / 20), 10.0 ** (-self.min_snr_db / 20), generator)
            snr_db = -20.0 * ratio.log10()
        return {
            "snr_db": snr_db,
            "exponent": self._exponents[color],
            "seed": row_seeds(batch, generator),  # of each example's noise
        }

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        noise = color_noise(row_noise(params["seed"], x.shape[-1], x), params["exponent"])
        signal_rms = x.pow(2).mean(dim=1, keepdim=True).sqrt()
        return x + noise * signal_rms * (10.0 ** (-params["snr_db"] / 20.0))[:, None]

    def extra_repr(self) -> str:
        return (
            f"min_snr_db={self.min_snr_db}, max_snr_db={self.max_snr_db}, snr_scale={self.snr_scale!r}, "
            f"colors={self.colors}, p={self.p}"
        )
