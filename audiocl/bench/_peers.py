"""Peer libraries of the benchmarks (a private module: not a benchmark of its own).

The peers are development extras (``pip install -e ".[dev]"``). A benchmark whose peer is missing says
which package to install, in one line, and still runs ours.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def missing_line(package: str) -> str:
    """The one line a benchmark prints for a peer that is not installed."""
    return f"peer {package} is not installed, so its rows are left out: pip install {package}"


def import_peer(module: str, package: str) -> ModuleType | None:
    """``module`` imported, or ``None`` after printing which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        print(missing_line(package))
        return None


def peer_installed(module: str, package: str) -> bool:
    """Whether ``module`` can be found, without importing it (for peers that run in a subprocess);
    prints which package to install when it cannot."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module entry without a spec
        found = False
    if not found:
        print(missing_line(package))
    return found


def strongest(rates: dict[str, float | None]) -> tuple[str, float] | None:
    """The peer with the highest rate among those that ran, as ``(name, rate)``; ``None`` if none ran."""
    ran = {name: rate for name, rate in rates.items() if rate is not None}
    return max(ran.items(), key=lambda item: item[1]) if ran else None
