"""``audiocl probe --task TASK --data ROOT (--checkpoint CKPT | --baseline random|mfcc)``: linear probes."""

from __future__ import annotations

import argparse
import sys

from audiocl.cli.embed import (
    add_embedder_arguments,
    device_of,
    make_embedder,
    parse_options,
    read_paths,
    user_errors,
)
from audiocl.data.task import TASKS
from audiocl.eval.probes.options import AGGREGATIONS, HEADS
from audiocl.eval.protocols import PROTOCOLS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "probe",
        help="linear-probe evaluation of a checkpoint and/or baselines on a labelled data set",
        description="Embed a data set once with frozen encoders, train linear classifiers (early stopping on "
        "the validation split, standardiser fitted on train only) and report item-level scores (accuracy; "
        "macro ROC-AUC and PR-AUC for tagging), mean and std over seeds. --checkpoint and --baseline may be "
        "combined to report them side by side.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--task", required=True, choices=sorted(TASKS))
    p.add_argument("--data", required=True, metavar="ROOT", help="the data set's root (csv: the CSV file)")
    p.add_argument(
        "--option", "--task-option", dest="option", action="append", default=[], metavar="KEY=VALUE",
        help="loader option, value parsed as YAML (e.g. convention=12, esc10=true, split=won, target=pitch)",
    )  # fmt: skip
    p.add_argument("--out", help="results JSON (written atomically)")
    p.add_argument("--report", help="markdown report (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out or --report")
    p.add_argument("--plot", metavar="DIR", help="write a 2-D projection (and per-tag ROC-AUC) PNGs here")
    p.add_argument("--projection", default="pca", choices=("pca", "tsne"))
    p.add_argument(
        "--label-fraction", type=float, nargs="+", default=[1.0], metavar="F",
        help="fractions of the training labels, e.g. 0.01 0.1 1.0",
    )  # fmt: skip
    p.add_argument(
        "--test-folds", type=int, nargs="+", metavar="K",
        help="k-fold tasks: test on these folds only (e.g. 5 for an encoder pretrained on ESC-50's folds 1-4)",
    )  # fmt: skip
    p.add_argument("--against", metavar="NAME", help="paired bootstrap differences against this embedder (its "
                   "--checkpoint path or baseline name)")  # fmt: skip
    add_probe_settings(p)
    add_embedder_arguments(p, several_baselines=True)
    p.set_defaults(func=run)


def add_probe_settings(p: argparse.ArgumentParser) -> None:
    """The probe's settings that ``audiocl probe`` and ``audiocl compare`` share: seeds, protocol, head,
    aggregation, bootstrap, decoding workers, epochs, progress and the embedding cache."""
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--protocol", default="audiocl", choices=sorted(PROTOCOLS),
        help="linear-evaluation protocol: " + "; ".join(f"{k}: {v}" for k, v in PROTOCOLS.items()),
    )  # fmt: skip
    p.add_argument("--head", default="linear", choices=sorted(HEADS), help="probe head (knn, mlp: protocol audiocl)")
    p.add_argument(
        "--aggregation", choices=AGGREGATIONS,
        help="chunks to items: 'probability' (mean of the head's outputs) or 'embedding' (mean embedding before "
        "the head); unset: linear 'probability', knn and mlp 'embedding'",
    )  # fmt: skip
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="bootstrap resamples of the 95%% intervals over test items (0: none)")  # fmt: skip
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers decoding the audio")
    p.add_argument("--max-epochs", type=int, default=500, help="linear-probe epochs at most")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--cache-dir", metavar="DIR",
        help="embedding cache: embeddings are stored here and reused by any later probe or compare of the same "
        "task, embedder and settings (default $AUDIOCL_CACHE_DIR, else $XDG_CACHE_HOME/audiocl/embeddings, else "
        "~/.cache/audiocl/embeddings)",
    )  # fmt: skip
    p.add_argument("--no-cache", action="store_true", help="embed afresh and store nothing in the cache")


def probe_settings(args: argparse.Namespace) -> tuple:
    """``(ProbeOptions, EmbeddingCache or None)`` from :func:`add_probe_settings`'s options."""
    from audiocl.eval.cache import EmbeddingCache
    from audiocl.probe import ProbeOptions

    options = ProbeOptions(max_epochs=args.max_epochs, device=device_of(args))
    return options, None if args.no_cache else EmbeddingCache(args.cache_dir)


def run(args: argparse.Namespace) -> int:
    from audiocl.data.task import load_task
    from audiocl.eval.protocols import check_protocol
    from audiocl.probe import probe_and_report
    from audiocl.report import check_outputs

    if not args.checkpoint and not args.baseline:
        print("audiocl probe: give --checkpoint CKPT and/or --baseline random|mfcc", file=sys.stderr)
        return 2
    try:
        check_outputs(
            {"--out": args.out, "--report": args.report}, inputs=[args.data, *read_paths(args)],
            data_roots=[args.data], overwrite=args.overwrite,
        )  # fmt: skip
        task = load_task(args.task, args.data, **parse_options(args.option, "probe"))
        check_outputs(
            {"--out": args.out, "--report": args.report}, inputs=[it.path for it in task.items], overwrite=True
        )  # fmt: skip (items may live outside the root: a CSV task's paths)
        print(task.summary())
        check_protocol(args.protocol, task)
        embedders = {}
        if args.checkpoint:
            embedders[args.checkpoint] = make_embedder(args, None)
        for baseline in dict.fromkeys(args.baseline):
            embedders[baseline] = make_embedder(args, baseline)
        options, cache = probe_settings(args)
        probe_and_report(
            task,
            embedders,
            label_fractions=args.label_fraction,
            seeds=args.seeds,
            out=args.out,
            report=args.report,
            plot_dir=args.plot,
            projection=args.projection,
            options=options,
            num_workers=args.num_workers,
            progress=not args.no_progress,
            test_folds=args.test_folds,
            protocol=args.protocol,
            head=args.head,
            aggregation=args.aggregation,
            against=args.against,
            n_boot=args.bootstrap,
            cache=cache,
        )
    except user_errors(args) as err:
        print(f"audiocl probe: {err}", file=sys.stderr)
        return 2
    return 0
