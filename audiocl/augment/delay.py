"""Delay (a single echo) with a per-example delay time."""

from __future__ import annotations

import torch
from torch import Tensor

from audiocl.augment.base import Transform, check_range, randint


def add_delayed(out: Tensor, x: Tensor, shift: Tensor, gain: float) -> Tensor:
    """Add ``gain`` times each row of ``x`` delayed by its ``shift`` samples to ``out``, in place.

    A loop over the distinct shifts (CLMR's delay has six), each adding its rows to a slice of ``out``
    (``index_add_``): no delayed copy of the batch and no index tensor as large as it.

    Shape:
        - out, x: ``(batch, samples)``; shift: ``(batch,)`` int64 >= 0; returns ``out``.
    """
    samples = x.shape[-1]
    for value in shift.unique().tolist():
        if value >= samples:
            continue
        rows = (shift == value).nonzero().squeeze(1)
        out[:, value:].index_add_(0, rows, x[:, : samples - value].index_select(0, rows), alpha=gain)
    return out


class Delay(Transform):
    """Mix in one echo: ``(1 - mix) * x + mix * volume_factor * x(t - delay)``.

    The delay is drawn per example in ms on the grid ``min_delay_ms, min_delay_ms + step_ms, ...,
    max_delay_ms`` (``step_ms=0``: any whole sample in the range). The defaults are CLMR's
    (torchaudio-augmentations ``Delay``: 200-450 ms in 50 ms steps, ``(x + 0.5 * delayed) / 2``).

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> d = Delay(1000, min_delay_ms=2.0, max_delay_ms=2.0, step_ms=0.0)
    >>> d(torch.tensor([[1.0, 0, 0, 0]])).tolist()
    [[0.5, 0.0, 0.25, 0.0]]
    """

    def __init__(
        self,
        sample_rate: int,
        min_delay_ms: float = 200.0,
        max_delay_ms: float = 450.0,
        step_ms: float = 50.0,
        volume_factor: float = 0.5,
        mix: float = 0.5,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate={sample_rate} must be a positive integer in Hz")
        check_range("delay_ms", min_delay_ms, max_delay_ms, min_value=0.0)
        if step_ms < 0:
            raise ValueError(f"step_ms={step_ms} must be >= 0 (0 means any whole sample)")
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"mix={mix} must lie in [0, 1]")
        self.sample_rate = int(sample_rate)
        self.min_delay_ms, self.max_delay_ms, self.step_ms = float(min_delay_ms), float(max_delay_ms), step_ms
        self.volume_factor, self.mix = float(volume_factor), float(mix)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        to_samples = self.sample_rate / 1000.0
        if self.step_ms > 0:
            steps = int((self.max_delay_ms - self.min_delay_ms) // self.step_ms)
            ms = self.min_delay_ms + self.step_ms * randint(batch, 0, steps, generator)
            return {"delay_samples": (ms * to_samples).long()}
        low, high = round(self.min_delay_ms * to_samples), round(self.max_delay_ms * to_samples)
        return {"delay_samples": randint(batch, low, high, generator)}

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        return add_delayed((1 - self.mix) * x, x, params["delay_samples"], self.mix * self.volume_factor)

    def extra_repr(self) -> str:
        return (
            f"delay_ms=[{self.min_delay_ms}, {self.max_delay_ms}], step_ms={self.step_ms}, "
            f"volume_factor={self.volume_factor}, mix={self.mix}, p={self.p}"
        )
