"""``audiocl bench train``: training throughput (clips/s) and the fraction of step time spent waiting for data.

Runs the recipe for a number of steps through the real path (workers decode and crop, the step samples views,
augments, computes features, encoder, loss and the update), on synthetic audio unless ``data.root`` is given,
and summarises the per-step logs after a warm-up. On CUDA it also reports the peak GPU memory that PyTorch
allocated. ``--json PATH`` writes the summary, with the wall-clock window of the measured steps (for tools
that sample the GPU alongside, such as ``scripts/device_check.py``). No peer library runs an audiocl recipe,
so this benchmark has no peer row.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

SUMMARY = "training throughput (clips/s) and data-wait fraction of a recipe"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", default="clmr_tiny", help="recipe file or bundled recipe name")
    parser.add_argument("--steps", type=int, default=40, help="steps to run")
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the summary")
    parser.add_argument("--clips", type=int, default=64, help="synthetic clips to generate when data.root is unset")
    parser.add_argument("--json", metavar="PATH", help="also write the summary to this JSON file")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides")


def _window_callback(warmup: int, window: dict):
    """A Lightning callback noting the wall-clock time (``time.time()``) at which the first measured step
    starts and at which training ends."""
    import lightning as L

    class Window(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == warmup and "start" not in window:
                window["start"] = time.time()

        def on_train_end(self, trainer, pl_module):
            window["end"] = time.time()

    return Window()


def run(args: argparse.Namespace) -> int:
    import torch

    from audiocl.config import load_recipe
    from audiocl.recipes_path import resolve_recipe
    from audiocl.train import pretrain

    if args.steps < 1 or args.warmup < 0 or args.clips < 1:
        raise SystemExit("--steps and --clips must be >= 1, --warmup >= 0")
    window: dict = {}
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
        began = time.time()
        pretrain(recipe, resume=False, callbacks=[_window_callback(args.warmup, window)])
        wall_s = time.time() - began
        rows = list(csv.DictReader(open(tmp / "run" / "csv" / "metrics.csv")))
    rates = [float(r["train/clips_per_s"]) for r in rows if r.get("train/clips_per_s")][args.warmup :]
    waits = [float(r["train/data_wait_fraction"]) for r in rows if r.get("train/data_wait_fraction")][args.warmup :]
    if not rates:
        raise SystemExit(f"no steps left after a warm-up of {args.warmup}; raise --steps")
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    peak = torch.cuda.max_memory_allocated() if cuda else None
    t = recipe.trainer
    print(
        f"\nrecipe {recipe.name}: batch {recipe.data.batch_size}, {recipe.views.num_views} views of "
        f"{recipe.views.crop_samples} samples, {recipe.data.num_workers} workers, precision {t.precision}, "
        f"compile {t.compile}, channels_last {t.channels_last}, {len(rates)} steps measured"
    )
    print(f"{'':24}{'median':>10}{'mean':>10}")
    print(f"{'clips/s':24}{statistics.median(rates):>10.1f}{statistics.mean(rates):>10.1f}")
    print(f"{'data-wait fraction':24}{statistics.median(waits):>10.3f}{statistics.mean(waits):>10.3f}")
    if peak is not None:
        print(f"peak GPU memory allocated: {peak / 2**30:.2f} GiB")
    print("no peer library trains an audiocl recipe, so there is no ratio against a peer")
    if args.json:
        summary = {
            "recipe": recipe.name,
            "batch_size": recipe.data.batch_size,
            "precision": t.precision,
            "compile": t.compile,
            "channels_last": t.channels_last,
            "steps": args.steps,
            "steps_measured": len(rates),
            "clips_per_s_median": statistics.median(rates),
            "clips_per_s_mean": statistics.mean(rates),
            "data_wait_fraction_median": statistics.median(waits),
            "data_wait_fraction_mean": statistics.mean(waits),
            "peak_gpu_bytes": peak,
            "wall_s": wall_s,
            "window": window,
        }
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0
