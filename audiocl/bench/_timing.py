"""Timing shared by the benchmarks (a private module: not a benchmark of its own)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


def device_sync(device) -> Callable[[], None]:
    """What waits for queued work on ``device`` (CUDA runs asynchronously); a no-op on the CPU."""
    import torch  # here, so that listing the benchmarks (``audiocl --help``) does not import torch

    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)


def best_times(
    impls: dict[str, Callable[[], object]],
    repeats: int,
    sync: Callable[[], None],
    min_seconds: float = 0.0,
    max_seconds: float | None = None,
    warm_up: bool = True,
) -> dict[str, float]:
    """Best wall time of each ``fn()`` over consecutive runs, after one warm-up run: at least ``repeats``
    runs and, when ``min_seconds`` is set, as many more as fit in that much time. When ``max_seconds`` is
    set, an implementation stops once its timed runs have taken that long (after one run at least), so
    that a slow peer does not hold the benchmark for ``repeats`` long runs. ``warm_up=False``: no warm-up run,
    for calls that take seconds and were warmed up on a smaller input (it would double the benchmark).

    The best run is the least disturbed by other processes (as ``timeit`` recommends); a time budget gives a
    fast implementation the same window to find an undisturbed run in as a slow one. Each implementation
    runs as a block: interleaving them made whichever ran right after librosa's per-clip loop slower
    (allocator and cache state), which measured the neighbour rather than the implementation.
    """
    best = {}
    for name, fn in impls.items():
        if warm_up:
            fn()  # warm-up: FFT plans, library caches, CUDA kernels
            sync()
        runs, began = 0, time.perf_counter()
        while runs < repeats or time.perf_counter() - began < min_seconds:
            if runs and max_seconds is not None and time.perf_counter() - began >= max_seconds:
                break
            start = time.perf_counter()
            fn()
            sync()
            best[name] = min(best.get(name, math.inf), time.perf_counter() - start)
            runs += 1
    return best
