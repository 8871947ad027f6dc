"""``audiocl bench loss``: NT-Xent forward + backward time and peak memory, audiocl next to lightly's
``NTXentLoss`` and pytorch-metric-learning's, on the same inputs, in one run.

All three compute SimCLR's two-view loss on the same random embeddings (cosine similarity, same
temperature). lightly's ``NTXentLoss`` (no memory bank) builds the ``(N, N)`` similarities of the
``N = 2 B`` embeddings. pytorch-metric-learning's ``NTXentLoss`` (through ``SelfSupervisedLoss``) builds an
``(N, N * (N - 2))`` positive-negative mask, so its memory grows with the cube of ``N`` (about 17 bytes per
``N^3`` measured on CPU). A peer case whose memory estimate exceeds ``--peer-limit-gb`` is skipped,
saying why. A peer that is not installed is named, with the package to install, and left out.

Every case runs in a fresh subprocess and is measured the same way for every implementation: peak memory
on CPU is the growth of the process's peak resident set (``VmHWM``; not ``ru_maxrss``, which a spawned
child inherits from its parent) over the resident set just before the timed
calls (after the imports and a warm-up call); on CUDA it is ``torch.cuda.max_memory_allocated`` above
the memory held before them. The speed-up column of our row is against the strongest (fastest) peer that
ran; a peer's row gives our speed-up over it. The table also shows each peer's difference from our loss.

``--queue K [K ...]``: negatives from a memory queue instead. For each ``K``, NT-Xent of ``B`` clips
(``--batch-sizes``, default 64 here) with a full queue of ``K`` keys as extra negatives, timed with the
enqueue of the step's keys; next to it lightly's ``NTXentLoss(memory_bank_size=(K, D))`` (MoCo's loss: one
direction, the bank's negatives only, so its value is not ours), in-batch NT-Xent at the same ``B``, and
in-batch NT-Xent at ``B = K`` (the batch that would give as many negatives).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

from audiocl.bench._peers import peer_installed, strongest
from audiocl.bench._timing import device_sync

SUMMARY = (
    "NT-Xent fwd+bwd time and peak memory vs lightly and pytorch-metric-learning NTXentLoss, B in 64..4096; "
    "--queue K: with a memory queue of K negatives vs lightly's memory bank, in-batch B and B=K"
)

# name -> (module to look for, package to install, row label, memory estimate in bytes for N embeddings)
PEERS = {
    # its (N, N) similarities and their gradients: measured 17-26 bytes per N^2 on CPU at N = 2048-8192
    "lightly": ("lightly", "lightly", "lightly NTXentLoss", lambda n: 26 * n**2),
    # measured: 0.27 GiB at N = 256 embeddings on CPU, 8x per doubling
    "pml": ("pytorch_metric_learning", "pytorch-metric-learning", "pytorch-metric-learning", lambda n: 17 * n**3),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=None, help="clips B (default 64 256 1024 4096; with --queue 64)"
    )
    parser.add_argument(
        "--queue",
        type=int,
        nargs="+",
        default=None,
        metavar="K",
        help="queue sizes: NT-Xent with K queued negatives vs lightly's memory bank, in-batch B and B=K",
    )
    parser.add_argument("--dim", type=int, default=128, help="embedding size D (default 128)")
    parser.add_argument("--temperature", type=float, default=0.5, help="temperature (default 0.5)")
    parser.add_argument("--device", default="cpu", help="device (default cpu)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case; the best counts (default 3)")
    parser.add_argument("--peer-limit-gb", type=float, default=8.0, help="skip the peer above this estimate")


def measure(impl: str, batch: int, dim: int, temperature: float, device: str, repeats: int, queue: int = 0) -> dict:
    """Best fwd+bwd seconds, peak memory growth in bytes and the loss of one implementation (one case).

    ``queue``: the size of a full memory queue (audiocl) or memory bank (lightly) of negatives; 0: in-batch."""
    import resource

    import torch

    dev = torch.device(device)
    if impl == "audiocl" and queue:
        from audiocl.losses import MemoryQueue, nt_xent

        memory = MemoryQueue(queue, dim).to(dev)
        memory.enqueue(torch.randn(queue, dim, generator=torch.Generator().manual_seed(1)).to(dev))  # full

        def loss_fn(z):
            loss = nt_xent(z, temperature, negatives=memory.negatives()[0])
            memory.enqueue(z[-1].detach())  # the step's keys, after the loss
            return loss
    elif impl == "audiocl":
        from audiocl.losses import nt_xent

        def loss_fn(z):
            return nt_xent(z, temperature)
    elif impl == "lightly":
        from lightly.loss import NTXentLoss

        # memory_bank_size 0: the batch's own negatives; (K, D): a bank of K (random until filled)
        peer = NTXentLoss(temperature=temperature, memory_bank_size=(queue, dim) if queue else 0)

        def loss_fn(z):
            return peer(z[0], z[1])
    elif impl == "pml" and not queue:
        from pytorch_metric_learning.losses import NTXentLoss, SelfSupervisedLoss

        peer = SelfSupervisedLoss(NTXentLoss(temperature=temperature))

        def loss_fn(z):
            return peer(z[0], z[1])
    else:
        raise ValueError(f"unknown implementation {impl!r}; choose audiocl, {', '.join(PEERS)}")

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
        # This process's own peak (VmHWM). Not ru_maxrss: Linux carries the parent's peak into a spawned
        # child's ru_maxrss, so under a larger parent it measured the parent.
        with open("/proc/self/status") as f:
            peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:")) - before
    return {"seconds": best, "peak_bytes": peak, "loss": value}


def _run_case(impl: str, batch: int, args: argparse.Namespace, queue: int = 0) -> dict:
    """One case in a fresh interpreter, so the CPU peak resident set belongs to that case alone."""
    call = (
        f"import json; from audiocl.bench.loss import measure; print(json.dumps(measure("
        f"{impl!r}, {batch}, {args.dim}, {args.temperature}, {args.device!r}, {args.repeats}, {queue})))"
    )
    out = subprocess.run([sys.executable, "-c", call], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{impl} at B={batch} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> int:
    import torch

    if args.batch_sizes is None:
        args.batch_sizes = [64] if args.queue else [64, 256, 1024, 4096]
    if min(args.batch_sizes) < 2 or args.dim < 1 or args.repeats < 1 or args.temperature <= 0:
        raise SystemExit("--batch-sizes must be >= 2, --dim and --repeats >= 1, --temperature > 0")
    if args.queue:
        if min(args.queue) < 1:
            raise SystemExit("--queue sizes must be >= 1")
        return run_queue(args)
    peers = [name for name, (module, package, *_) in PEERS.items() if peer_installed(module, package)]
    print(
        f"NT-Xent forward+backward: 2 views x B clips, D={args.dim}, t={args.temperature}, device {args.device}, "
        f"best of {args.repeats}, torch {torch.__version__}, threads {torch.get_num_threads()}; peak memory and "
        "time of each case in a fresh subprocess"
    )
    header = f"{'B':>6} {'implementation':<24} {'time (ms)':>11} {'peak mem (MiB)':>15} {'speed-up':>9} {'|diff|':>12}"
    print(header)
    print("-" * len(header))
    summary = []
    for batch in args.batch_sizes:
        ours = _run_case("audiocl", batch, args)
        results, skipped = {}, {}
        for name in peers:
            estimate = PEERS[name][3](2 * batch)
            if estimate > args.peer_limit_gb * 1e9:
                skipped[name] = f"skipped: needs ~{estimate / 1e9:,.0f} GB (N={2 * batch} embeddings)"
            else:
                results[name] = _run_case(name, batch, args)
        best = strongest({name: 1 / r["seconds"] for name, r in results.items()})
        vs_best = f"{results[best[0]]['seconds'] / ours['seconds']:.2f}x" if best else "-"
        _row(batch, "audiocl nt_xent", ours, vs_best, 0.0)
        for name, r in results.items():
            _row(batch, PEERS[name][2], r, f"{r['seconds'] / ours['seconds']:.2f}x", abs(r["loss"] - ours["loss"]))
        for name, why in skipped.items():
            print(f"{batch:>6} {PEERS[name][2]:<24} {why}")
        if best:
            peer = results[best[0]]
            summary.append(
                f"B={batch}: {peer['seconds'] / ours['seconds']:.2f}x faster than the strongest peer "
                f"({PEERS[best[0]][2]}), {_mib(ours)} vs {_mib(peer)} MiB peak"
            )
    print("\naudiocl against the strongest peer: " + ("; ".join(summary) if summary else "no peer ran"))
    return 0


def _mib(r: dict) -> str:
    return f"{r['peak_bytes'] / 2**20:.1f}"


def _row(batch: int, name: str, r: dict, speedup: str, diff: float) -> None:
    print(f"{batch:>6} {name:<24} {1e3 * r['seconds']:>11.1f} {_mib(r):>15} {speedup:>9} {diff:>12.2e}")


def run_queue(args: argparse.Namespace) -> int:
    """The ``--queue`` table: per B and K, the queue, lightly's memory bank, in-batch B and in-batch B=K."""
    import torch

    lightly = peer_installed("lightly", "lightly")
    print(
        f"NT-Xent forward+backward with a memory queue: 2 views x B clips + K queued negatives, D={args.dim}, "
        f"t={args.temperature}, device {args.device}, best of {args.repeats}, torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}; each case in a fresh subprocess"
    )
    header = f"{'B':>6} {'K':>7} {'case':<36} {'time (ms)':>11} {'peak mem (MiB)':>15} {'vs queue':>9}"
    print(header)
    print("-" * len(header))
    for batch in args.batch_sizes:
        in_batch = _run_case("audiocl", batch, args)
        for k in args.queue:
            ours = _run_case("audiocl", batch, args, queue=k)
            rows = [("audiocl nt_xent + queue", ours), ("audiocl nt_xent in-batch", in_batch)]
            if lightly:
                rows.insert(1, ("lightly NTXentLoss memory bank", _run_case("lightly", batch, args, queue=k)))
            rows.append((f"audiocl nt_xent in-batch B={k}", _run_case("audiocl", k, args)))
            for name, r in rows:
                ratio = f"{r['seconds'] / ours['seconds']:.2f}x"
                print(f"{batch:>6} {k:>7} {name:<36} {1e3 * r['seconds']:>11.1f} {_mib(r):>15} {ratio:>9}")
    print("\n'vs queue': the case's time over the queue's (lightly's memory bank computes MoCo's one-direction loss)")
    return 0
