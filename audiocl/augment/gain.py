"""Amplitude transforms: polarity inversion and gain in dB."""

from __future__ import annotations

import torch
from torch import Tensor

from audiocl.augment.base import Transform, check_range, check_step, uniform


class PolarityInversion(Transform):
    """Multiply the waveform by -1 (inaudible alone, but changes what a raw-audio encoder sees).

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> x = torch.ones(2, 4)
    >>> PolarityInversion(p=1.0)(x)[0, 0].item()
    -1.0
    """

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        return -x

    def row_factors(self, params: dict[str, Tensor]) -> Tensor:
        return torch.tensor(-1.0, dtype=torch.float64)


class Gain(Transform):
    """Multiply by a gain drawn per example, uniform in dB over ``[min_gain_db, max_gain_db]``.

    ``step_db`` draws from the grid ``min_gain_db, min_gain_db + step_db, ...`` instead (CLMR's code draws whole
    dB: ``step_db=1``).

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> g = Gain(min_gain_db=-6.0, max_gain_db=-6.0, p=1.0)
    >>> round(g(torch.ones(1, 3))[0, 0].item(), 3)
    0.501
    """

    def __init__(
        self, min_gain_db: float = -20.0, max_gain_db: float = -1.0, step_db: float | None = None, p: float = 1.0
    ) -> None:
        super().__init__(p)
        check_range("gain_db", min_gain_db, max_gain_db)
        self.min_gain_db, self.max_gain_db = float(min_gain_db), float(max_gain_db)
        self.step_db = check_step("step_db", step_db)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        return {"gain_db": uniform(batch, self.min_gain_db, self.max_gain_db, generator, self.step_db)}

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        return x * (10.0 ** (params["gain_db"] / 20.0))[:, None]

    def row_factors(self, params: dict[str, Tensor]) -> Tensor:
        return 10.0 ** (params["gain_db"] / 20.0)

    def extra_repr(self) -> str:
        return f"min_gain_db={self.min_gain_db}, max_gain_db={self.max_gain_db}, step_db={self.step_db}, p={self.p}"
