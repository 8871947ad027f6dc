"""The encoder interface every family implements, and a thin wrapper around timm models.

An encoder maps front-end output to one embedding per example:

- 1-D encoders take raw audio ``(batch, in_channels, samples)`` (the ``Waveform`` front-end);
- 2-D encoders take time-frequency features ``(batch, in_channels, freq, frames)``.

``forward_features(x)`` returns the last feature map before global pooling (``(B, C, frames)`` or
``(B, C, F', frames')``), so per-frame embeddings stay reachable; ``forward(x)`` pools it to
``(B, embedding_dim)``. The split and the names follow timm's ``forward_features``/``forward_head``.
"""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("mean", "max")


def global_pool(features: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """Pool every axis after the channel axis.

    Shape:
        features: ``(B, C, *spatial)``; returns ``(B, C)``.

    >>> global_pool(torch.ones(2, 3, 4, 5), "max").shape
    torch.Size([2, 3])
    """
    flat = features.flatten(2)  # (B, C, positions)
    if mode == "mean":
        return flat.mean(-1)
    if mode == "max":
        return flat.amax(-1)
    raise ValueError(f"pooling must be one of {POOLINGS}, got {mode!r}")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError naming the argument."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is a positive int (bools rejected), else raise a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class Encoder(nn.Module):
    """Base class: ``forward(x) == global_pool(forward_features(x), self.pooling)``.

    Subclasses set, in ``__init__``:

    - ``embedding_dim``: size of the pooled output;
    - ``in_channels``: channels of the input (1 for raw audio and log-mels, 3 for CLAR's stack);
    - ``min_input_size``: smallest trailing input shape that gives at least one output position,
      ``(samples,)`` for 1-D encoders, ``(freq, frames)`` for 2-D ones. ``len(min_input_size)``
      tells the two kinds apart;
    - ``pooling``: ``"mean"`` or ``"max"``.
    """

    embedding_dim: int
    in_channels: int
    min_input_size: tuple[int, ...]
    pooling: str = "mean"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shape: ``(B, in_channels, *spatial) -> (B, embedding_dim)``."""
        return global_pool(self.forward_features(x), self.pooling)

    def _check_length(self, x: torch.Tensor) -> None:
        # One int comparison: cheap enough for the hot path, and torch's own error for a too-short
        # input ("Output size is too small") does not say which encoder or what length it needs.
        if x.shape[-1] < self.min_input_size[-1]:
            raise ValueError(
                f"{type(self).__name__} needs inputs of at least {self.min_input_size[-1]} samples, "
                f"got shape {tuple(x.shape)}; use a longer crop"
            )


class TimmEncoder(Encoder):
    """A timm model without its classifier, behind the :class:`Encoder` interface.

    The timm model lives in ``self.body`` unchanged (``num_classes=0``), so ``forward`` is timm's own
    ``forward_head`` (global pooling set by ``pooling``) and timm weights load into ``body``.
    Nothing is downloaded: ``pretrained`` is always False.

    Shape:
        x: ``(B, in_channels, freq, frames)``; returns ``(B, embedding_dim)``.
    """

    def __init__(self, model_name: str, *, in_channels: int, pooling: str = "mean", **timm_kwargs) -> None:
        super().__init__()
        import timm  # heavy import, only when a timm encoder is built

        check_positive_int("in_channels", in_channels)
        check_choice("pooling", pooling, POOLINGS)
        if timm_kwargs.pop("pretrained", False):
            raise ValueError("pretrained weights are not supported: audiocl never downloads at run time")
        global_pool_name = {"mean": "avg", "max": "max"}[pooling]
        self.body = timm.create_model(
            model_name,
            pretrained=False,
            in_chans=in_channels,
            num_classes=0,
            global_pool=global_pool_name,
            **timm_kwargs,
        )
        self.model_name = model_name
        self.in_channels = in_channels
        self.pooling = pooling
        self.embedding_dim = int(self.body.num_features)
        self.min_input_size = (1, 1)  # timm's padded convolutions shrink any size down to >= 1

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body.forward_features(x)  # (B, C, F / 32, frames / 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body.forward_head(self.body.forward_features(x))  # (B, embedding_dim)
