"""ResNet-18 encoders of CLAR, on a 3-channel time-frequency stack (2-D) and on raw audio (1-D).

Al-Tahan & Mohsenzadeh, "CLAR: Contrastive learning of auditory representations", AISTATS 2021: a
ResNet-18 (He et al. 2016) whose output is average-pooled to a 512-d vector, either 2-D on a stack of three
time-frequency features (3 x 128 x frames at 16 kHz; the authors' code stacks log mel, MFCC and log STFT,
``audiocl.frontends.CLARStack``: magnitude, phase, mel), or 1-D on the raw waveform.

- ``resnet18``: timm's ResNet-18, 3 input channels, global average pool, 11,176,512 parameters.
- ``resnet18_1d``: the same body in 1-D (BasicBlocks of two 3-tap convolutions, [2, 2, 2, 2] blocks of
  64, 128, 256, 512 channels, strides 1, 2, 2, 2). The paper does not give the 1-D stem; ours follows the
  raw-waveform ResNets of Dai et al., "Very deep convolutional neural networks for raw waveforms",
  ICASSP 2017: one wide conv (kernel 80 = 5 ms at 16 kHz, stride 4) + BN + ReLU, then max-pool 4, so
  the residual stages start at 1 kHz frame rate (a 1 s input leaves 125 frames after the last stage).
  3,848,576 parameters.
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
        stem_kernel, stem_stride: the first, wide conv (80 and 4 after Dai et al. 2017).
        stem_pool: max-pool size after the stem (4).
        kernel_size: kernel of the convolutions in the blocks (3).

    Shape:
        x: ``(B, in_channels, samples)``, ``samples >= stem_kernel + (stem_pool - 1) * stem_stride``;
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
        stem_pool: int = 4,
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
        ):
            check_positive_int(name, v)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so 'same' padding is symmetric, got {kernel_size}")
        check_choice("pooling", pooling, POOLINGS)

        self.stem = nn.Sequential(
            nn.Conv1d(in_channels, widths[0], stem_kernel, stride=stem_stride, bias=False),
            nn.BatchNorm1d(widths[0]),
            nn.ReLU(),
            nn.MaxPool1d(stem_pool),
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
        self.min_input_size = (stem_kernel + (stem_pool - 1) * stem_stride,)  # one frame after the pool

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
    """CLAR's 1-D encoder: ResNet-18 on raw audio ``(B, 1, samples)`` -> 512-d (stem: see module doc)."""
    return ResNet1d(layers=(2, 2, 2, 2), widths=(64, 128, 256, 512), **kwargs)
