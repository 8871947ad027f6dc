"""EfficientNet-B0, the encoder of COLA.

Saeed, Grangier & Zeghidour, "Contrastive learning of general-purpose audio representations" (COLA),
ICASSP 2021: EfficientNet-B0 (Tan & Le 2019) on log-mel spectrograms (one channel, 64 mel bands x 96
frames for a 960 ms segment at 16 kHz), global max pooling over the last feature map, 1280-d output.
Built by timm (``efficientnet_b0``, ``in_chans=1``, random init), so the network is timm's, layer for
layer; 4,006,972 parameters without the classifier.
"""

from __future__ import annotations

from .base import TimmEncoder
from .registry import register_encoder


@register_encoder
def efficientnet_b0(in_channels: int = 1, pooling: str = "max", **timm_kwargs) -> TimmEncoder:
    """COLA's encoder: timm EfficientNet-B0, 1-channel input, global max pool -> 1280-d.

    Shape:
        x: ``(B, in_channels, freq, frames)``; returns ``(B, 1280)``.

    >>> enc = efficientnet_b0()
    >>> enc.eval()(torch.randn(2, 1, 64, 96)).shape  # doctest: +SKIP
    torch.Size([2, 1280])
    """
    return TimmEncoder("efficientnet_b0", in_channels=in_channels, pooling=pooling, **timm_kwargs)
