"""``audiocl pretrain RECIPE [key=value ...]``: contrastive pretraining from a YAML recipe."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audiocl.config import RecipeError, load_recipe
from audiocl.recipes_path import resolve_recipe


def add_parser(sub) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pretrain an encoder from a YAML recipe",
        description="Pretrain an encoder from a YAML recipe. Overrides are dotted keys, values parsed as YAML, "
        "e.g. data.root=/data/mtat trainer.max_steps=1000 trainer.devices=2 trainer.precision=bf16-mixed. "
        "A run folder that already has checkpoints/last.ckpt resumes from it, with its own recipe: a differing "
        "value is refused unless --take-changes names it. One run at a time holds a run folder (OUTPUT_DIR/run.lock).",
    )
    p.add_argument("recipe", help="a recipe file, or the name of a bundled one (e.g. clmr_tiny)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides of recipe values")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--resume",
        nargs="?",
        const=True,
        metavar="CKPT",
        help="resume from CKPT; without one, from the run folder's checkpoints/last.ckpt (an error if it has none)",
    )
    group.add_argument(
        "--fresh",
        action="store_true",
        help="start a clean run folder: an existing one is moved aside to OUTPUT_DIR.replaced-<time>",
    )
    p.add_argument(
        "--take-changes",
        action="append",
        default=[],
        metavar="KEY[,KEY]",
        help="recipe keys whose new values a resume applies (e.g. optim.lr,trainer.max_steps); a resume whose "
        "recipe differs from its checkpoint's in any other key is refused",
    )
    p.add_argument(
        "--default-malloc",
        action="store_true",
        help="on the CPU, leave glibc's malloc as it is, instead of keeping freed memory for reuse "
        "(audiocl.allocator), which saves the augmentations' page faults at the price of keeping the peak memory",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audiocl.checkpoint import CheckpointError
    from audiocl.run_lock import RunLockedError
    from audiocl.train import pretrain
    from audiocl.train_callbacks import TrainingDiverged

    overrides = list(args.overrides)
    if isinstance(args.resume, str) and "=" in args.resume and not Path(args.resume).exists():
        # `--resume key=value ...`: argparse took the first override for the optional checkpoint path.
        overrides.insert(0, args.resume)
        args.resume = True
    try:
        recipe = load_recipe(resolve_recipe(args.recipe), overrides)
        trainer = pretrain(
            recipe,
            resume=args.resume or (False if args.fresh else None),
            keep_freed_memory=not args.default_malloc,
            take_changes=[key for item in args.take_changes for key in item.split(",")],
        )
    except (RecipeError, CheckpointError, FileNotFoundError, RunLockedError) as err:
        print(f"audiocl pretrain: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"audiocl pretrain: {err}", file=sys.stderr)
        return 1
    if trainer.is_global_zero:
        print(f"run folder: {recipe.output_dir}")
    return 0
