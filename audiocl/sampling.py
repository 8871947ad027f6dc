"""Segment sampling: random crops of a batch of clips, any number of views per clip.

CLMR takes independent random crops of a clip, which may overlap; COLA takes two segments of the same
clip, optionally disjoint. Both are ``sample_views``. It runs batched on the audio's device; the crop
positions are drawn on the CPU from a ``torch.Generator``, so a seed gives the same crops anywhere.

>>> import torch
>>> audio = torch.randn(4, 48000)
>>> sample_views(audio, 16000, 2, generator=torch.Generator().manual_seed(0)).shape
torch.Size([2, 4, 16000])
"""

from __future__ import annotations

import torch
from torch import Tensor

from audiocl.augment.base import default_generator


def _starts(lengths: Tensor, crop: int, views: int, allow_overlap: bool, generator: torch.Generator) -> Tensor:
    """Crop starts ``(views, batch)`` (CPU, int64) for clips of ``lengths`` valid samples."""
    room = (lengths - crop).clamp_min(0)  # the largest start that keeps the crop in the valid part
    u = torch.rand((views, lengths.shape[0]), generator=generator, dtype=torch.float64)
    if allow_overlap:
        return (u * (room + 1)).floor().long()
    # Disjoint: draw the gaps. Sorted positions in [0, free] plus k crops for the k-th view.
    free = (lengths - views * crop).clamp_min(0)
    offsets = (u * (free + 1)).floor().long().sort(dim=0).values
    disjoint = offsets + crop * torch.arange(views)[:, None]
    # Too short for disjoint crops: spread them as far apart as the clip allows (first at 0, last at the end).
    spread = (torch.linspace(0, 1, views, dtype=torch.float64)[:, None] * room).round().long()
    starts = torch.where((lengths >= views * crop)[None, :], disjoint, spread)
    order = torch.rand((views, lengths.shape[0]), generator=generator).argsort(dim=0)  # shuffle the views
    return starts.gather(0, order)


def sample_views(
    audio: Tensor,
    crop_samples: int,
    num_views: int = 2,
    *,
    lengths: Tensor | None = None,
    allow_overlap: bool = True,
    generator: torch.Generator | None = None,
    min_rms_db: float | None = None,
    max_retries: int = 5,
) -> Tensor:
    """Take ``num_views`` random crops of ``crop_samples`` from every clip of a batch.

    Args:
        audio: ``(batch, samples)`` clips, zero-padded at the end where shorter than ``samples``.
        crop_samples: length of each view.
        num_views: views per clip (2 for CLMR and COLA).
        lengths: ``(batch,)`` valid samples per clip (None: all ``samples``). Crops lie in the valid part.
        allow_overlap: False asks for disjoint views (COLA's option). A clip shorter than
            ``num_views * crop_samples`` cannot have them; its views are then spread as far apart as it
            allows (the first at its start, the last at its end).
        generator: CPU generator for the positions (None: torch's default one).
        min_rms_db: reject a view whose RMS is below this (dB re full scale, ``20 log10(rms)``) and
            redraw it, at most ``max_retries`` times, keeping the loudest draw (disjoint views are
            redrawn together, judged by their quietest). None accepts every draw.
        max_retries: bound on the redraws.

    Padding: a clip shorter than ``crop_samples`` gives views that start at its first sample and are
    zero-padded at the end (all its views are then the same).

    Returns:
        ``(num_views, batch, crop_samples)`` on ``audio``'s device and dtype.

    Shape:
        - audio: ``(batch, samples)``; lengths: ``(batch,)``; output: ``(num_views, batch, crop_samples)``.
    """
    if audio.dim() != 2:
        raise ValueError(f"audio must be (batch, samples), got shape {tuple(audio.shape)}")
    if crop_samples < 1 or num_views < 1 or max_retries < 0:
        raise ValueError(
            f"need crop_samples >= 1, num_views >= 1 and max_retries >= 0, "
            f"got {crop_samples}, {num_views} and {max_retries}"
        )
    batch, samples = audio.shape
    if lengths is None:
        lengths = torch.full((batch,), samples, dtype=torch.long)
    else:
        lengths = torch.as_tensor(lengths).detach().cpu().long()
        if lengths.shape != (batch,) or bool((lengths < 0).any()) or bool((lengths > samples).any()):
            raise ValueError(f"lengths must be {batch} integers in [0, {samples}], got {lengths.tolist()}")
    g = default_generator(generator)
    if samples < crop_samples:
        audio = torch.nn.functional.pad(audio, (0, crop_samples - samples))
    windows = audio.unfold(1, crop_samples, 1)  # (B, T - crop + 1, crop), a view: nothing is copied
    rows = torch.arange(batch, device=audio.device)[None, :]

    starts = _starts(lengths, crop_samples, num_views, allow_overlap, g)
    if min_rms_db is not None:
        # Mean power of any window from a running sum of squares (float64 keeps small powers exact).
        energy = torch.nn.functional.pad(audio.double().pow(2).cumsum(dim=1), (1, 0))

        def levels_db(s: Tensor) -> Tensor:  # (V, B) starts -> (V, B) levels in dB
            s = s.to(audio.device)
            power = (energy[rows, s + crop_samples] - energy[rows, s]) / crop_samples
            level = (10 * torch.log10(power.clamp_min(1e-20))).cpu()
            # Independent views are judged (and kept) one by one; disjoint ones as a set, by the quietest.
            return level if allow_overlap else level.min(dim=0, keepdim=True).values.expand_as(level)

        level = levels_db(starts)
        for _ in range(max_retries):
            if bool((level >= min_rms_db).all()):
                break
            candidate = _starts(lengths, crop_samples, num_views, allow_overlap, g)
            candidate_level = levels_db(candidate)
            better = (level < min_rms_db) & (candidate_level > level)
            starts = torch.where(better, candidate, starts)
            level = torch.where(better, candidate_level, level)
    return windows[rows, starts.to(audio.device)]  # (V, B, crop)
