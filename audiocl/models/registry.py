"""Encoders by name, the way timm builds models: ``@register_encoder`` and ``create_encoder(name, **kw)``.

>>> from audiocl.models import create_encoder, list_encoders
>>> "samplecnn" in list_encoders()
True
>>> create_encoder("tiny_cnn", in_channels=1).embedding_dim
128
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_ENCODERS: dict[str, Callable[..., nn.Module]] = {}


def register_encoder(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a builder under its function name; the builder takes keyword arguments only."""
    name = fn.__name__
    if name in _ENCODERS and _ENCODERS[name] is not fn:
        raise ValueError(f"an encoder named {name!r} is already registered")
    _ENCODERS[name] = fn
    return fn


def create_encoder(name: str, **kwargs) -> nn.Module:
    """Build the encoder registered as ``name`` with ``kwargs`` passed to its builder."""
    try:
        builder = _ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; available: {', '.join(list_encoders())}") from None
    return builder(**kwargs)


def list_encoders() -> list[str]:
    """Names of every registered encoder, sorted."""
    return sorted(_ENCODERS)
