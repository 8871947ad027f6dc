"""Batched audio augmentations on the input's device, per-example parameters, reproducible from a seed.

Every transform is an ``nn.Module`` with ``forward(x, generator=None)``: waveform transforms take
``(batch, samples)``, spectral ones ``(batch, channels, freq, frames)``. Each example is transformed
with probability ``p`` and gets its own parameters, drawn from the CPU ``torch.Generator``
(``None``: torch's default one), so a seed gives the same parameters on CPU and CUDA. A row's result
depends on that row and its parameters only, never on the rest of the batch (``draw``, then
``apply_drawn``: any rows of a draw give those rows of the batch's result).

On the CPU, a batch's buffers are tens of megabytes, which glibc's malloc gives back to the system when
freed and faults in again on the next call; ``audiocl.allocator.keep_freed_memory()`` (which ``audiocl
pretrain``, ``audiocl demo`` and ``audiocl bench`` call) stops that. docs/benchmarks.md has what it is worth.

>>> import torch, audiocl
>>> aug = audiocl.augment.clmr(sample_rate=22050)
>>> views = aug(torch.randn(8, 59049), torch.Generator().manual_seed(0))  # doctest: +SKIP
"""

from audiocl.augment.adapter import Audiomentations
from audiocl.augment.base import Transform
from audiocl.augment.combine import Compose, OneOf, RandomApply
from audiocl.augment.delay import Delay
from audiocl.augment.filters import BandPass, HighPass, LowPass
from audiocl.augment.gain import Gain, PolarityInversion
from audiocl.augment.noise import AddNoise
from audiocl.augment.pitch import PitchShift, Speed, TimeStretch
from audiocl.augment.presets import clar, clar_six, clmr, cola, create_augment, none
from audiocl.augment.reverb import ImpulseResponse, Reverb
from audiocl.augment.spectral import FrequencyMask, SpecTimeMask
from audiocl.augment.time import Fade, TimeMask, TimeShift

__all__ = [
    "AddNoise",
    "Audiomentations",
    "BandPass",
    "Compose",
    "Delay",
    "Fade",
    "FrequencyMask",
    "Gain",
    "HighPass",
    "ImpulseResponse",
    "LowPass",
    "OneOf",
    "PitchShift",
    "PolarityInversion",
    "RandomApply",
    "Reverb",
    "SpecTimeMask",
    "Speed",
    "TimeMask",
    "TimeShift",
    "TimeStretch",
    "Transform",
    "clar",
    "clar_six",
    "clmr",
    "cola",
    "create_augment",
    "none",
]
