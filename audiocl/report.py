"""Every report audiocl writes: probe results and comparison tables, for people and for papers.

**Probe results** (``audiocl probe``): the :class:`audiocl.probe.ProbeResult` of :func:`audiocl.probe.run_probe`
(one per embedder and label fraction), so a checkpoint and its baselines land side by side, as a plain-text
table, JSON, a markdown report and plots (matplotlib, Agg).

>>> print(format_table([result_ckpt, result_mfcc]))          # doctest: +SKIP
task   embedder  labels  accuracy
esc50  clmr      100%    0.712 ± 0.004
esc50  mfcc      100%    0.421 ± 0.002

**Comparison tables** (``audiocl compare``): a :class:`audiocl.eval.compare.ComparisonTable` as

- **markdown**: the settings shared by every cell stated once above the table, one row per embedder, one
  column per task (and a Δ column per task against the reference), then each task's split, head and
  aggregation in a line. ``audiocl compare`` prints it too, so what it prints is what a paper gets.
- **CSV**: tidy, one row per (embedder, task, metric), every metric, full precision, the settings in columns.
- **PNG**: one panel per task, a point per embedder at its mean with its 95% interval as a bar.

:func:`write_comparison` renders all three in memory first and then writes them atomically, so a failure
leaves no partial output.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from audiocl.eval.compare import METRIC_NAMES, ComparisonTable

if TYPE_CHECKING:
    from audiocl.probe import ProbeResult

__all__ = [
    "OutputError",
    "format_metric",
    "format_difference",
    "check_outputs",
    "format_table",
    "markdown_report",
    "write_json",
    "write_text",
    "plot_projection",
    "plot_tag_auc",
    "OUTPUT_NAMES",
    "comparison_markdown",
    "comparison_csv",
    "comparison_png",
    "output_paths",
    "write_comparison",
]


class OutputError(ValueError):
    """An output path a command would write is unusable; the message names it and the option."""


def check_outputs(
    outputs: dict[str, str | os.PathLike | None],
    *,
    inputs: Sequence[str | os.PathLike] = (),
    data_roots: Sequence[str | os.PathLike] = (),
    overwrite: bool = False,
) -> None:
    """Refuse unusable outputs before any work is done, with an :class:`OutputError` naming the option.

    Refused: an output that is a folder (or ends in a separator); an output that is one of the ``inputs``
    (never replace what is read); an existing file inside one of the ``data_roots`` (it may be part of the
    data set), even with ``overwrite``; two options naming one file; an existing file unless ``overwrite``.

    Args:
        outputs: option name (e.g. ``"--out"``) -> path, or None for an option not given.

    >>> check_outputs({"--out": "emb.npz"}, inputs=["emb.npz"])  # doctest: +SKIP
    OutputError: --out emb.npz is also an input: choose another output
    """
    seen: dict[Path, str] = {}
    read = {Path(p).expanduser().resolve() for p in inputs if p is not None}
    roots = [Path(p).expanduser().resolve() for p in data_roots if p is not None and Path(p).is_dir()]
    for option, given in outputs.items():
        if given is None:
            continue
        path = Path(given).expanduser()
        if str(given).endswith(("/", os.sep)) or path.is_dir():
            raise OutputError(f"{option} {given} is a folder: give a file name")
        real = path.resolve()
        if real in read:
            raise OutputError(f"{option} {given} is also an input: choose another output")
        if path.exists() and any(real.is_relative_to(root) for root in roots):
            raise OutputError(f"{option} {given} is a file of the data set being read: choose another output")
        if real in seen:
            raise OutputError(f"{option} and {seen[real]} both name {given}: give each its own file")
        seen[real] = option
        if path.exists() and not overwrite:
            raise OutputError(f"{option} {given} exists: pass --overwrite to replace it, or choose another name")


def _metric_names(results: Sequence[ProbeResult]) -> list[str]:
    names: list[str] = []
    for r in results:
        names += [m for m in r.metrics if m not in names]
    return names


def format_metric(v: dict | None) -> str:
    """``mean ± std [lo, hi]``: the mean and sample std over seeds, the 95% bootstrap interval over items."""
    if not v:
        return "-"
    ci = v.get("ci95")
    return f"{v['mean']:.3f} ± {v['std']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def format_difference(d: dict | None) -> str:
    """``+0.021 [+0.008, +0.035] p=0.002``: a paired difference, its interval and p-value."""
    if not d:
        return "-"
    lo, hi = d["ci95"]
    return f"{d['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}] p={d['p_value']:.3f}"


def _rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    metrics = _metric_names(results)
    header = ["task", "protocol", "head", "embedder", "labels", *metrics]
    against = next((r.paired["against"] for r in results if r.paired), None)
    if against is not None:
        header.append(f"Δ {metrics[0]} vs {against}")
    rows = []
    for r in results:
        cells = [r.task, r.protocol, r.head, r.name]
        cells += [f"{100 * r.label_fraction:g}%", *(format_metric(r.metrics.get(m)) for m in metrics)]
        if against is not None:
            cells.append(format_difference((r.paired or {}).get(metrics[0])) if r.name != against else "ref")
        rows.append(cells)
    return header, rows


def format_table(results: Sequence[ProbeResult]) -> str:
    """An aligned plain-text table: one row per result, metrics as ``mean ± std`` over seeds."""
    header, rows = _rows(results)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in [header, *rows]]
    return "\n".join(lines)


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` to ``path`` (temporary file + rename: a failed run leaves the old file untouched)."""
    from audiocl.atomic import write_atomic

    write_atomic(path, lambda f: f.write(text.encode()))


