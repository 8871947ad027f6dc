"""A :class:`audiocl.eval.compare.ComparisonTable` for people: markdown, CSV and a PNG with intervals.

- **markdown**: the settings shared by every cell stated once above the table, one row per embedder, one
  column per task (and a Δ column per task against the reference), then each task's split, head and
  aggregation in a line. ``audiocl compare`` prints it too, so what it prints is what a paper gets.
- **CSV**: tidy, one row per (embedder, task, metric), every metric, full precision, the settings in columns.
- **PNG**: one panel per task, a point per embedder at its mean with its 95% interval as a bar.

Everything is rendered in memory first and then written atomically, so a failure leaves no partial output.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from audiocl.eval.compare import METRIC_NAMES, ComparisonTable
from audiocl.report import check_outputs, format_difference, format_metric

__all__ = ["OUTPUT_NAMES", "comparison_markdown", "comparison_csv", "comparison_png", "write_comparison"]

#: The files ``write_comparison`` writes into its folder.
OUTPUT_NAMES = {"markdown": "compare.md", "csv": "compare.csv", "png": "compare.png"}

CSV_COLUMNS = [
    "embedder", "task", "metric", "mean", "std", "values", "ci95_low", "ci95_high", "reference", "difference",
    "difference_ci95_low", "difference_ci95_high", "p_value", "protocol", "head", "aggregation", "label_fraction",
    "seeds", "n_boot",
]  # fmt: skip


def _column_title(table: ComparisonTable, task: str) -> str:
    return f"{task} ({METRIC_NAMES.get(table.metrics[task], table.metrics[task])})"


def _paired_resamples(table: ComparisonTable) -> int | None:
    for r in table.results.values():
        for d in (r.paired or {}).values():
            if isinstance(d, dict):
                return d.get("n_boot")
    return None


def settings_line(table: ComparisonTable) -> str:
    """The protocol of every cell, in one sentence."""
    s = table.settings
    seeds = ", ".join(str(x) for x in s["seeds"])
    line = (
        f"Protocol `{s['protocol']}`, head `{s['head']}`, aggregation `{s['aggregation']}`; "
        f"label fraction {100 * s['label_fraction']:g}%; seeds {seeds}. Cells: mean ± sample std over the "
        f"{len(s['seeds'])} seed(s)"
    )
    if s["n_boot"]:
        line += f", then the 95% percentile bootstrap interval over test items ({s['n_boot']} resamples)"
    line += "; item-level scores."
    if table.reference is not None:
        line += (
            f" Δ: the paired bootstrap difference against `{table.reference}` on the same test items, its 95% "
            f"interval and two-sided p-value ({_paired_resamples(table)} resamples)."
        )
    return line


def comparison_markdown(table: ComparisonTable) -> str:
    """Settings, the table (one row per embedder) and one line per task on its split, head and aggregation."""
    ref = table.reference
    header = ["embedder"]
    for t in table.tasks:
        header.append(_column_title(table, t))
        if ref is not None:
            header.append(f"Δ vs {ref}")
    # A bold title, not a heading: pasted into a README or a paper's notes, it does not break their outline.
    title = f"**{len(table.embedders)} embedders × {len(table.tasks)} tasks**"
    out = [title, "", settings_line(table), ""]
    out += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for e in table.embedders:
        row = [e]
        for t in table.tasks:
            c = table.cell(e, t)
            row.append(format_metric({"mean": c.mean, "std": c.std, "ci95": c.ci95}))
            if ref is not None:
                diff = {"difference": c.difference, "ci95": c.difference_ci95, "p_value": c.p_value}
                row.append("reference" if e == ref else format_difference(diff if c.difference is not None else None))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    for t in table.tasks:
        d = table.task_details[t]
        notes = f" Data: {d['notes']}." if d["notes"] else ""
        out.append(f"- **{t}** ({d['items']} items): {d['protocol_details']}. Aggregation: {d['aggregation']}.{notes}")
    return "\n".join(out) + "\n"


def _number(x) -> str:
    return "" if x is None else repr(float(x))  # repr: the shortest text that reads back as the same float


def comparison_csv(table: ComparisonTable) -> str:
    """One row per (embedder, task, metric): :data:`CSV_COLUMNS`, numbers at full precision, "" for none."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    s = table.settings
    for e in table.embedders:
        for t in table.tasks:
            for m, c in table.cells[e, t].items():
                lo, hi = c.ci95 or (None, None)
                dlo, dhi = c.difference_ci95 or (None, None)
                writer.writerow(
                    [e, t, m, _number(c.mean), _number(c.std), " ".join(_number(v) for v in c.values),
                     _number(lo), _number(hi), table.reference or "", _number(c.difference), _number(dlo),
                     _number(dhi), _number(c.p_value), s["protocol"], s["head"], s["aggregation"],
                     _number(s["label_fraction"]), " ".join(str(x) for x in s["seeds"]), s["n_boot"]]
                )  # fmt: skip
    return buf.getvalue()


