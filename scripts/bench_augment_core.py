"""The augmentation core against an earlier commit's, in one process, on the CLMR chain (issue 16).

Extracts ``audiocl/augment`` of ``--before`` (a git revision) into a temporary package ``audiocl_before``,
then times ``clmr(22050)`` on the same two views of ``--batch-size`` music-like clips, seeded alike, for:

- ``before``: that revision's core;
- ``now``: today's core;
- ``now, FFT chunks of 16``: today's, with the CPU chunks that 5ec0365 had and the measurement dropped (the
  FFT transforms of the chain, noise, filters and reverb, 16 rows per call);
- ``now, no row factors``: today's, gains through the gather/apply/scatter path instead of one pass.

The runs are interleaved (one of each per round, in a shuffled order), so that a change in the machine's load
hits every variant alike; it prints each variant's median and quartiles over rounds, and its median ratio to
``before`` over the paired rounds. Every variant's output is compared with ``before``'s.

    python scripts/bench_augment_core.py --before 5ec0365 --rounds 30
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

import torch

SR = 22050
SAMPLES = 59049


def extract_before(revision: str, root: Path) -> None:
    """``audiocl/augment`` at ``revision`` as the package ``audiocl_before.augment`` under ``root``."""
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(
        ["git", "archive", revision, "audiocl/augment"], cwd=repo, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(root / "tmp", filter="data")
    package = root / "audiocl_before"
    (root / "tmp" / "audiocl").rename(package)
    (package / "__init__.py").write_text("")
    for source in (package / "augment").glob("*.py"):
        source.write_text(source.read_text().replace("audiocl.augment", "audiocl_before.augment"))


@contextmanager
def patched(classes, name, value):
    """Set ``name`` to ``value`` on every class in ``classes`` that defines it, then restore it."""
    saved = [(c, c.__dict__[name]) for c in classes if name in c.__dict__]
    for c, _ in saved:
        setattr(c, name, value)
    try:
        yield
    finally:
        for c, old in saved:
            setattr(c, name, old)


def transform_classes(module) -> list[type]:
    base = module.Transform
    return [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, base)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="5ec0365", help="git revision of the earlier core (default 5ec0365)")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds (default 30)")
    parser.add_argument("--batch-size", type=int, default=48, help="clips, two views each (default 48)")
    args = parser.parse_args()

    from audiocl import augment as now
    from audiocl.allocator import keep_freed_memory
    from audiocl.bench.augment import _music_like

    keep_freed_memory()  # as CPU training and `audiocl bench augment` do
    views = _music_like(args.batch_size, torch.Generator().manual_seed(0)).repeat(2, 1)
    with tempfile.TemporaryDirectory() as tmp:
        extract_before(args.before, Path(tmp))
        sys.path.insert(0, tmp)
        before = importlib.import_module("audiocl_before.augment")
        chain_before, chain_now = before.clmr(SR), now.clmr(SR)
        classes = transform_classes(now) + [now.Transform]

        def run(chain):
            return lambda: chain(views, torch.Generator().manual_seed(0))

        def fft_chunks():
            fft = (now.AddNoise, now.HighPass, now.LowPass, now.Reverb)
            for cls in fft:
                cls.cpu_chunk = 16
            try:
                return chain_now(views, torch.Generator().manual_seed(0))
            finally:
                for cls in fft:
                    del cls.cpu_chunk  # back to the base class's None

        def no_factors():
            with patched(classes, "row_factors", lambda self, params: None):
                return chain_now(views, torch.Generator().manual_seed(0))

        variants = {
            "before": run(chain_before),
            "now": run(chain_now),
            "now, FFT chunks of 16": fft_chunks,
            "now, no row factors": no_factors,
        }
        reference = variants["before"]()
        for name, fn in variants.items():
            diff = (fn() - reference).abs().max().item()
            print(f"{name:<22} max |output - before's| = {diff:.3g}")
        times = {name: [] for name in variants}
        order = list(variants)
        for _ in range(args.rounds):
            random.shuffle(order)
            for name in order:
                start = time.perf_counter()
                variants[name]()
                times[name].append(time.perf_counter() - start)
    print(
        f"\nCLMR chain, {args.batch_size} clips x 2 views x {SAMPLES} samples, {args.rounds} interleaved rounds, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"{'variant':<22} {'median ms':>10} {'quartiles ms':>16} {'ratio to before':>16} {'ratio quartiles':>16}")
    for name, ts in times.items():
        q1, _, q3 = statistics.quantiles(ts, n=4)
        ratios = [t / b for t, b in zip(ts, times["before"], strict=True)]
        r1, rm, r3 = statistics.quantiles(ratios, n=4)
        print(
            f"{name:<22} {1e3 * statistics.median(ts):>10.0f} {f'{1e3 * q1:.0f}-{1e3 * q3:.0f}':>16} "
            f"{rm:>16.2f} {f'{r1:.2f}-{r3:.2f}':>16}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
