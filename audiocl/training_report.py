"""The training report of a run: the loss next to the monitors of :mod:`audiocl.monitors`.

Reads the run's ``csv/metrics.csv`` and writes ``training_curves.png`` (one panel per signal, against the step)
and ``training_report.md`` (first, last and extreme values, the collapse warning's step, the kNN curve) into the
run folder. ``audiocl pretrain`` writes it at the end of training; ``audiocl demo`` links it from its report.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

__all__ = ["read_metrics", "plot_training_curves", "write_training_report", "PANELS"]

# Panel title -> (column, label) pairs plotted in it; a panel whose columns were never logged is left out.
PANELS = {
    "loss": [("train/loss", "loss")],
    "effective rank (RankMe)": [("monitor/rank", "rank of h"), ("monitor/z_rank", "rank of z")],
    "std of normalised embedding x sqrt(dim)": [
        ("monitor/std_ratio", "std ratio of h"),
        ("monitor/z_std_ratio", "std ratio of z"),
    ],
    "alignment / uniformity (Wang & Isola)": [
        ("monitor/alignment", "alignment of z"),
        ("monitor/uniformity", "uniformity of z"),
    ],
    "online kNN": [("monitor/knn_accuracy", "kNN accuracy"), ("monitor/knn_roc_auc", "kNN ROC-AUC")],
}


def read_metrics(metrics_csv: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``column -> (steps, values)`` for every column of a Lightning ``metrics.csv`` (rows without it skipped)."""
    series: dict[str, tuple[list, list]] = {}
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            step = row.get("step")
            for key, value in row.items():
                if key in ("step", "epoch") or value in (None, "") or step in (None, ""):
                    continue
                steps, values = series.setdefault(key, ([], []))
                steps.append(int(float(step)))
                values.append(float(value))
    return {k: (np.array(s), np.array(v)) for k, (s, v) in series.items()}


def plot_training_curves(series: dict, path: str | Path, *, collapsed_at_step: int | None = None) -> Path:
    """One panel per signal of :data:`PANELS` that was logged, sharing the step axis; a dashed line marks the
    collapse warning's step."""
    from audiocl.report import _plt, _save

    panels = [(title, [(c, lab) for c, lab in cols if c in series]) for title, cols in PANELS.items()]
    panels = [(title, cols) for title, cols in panels if cols]
    if not panels:
        raise ValueError("no loss or monitor values were logged")
    plt = _plt()
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.2 * len(panels)), sharex=True, squeeze=False)
    for ax, (title, cols) in zip(axes[:, 0], panels, strict=True):
        for column, label in cols:
            steps, values = series[column]
            ax.plot(steps, values, lw=1.2, marker="." if len(steps) < 40 else None, label=label)
        if collapsed_at_step is not None:
            ax.axvline(collapsed_at_step, color="red", ls="--", lw=1)
        ax.set_title(title, fontsize=9)
        if len(cols) > 1:
            ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel("step")
    return _save(fig, plt, path)


def _row(name: str, steps: np.ndarray, values: np.ndarray, best: str) -> str:
    i = int(np.argmax(values) if best == "max" else np.argmin(values))
    return (
        f"| {name} | {values[0]:.4g} (step {steps[0]}) | {values[-1]:.4g} (step {steps[-1]}) | "
        f"{values[i]:.4g} (step {steps[i]}) |"
    )


def write_training_report(
    metrics_csv: str | Path, out: str | Path, *, collapsed_at_step: int | None = None, recipe=None
) -> list[Path]:
    """``out/training_curves.png`` and ``out/training_report.md`` from a run's ``metrics.csv``; returns both."""
    out = Path(out)
    series = read_metrics(metrics_csv)
    png = plot_training_curves(series, out / "training_curves.png", collapsed_at_step=collapsed_at_step)
    lines = [f"# Training report{f': {recipe.name}' if recipe is not None else ''}", ""]
    if collapsed_at_step is not None:
        lines += [f"**Collapse warning at step {collapsed_at_step}** (eval.monitors thresholds).", ""]
    else:
        lines += ["No collapse warning.", ""]
    lines += ["| signal | first | last | best |", "|---|---|---|---|"]
    best = {"monitor/alignment": "min", "monitor/uniformity": "min", "train/loss": "min"}
    for cols in PANELS.values():
        for column, label in cols:
            if column in series:
                lines.append(_row(label, *series[column], best.get(column, "max")))
    lines += [
        "",
        "h: the encoder embedding, z: the projection, both on the training step's own views. Rank: RankMe "
        "(collapse: near 1). Std ratio: per-dimension std of the normalised rows x sqrt(dim) (about 1 when spread "
        "over the sphere, 0 when collapsed). "
        "Alignment: mean squared distance of a clip's two normalised projections (lower: more invariant). "
        "Uniformity: log mean Gaussian potential of the projections (lower: more spread). kNN: a monitor on a "
        "small labelled set, not the probe's result.",
        "",
        f"![training curves]({png.name})",
        "",
    ]
    md = out / "training_report.md"
    md.write_text("\n".join(lines))
    return [md, png]
