"""``audiocl bench loss``: NT-Xent forward + backward time and peak memory, audiocl vs pytorch-metric-learning.

Both compute SimCLR's two-view loss on the same random embeddings (cosine similarity, same temperature).
pytorch-metric-learning's ``NTXentLoss`` (through ``SelfSupervisedLoss``) builds an ``(N, N * (N - 2))``
positive-negative mask, so its memory grows with the cube of the ``N = 2 B`` embeddings (about 17 bytes
per ``N^3`` measured on CPU); cases whose estimate exceeds ``--peer-limit-gb`` are skipped, saying why.

Peak memory on CPU is the growth of the peak resident set (``ru_maxrss``) of a fresh subprocess per case
over its resident set just before the timed call; on CUDA it is ``torch.cuda.max_memory_allocated``
above the memory held before the call. The table also shows the difference between the two losses.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

from audiocl.bench._timing import device_sync

SUMMARY = "NT-Xent fwd+bwd time and peak memory vs pytorch-metric-learning NTXentLoss, B in 64..4096"

PEER_BYTES_PER_N3 = 17  # measured: 0.27 GiB at N = 256 embeddings on CPU, 8x per doubling


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 1024, 4096], help="clips B")
    parser.add_argument("--dim", type=int, default=128, help="embedding size D (default 128)")
    parser.add_argument("--temperature", type=float, default=0.5, help="temperature (default 0.5)")
    parser.add_argument("--device", default="cpu", help="device (default cpu)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case; the best counts (default 3)")
    parser.add_argument("--peer-limit-gb", type=float, default=8.0, help="skip the peer above this estimate")


def measure(impl: str, batch: int, dim: int, temperature: float, device: str, repeats: int) -> dict:
    """Best fwd+bwd seconds, peak memory growth in bytes and the loss of one implementation (one case)."""
    import resource

    import torch

    dev = torch.device(device)
    if impl == "audiocl":
        from audiocl.losses import nt_xent

        def loss_fn(z):
            return nt_xent(z, temperature)
    else:
        from pytorch_metric_learning.losses import NTXentLoss, SelfSupervisedLoss

        peer = SelfSupervisedLoss(NTXentLoss(temperature=temperature))

        def loss_fn(z):
            return peer(z[0], z[1])

    sync = device_sync(dev)
    z = torch.randn(2, batch, dim, generator=torch.Generator().manual_seed(0)).to(dev).requires_grad_()
    loss_fn(z[:, :8]).backward()  # warm-up: kernels, allocator, lazy imports
    z.grad = None
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
    else:
        with open("/proc/self/statm") as f:
            before = int(f.read().split()[1]) * resource.getpagesize()
    best, value = math.inf, None
    for _ in range(repeats):
        z.grad = None
        start = time.perf_counter()
        loss = loss_fn(z)
        loss.backward()
        sync()
        best = min(best, time.perf_counter() - start)
        value = loss.item()
        del loss
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) - before
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before  # KiB on Linux
    return {"seconds": best, "peak_bytes": peak, "loss": value}


def _run_case(impl: str, batch: int, args: argparse.Namespace) -> dict:
    """One case in a fresh interpreter, so the CPU peak resident set belongs to that case alone."""
    call = (
        f"import json; from audiocl.bench.loss import measure; print(json.dumps(measure("
        f"{impl!r}, {batch}, {args.dim}, {args.temperature}, {args.device!r}, {args.repeats})))"
    )
    out = subprocess.run([sys.executable, "-c", call], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{impl} at B={batch} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> int:
    import torch

    if min(args.batch_sizes) < 2 or args.dim < 1 or args.repeats < 1 or args.temperature <= 0:
        raise SystemExit("--batch-sizes must be >= 2, --dim and --repeats >= 1, --temperature > 0")
    print(
        f"NT-Xent forward+backward: 2 views x B clips, D={args.dim}, t={args.temperature}, device {args.device}, "
        f"best of {args.repeats}, torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    header = f"{'B':>6} {'implementation':<24} {'time (ms)':>11} {'peak mem (MiB)':>15} {'speed-up':>9} {'|diff|':>12}"
    print(header)
    print("-" * len(header))
    for batch in args.batch_sizes:
        ours = _run_case("audiocl", batch, args)
        n = 2 * batch
        estimate = PEER_BYTES_PER_N3 * n**3
        peer = None if estimate > args.peer_limit_gb * 1e9 else _run_case("pml", batch, args)
        speedup = f"{peer['seconds'] / ours['seconds']:.2f}x" if peer else "-"
        _row(batch, "audiocl nt_xent", ours, speedup, 0.0)
        if peer:
            _row(batch, "pytorch-metric-learning", peer, "1.00x", abs(peer["loss"] - ours["loss"]))
        else:
            why = f"skipped: needs ~{estimate / 1e9:,.0f} GB (its N^3 mask, N={n})"
            print(f"{batch:>6} {'pytorch-metric-learning':<24} {why}")
    return 0


def _row(batch: int, name: str, r: dict, speedup: str, diff: float) -> None:
    print(
        f"{batch:>6} {name:<24} {1e3 * r['seconds']:>11.1f} {r['peak_bytes'] / 2**20:>15.1f} {speedup:>9} {diff:>12.2e}"
    )
