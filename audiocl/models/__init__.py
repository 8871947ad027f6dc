"""Encoders (one family per file) built by name, and projection heads.

| name | input | output | source |
|---|---|---|---|
| ``samplecnn`` | ``(B, 1, 59049)`` at 22.05 kHz | 512 | CLMR (SampleCNN, Lee et al. 2017) |
| ``samplecnn_16k`` / ``samplecnn_8k`` | ``(B, 1, 42848)`` / ``(B, 1, 20736)`` | 512 | CLMR repo |
| ``efficientnet_b0`` | ``(B, 1, 64, 96)`` log-mel | 1280 | COLA (timm) |
| ``resnet18`` | ``(B, 3, 128, frames)`` stack | 512 | CLAR (timm) |
| ``resnet18_1d`` | ``(B, 1, samples)`` | 512 | CLAR, 1-D |
| ``tiny_cnn`` / ``tiny_cnn_1d`` | features / ``(B, 1, samples)`` | 128 | demo, tiny recipes |

Every encoder has ``embedding_dim``, ``in_channels``, ``min_input_size``, ``forward_features(x)``
(before pooling) and ``forward(x) -> (B, embedding_dim)``.

>>> from audiocl.models import create_encoder, create_head
>>> enc = create_encoder("samplecnn")
>>> head = create_head(enc.embedding_dim, preset="clmr")
"""

from __future__ import annotations

from . import efficientnet, resnet, samplecnn, tiny  # noqa: F401  (imports register the encoders)
from .base import Encoder, TimmEncoder, global_pool
from .heads import HEAD_PRESETS, ProjectionHead, create_head
from .registry import create_encoder, list_encoders, register_encoder
from .resnet import ResNet1d
from .samplecnn import SampleCNN
from .tiny import TinyCNN, TinyCNN1d

__all__ = [
    "HEAD_PRESETS",
    "Encoder",
    "ProjectionHead",
    "ResNet1d",
    "SampleCNN",
    "TimmEncoder",
    "TinyCNN",
    "TinyCNN1d",
    "create_encoder",
    "create_head",
    "global_pool",
    "list_encoders",
    "register_encoder",
]
