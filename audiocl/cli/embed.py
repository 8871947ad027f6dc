"""``audiocl embed (--checkpoint CKPT | --baseline random|mfcc) INPUT... --out emb.npz``: embeddings of files."""

from __future__ import annotations

import argparse
import sys


def add_embedder_arguments(p: argparse.ArgumentParser, *, several_baselines: bool = False) -> None:
    """The options that choose and configure an embedder (shared with ``audiocl probe``)."""
    g = p.add_argument_group("embedder")
    g.add_argument("--checkpoint", metavar="CKPT", help="a checkpoint written by `audiocl pretrain`")
    if several_baselines:
        g.add_argument(
            "--baseline", action="append", choices=("random", "mfcc"), default=[],
            help="a baseline embedder; repeat to put several next to the checkpoint",
        )  # fmt: skip
    else:
        g.add_argument("--baseline", choices=("random", "mfcc"), help="a baseline instead of a checkpoint")
    g.add_argument("--recipe", help="recipe file or bundled name whose encoder the random baseline uses")
    g.add_argument("--branch", help="multi-format checkpoints: 'waveform' or 'logmel'; unset: both, concatenated")
    g.add_argument("--sample-rate", type=int, default=16000, help="sample rate of the mfcc baseline (Hz)")
    g.add_argument(
        "--chunk-s", type=float, help="chunk length in s; unset: the encoder's training segment (mfcc: the whole clip)"
    )
    g.add_argument("--hop-s", type=float, help="hop between chunks in s; unset: the chunk length")
    g.add_argument("--batch-size", type=int, default=64, help="chunks per forward pass")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto: cuda when available)")


def parse_options(pairs: list[str], command: str) -> dict:
    """``--option KEY=VALUE`` pairs -> keyword arguments, values parsed as YAML (``esc10=true``, ``folds=[1, 2]``)."""
    import yaml

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"audiocl {command}: --option wants KEY=VALUE, got {pair!r}")
        options[key.replace("-", "_")] = yaml.safe_load(value)
    return options


def device_of(args: argparse.Namespace) -> str:
    if args.device != "auto":
        return args.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def user_errors(args: argparse.Namespace) -> tuple[type[Exception], ...]:
    """Errors that are the user's to fix: reported in one line, exit status 2."""
    errors: tuple[type[Exception], ...] = (ValueError, FileNotFoundError)
    if args.checkpoint:  # importing the checkpoint module costs a second: only when one is used
        from audiocl.checkpoint import CheckpointError

        errors += (CheckpointError,)
    return errors


def make_embedder(args: argparse.Namespace, baseline: str | None, **kwargs):
    """The embedder for ``args.checkpoint`` (``baseline`` None) or the named baseline."""
    from audiocl.checkpoint import checkpoint_recipe
    from audiocl.embed import build_embedder

    recipe = args.recipe
    if baseline == "random" and recipe is None and args.checkpoint:
        recipe = checkpoint_recipe(args.checkpoint)  # the checkpoint's own encoder, at random init
    return build_embedder(
        checkpoint=None if baseline else args.checkpoint,
        baseline=baseline,
        recipe=recipe,
        branch=args.branch,
        sample_rate=args.sample_rate if baseline == "mfcc" else None,
        chunk_s=args.chunk_s,
        hop_s=args.hop_s,
        batch_size=args.batch_size,
        device=device_of(args),
        **kwargs,
    )


def add_parser(sub) -> None:
    p = sub.add_parser(
        "embed",
        help="embed audio files with a checkpoint or a baseline",
        description="Embed audio files (or folders, searched recursively, or .txt lists of paths) into one "
        ".npz: paths, pooled embeddings, per-chunk embeddings and their timestamps. Long files are read a "
        "window at a time; unreadable files are reported and skipped.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders or list files (.txt)")
    p.add_argument("--out", required=True, help="output .npz (written atomically; never one of the inputs)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--pooling", default="mean", choices=("mean", "max", "mean+max", "none"))
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_embedder_arguments(p)
    p.set_defaults(func=run)


def read_paths(args: argparse.Namespace) -> list:
    """The files a command reads besides its data: never to be overwritten by an output."""
    return [p for p in (args.checkpoint, args.recipe) if p]


def run(args: argparse.Namespace) -> int:
    from audiocl.embed import embed_files
    from audiocl.report import check_outputs

    if (args.checkpoint is None) == (args.baseline is None):
        print("audiocl embed: give exactly one of --checkpoint CKPT or --baseline random|mfcc", file=sys.stderr)
        return 2
    try:
        check_outputs({"--out": args.out}, inputs=[*args.inputs, *read_paths(args)], overwrite=args.overwrite)
        embedder = make_embedder(args, args.baseline, pooling=args.pooling)
        report = embed_files(embedder, args.inputs, args.out, progress=not args.no_progress)
    except user_errors(args) as err:
        print(f"audiocl embed: {err}", file=sys.stderr)
        return 2
    print(
        f"wrote {report.out_path}: {len(report.files)} files, {report.num_chunks} chunks, {len(report.skipped)} skipped"
    )
    for path, reason in report.skipped:
        print(f"  skipped {path}: {reason}")
    return 0 if report.files else 1
