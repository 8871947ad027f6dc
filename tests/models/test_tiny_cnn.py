"""The tiny CNNs: small, and able to tell timbres apart after a few CPU steps."""

from __future__ import annotations

import math

import pytest
import torch
import torchaudio
from torch import nn

from audiocl.models import TinyCNN, TinyCNN1d, create_encoder

SR = 8000


def timbres(n: int, generator: torch.Generator, samples: int = 4000) -> tuple[torch.Tensor, torch.Tensor]:
    """Three timbres at random pitch (150-600 Hz) and gain: sine, odd harmonics (square-like), all
    harmonics (saw-like). Pitch and loudness vary, so only the spectral shape gives the class away."""
    labels = torch.randint(0, 3, (n,), generator=generator)
    f0 = 150 + 450 * torch.rand(n, 1, generator=generator)
    gain = 0.1 + 0.8 * torch.rand(n, 1, generator=generator)
    phase = 2 * math.pi * torch.rand(n, 1, generator=generator)
    t = torch.arange(samples) / SR
    audio = torch.zeros(n, samples)
    for k in range(1, 10):
        weight = torch.stack([torch.full((n,), float(k == 1)), torch.full((n,), (k % 2) / k), torch.full((n,), 1 / k)])
        w = weight.gather(0, labels[None]).T  # (n, 1)
        audio += w * torch.sin(2 * math.pi * k * f0 * t + k * phase) * (k * f0 < SR / 2)
    audio = gain * audio / audio.abs().amax(dim=1, keepdim=True)
    return audio, labels


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_sizes_are_small():
    assert 50_000 <= count(create_encoder("tiny_cnn")) <= 150_000
    assert 50_000 <= count(create_encoder("tiny_cnn_1d")) <= 150_000
    assert count(create_encoder("tiny_cnn", width=8, embedding_dim=32)) < 20_000


def test_kwargs_reach_the_network():
    enc = create_encoder("tiny_cnn", in_channels=3, width=8, embedding_dim=64).eval()
    assert (enc.in_channels, enc.embedding_dim) == (3, 64)
    with torch.no_grad():
        assert enc(torch.randn(2, 3, 20, 30)).shape == (2, 64)
        assert enc.forward_features(torch.randn(2, 3, 20, 30)).shape == (2, 64, 3, 4)  # ceil(/8)
    enc1d = create_encoder("tiny_cnn_1d", width=8, embedding_dim=16).eval()
    with torch.no_grad():
        assert enc1d(torch.randn(2, 1, 4000)).shape == (2, 16)


@pytest.mark.parametrize("cls", [TinyCNN, TinyCNN1d])
@pytest.mark.parametrize("kwargs", [{"in_channels": 0}, {"width": -2}, {"embedding_dim": 1.5}, {"width": True}])
def test_rejects_bad_arguments(cls, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        cls(**kwargs)


def train_and_score(name: str, seed: int = 0, steps: int = 40, samples: int = 2000) -> float:
    """Encoder + linear classifier, ``steps`` Adam steps of 32 clips; returns held-out accuracy."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    if name == "tiny_cnn":
        mel = torchaudio.transforms.MelSpectrogram(SR, n_fft=256, hop_length=64, n_mels=32)
        features = lambda audio: torch.log(mel(audio) + 1e-6)[:, None]  # (B, 1, 32, frames)
    else:
        features = lambda audio: audio[:, None]  # (B, 1, samples)
    enc = create_encoder(name)
    model = nn.Sequential(enc, nn.Linear(enc.embedding_dim, 3))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        audio, labels = timbres(32, g, samples)
        loss = nn.functional.cross_entropy(model(features(audio)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    audio, labels = timbres(200, torch.Generator().manual_seed(seed + 1000), samples)
    with torch.no_grad():
        return (model.eval()(features(audio)).argmax(1) == labels).float().mean().item()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "steps"), [("tiny_cnn", 25), ("tiny_cnn_1d", 40)])
def test_learns_timbre_in_a_few_cpu_steps(name, steps):
    """Chance is 1/3; pitch and gain are random, so the encoder has to pick up the spectral shape."""
    accuracy = train_and_score(name, steps=steps)
    assert accuracy >= 0.9, f"{name}: held-out timbre accuracy {accuracy:.2f}"
