"""Shared fixtures. Data-set miniatures in the official layouts live in tests/layouts.py."""

from __future__ import annotations

import math

import pytest
import torch


def sine(freq_hz: float, sample_rate: int, seconds: float, amplitude: float = 0.5) -> torch.Tensor:
    """A float32 sine, shape (samples,)."""
    t = torch.arange(int(round(seconds * sample_rate)), dtype=torch.float64) / sample_rate
    return (amplitude * torch.sin(2 * math.pi * freq_hz * t)).float()


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded CPU generator, the way library code receives randomness."""
    return torch.Generator().manual_seed(1234)
