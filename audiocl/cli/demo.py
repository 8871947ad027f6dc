"""``audiocl demo``: generate data, pretrain, embed, probe and report, with no download and no argument."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole pipeline on built-in synthetic audio (a few minutes on CPU)",
        description="Generate a synthetic timbre corpus, pretrain a small encoder on it with NT-Xent, fit linear "
        "probes for the pretrained encoder, the same encoder at random init and MFCC statistics, print the table "
        "and write a report folder (markdown, loss curve, 2-D embedding plots).",
    )
    p.add_argument(
        "--workdir", default="audiocl-demo", help="folder for the data, the run and the report (default: audiocl-demo)"
    )
    p.add_argument("--steps", type=int, default=None, help="pretraining steps (default: the recipe's, 300)")
    p.add_argument("--clips-per-class", type=int, default=40, help="clips generated per class (default: 40)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="overrides of recipes/demo.yaml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audiocl.demo import run_demo

    run_demo(
        args.workdir,
        clips_per_class=args.clips_per_class,
        max_steps=args.steps,
        overrides=args.overrides,
        progress=not args.no_progress,
    )
    return 0
