"""audiocl.allocator: glibc's malloc keeps freed memory, so that batched CPU work stops faulting in its buffers."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

# The median page faults of a CLMR chain on 8 clips over 7 calls, once warm; argv[1]: "keep" or "default".
STEADY_FAULTS = """
import resource, statistics, sys, torch
from audiocl import augment as A
from audiocl.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
x = 0.1 * torch.randn(8, 59049, generator=torch.Generator().manual_seed(0))
chain = A.clmr(22050)
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    chain(x, torch.Generator().manual_seed(0))
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(int(statistics.median(faults[3:])))
"""


def _glibc() -> bool:
    return sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "gnu_get_libc_version")


def _faults_per_chain(mode: str) -> int:
    run = subprocess.run([sys.executable, "-c", STEADY_FAULTS, mode], capture_output=True, text=True, check=True)
    return int(run.stdout.strip().splitlines()[-1])


def _keep_in_a_fresh_process(**env: str) -> str:
    code = "from audiocl.allocator import keep_freed_memory as k; print(k(), k())"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, **env}
    )
    return run.stdout.strip()


def test_returns_whether_it_applied():
    expected = str(_glibc() and "jemalloc" not in os.environ.get("LD_PRELOAD", ""))
    assert _keep_in_a_fresh_process() == f"{expected} {expected}"  # and again: idempotent
    assert _keep_in_a_fresh_process(AUDIOCL_DEFAULT_MALLOC="1") == "False False"


@pytest.mark.skipif(not _glibc(), reason="glibc only")
def test_a_warm_augmentation_chain_stops_faulting_in_memory():
    """The point of it: once warm, each call reuses the memory the last one freed (glibc's defaults return
    it and fault it in again: ~3 000 page faults per call of this chain, each a few microseconds on a VM)."""
    default = _faults_per_chain("default")
    if default < 500:
        pytest.skip(f"this C library reuses freed memory by itself here ({default} page faults per call)")
    kept = _faults_per_chain("keep")
    assert kept < default / 5, f"{kept} page faults per call with freed memory kept, {default} without"
