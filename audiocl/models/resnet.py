"""ResNet-18 encoders of CLAR, on a 3-channel time-frequency stack (2-D) and on raw audio (1-D).

Al-Tahan & Mohsenzadeh, "CLAR: Contrastive learning of auditory representations", AISTATS 2021: a
ResNet-18 (He et al. 2016) whose output is average-pooled to a 512-d vector, either 2-D on a stack of three
time-frequency features (3 x 128 x frames at 16 kHz; the authors' code stacks log mel, MFCC and log STFT,
``audiocl.frontends.CLARStack``: magnitude, phase, mel), or 1-D on the raw waveform.

- ``resnet18``: timm's ResNet-18, 3 input channels, global average pool, 11,176,512 parameters.
- ``resnet18_1d``: CLAR's 1-D encoder as its code builds it (``models.resnet18_1D`` of
  github.com/haideraltahan/CLAR): stem conv kernel 7, stride 2, padding 3 + BN + ReLU, max-pool kernel 9,
  stride 2, padding 1, then [2, 2, 2, 2] BasicBlocks of two 9-tap convolutions (64, 128, 256, 512
  channels, strides 1, 2, 2, 2), average-pooled. A 1 s input at 16 kHz leaves 500 frames.
- ``ResNet1d()`` with its own defaults: the raw-waveform stem of Dai et al., "Very deep convolutional neural
  networks for raw waveforms", ICASSP 2017 (kernel 80, stride 4, max-pool 4) and 3-tap blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import POOLINGS, Encoder, TimmEncoder, check_choice, check_positive_int
from .registry import register_encoder


class BasicBlock1d(nn.Module):
    """ResNet's basic block in 1-D: conv3-BN-ReLU-conv3-BN plus the (projected) input, then ReLU.

    Shape:
        x: ``(B, in_channels, T)``; returns ``(B, out_channels, ceil(T / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, kernel_size: int = 3) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm1d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class ResNet1d(Encoder):
    """A 1-D ResNet on raw audio (ResNet-18 with the defaults).

    Args:
        layers: blocks per stage.
        widths: channels per stage; the last is ``embedding_dim``.
        in_channels: input channels (1 = mono waveform).
        stem_kernel, stem_stride, stem_padding: the first, wide conv (80, 4 and 0 after Dai et al. 2017).
        stem_pool, pool_stride, pool_padding: the max-pool after the stem (4; stride None = its size; 0).
        kernel_size: kernel of the convolutions in the blocks (3).

    Shape:
        x: ``(B, in_channels, samples)``, long enough for one frame after the pool (``min_input_size``);
        ``forward_features`` gives ``(B, widths[-1], frames)``, ``forward`` ``(B, widths[-1])``.

    >>> enc = ResNet1d()
    >>> enc.eval()(torch.randn(2, 1, 16000)).shape
    torch.Size([2, 512])
    """

    def __init__(
        self,
        layers: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
        *,
        in_channels: int = 1,
        stem_kernel: int = 80,
        stem_stride: int = 4,
        stem_padding: int = 0,
        stem_pool: int = 4,
        pool_stride: int | None = None,
        pool_padding: int = 0,
        kernel_size: int = 3,
        pooling: str = "mean",
    ) -> None:
        super().__init__()
        layers, widths = tuple(layers), tuple(widths)
        if len(layers) != len(widths) or not layers:
            raise ValueError(f"layers and widths need the same non-zero length, got {len(layers)} and {len(widths)}")
        for name, values in (("layers", layers), ("widths", widths)):
            for v in values:
                check_positive_int(f"every entry of {name}", v)
        for name, v in (
            ("in_channels", in_channels),
            ("stem_kernel", stem_kernel),
            ("stem_stride", stem_stride),
            ("stem_pool", stem_pool),
            ("kernel_size", kernel_size),
            ("pool_stride", stem_pool if pool_stride is None else pool_stride),
        ):
            check_positive_int(name, v)
        pool_stride = stem_pool if pool_stride is None else pool_stride
        if stem_padding < 0 or not 0 <= pool_padding <= stem_pool // 2:
            raise ValueError(
                f"need stem_padding >= 0 and 0 <= pool_padding <= stem_pool // 2, got {stem_padding}, {pool_padding}"
            )
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so 'same' padding is symmetric, got {kernel_size}")
        check_choice("pooling", pooling, POOLINGS)

        self.stem = nn.Sequential(
            nn.Conv1d(in_channels, widths[0], stem_kernel, stride=stem_stride, padding=stem_padding, bias=False),
            nn.BatchNorm1d(widths[0]),
            nn.ReLU(),
            nn.MaxPool1d(stem_pool, stride=pool_stride, padding=pool_padding),
        )
        stages, c_in = [], widths[0]
        for i, (n_blocks, width) in enumerate(zip(layers, widths, strict=True)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock1d(c_in, width, stride, kernel_size)]
            blocks += [BasicBlock1d(width, width, 1, kernel_size) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            c_in = width
        self.stages = nn.Sequential(*stages)
        for m in self.modules():  # He et al.'s init, as in torchvision and timm
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

        self.in_channels = in_channels
        self.embedding_dim = c_in
        self.pooling = pooling
        # One frame after the pool: the stem must give stem_pool - 2 * pool_padding frames.
        after_stem = max(1, stem_pool - 2 * pool_padding)
        self.min_input_size = (max(1, (after_stem - 1) * stem_stride + stem_kernel - 2 * stem_padding),)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Shape: ``(B, in_channels, samples) -> (B, embedding_dim, frames)``."""
        self._check_length(x)
        return self.stages(self.stem(x))


@register_encoder
def resnet18(in_channels: int = 3, pooling: str = "mean", **timm_kwargs) -> TimmEncoder:
    """CLAR's 2-D encoder: timm ResNet-18 on ``(B, 3, freq, frames)``, global average pool -> 512-d.

    >>> resnet18().eval()(torch.randn(2, 3, 128, 126)).shape  # doctest: +SKIP
    torch.Size([2, 512])
    """
    return TimmEncoder("resnet18", in_channels=in_channels, pooling=pooling, **timm_kwargs)


@register_encoder
def resnet18_1d(**kwargs) -> ResNet1d:
    """CLAR's 1-D encoder (``models.resnet18_1D`` of its code): ResNet-18 on raw audio ``(B, 1, samples)`` -> 512-d.

    >>> resnet18_1d().eval()(torch.randn(2, 1, 16000)).shape
    torch.Size([2, 512])
    """
    clar = dict(stem_kernel=7, stem_stride=2, stem_padding=3, stem_pool=9, pool_stride=2, pool_padding=1, kernel_size=9)
    return ResNet1d(layers=(2, 2, 2, 2), widths=(64, 128, 256, 512), **{**clar, **kwargs})
