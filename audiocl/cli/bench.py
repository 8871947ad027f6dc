"""``audiocl bench NAME``: throughput of a hot path next to its peer library, in one run."""

from __future__ import annotations

import argparse
from functools import partial

from audiocl.bench import benchmarks


def add_parser(sub) -> None:
    parser = sub.add_parser("bench", help="benchmark a hot path against its peer library")
    names = parser.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, module in sorted(benchmarks().items()):
        p = names.add_parser(name, help=module.SUMMARY, description=module.SUMMARY)
        module.add_arguments(p)
        p.add_argument(
            "--default-malloc",
            action="store_true",
            help="leave glibc's malloc as it is, instead of keeping freed memory (audiocl.allocator) as CPU "
            "training does",
        )
        p.set_defaults(func=partial(_run, module.run))


def _run(run, args: argparse.Namespace) -> int:
    """``run(args)`` with freed memory kept for reuse, as in CPU training, unless ``--default-malloc``."""
    from audiocl.allocator import keep_freed_memory

    args.freed_memory_kept = False if args.default_malloc else keep_freed_memory()
    return run(args)
