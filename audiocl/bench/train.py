"""``audiocl bench train``: training throughput (clips/s) and the fraction of step time spent waiting for data.

Runs the recipe for a number of steps through the real path (workers decode and crop, the step samples views,
augments, computes features, encoder, loss and the update), on synthetic audio unless ``data.root`` is given,
and summarises the per-step logs after a warm-up.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
from pathlib import Path

SUMMARY = "training throughput (clips/s) and data-wait fraction of a recipe"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", default="clmr_tiny", help="recipe file or bundled recipe name")
    parser.add_argument("--steps", type=int, default=40, help="steps to run")
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the summary")
    parser.add_argument("--clips", type=int, default=64, help="synthetic clips to generate when data.root is unset")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides")


def run(args: argparse.Namespace) -> int:
    from audiocl.config import load_recipe
    from audiocl.recipes_path import resolve_recipe
    from audiocl.train import pretrain

    with tempfile.TemporaryDirectory(prefix="audiocl-bench-") as tmp:
        tmp = Path(tmp)
        recipe = load_recipe(resolve_recipe(args.recipe), args.overrides)
        overrides = [
            f"output_dir={tmp / 'run'}",
            f"trainer.max_steps={args.steps}",
            "trainer.log_every_n_steps=1",
            "trainer.progress_bar=false",
            f"trainer.last_every_n_steps={args.steps}",
        ]
        if recipe.data.root is None:  # the synthetic corpus (audiocl.synth), generated in the run folder
            overrides += ["data.dataset=folder", f"data.synthetic_clips_per_class={max(2, args.clips // 5)}"]
        recipe = load_recipe(resolve_recipe(args.recipe), [*args.overrides, *overrides])
        pretrain(recipe, resume=False)
        rows = list(csv.DictReader(open(tmp / "run" / "csv" / "metrics.csv")))
    rates = [float(r["train/clips_per_s"]) for r in rows if r.get("train/clips_per_s")][args.warmup :]
    waits = [float(r["train/data_wait_fraction"]) for r in rows if r.get("train/data_wait_fraction")][args.warmup :]
    if not rates:
        raise SystemExit(f"no steps left after a warm-up of {args.warmup}; raise --steps")
    print(
        f"\nrecipe {recipe.name}: batch {recipe.data.batch_size}, {recipe.views.num_views} views of "
        f"{recipe.views.crop_samples} samples, {recipe.data.num_workers} workers, "
        f"precision {recipe.trainer.precision}, {len(rates)} steps measured"
    )
    print(f"{'':24}{'median':>10}{'mean':>10}")
    print(f"{'clips/s':24}{statistics.median(rates):>10.1f}{statistics.mean(rates):>10.1f}")
    print(f"{'data-wait fraction':24}{statistics.median(waits):>10.3f}{statistics.mean(waits):>10.3f}")
    return 0
