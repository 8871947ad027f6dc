"""Test signals shared by the test modules (import as ``from signals import sine``)."""

from __future__ import annotations

import torch


def sine(freq_hz: float, sample_rate: int, seconds: float, amplitude: float = 0.5) -> torch.Tensor:
    """A float32 sine, shape (samples,)."""
    t = torch.arange(int(round(seconds * sample_rate)), dtype=torch.float64) / sample_rate
    return (amplitude * torch.sin(2 * torch.pi * freq_hz * t)).float()
