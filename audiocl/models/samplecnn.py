"""SampleCNN, the raw-waveform encoder of CLMR.

Lee, Park, Kim & Nam, "Sample-level deep convolutional neural networks for music auto-tagging using raw
waveforms", SMC 2017; as used by Spijkervet & Burgoyne, "Contrastive learning of musical representations"
(CLMR), ISMIR 2021, github.com/Spijkervet/CLMR ``clmr/models/sample_cnn.py``.

Layout (the 22.05 kHz model, input 59049 = 3^10 samples, 2.68 s):

- stem: conv(1 -> 128, kernel 3, stride 3) + BN + ReLU;
- 9 blocks: conv(kernel s, stride 1, padding 1) + BN + ReLU + max-pool(s), channels
  128, 128, 256, 256, 256, 256, 256, 256, 512, with s = 3 for every block;
- final: conv(512 -> 512, kernel 3, padding 1) + BN + ReLU, leaving one frame of 512 channels.

Parameter count: the convolutions and batch norms above hold exactly 2,368,512 parameters (conv weights
2,359,680 + conv biases 2,944 + BN affine 5,888). That is CLMR's ``encoder.sequential``; CLMR's
``encoder.fc`` (512 -> n_classes) is *not* part of it: CLMR replaces it by the identity before
contrastive pre-training (``encoder.fc = Identity()``), and so do we by having no fc at all. The module
keeps CLMR's ``sequential`` attribute and indices, so a CLMR encoder state dict (minus ``fc.*``) loads
with ``strict=True``.

The 16 kHz and 8 kHz variants are the CLMR author's, from Spijkervet/CLMR ``model.py`` (commit a0cce74,
``load_encoder``): block strides (kernel = pool = stride) [3, 3, 3, 3, 3, 3, 5, 2, 2] at 16 kHz and
[3, 3, 3, 2, 2, 4, 4, 2, 2] at 8 kHz, with the same channels; their configs
(``config/config_audio_magnatagatune_{16000,8000}.yaml``) use 42848 samples (2.68 s) and 20736 samples
(2.59 s) as input. Both inputs reduce to exactly one frame, like 59049 at 22.05 kHz.

CLMR flattens that single frame; for longer inputs (embedding whole clips) we average over the
remaining frames instead, which equals CLMR's output when one frame is left.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import Encoder, check_positive_int
from .registry import register_encoder

CLMR_CHANNELS = (128, 128, 256, 256, 256, 256, 256, 256, 512)
STRIDES_22K = (3, 3, 3, 3, 3, 3, 3, 3, 3)  # input 59049 samples at 22050 Hz
STRIDES_16K = (3, 3, 3, 3, 3, 3, 5, 2, 2)  # input 42848 samples at 16000 Hz (Spijkervet/CLMR model.py)
STRIDES_8K = (3, 3, 3, 2, 2, 4, 4, 2, 2)  # input 20736 samples at 8000 Hz (Spijkervet/CLMR model.py)


def output_frames(num_samples: int, strides: Sequence[int], stem_stride: int = 3) -> int:
    """Frames left after the stem and the blocks for an input of ``num_samples`` (0 = too short).

    >>> output_frames(59049, STRIDES_22K)
    1
    """
    n = (num_samples - stem_stride) // stem_stride + 1 if num_samples >= stem_stride else 0
    for s in strides:
        n = (n + 2 - s + 1) // s  # conv(kernel s, padding 1), then max-pool(s)
        if n <= 0:
            return 0
    return n


def min_samples(strides: Sequence[int], stem_stride: int = 3) -> int:
    """The shortest input that leaves one frame (``output_frames`` is non-decreasing in the length)."""
    lo, hi = 1, stem_stride
    for s in strides:
        hi *= s
    while lo < hi:  # binary search on [1, stem_stride * prod(strides)]
        mid = (lo + hi) // 2
        if output_frames(mid, strides, stem_stride) >= 1:
            hi = mid
        else:
            lo = mid + 1
    return lo


class SampleCNN(Encoder):
    """SampleCNN on raw audio, with CLMR's layer layout and parameter names.

    Args:
        strides: kernel size = max-pool size of each block (CLMR: nine 3s at 22.05 kHz).
        channels: output channels of each block; the final conv keeps ``channels[-1]``.
        in_channels: input channels (1 = mono waveform).
        stem_channels: channels of the strided stem conv (128 in CLMR).

    Shape:
        x: ``(B, in_channels, samples)`` with ``samples >= min_input_size[0]``;
        ``forward_features`` gives ``(B, channels[-1], frames)``, ``forward`` ``(B, channels[-1])``.

    >>> enc = SampleCNN()
    >>> sum(p.numel() for p in enc.parameters())
    2368512
    >>> enc.eval()(torch.randn(2, 1, 59049)).shape
    torch.Size([2, 512])
    """

    def __init__(
        self,
        strides: Sequence[int] = STRIDES_22K,
        channels: Sequence[int] = CLMR_CHANNELS,
        *,
        in_channels: int = 1,
        stem_channels: int = 128,
    ) -> None:
        super().__init__()
        strides, channels = tuple(strides), tuple(channels)
        if len(strides) != len(channels) or not strides:
            raise ValueError(
                f"strides and channels need the same non-zero length, got {len(strides)} and {len(channels)}"
            )
        for s in strides:
            if isinstance(s, bool) or not isinstance(s, int) or s < 2:
                raise ValueError(f"every stride must be an int >= 2, got strides={strides}")
        for c in channels:
            check_positive_int("every entry of channels", c)
        check_positive_int("in_channels", in_channels)
        check_positive_int("stem_channels", stem_channels)

        layers = [
            nn.Sequential(
                nn.Conv1d(in_channels, stem_channels, kernel_size=3, stride=3, padding=0),
                nn.BatchNorm1d(stem_channels),
                nn.ReLU(),
            )
        ]
        c_in = stem_channels
        for s, c_out in zip(strides, channels, strict=True):
            layers.append(
                nn.Sequential(
                    nn.Conv1d(c_in, c_out, kernel_size=s, stride=1, padding=1),
                    nn.BatchNorm1d(c_out),
                    nn.ReLU(),
                    nn.MaxPool1d(s, stride=s),
                )
            )
            c_in = c_out
        layers.append(
            nn.Sequential(nn.Conv1d(c_in, c_in, kernel_size=3, stride=1, padding=1), nn.BatchNorm1d(c_in), nn.ReLU())
        )
        self.sequential = nn.Sequential(*layers)  # CLMR's name, so its state dicts load as they are

        self.strides = strides
        self.in_channels = in_channels
        self.embedding_dim = c_in
        self.min_input_size = (min_samples(strides),)
        self.pooling = "mean"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Shape: ``(B, in_channels, samples) -> (B, embedding_dim, frames)``."""
        self._check_length(x)
        return self.sequential(x)


@register_encoder
def samplecnn(**kwargs) -> SampleCNN:
    """CLMR's SampleCNN for 22.05 kHz audio: 59049-sample input (2.68 s), 512-d, 2,368,512 parameters."""
    return SampleCNN(**kwargs)


@register_encoder
def samplecnn_16k(**kwargs) -> SampleCNN:
    """CLMR's 16 kHz SampleCNN: strides [3]*6 + [5, 2, 2], 42848-sample input (2.68 s), 512-d."""
    return SampleCNN(strides=STRIDES_16K, **kwargs)


@register_encoder
def samplecnn_8k(**kwargs) -> SampleCNN:
    """CLMR's 8 kHz SampleCNN: strides [3, 3, 3, 2, 2, 4, 4, 2, 2], 20736-sample input (2.59 s), 512-d."""
    return SampleCNN(strides=STRIDES_8K, **kwargs)
