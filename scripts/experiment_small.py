#!/usr/bin/env python
"""Issue 18's measurement: does each ``recipes/<method>_small.yaml`` beat its own random init and MFCC
statistics on held-out speech, music and environmental sounds, within 15 CPU minutes of pretraining?

The corpora come from ``scripts/make_eval_corpora.py`` (made here when missing; speech and music need
espeak-ng, fluidsynth and fluid-soundfont-gm). A task is never probed with an encoder pretrained on its own
corpus: each recipe is pretrained twice,

- on the music audio (labels unused), probed on speech and sounds;
- on the sounds audio (labels unused), probed on music;

except CLAR, which needs single-label data for its cross-entropy: pretrained on sounds (15 classes) for speech
and music, and on speech (10 words) for sounds.

Every cell is a linear probe over 3 seeds with a 95% bootstrap interval over test items, next to the same
recipe at random init (the paired difference, its interval and p-value) and MFCC statistics. The tables go to
``OUT/report.md``; the runs and the embedding cache stay under ``OUT``. 90 to 120 minutes on 2 cores.

    python scripts/experiment_small.py --out /tmp/audiocl-small [--recipes clmr_small cola_small]
    python scripts/experiment_small.py --out /tmp/audiocl-union --recipes cola_small --pretrain-on union

``--pretrain-on union`` pretrains each task's encoder on the other two corpora together instead (not CLAR).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = ("clmr_small", "cola_small", "clar_small", "multiformat_small")
TASKS = {  # column -> (loader, corpus folder)
    "speech": ("speech_commands", "speech_commands"),
    "music": ("magnatagatune", "magnatagatune"),
    "sounds": ("esc50", "esc50"),
}
# pretraining corpus -> the overrides that read it (labels unused unless the recipe has a supervised head)
PRETRAIN = {
    "music": lambda c: ["data.dataset=folder", f"data.root={c}/magnatagatune"],
    "sounds": lambda c: ["data.dataset=esc50", f"data.root={c}/esc50", "supervised.num_classes=15"],
    "speech": lambda c: ["data.dataset=speech_commands", f"data.root={c}/speech_commands", "supervised.num_classes=10"],
}


# the audio folders of each corpus (in its TASKS folder) for a union: speech without its background noise
AUDIO_FOLDERS = {"music": "*", "sounds": "audio", "speech": "[!_]*"}


def plan(recipe: str, pretrain_on: str = "other") -> dict[str, list[str]]:
    """Pretraining corpus -> the tasks probed with that run (never the corpus itself). ``pretrain_on="union"``:
    each task is probed with a run pretrained on the other two corpora together ("speech+music", ...)."""
    if pretrain_on == "union":
        if recipe.startswith("clar"):
            raise SystemExit("--pretrain-on union: CLAR's cross-entropy needs one corpus's labels")
        return {"+".join(k for k in TASKS if k != task): [task] for task in TASKS}
    if recipe.startswith("clar"):
        return {"sounds": ["speech", "music"], "speech": ["sounds"]}
    return {"music": ["speech", "sounds"], "sounds": ["music"]}


def union_folder(names: list[str], corpora: Path, out: Path) -> Path:
    """A folder of links to the audio of the named corpora, read as one ``folder`` data set."""
    root = out / "union" / "+".join(names)
    for name in names:
        for target in sorted((corpora / TASKS[name][1]).glob(AUDIO_FOLDERS[name])):
            if not target.is_dir():
                continue
            link = root / name / target.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink():  # left by an earlier run, perhaps to corpora since moved
                link.unlink()
            link.symlink_to(target.resolve(), target_is_directory=True)
    return root


def make_corpora(corpora: Path) -> None:
    missing = [k for k, (_, folder) in TASKS.items() if not (corpora / folder).is_dir()]
    if missing:
        subprocess.run(
            [sys.executable, str(REPO / "scripts/make_eval_corpora.py"), "--out", str(corpora), "--only", *missing,
             "--speakers", "60", "--tracks", "200", "--per-class", "40", "--no-progress"],
            check=True,
        )  # fmt: skip


def pretrain(recipe: str, corpus: str, corpora: Path, out: Path, overrides: list[str]) -> tuple[Path, float]:
    """The run's last checkpoint and its wall-clock seconds (read back from a finished run's timing file)."""
    run = out / "runs" / f"{recipe}_{corpus}"
    ckpt, timing = run / "checkpoints" / "last.ckpt", run / "wall_seconds.json"
    if ckpt.is_file() and timing.is_file():
        return ckpt, json.loads(timing.read_text())["seconds"]
    if "+" in corpus:
        extra = ["data.dataset=folder", f"data.root={union_folder(corpus.split('+'), corpora, out)}"]
    else:
        extra = [o for o in PRETRAIN[corpus](corpora) if not o.startswith("supervised.") or recipe.startswith("clar")]
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "audiocl", "pretrain", str(REPO / "recipes" / f"{recipe}.yaml"), *extra,
         f"output_dir={run}", "trainer.progress_bar=false", *overrides],
        check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    timing.write_text(json.dumps({"seconds": seconds}))
    return ckpt, seconds


def baselines(recipe: str, overrides: list[str], draws: int = 1) -> dict:
    """The references: the recipe's encoder at random init under weight seed 0, built with the run's overrides (a
    wider encoder or a longer crop is compared with itself untrained, on the same chunks; a ``seed=`` override
    changes the training run, not this draw), and MFCC statistics. ``draws`` > 1 adds ``"random init, draw k"``:
    the same encoder under weight seeds 1 to draws - 1, to show how far the draw alone moves the baseline."""
    from audiocl.config import load_recipe
    from audiocl.embed import mfcc_baseline, random_encoder

    spec = load_recipe(REPO / "recipes" / f"{recipe}.yaml", overrides)
    others = {f"random init, draw {k}": random_encoder(spec, seed=k) for k in range(1, draws)}
    return {"random init": random_encoder(spec), "mfcc": mfcc_baseline(16000), **others}


def against(table, reference: str):
    """``table`` with its paired differences taken against ``reference``, from the same probe results: what
    ``compare(..., reference=reference)`` gives, without probing again."""
    from dataclasses import replace

    from audiocl.eval.compare import tabulate
    from audiocl.probe import paired

    n_boot = table.settings["n_boot"]
    results = {}
    for (name, column), result in table.results.items():
        ref = table.results[reference, column]
        results[name, column] = replace(
            result, paired=None if result is ref else paired(result, ref, n_boot=n_boot or 1000)
        )
    return tabulate(results, aggregation=table.settings["aggregation"], n_boot=n_boot, reference=reference)


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def _interval(ci) -> str:
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else ""


def summary_row(recipe: str, corpus: str, seconds: float, column: str, trained: str, tables: dict) -> dict:
    """One recipe on one task: its score, random init's and MFCC's, and the paired differences, in points."""
    by_random, by_mfcc = tables["random init"], tables["mfcc"]
    own = by_random.cell(trained, column)
    random, mfcc = by_random.cell("random init", column), by_random.cell("mfcc", column)
    vs_mfcc = by_mfcc.cell(trained, column)
    draws = [by_random.cell(n, column).mean for n in by_random.embedders if n.startswith("random init")]
    return {
        "recipe": recipe, "task": column, "metric": own.metric, "pretrained_on": corpus, "minutes": seconds / 60,
        "score": own.mean, "score_ci95": own.ci95, "random": random.mean, "random_ci95": random.ci95,
        "mfcc": mfcc.mean, "mfcc_ci95": mfcc.ci95,
        "vs_random": own.difference, "vs_random_ci95": own.difference_ci95, "vs_random_p": own.p_value,
        "vs_mfcc": vs_mfcc.difference, "vs_mfcc_ci95": vs_mfcc.difference_ci95, "vs_mfcc_p": vs_mfcc.p_value,
        "meets_random_target": own.difference >= 0.10, "beats_mfcc": vs_mfcc.difference > 0,
        "random_draws": draws, "vs_random_draws_mean": own.mean - sum(draws) / len(draws),
    }  # fmt: skip


def summary_markdown(rows: list[dict]) -> str:
    """The README's table: points (accuracy, or ROC-AUC for music tags) with 95% intervals over test items."""
    lines = [
        "| recipe | task (metric) | pretrained on | min | recipe | random init | Δ vs random | MFCC | Δ vs MFCC |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['recipe']} | {r['task']} ({r['metric']}) | {r['pretrained_on']} | {r['minutes']:.1f} | "
            f"{100 * r['score']:.1f} {_interval(r['score_ci95'])} | {100 * r['random']:.1f} "
            f"{_interval(r['random_ci95'])} | **{_points(r['vs_random'])}** {_interval(r['vs_random_ci95'])} | "
            f"{100 * r['mfcc']:.1f} {_interval(r['mfcc_ci95'])} | **{_points(r['vs_mfcc'])}** "
            f"{_interval(r['vs_mfcc_ci95'])} |"
        )
    drawn = [r for r in rows if len(r.get("random_draws", [])) > 1]
    if drawn:  # the draw's own spread, beside the one-draw Δ above
        lines += ["", "| recipe | task | random init's draws: mean [min, max] | Δ vs their mean |", "|---" * 4 + "|"]
        for r in drawn:
            d = [100 * x for x in r["random_draws"]]
            lines.append(
                f"| {r['recipe']} | {r['task']} | {sum(d) / len(d):.1f} [{min(d):.1f}, {max(d):.1f}] over {len(d)} | "
                f"**{_points(r['vs_random_draws_mean'])}** |"
            )
    return "\n".join(lines) + "\n"


