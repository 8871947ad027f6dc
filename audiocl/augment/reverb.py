"""Reverberation by FFT convolution: synthetic room impulse responses, or a folder of recorded ones.

Both convolve the whole batch at once (one ``rfft`` of the batch, one of the impulse responses, one
``irfft``) and keep the first ``samples`` of the result, so the output is aligned with the input and
as long.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from audiocl.augment.base import Transform, check_range, randint, row_noise, row_seeds, uniform
from audiocl.augment.filters import fast_len

# Amplitude decays by 60 dB (a factor 1000) over one RT60.
_LN_1000 = math.log(1000.0)


def fft_convolve(x: Tensor, responses: Tensor) -> Tensor:
    """Convolve each row of ``x`` with its impulse response, keeping the first ``samples`` outputs.

    Shape:
        - x: ``(batch, samples)``; responses: ``(batch, taps)``; output: ``(batch, samples)``.
    """
    samples, taps = x.shape[-1], responses.shape[-1]
    n = fast_len(samples + taps - 1)
    spectrum = torch.fft.rfft(x, n=n) * torch.fft.rfft(responses, n=n)
    return torch.fft.irfft(spectrum, n=n)[..., :samples]


def rir_taps(rt60_s: Tensor, sample_rate: int) -> Tensor:
    """How long each synthetic response lasts, in samples: its RT60 (60 dB down by then), at least 2 taps."""
    return torch.ceil(rt60_s.double() * sample_rate).long().clamp_min(2)


def synthetic_rir(rt60_s: Tensor, drr_db: Tensor, sample_rate: int, seeds: Tensor) -> Tensor:
    """Room impulse responses: a unit direct path followed by exponentially decaying Gaussian noise.

    The tail's amplitude envelope is ``exp(-ln(1000) t / rt60)`` (60 dB down after ``rt60_s``); its
    energy is ``10**(-drr_db / 10)`` times the direct path's (the direct-to-reverberant ratio). Each lasts
    ``rir_taps`` (its own RT60), its noise drawn from its seed (``row_noise``), then zeros up to the longest:
    a response does not depend on the others.

    Shape:
        - rt60_s, drr_db, seeds: ``(batch,)`` on the target device; output: ``(batch, longest taps)``.
    """
    taps = rir_taps(rt60_s, sample_rate).tolist()
    tail = row_noise(seeds, taps, rt60_s)
    t = torch.arange(tail.shape[-1], device=rt60_s.device, dtype=rt60_s.dtype)[None, :] / sample_rate
    tail = tail * torch.exp(-_LN_1000 * t / rt60_s[:, None])
    tail[:, 0] = 0
    energy = tail.pow(2).sum(dim=1, keepdim=True).clamp_min(1e-20)
    tail = tail * torch.sqrt(10.0 ** (-drr_db[:, None] / 10) / energy)
    tail[:, 0] = 1.0  # the direct path
    return tail


class Reverb(Transform):
    """Reverberate with a synthetic room impulse response drawn per example.

    RT60 is uniform in seconds over ``[min_rt60_s, max_rt60_s]``; the direct-to-reverberant ratio is
    uniform in dB over ``[min_drr_db, max_drr_db]`` (0 dB: as much reverberant as direct energy). Each
    response lasts its RT60, where it has decayed by 60 dB; the FFTs of a batch (on the CPU: of a chunk of
    rows with similar RT60) are sized for its longest.

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> rev = Reverb(16000, min_rt60_s=0.3, max_rt60_s=0.3)
    >>> rev(torch.randn(2, 1600), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 1600])
    """

    def __init__(
        self,
        sample_rate: int,
        min_rt60_s: float = 0.1,
        max_rt60_s: float = 1.0,
        min_drr_db: float = 0.0,
        max_drr_db: float = 10.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate={sample_rate} must be a positive integer in Hz")
        check_range("rt60_s", min_rt60_s, max_rt60_s)
        if min_rt60_s <= 0 or max_rt60_s > 10:
            raise ValueError(f"rt60_s range [{min_rt60_s}, {max_rt60_s}] must lie in (0, 10] seconds")
        check_range("drr_db", min_drr_db, max_drr_db)
        self.sample_rate = int(sample_rate)
        self.min_rt60_s, self.max_rt60_s = float(min_rt60_s), float(max_rt60_s)
        self.min_drr_db, self.max_drr_db = float(min_drr_db), float(max_drr_db)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        return {
            "rt60_s": uniform(batch, self.min_rt60_s, self.max_rt60_s, generator),
            "drr_db": uniform(batch, self.min_drr_db, self.max_drr_db, generator),
            "seed": row_seeds(batch, generator),  # of each example's response
        }

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        rir = synthetic_rir(params["rt60_s"], params["drr_db"], self.sample_rate, params["seed"])
        return fft_convolve(x, rir)

    def extra_repr(self) -> str:
        return (
            f"rt60_s=[{self.min_rt60_s}, {self.max_rt60_s}], drr_db=[{self.min_drr_db}, {self.max_drr_db}], p={self.p}"
        )


def load_impulse_responses(
    source: str | os.PathLike | Sequence[str | os.PathLike], sample_rate: int, max_seconds: float | None = None
) -> tuple[Tensor, list[Path]]:
    """Load impulse responses (a folder, searched recursively, or a list of files) as one padded tensor.

    Each is decoded to mono at ``sample_rate`` (``audiocl.audio.load``) and cut to ``max_seconds``.

    Returns:
        ``(responses, paths)``: ``(count, taps)`` float32 zero-padded to the longest, and their files.

    Raises:
        ValueError: the folder holds no audio file. ``audiocl.audio.AudioError`` names an unreadable file.
    """
    from audiocl.audio import AUDIO_EXTENSIONS, load

    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        paths = sorted(p for p in Path(source).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        if not paths:
            raise ValueError(f"no impulse response ({', '.join(AUDIO_EXTENSIONS)}) found under {source}")
    else:
        paths = [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(p) for p in source]
        if not paths:
            raise ValueError("the list of impulse response files is empty")
    irs = [load(p, sample_rate, duration_s=max_seconds)[0] for p in paths]
    responses = torch.zeros(len(irs), max(len(ir) for ir in irs))
    for row, ir in zip(responses, irs, strict=True):
        row[: len(ir)] = ir
    return responses, paths


class ImpulseResponse(Transform):
    """Convolve with an impulse response picked per example from a folder (or list) of audio files.

    The files are loaded once, at construction, resampled to ``sample_rate`` and cut to ``max_seconds``.
    ``normalize=True`` scales each to unit energy so that the output level stays near the input's.

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> ir = ImpulseResponse("irs/", sample_rate=16000)  # doctest: +SKIP
    """

    def __init__(
        self,
        source: str | os.PathLike | Sequence[str | os.PathLike],
        sample_rate: int,
        max_seconds: float | None = 2.0,
        normalize: bool = True,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate={sample_rate} must be a positive integer in Hz")
        responses, self.paths = load_impulse_responses(source, int(sample_rate), max_seconds)
        if normalize:
            responses = responses / responses.pow(2).sum(dim=1, keepdim=True).sqrt().clamp_min(1e-12)
        self.sample_rate = int(sample_rate)
        self.register_buffer("responses", responses, persistent=False)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        return {"index": randint(batch, 0, len(self.paths) - 1, generator)}

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        responses = self.responses.to(device=x.device, dtype=x.dtype)[params["index"]]
        return fft_convolve(x, responses)

    def extra_repr(self) -> str:
        return f"files={len(self.paths)}, taps={self.responses.shape[-1]}, p={self.p}"
