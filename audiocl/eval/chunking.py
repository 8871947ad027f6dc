"""One rule for where chunks and crops start, used by :mod:`audiocl.embed`, :mod:`audiocl.hear` and the probes.

- **Chunks** (``embed``, the ``audiocl`` protocol): chunk ``k`` covers samples ``[k * hop, k * hop + segment)``;
  there are ``1 + ceil((samples - segment) / hop)`` of them (for ``hop <= segment``), so every sample is
  covered and the last chunk is zero-padded past the end; audio shorter than one segment gives one padded
  chunk. A chunk's timestamp is its centre.
- **CLMR's test crops** (``clmr/data.py``, ``ContrastiveDataset.concat_clip`` at CLMR commit 423414d):
  ``torch.split(audio, segment)[:-1]``, contiguous non-overlapping crops with the last piece dropped, also when
  that piece is a full crop.
- **CLMR's training crop** (``RandomResizedCrop(n_samples)`` of torchaudio-augmentations): one crop at a start
  drawn uniformly from ``[0, samples - segment]``.
- **HEAR frames**: the window centred on ``k * hop_ms``, see :func:`frame_starts`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["chunk_starts", "chunk_centres_s", "clmr_test_crops", "random_crop_start", "frame_starts"]


def chunk_starts(num_samples: int, segment_samples: int, hop_samples: int) -> torch.Tensor:
    """First sample of every chunk that covers ``num_samples`` (see the module docstring).

    >>> chunk_starts(25, 10, 5).tolist()
    [0, 5, 10, 15]
    >>> chunk_starts(3, 10, 5).tolist()
    [0]
    >>> chunk_starts(26, 5, 10).tolist()  # hop > segment leaves gaps, but no chunk starts past the end
    [0, 10, 20]
    """
    # A chunk is needed while it starts inside the audio and the ones before it leave samples uncovered.
    limit = min(num_samples, num_samples - segment_samples + hop_samples)
    count = max(1, math.ceil(limit / hop_samples))
    return torch.arange(count, dtype=torch.long) * hop_samples


def chunk_centres_s(num_chunks: int, segment_samples: int, hop_samples: int, sample_rate: int) -> np.ndarray:
    """Centre of each chunk in seconds, ``(num_chunks,)`` float64."""
    starts = np.arange(num_chunks, dtype=np.float64) * hop_samples
    return (starts + segment_samples / 2) / sample_rate


def clmr_test_crops(num_chunks: int) -> int:
    """How many of a clip's non-overlapping chunks (hop = segment, :func:`chunk_starts`) CLMR's ``concat_clip``
    keeps: every piece of ``torch.split(audio, segment)`` but the last, i.e. all chunks but the last (the
    chunks are exactly those pieces, the last one zero-padded). A clip of one chunk keeps it (CLMR's
    ``torch.cat`` of no pieces would fail there).

    >>> clmr_test_crops(3), clmr_test_crops(1)
    (2, 1)
    """
    return max(1, num_chunks - 1)


def random_crop_start(num_samples: int, segment_samples: int, rng: np.random.Generator) -> int:
    """Start of one crop of ``segment_samples``, uniform over ``[0, num_samples - segment_samples]`` (0 for a
    clip no longer than a crop, which is then zero-padded)."""
    return int(rng.integers(0, max(0, num_samples - segment_samples) + 1))


def frame_starts(num_samples: int, sample_rate: int, hop_ms: float, segment_samples: int) -> torch.Tensor:
    """First sample of the window centred on each timestamp ``k * hop_ms`` (may be negative).

    ``k`` runs while ``k * hop_ms`` is not after the end of the clip. Each centre is ``round(k * hop_ms *
    sample_rate / 1000)`` from the index ``k`` (no accumulated rounding).

    >>> frame_starts(22050, 22050, 50.0, 1000)[:4].tolist()
    [-500, 602, 1705, 2808]
    """
    hop = hop_ms * sample_rate / 1000.0  # samples, possibly fractional
    count = math.floor(num_samples / hop + 1e-9) + 1
    centres = torch.round(torch.arange(count, dtype=torch.float64) * hop).long()
    return centres - segment_samples // 2
