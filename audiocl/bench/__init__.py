"""Benchmarks of the hot paths, each next to its peer library on the same machine, in one run.

Every module here is a benchmark named after its file. It defines ``SUMMARY`` (one line),
``add_arguments(parser)`` and ``run(args)``, and imports its peer libraries inside ``run`` so that
``audiocl --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def benchmarks() -> dict[str, ModuleType]:
    """Name -> module of every benchmark in this package."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            found[info.name] = importlib.import_module(f"{__name__}.{info.name}")
    return found
