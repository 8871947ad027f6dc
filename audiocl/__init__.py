"""audiocl: self-supervised (contrastive) learning of audio representations.

Submodules load lazily, so ``import audiocl`` is cheap and a CLI call only imports what it uses.

>>> import audiocl
>>> loss = audiocl.losses.nt_xent([z1, z2], temperature=0.5)          # doctest: +SKIP
>>> enc = audiocl.load_encoder("runs/clmr/last.ckpt")                  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "audio", "frontends", "sampling", "augment", "models", "losses", "gradcache", "methods", "data", "config",
    "embed", "probe", "report", "hear", "synth", "train", "checkpoint", "demo",
}  # fmt: skip
_FUNCTIONS = {"load_encoder": "audiocl.embed"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"audiocl.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(_FUNCTIONS[name]), name)
    raise AttributeError(f"module 'audiocl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | set(_FUNCTIONS))
