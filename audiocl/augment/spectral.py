"""SpecAugment masks on features ``(batch, channels, freq, frames)`` (Park et al., 2019).

Each example gets its own ``num_masks`` bands, each of a width uniform in ``[min_width, max_width]``
(SpecAugment: ``min_width=0``) and at
a position uniform where it fits; all channels of an example share its masks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from audiocl.augment.base import Transform


class _SpecMask(Transform):
    axis: int  # -2: frequency, -1: time
    input_dims = 4  # (batch, channels, freq, frames)

    def __init__(self, max_width: int, num_masks: int, fill: str, min_width: int, p: float) -> None:
        super().__init__(p)
        if not 0 <= int(min_width) <= int(max_width) or int(num_masks) < 1:
            raise ValueError(
                f"need 0 <= min_width <= max_width and num_masks >= 1, got {min_width}, {max_width}, {num_masks}"
            )
        if fill not in ("zeros", "mean"):
            raise ValueError(f"fill={fill!r} must be 'zeros' or 'mean' (the example's mean value)")
        self.min_width, self.max_width, self.num_masks, self.fill = int(min_width), int(max_width), int(num_masks), fill

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        shape = (batch, self.num_masks)
        return {
            "width": torch.randint(self.min_width, self.max_width + 1, shape, generator=generator),
            "start": torch.rand(shape, generator=generator, dtype=torch.float64),  # of the free room
        }

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        size = x.shape[self.axis]
        width = params["width"].clamp(max=size)
        start = (params["start"] * (size - width + 1)).floor().long().clamp(max=size - width)
        k = torch.arange(size, device=x.device)[None, None, :]
        masked = ((k >= start[..., None]) & (k < (start + width)[..., None])).any(dim=1)  # (B, size)
        masked = masked[:, None, :, None] if self.axis == -2 else masked[:, None, None, :]
        if self.fill == "zeros":
            return x.masked_fill(masked, 0.0)
        return torch.where(masked, x.mean(dim=(1, 2, 3), keepdim=True), x)

    def extra_repr(self) -> str:
        return f"width=[{self.min_width}, {self.max_width}], num_masks={self.num_masks}, fill={self.fill!r}, p={self.p}"


class FrequencyMask(_SpecMask):
    """Mask ``num_masks`` bands of up to ``max_width`` frequency bins per example (SpecAugment's F, m_F;
    defaults F=27, m_F=1: LibriSpeech basic policy).

    Shape:
        - x: ``(batch, channels, freq, frames)``; output: same.

    >>> fm = FrequencyMask(max_width=8, num_masks=2)
    >>> fm(torch.ones(2, 1, 64, 10), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 1, 64, 10])
    """

    axis = -2

    def __init__(
        self, max_width: int = 27, num_masks: int = 1, fill: str = "zeros", min_width: int = 0, p: float = 1.0
    ) -> None:
        super().__init__(max_width, num_masks, fill, min_width, p)


class SpecTimeMask(_SpecMask):
    """Mask ``num_masks`` stretches of up to ``max_width`` frames per example (SpecAugment's T, m_T;
    defaults T=100, m_T=1: LibriSpeech basic policy).

    Shape:
        - x: ``(batch, channels, freq, frames)``; output: same.

    >>> tm = SpecTimeMask(max_width=20)
    >>> tm(torch.ones(2, 1, 64, 100), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 1, 64, 100])
    """

    axis = -1

    def __init__(
        self, max_width: int = 100, num_masks: int = 1, fill: str = "zeros", min_width: int = 0, p: float = 1.0
    ) -> None:
        super().__init__(max_width, num_masks, fill, min_width, p)
