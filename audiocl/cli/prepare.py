"""``audiocl prepare DATASET --data ROOT --out CACHE``: decode and resample a data set once into a cache."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="decode + resample a data set once into memory-mapped shards for fast pretraining",
        description=(
            "Decode and resample every file of DATASET once into sharded memory-mapped arrays with an index, "
            "so that pretraining reads crops without decoding. Re-running resumes: finished shards are kept. "
            "Unreadable files are skipped and listed."
        ),
    )
    # The names come from audiocl.data's registry, checked in run(): importing it here would load torch for --help.
    p.add_argument("dataset", metavar="DATASET", help="folder, csv, or an official layout (magnatagatune, esc50, ...)")
    p.add_argument("--data", required=True, metavar="ROOT", help="data-set folder (csv: the list file)")
    p.add_argument("--out", required=True, metavar="CACHE", help="cache folder to write (or resume)")
    p.add_argument("--sample-rate", type=int, default=16000, help="rate in Hz of the cached audio (default 16000)")
    p.add_argument("--dtype", choices=("int16", "float16"), default="int16", help="sample type (default int16)")
    p.add_argument("--shard-size", type=int, default=256, help="files per shard (default 256)")
    p.add_argument(
        "--workers", type=int, default=None,
        help="decoding processes, one shard each (default: the CPU count up to 8; 0 decodes in this process)",
    )  # fmt: skip
    p.add_argument(
        "--all-splits",
        action="store_true",
        help="cache every split of an official layout (default: the training split only)",
    )
    p.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="data-set loader option, value parsed as YAML (e.g. split=won, convention=12, folds=[1,2,3])",
    )  # fmt: skip
    p.add_argument(
        "--content-hash",
        action="store_true",
        help="on a re-run, tell changed files by a SHA-256 of their bytes too, not only by size and modification "
        "time (reads every file)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audiocl.cli.embed import parse_options
    from audiocl.data.cache import prepare
    from audiocl.data.files import PRETRAIN_DATASETS
    from audiocl.validation import choice

    try:
        choice("DATASET", args.dataset, [d for d in PRETRAIN_DATASETS if d != "cache"])  # caches come from data sets
        options = {"splits": None} if args.all_splits else {}
        options.update(parse_options(args.option, "prepare"))
    except ValueError as err:
        print(f"audiocl prepare: {err}", file=sys.stderr)
        return 2
    try:
        report = prepare(
            args.dataset,
            args.data,
            args.out,
            args.sample_rate,
            dtype=args.dtype,
            shard_size=args.shard_size,
            num_workers=min(8, os.cpu_count() or 1) if args.workers is None else args.workers,
            progress=not args.no_progress,
            content_hash=args.content_hash,
            **options,
        )
    except (ValueError, TypeError) as err:  # a malformed layout, settings that clash with an existing cache
        print(f"audiocl prepare: {err}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.num_clips else 1
