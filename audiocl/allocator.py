"""Keep freed memory in the process for reuse instead of handing it back to the operating system (glibc).

Batched CPU work (augmentation, front-ends) allocates and frees tensors of megabytes to tens of megabytes
every step. glibc's malloc serves such sizes with fresh pages from ``mmap`` (above its adaptive threshold)
and returns them when they are freed, so every step faults its buffers in again. That costs 20-40 % of
the CLMR augmentation chain's time on 2 virtual CPU cores (``audiocl bench augment --default-malloc``
shows it). PyTorch's CPU performance guide meets the same cost by preloading jemalloc or tcmalloc; here
glibc itself is asked, with ``mallopt``, to serve allocations below 32 MiB (its largest threshold) from
its heap and to keep up to 1 GiB of freed memory there.

The price: the process keeps its peak memory (as PyTorch's CUDA caching allocator does on the GPU). The
``audiocl`` command does this for every command; call ``keep_freed_memory()`` yourself to get the same in
your own training script.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's maximum on 64-bit systems
TRIM_THRESHOLD_BYTES = 2**30


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse; True when it accepted.

    False, and nothing changed, where the C library is not glibc (macOS, Windows, musl).

    >>> keep_freed_memory() in (True, False)
    True
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):  # not glibc (musl's does nothing)
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Setting the mmap threshold also turns off its adaptation, which otherwise keeps moving it.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