def monitors_of(run: Path) -> dict:
    """The run's monitors (audiocl.monitors) at their first and last logged steps, and its loss at both ends."""
    import csv

    with open(run / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for key in ("train/loss", "monitor/rank", "monitor/std_ratio", "monitor/alignment", "monitor/uniformity"):
        values = [(int(r["step"]), float(r[key])) for r in rows if r.get(key)]
        if values:
            out[key.split("/")[1]] = {"first": values[0], "last": values[-1]}
    return out


def monitors_markdown(runs: dict[str, dict]) -> str:
    lines = ["| run | loss (first → last step) | RankMe | std ratio | alignment | uniformity |", "|---" * 6 + "|"]
    for name, m in runs.items():
        cells = [f"{m[k]['first'][1]:.2f} → {m[k]['last'][1]:.2f}" if k in m else "" for k in
                 ("loss", "rank", "std_ratio", "alignment", "uniformity")]  # fmt: skip
        steps = m["loss"]["last"][0] if "loss" in m else "?"
        lines.append(f"| {name} ({steps} steps) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/audiocl-small"))
    parser.add_argument("--corpora", type=Path, help="the corpora folder (default OUT/corpora)")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--override", nargs="*", default=[], help="recipe overrides for every pretraining run")
    parser.add_argument(
        "--random-draws", type=int, default=1, metavar="N",
        help="probe the random-init baseline under N weight seeds (default 1); the summary gives their range and "
        "the recipe's lead over their mean",
    )  # fmt: skip
    parser.add_argument(
        "--pretrain-on", choices=("other", "union"), default="other",
        help="other: music for speech and sounds, sounds for music (default); union: each task's run pretrained "
        "on the other two corpora together (not CLAR)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.random_draws < 1:
        parser.error(f"--random-draws must be at least 1, got {args.random_draws}")
    for recipe in args.recipes:
        plan(recipe, args.pretrain_on)  # refuse a recipe the plan cannot run before any pretraining starts

    from audiocl import load_encoder
    from audiocl.data.task import load_task
    from audiocl.eval.cache import EmbeddingCache
    from audiocl.eval.compare import compare
    from audiocl.report import comparison_markdown

    out = args.out.expanduser()
    corpora = (args.corpora or out / "corpora").expanduser()
    make_corpora(corpora)
    tasks = {k: load_task(loader, corpora / folder) for k, (loader, folder) in TASKS.items()}
    cache = EmbeddingCache(out / "embedding_cache")
    sections, rows, monitors = [], [], {}
    for recipe in args.recipes:
        for corpus, probed in plan(recipe, args.pretrain_on).items():
            ckpt, seconds = pretrain(recipe, corpus, corpora, out, args.override)
            trained = f"{recipe} (pretrained on {corpus}, {seconds / 60:.1f} min)"
            monitors[f"{recipe}_{corpus}"] = monitors_of(ckpt.parents[1])
            embedders = {trained: load_encoder(ckpt), **baselines(recipe, args.override, args.random_draws)}
            for column in probed:
                cells = {}
                probed_once = compare({column: tasks[column]}, embedders, reference="random init", progress=False,
                                      cache=cache)  # fmt: skip
                for reference in ("random init", "mfcc"):
                    table = against(probed_once, reference)
                    text = f"### {recipe} on {column}, paired against {reference}\n\n{comparison_markdown(table)}"
                    print(text, flush=True)
                    sections.append(text)
                    cells[reference] = table
                rows.append(summary_row(recipe, corpus, seconds, column, trained, cells))
                (out / "report.md").write_text("\n\n".join(sections) + "\n")
                (out / "summary.md").write_text(summary_markdown(rows) + "\n" + monitors_markdown(monitors))
                (out / "summary.json").write_text(json.dumps({"rows": rows, "monitors": monitors}, indent=1))
    print(summary_markdown(rows) + "\n" + monitors_markdown(monitors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
