"""Keep freed memory in the process for reuse instead of handing it back to the operating system (glibc).

Batched CPU work (augmentation, front-ends) allocates and frees tensors of megabytes to tens of megabytes
every step. glibc's malloc serves such sizes with fresh pages from ``mmap`` (above its adaptive threshold)
and returns them when they are freed, so every step faults its buffers in again (``audiocl bench augment
--default-malloc`` shows the cost; docs/benchmarks.md has the figures). PyTorch's CPU performance guide meets
the same cost by preloading jemalloc or
tcmalloc; here glibc itself is asked, with ``mallopt``, to serve allocations below 32 MiB (its largest
threshold) from its heap and to keep up to 256 MiB freed at the heap's top.

The price: the process keeps about its peak memory (as PyTorch's CUDA caching allocator does on the GPU).
It is a process-wide setting, so no library call makes it unasked: the commands do (``audiocl pretrain`` and
``audiocl demo`` when they train on the CPU, unless ``--default-malloc``; ``audiocl bench`` always), and
``audiocl.train.pretrain(..., keep_freed_memory=True)`` or a call of ``keep_freed_memory()`` does it in a
program of your own. Setting ``AUDIOCL_DEFAULT_MALLOC=1`` in the environment turns it off everywhere.
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's maximum on 64-bit systems
TRIM_THRESHOLD_BYTES = 256 * 2**20  # well above an augmented batch's working set (96 clips of CLMR's chain)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse; True when it accepted.

    False, and nothing changed, where malloc is not glibc's (macOS, Windows, musl, or jemalloc/tcmalloc
    preloaded, which keep freed memory by themselves) or ``AUDIOCL_DEFAULT_MALLOC=1`` is set.

    >>> keep_freed_memory() in (True, False)
    True
    """
    if os.environ.get("AUDIOCL_DEFAULT_MALLOC", "") not in ("", "0") or not sys.platform.startswith("linux"):
        return False
    try:
        process, glibc = ctypes.CDLL(None), ctypes.CDLL("libc.so.6")  # what the process calls; glibc itself
    except OSError:
        return False
    if not hasattr(glibc, "gnu_get_libc_version"):
        return False
    if ctypes.cast(process.malloc, ctypes.c_void_p).value != ctypes.cast(glibc.malloc, ctypes.c_void_p).value:
        return False  # another malloc is preloaded: glibc's settings would not reach it
    mallopt = glibc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Setting the mmap threshold also turns off its adaptation, which otherwise keeps moving it.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
