"""Small CNNs for ``audiocl demo``, the ``*_tiny`` recipes and tests: they train in seconds on a CPU.

Not from a paper. Four conv-BN-ReLU blocks, widths ``w, 2w, 4w, embedding_dim``, with 2x (2-D) or 4x
(1-D) max-pooling between blocks and global average pooling at the end: 97,392 (2-D) and 134,336 (1-D)
parameters with the defaults, enough to separate timbres in a few dozen CPU steps
(``tests/models/test_tiny_cnn.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Encoder, check_positive_int
from .registry import register_encoder


def _block(conv: nn.Module, channels: int, pool: nn.Module | None, bn: type[nn.Module]) -> nn.Sequential:
    layers = [conv, bn(channels), nn.ReLU()]
    if pool is not None:
        layers.append(pool)
    return nn.Sequential(*layers)


class TinyCNN(Encoder):
    """Four 3x3 conv-BN-ReLU blocks on features, 2x2 max-pool after the first three.

    Args:
        in_channels: feature channels (1 for a log-mel, 3 for CLAR's stack).
        width: channels of the first block; the next two have ``2 * width`` and ``4 * width``.
        embedding_dim: channels of the last block = size of the embedding.

    Shape:
        x: ``(B, in_channels, freq, frames)``, any size >= 1 x 1 (pooling rounds up);
        ``forward_features`` gives ``(B, embedding_dim, ceil(freq / 8), ceil(frames / 8))``.

    >>> TinyCNN(in_channels=1).eval()(torch.randn(2, 1, 64, 96)).shape
    torch.Size([2, 128])
    """

    def __init__(self, in_channels: int = 1, width: int = 16, embedding_dim: int = 128) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("width", width)
        check_positive_int("embedding_dim", embedding_dim)
        chans = [in_channels, width, 2 * width, 4 * width, embedding_dim]
        blocks = []
        for i in range(4):
            conv = nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=False)  # BN follows: no bias
            pool = nn.MaxPool2d(2, ceil_mode=True) if i < 3 else None
            blocks.append(_block(conv, chans[i + 1], pool, nn.BatchNorm2d))
        self.blocks = nn.Sequential(*blocks)
        self.in_channels = in_channels
        self.embedding_dim = embedding_dim
        self.min_input_size = (1, 1)
        self.pooling = "mean"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Shape: ``(B, in_channels, freq, frames) -> (B, embedding_dim, freq', frames')``."""
        return self.blocks(x)


class TinyCNN1d(Encoder):
    """A strided conv front (a learnable filter bank) and three conv-BN-ReLU blocks on raw audio.

    The stem is conv(kernel 16, stride 8): 1 ms windows with a 0.5 ms hop at 16 kHz. Then three blocks of
    5-tap convs with widths ``2 * width``, ``4 * width``, ``embedding_dim``, max-pool 4 after the first two.
    (A coarser stem, kernel 64 / stride 16, learnt timbre markedly slower in tests/models/test_tiny_cnn.py.)

    Args:
        in_channels: input channels (1 = mono waveform).
        width: channels of the stem.
        embedding_dim: channels of the last block = size of the embedding.

    Shape:
        x: ``(B, in_channels, samples)`` with ``samples >= 16``;
        ``forward_features`` gives ``(B, embedding_dim, frames)``, about ``samples / 128`` frames.

    >>> TinyCNN1d().eval()(torch.randn(2, 1, 16000)).shape
    torch.Size([2, 128])
    """

    stem_kernel = 16
    stem_stride = 8

    def __init__(self, in_channels: int = 1, width: int = 32, embedding_dim: int = 128) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("width", width)
        check_positive_int("embedding_dim", embedding_dim)
        stem = nn.Conv1d(in_channels, width, self.stem_kernel, stride=self.stem_stride, bias=False)
        chans = [width, 2 * width, 4 * width, embedding_dim]
        blocks = [_block(stem, width, None, nn.BatchNorm1d)]
        for i in range(3):
            conv = nn.Conv1d(chans[i], chans[i + 1], 5, padding=2, bias=False)
            pool = nn.MaxPool1d(4, ceil_mode=True) if i < 2 else None
            blocks.append(_block(conv, chans[i + 1], pool, nn.BatchNorm1d))
        self.blocks = nn.Sequential(*blocks)
        self.in_channels = in_channels
        self.embedding_dim = embedding_dim
        self.min_input_size = (self.stem_kernel,)
        self.pooling = "mean"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Shape: ``(B, in_channels, samples) -> (B, embedding_dim, frames)``."""
        self._check_length(x)
        return self.blocks(x)


@register_encoder
def tiny_cnn(in_channels: int = 1, width: int = 16, embedding_dim: int = 128) -> TinyCNN:
    """~100k-parameter 2-D CNN on ``(B, in_channels, freq, frames)`` for the demo and tiny recipes."""
    return TinyCNN(in_channels=in_channels, width=width, embedding_dim=embedding_dim)


@register_encoder
def tiny_cnn_1d(in_channels: int = 1, width: int = 32, embedding_dim: int = 128) -> TinyCNN1d:
    """~134k-parameter 1-D CNN on raw audio ``(B, in_channels, samples)`` for the demo and tiny recipes."""
    return TinyCNN1d(in_channels=in_channels, width=width, embedding_dim=embedding_dim)