def comparison_png(table: ComparisonTable, *, dpi: int = 120) -> bytes:
    """One panel per task: per embedder its mean (a point) and 95% interval (a bar; ±std without one); the
    reference's mean as a dashed line. PNG bytes."""
    from matplotlib.figure import Figure  # a bare Figure: no pyplot, no backend switch for the whole process

    n_rows = len(table.embedders)
    fig = Figure(figsize=(3.6 * len(table.tasks) + 1.2, 0.45 * n_rows + 1.6), layout="constrained")
    axes = fig.subplots(1, len(table.tasks), sharey=True, squeeze=False)[0]
    rows = list(range(n_rows))[::-1]  # the first embedder on top, as in the markdown table
    for ax, t in zip(axes, table.tasks, strict=True):
        for y, e in zip(rows, table.embedders, strict=True):
            c = table.cell(e, t)
            lo, hi = c.ci95 or (c.mean - c.std, c.mean + c.std)
            colour = "tab:gray" if e == table.reference else "tab:blue"
            ax.errorbar(c.mean, y, xerr=[[c.mean - lo], [hi - c.mean]], fmt="o", color=colour, capsize=3)
        if table.reference is not None:
            ax.axvline(table.cell(table.reference, t).mean, color="tab:gray", ls="--", lw=0.8)
        ax.set_title(_column_title(table, t), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(rows, [f"{e} (reference)" if e == table.reference else e for e in table.embedders])
    axes[0].set_ylim(-0.6, n_rows - 0.4)
    s = table.settings
    bar = "95% bootstrap interval over test items" if s["n_boot"] else "± std over seeds"
    fig.suptitle(
        f"{s['protocol']} protocol, {s['head']} head, {s['aggregation']} aggregation, "
        f"{100 * s['label_fraction']:g}% labels, {len(s['seeds'])} seed(s); bars: {bar}",
        fontsize=9,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def output_paths(out_dir: str | os.PathLike) -> dict[str, Path]:
    """kind -> the file ``write_comparison`` writes for it in ``out_dir``."""
    return {kind: Path(out_dir) / name for kind, name in OUTPUT_NAMES.items()}


def write_comparison(table: ComparisonTable, out_dir: str | os.PathLike, *, overwrite: bool = False) -> dict:
    """Write ``compare.md``, ``compare.csv`` and ``compare.png`` into ``out_dir``; returns kind -> path.

    All three are rendered before the first is written, and each is written atomically: a failure leaves the
    folder as it was. An existing file is refused unless ``overwrite`` (:class:`audiocl.report.OutputError`).
    """
    from audiocl.atomic import write_atomic

    paths = output_paths(out_dir)
    check_outputs({f"--out {p.name}": p for p in paths.values()}, overwrite=overwrite)
    contents = {
        "markdown": comparison_markdown(table).encode(),
        "csv": comparison_csv(table).encode(),
        "png": comparison_png(table),
    }
    for kind, path in paths.items():
        write_atomic(path, lambda f, data=contents[kind]: f.write(data))
    return paths