def write_json(results: Sequence[ProbeResult], path: str | os.PathLike) -> None:
    """Write ``{"results": [result.to_dict(), ...]}`` to ``path`` (temporary file + rename, so it is never
    half-written)."""
    write_text(json.dumps({"results": [r.to_dict() for r in results]}, indent=2) + "\n", path)


def markdown_report(
    results: Sequence[ProbeResult], plots: Sequence[str | os.PathLike] = (), *, relative_to=None
) -> str:
    """A markdown report: the results table, the protocol and aggregation per task, notes, skipped files, plots.

    ``plots`` are image paths, linked relative to ``relative_to`` (the report's folder) when given.
    """
    header, rows = _rows(results)
    out = ["# Probe results", ""]
    out += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out += [
        "",
        "Mean ± sample standard deviation over seeds, then the 95% bootstrap interval over test items (clips or "
        "tracks, never chunks); item-level scores. Δ: the paired bootstrap difference on the same test items, "
        "its 95% interval and two-sided p-value.",
        "",
    ]
    seen = set()
    for r in results:
        key = (r.task, r.protocol, r.head)
        if key in seen:
            continue
        seen.add(key)
        out += [f"## {r.task} (protocol `{r.protocol}`, head `{r.head}`)", ""]
        if r.notes:
            out.append(f"- Data: {r.notes}")
        out.append(f"- Protocol `{r.protocol}`: {r.protocol_details}")
        out.append(f"- Aggregation: {r.aggregation}")
        if r.intervals:
            out.append(f"- Intervals: {r.intervals}")
        out.append(f"- Items: {r.counts['embedded']} embedded of {r.counts['items']}")
        lost = {k: v for k, v in r.skipped_per_split.items() if v["skipped"]}
        if lost:
            parts = ", ".join(f"{k}: {v['skipped']} of {v['items']}" for k, v in lost.items())
            out.append(f"- **Unreadable items left out**: {parts}")
        if r.group_overlap:
            out.append(f"- **Warning**: {r.group_overlap} groups occur in both training and test splits")
        out.append("")
    for r in results:
        out += [f"### {r.name} ({r.task}, {100 * r.label_fraction:g}% labels)", ""]
        out.append(f"- Embedder: `{r.embedder}` (dim {r.embedding_dim})")
        for run in r.runs:
            scores = ", ".join(f"{m} {run[m]:.3f}" for m in r.metrics)
            folds = f", train folds {run['train_folds']}" if run.get("train_folds") else ""
            settings = run.get("settings") or f"weight decay {run['weight_decay']:g}, {run['epochs']} epochs"
            out.append(
                f"- seed {run['seed']}, {run['split']}: {scores} ({settings}, {run['train_items']} train items{folds})"
            )
        for s in r.skipped:
            out.append(f"- skipped `{s['path']}`: {s['reason']}")
        out.append("")
    if plots:
        out += ["## Plots", ""]
        for p in plots:
            p = Path(p)
            link = os.path.relpath(p, relative_to) if relative_to is not None else str(p)
            out += [f"![{p.stem}]({link})", ""]
    return "\n".join(out)


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_projection(
    embeddings: np.ndarray,
    labels: Sequence[int],
    classes: Sequence[str],
    path: str | os.PathLike,
    *,
    method: str = "pca",
    title: str = "",
    seed: int = 0,
) -> Path:
    """Scatter a 2-D projection (PCA or t-SNE, scikit-learn) of embeddings coloured by label; write a PNG.

    Shape:
        ``embeddings (n, dim)``, ``labels (n,)`` indices into ``classes`` (-1 draws grey, "no label").
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(np.asarray(embeddings, dtype=np.float64))
    if method == "pca":
        xy = PCA(2, random_state=seed).fit_transform(x)
    elif method == "tsne":
        xy = TSNE(2, perplexity=min(30.0, max(2.0, (len(x) - 1) / 3)), random_state=seed).fit_transform(x)
    else:
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    labels = np.asarray(labels)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    present = [c for c in np.unique(labels) if c >= 0]
    for c in present:
        mask = labels == c
        ax.scatter(xy[mask, 0], xy[mask, 1], s=12, color=cmap(int(c) % cmap.N), label=str(classes[c]))
    if (labels < 0).any():
        ax.scatter(xy[labels < 0, 0], xy[labels < 0, 1], s=8, color="0.7", label="(none)")
    if len(present) <= 20:
        ax.legend(fontsize=7, markerscale=1.5, loc="best")
    ax.set_title(title or f"{method.upper()} of test embeddings")
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, plt, path)


def plot_tag_auc(per_class: dict[str, float], path: str | os.PathLike, *, title: str = "") -> Path:
    """Bar chart of per-tag ROC-AUC, sorted, with the macro mean as a line; write a PNG."""
    if not per_class:
        raise ValueError("no per-tag ROC-AUC values to plot")
    names, values = zip(*sorted(per_class.items(), key=lambda kv: kv[1]), strict=True)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(names)), 4))
    ax.bar(range(len(names)), values, color="tab:blue")
    ax.axhline(float(np.mean(values)), color="tab:red", lw=1, label=f"macro {np.mean(values):.3f}")
    ax.axhline(0.5, color="0.5", lw=0.8, ls="--", label="chance")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_ylim(min(0.4, min(values) - 0.05), 1.0)
    ax.set_ylabel("ROC-AUC")
    ax.legend(fontsize=8)
    ax.set_title(title or "Per-tag ROC-AUC")
    return _save(fig, plt, path)


def _save(fig, plt, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# -- comparison tables (audiocl compare) -----------------------------------------------------------------

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
