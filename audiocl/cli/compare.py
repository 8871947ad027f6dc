"""``audiocl compare --task NAME=ROOT ... --checkpoint [LABEL=]CKPT ... --baseline mfcc --out DIR``: one table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audiocl.cli.embed import add_embedder_arguments, make_embedder, parse_options, read_paths, user_errors
from audiocl.cli.probe import add_probe_settings, probe_settings
from audiocl.data.task import TASKS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="several checkpoints and baselines x several tasks -> one table (markdown, CSV, PNG)",
        description="Probe every embedder on every task under one protocol (same seeds, label fraction, head "
        "and aggregation) and write DIR/compare.md (the table, the protocol stated once above it), "
        "DIR/compare.csv (one row per embedder, task and metric) and DIR/compare.png (means with 95% "
        "intervals). With --reference, every other cell gets its paired bootstrap difference against it on "
        "the same test items. The markdown table is printed too.",
        epilog="example: audiocl compare --task esc50=/data/ESC-50-master --task speech_commands=/data/sc "
        "--option speech_commands.convention=12 --checkpoint clmr=runs/clmr/checkpoints/last.ckpt "
        "--baseline random --baseline mfcc --reference mfcc --out results/compare",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        conflict_handler="resolve",  # --checkpoint repeats here, unlike the shared embedder option
    )
    p.add_argument(
        "--task", action="append", required=True, metavar="NAME=ROOT",
        help=f"a task and its data root (csv: the CSV file); repeat for more columns. NAME: {', '.join(TASKS)}",
    )  # fmt: skip
    p.add_argument(
        "--option", action="append", default=[], metavar="NAME.KEY=VALUE",
        help="a loader option of one task, value parsed as YAML (e.g. esc50.esc10=true, nsynth.target=pitch)",
    )  # fmt: skip
    p.add_argument("--out", required=True, metavar="DIR", help="folder for compare.md, compare.csv, compare.png")
    p.add_argument("--overwrite", action="store_true", help="replace the files of an earlier comparison in DIR")
    p.add_argument("--reference", metavar="NAME", help="paired differences against this row (a LABEL or baseline)")
    p.add_argument("--label-fraction", type=float, default=1.0, metavar="F", help="fraction of training labels")
    add_probe_settings(p)
    add_embedder_arguments(p, several_baselines=True)
    p.add_argument(
        "--checkpoint", action="append", default=[], metavar="[LABEL=]CKPT",
        help="a checkpoint of `audiocl pretrain`, its row named LABEL (default: the path); repeat for more rows",
    )  # fmt: skip
    p.set_defaults(func=run)


def parse_task_specs(specs: list[str], options: list[str]) -> dict[str, tuple[str, dict]]:
    """``NAME=ROOT`` specs and ``NAME.KEY=VALUE`` options -> name -> (root, loader options); ValueError naming
    the bad spec."""
    tasks: dict[str, tuple[str, dict]] = {}
    for spec in specs:
        name, sep, root = spec.partition("=")
        if not sep or not root or name not in TASKS:
            raise ValueError(f"--task {spec!r}: expected NAME=ROOT with NAME one of {', '.join(TASKS)}")
        if name in tasks:
            raise ValueError(f"--task {spec!r}: task {name!r} is given twice")
        tasks[name] = (root, {})
    for pair in options:
        name, dot, rest = pair.partition(".")
        if not dot or name not in tasks:
            raise ValueError(f"--option {pair!r}: expected NAME.KEY=VALUE with NAME one of the tasks {list(tasks)}")
        tasks[name][1].update(parse_options([rest], "compare"))
    return tasks


def parse_checkpoints(specs: list[str]) -> dict[str, str]:
    """``[LABEL=]CKPT`` -> label -> path (a path that itself contains "=" and exists is taken whole)."""
    out = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or Path(spec).exists():
            label, path = spec, spec
        if not label or not path:
            raise ValueError(f"--checkpoint {spec!r}: expected CKPT or LABEL=CKPT")
        if label in out:
            raise ValueError(f"--checkpoint {spec!r}: row {label!r} is given twice; label each LABEL=CKPT")
        out[label] = path
    return out


def run(args: argparse.Namespace) -> int:
    from audiocl.data.task import load_task
    from audiocl.eval.compare import compare
    from audiocl.report import check_outputs, comparison_markdown, output_paths, write_comparison

    if not args.checkpoint and not args.baseline:
        print("audiocl compare: give --checkpoint CKPT and/or --baseline random|mfcc", file=sys.stderr)
        return 2
    try:
        checkpoints = parse_checkpoints(args.checkpoint)
        # make_embedder reads args.checkpoint, one path: the random baseline takes the first one's encoder
        first = _with_checkpoint(args, next(iter(checkpoints.values()), None))
        rows = [*checkpoints, *dict.fromkeys(args.baseline)]
        taken = sorted(set(checkpoints) & set(args.baseline))
        if taken:
            raise ValueError(f"--checkpoint label {taken[0]!r} is also a --baseline: label the checkpoint otherwise")
        if args.reference is not None and args.reference not in rows:  # before any checkpoint is loaded
            raise ValueError(f"--reference {args.reference!r} is none of the rows: {rows}")
        specs = parse_task_specs(args.task, args.option)
        roots = [root for root, _ in specs.values()]
        outputs = {f"--out {p.name}": p for p in output_paths(args.out).values()}
        if Path(args.out).is_file():
            raise ValueError(f"--out {args.out} is a file: give a folder")
        check_outputs(outputs, inputs=[*roots, *checkpoints.values(), *read_paths(first)], data_roots=roots,
                      overwrite=args.overwrite)  # fmt: skip
        tasks = {}
        for name, (root, options) in specs.items():
            task = load_task(name, root, **options)
            if task.name in tasks:
                raise ValueError(f"--task {name}={root}: its column {task.name!r} is already taken")
            tasks[task.name] = task
            print(task.summary())
        embedders = {label: make_embedder(_with_checkpoint(args, path), None) for label, path in checkpoints.items()}
        for baseline in dict.fromkeys(args.baseline):
            embedders[baseline] = make_embedder(first, baseline)
        options, cache = probe_settings(args)
        table = compare(
            tasks, embedders, reference=args.reference, seeds=args.seeds, label_fraction=args.label_fraction,
            protocol=args.protocol, head=args.head, aggregation=args.aggregation, n_boot=args.bootstrap,
            options=options, num_workers=args.num_workers, progress=not args.no_progress, cache=cache,
        )  # fmt: skip
        paths = write_comparison(table, args.out, overwrite=args.overwrite)
    except user_errors(args) as err:
        print(f"audiocl compare: {err}", file=sys.stderr)
        return 2
    print()
    print(comparison_markdown(table))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _with_checkpoint(args: argparse.Namespace, path: str | None) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "checkpoint": path})
