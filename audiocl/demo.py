"""``audiocl demo``: the whole product on built-in data, in a few minutes on 2 CPU cores.

1. Generate a labelled synthetic corpus whose classes differ in timbre only (:mod:`audiocl.synth`).
2. Pretrain a small log-mel CNN on the unlabelled training clips with NT-Xent (``recipes/demo.yaml``, Lightning);
   the test clips the probes score are never seen in pretraining.
3. Embed the clips and fit linear probes (:func:`audiocl.probe.run_probe`) for the pretrained encoder, the same
   encoder at random initialisation, and MFCC statistics.
4. Print the table and write a report folder: ``report.md``, ``loss_curve.png``, ``training_curves.png`` (the loss
   next to the collapse monitors and the online kNN accuracy, :mod:`audiocl.monitors`),
   ``embeddings_2d_pretrained.png`` and ``embeddings_2d_random.png`` (PCA of the test embeddings).
"""

from __future__ import annotations

import csv
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from audiocl.config import load_recipe
from audiocl.recipes_path import resolve_recipe

if TYPE_CHECKING:
    from audiocl.probe import ProbeResult


@dataclass
class DemoResult:
    results: list[ProbeResult]  # one per embedder (pretrained, random, mfcc)
    report_dir: Path
    plots: list[Path] = field(default_factory=list)

    def accuracy(self, name: str) -> float:
        for r in self.results:
            if r.name == name:
                return r.metrics["accuracy"]["mean"]
        raise KeyError(name)


def _stage(message: str, start: float) -> None:
    print(f"[{time.perf_counter() - start:6.1f} s] {message}", flush=True)


def run_demo(
    workdir: str | Path = "audiocl-demo",
    *,
    clips_per_class: int = 40,
    max_steps: int | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    overrides: list[str] | None = None,
    progress: bool = True,
) -> DemoResult:
    """Run the demo in ``workdir`` (created; an earlier demo there is replaced) and return its results."""
    from audiocl.data import load_task
    from audiocl.embed import mfcc_baseline
    from audiocl.eval.pipeline import load_pipeline, random_pipeline
    from audiocl.probe import embed_task, run_probe
    from audiocl.report import format_table, markdown_report, plot_projection, write_json
    from audiocl.synth import make_corpus
    from audiocl.train import pretrain

    start = time.perf_counter()
    workdir = Path(workdir)
    data, run, report_dir = workdir / "data", workdir / "run", workdir / "report"
    recipe_path = resolve_recipe("demo")
    extra = [f"trainer.max_steps={max_steps}"] if max_steps is not None else []
    recipe = load_recipe(
        recipe_path,
        [
            "data.dataset=csv",  # the corpus's list: pretraining reads its train split only, never the test clips
            f"data.root={data / 'labels.csv'}",
            f"output_dir={run}",
            f"trainer.progress_bar={progress}",
            # Online kNN on the corpus's own labels (train clips the bank, test clips the queries).
            "eval.knn.dataset=csv",
            f"eval.knn.root={data / 'labels.csv'}",
            *extra,
            *(overrides or []),
        ],
    )

    for stale in (data, run, report_dir):  # an earlier demo's clips or checkpoints must not leak into this one
        shutil.rmtree(stale, ignore_errors=True)
    _stage(f"1/4 generating {clips_per_class} clips x 5 timbre classes in {data}", start)
    make_corpus(
        data,
        clips_per_class=clips_per_class,
        sample_rate=recipe.data.sample_rate,
        clip_seconds=recipe.data.clip_seconds,
        seed=recipe.seed,
    )

    _stage(f"2/4 pretraining ({recipe.trainer.max_steps} steps of NT-Xent, no labels) into {run}", start)
    pretrain(recipe, resume=False, keep_freed_memory=True)  # a CLI run: see audiocl.allocator

    _stage("3/4 embedding the clips and fitting linear probes (3 seeds each)", start)
    task = load_task("csv", data / "labels.csv")
    task.name = "synthetic timbre"  # what the table and report call it
    embedders = {
        "pretrained": load_pipeline(run / "checkpoints" / "last.ckpt").embedder(),
        "random init": random_pipeline(recipe).embedder(),
        "mfcc stats": mfcc_baseline(recipe.data.sample_rate),
    }
    results, embeddings = [], {}
    for name, embedder in embedders.items():
        embeddings[name] = embed_task(task, embedder, progress=progress)
        results.append(run_probe(task, embeddings=embeddings[name], seeds=seeds, name=name, progress=progress))

    _stage("4/4 writing the report", start)
    report_dir.mkdir(parents=True, exist_ok=True)
    plots = [plot_loss_curve(run / "csv" / "metrics.csv", report_dir / "loss_curve.png")]
    curves = run / "training_curves.png"  # the loss next to the monitors (audiocl.monitors.TrainingReport)
    if curves.is_file():
        plots.append(Path(shutil.copy(curves, report_dir / "training_curves.png")))
    test = [i for i, item in enumerate(task.items) if item.split == "test"]
    y = task.targets()
    for name in ("pretrained", "random init"):
        slug = name.split()[0]
        plots.append(
            plot_projection(
                embeddings[name].pooled(test),
                y[test],
                task.classes,
                report_dir / f"embeddings_2d_{slug}.png",
                title=f"PCA of test embeddings, {name} encoder",
            )
        )
    write_json(results, report_dir / "results.json")
    text = markdown_report(results, plots, relative_to=report_dir)
    (report_dir / "report.md").write_text("# audiocl demo\n\n" + text + "\n")
    result = DemoResult(results, report_dir, plots)
    print()
    print(format_table(results))
    margin = 100 * (result.accuracy("pretrained") - result.accuracy("random init"))
    print(f"\npretrained vs random init: {margin:+.1f} accuracy points")
    if margin < 10:
        print("note: under the 10-point margin the default demo shows (a shortened demo learns less)")
    print(f"report: {report_dir / 'report.md'}")
    _stage("done", start)
    return result


def plot_loss_curve(metrics_csv: str | Path, path: str | Path) -> Path:
    """The training loss against the step, from the run's CSV log, as a PNG."""
    from audiocl.report import _plt, _save

    steps, losses = [], []
    with open(metrics_csv) as f:
        for row in csv.DictReader(f):
            if row.get("train/loss"):
                steps.append(int(row["step"]))
                losses.append(float(row["train/loss"]))
    if not steps:
        raise ValueError(f"{metrics_csv}: no train/loss values logged")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, losses, lw=1, alpha=0.5, label="per step")
    if len(losses) >= 10:
        k = max(2, len(losses) // 20)
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1 :], smooth, lw=2, label=f"mean of {k}")
    ax.set_xlabel("step")
    ax.set_ylabel("contrastive loss")
    ax.set_title("pretraining loss")
    ax.legend()
    return _save(fig, plt, path)
