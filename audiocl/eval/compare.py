"""Several embedders x several tasks, probed under one protocol: the numbers of one comparison table.

Every task is probed with :func:`audiocl.probe.probe_and_report` (so each embedder embeds each task once, or
reads it back from the embedding cache), every embedder with the same seeds, label fraction, head and aggregation.
With a ``reference``, each other embedder's cell carries its paired bootstrap difference against the reference
on the same test items (:func:`audiocl.probe.paired`): the interval says whether a gain is larger than the
test set's sampling noise.

The headline metric of a task is accuracy (single-label) or macro ROC-AUC (multi-label); a cell keeps every
metric the probe reports (PR-AUC too), and the CSV writes them all (:func:`audiocl.report.comparison_csv`).

>>> table = compare({"esc50": esc50}, {"clmr": enc, "mfcc": mfcc_baseline()}, reference="mfcc")  # doctest: +SKIP
>>> table.cell("clmr", "esc50").difference                                                         # doctest: +SKIP
0.21
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audiocl.probe import ProbeResult

__all__ = ["METRIC_NAMES", "Cell", "ComparisonTable", "compare", "tabulate"]

#: How a metric is named in a table's header.
METRIC_NAMES = {"accuracy": "accuracy", "roc_auc": "ROC-AUC", "pr_auc": "PR-AUC"}


@dataclass(frozen=True)
class Cell:
    """One embedder's score on one task, in one metric.

    Attributes:
        mean, std: over seeds (sample std; 0 for one seed). values: the per-seed scores.
        ci95: the 95% bootstrap interval over test items, or None without resamples.
        difference, difference_ci95, p_value: the paired difference ``this - reference`` on the same test
            items, its 95% interval and two-sided p-value; None for the reference itself and without one.
    """

    metric: str
    mean: float
    std: float
    values: tuple[float, ...]
    ci95: tuple[float, float] | None = None
    difference: float | None = None
    difference_ci95: tuple[float, float] | None = None
    p_value: float | None = None


@dataclass
class ComparisonTable:
    """Rows: embedders; columns: tasks; cells: :class:`Cell` per metric. ``settings`` are shared by every cell
    (protocol, head, aggregation, seeds, label_fraction, n_boot); ``task_details`` are what differs per task
    (its split and head's training, its chunk aggregation, its item counts)."""

    embedders: list[str]
    tasks: list[str]
    metrics: dict[str, str]  # task -> headline metric
    cells: dict[tuple[str, str], dict[str, Cell]]  # (embedder, task) -> metric -> cell
    settings: dict
    task_details: dict[str, dict]
    reference: str | None = None
    results: dict[tuple[str, str], ProbeResult] = field(default_factory=dict, repr=False)  # behind the cells

    def cell(self, embedder: str, task: str, metric: str | None = None) -> Cell:
        """The cell of ``embedder`` on ``task``, in ``metric`` (default the task's headline metric)."""
        return self.cells[embedder, task][metric or self.metrics[task]]


def _cell(metric: str, result: ProbeResult) -> Cell:
    m = result.metrics[metric]
    ci = m.get("ci95")
    diff = (result.paired or {}).get(metric)
    return Cell(
        metric=metric,
        mean=float(m["mean"]),
        std=float(m["std"]),
        values=tuple(float(v) for v in m["values"]),
        ci95=(float(ci[0]), float(ci[1])) if ci else None,
        difference=float(diff["difference"]) if diff else None,
        difference_ci95=(float(diff["ci95"][0]), float(diff["ci95"][1])) if diff else None,
        p_value=float(diff["p_value"]) if diff else None,
    )


def tabulate(
    results: Mapping[tuple[str, str], ProbeResult], *, aggregation: str, n_boot: int, reference: str | None = None
) -> ComparisonTable:
    """The table of probe results (:class:`audiocl.probe.ProbeResult`) keyed ``(embedder, task)``, in insertion
    order; a reference's differences are read from each result's ``paired`` (as
    :func:`audiocl.probe.probe_and_report` sets it).
    ``aggregation`` and ``n_boot`` are the settings the results were probed with (a result names them only
    in words)."""
    if not results:
        raise ValueError("nothing to compare: no probe results")
    embedders = list(dict.fromkeys(e for e, _ in results))
    tasks = list(dict.fromkeys(t for _, t in results))
    missing = [(e, t) for e in embedders for t in tasks if (e, t) not in results]
    if missing:
        raise ValueError(f"the table has holes: no result for (embedder, task) {missing[0]}")
    first = next(iter(results.values()))
    settings = {
        "protocol": first.protocol,
        "head": first.head,
        "aggregation": aggregation,
        "seeds": list(first.seeds),
        "label_fraction": first.label_fraction,
        "n_boot": n_boot,
    }
    for key, r in results.items():  # one protocol for every cell, or the header would lie
        for name in ("protocol", "head", "seeds", "label_fraction"):
            value = getattr(r, name)
            if (list(value) if name == "seeds" else value) != settings[name]:
                raise ValueError(f"{key} was probed with {name} {value!r}, the others with {settings[name]!r}")
    metrics, details = {}, {}
    for t in tasks:
        r = results[embedders[0], t]
        metrics[t] = "roc_auc" if r.multilabel else "accuracy"
        details[t] = {
            "task": r.task,
            "protocol_details": r.protocol_details,
            "aggregation": r.aggregation,
            "items": r.counts["embedded"],
            "test_folds": r.test_folds,
            "notes": r.notes,
        }
    cells = {key: {m: _cell(m, r) for m in r.metrics} for key, r in results.items()}
    return ComparisonTable(embedders, tasks, metrics, cells, settings, details, reference, dict(results))


def compare(
    tasks: Mapping[str, object],
    embedders: Mapping[str, object],
    *,
    reference: str | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    label_fraction: float = 1.0,
    protocol: str = "audiocl",
    head: str = "linear",
    aggregation: str | None = None,
    n_boot: int = 1000,
    options=None,
    test_folds: Sequence[int] | None = None,
    num_workers: int = 0,
    progress: bool = True,
    cache=None,
) -> ComparisonTable:
    """Probe every embedder on every task under one protocol and return the :class:`ComparisonTable`.

    Args:
        tasks: column name -> :class:`audiocl.data.task.Task`, in column order.
        embedders: row name -> :class:`audiocl.embed.Embedder` (checkpoints, baselines), in row order.
        reference: the name of one of ``embedders``: every other cell gets its paired difference against it.
        seeds, label_fraction, protocol, head, aggregation, n_boot, options, test_folds: as
            :func:`audiocl.probe.run_probe`, the same for every cell.
        cache: an :class:`audiocl.eval.cache.EmbeddingCache`: embeddings made by earlier probes or comparisons
            of the same task and embedder are read back instead of computed (None: embed every time).
    """
    from audiocl.eval.protocols import check_protocol
    from audiocl.probe import check_head, probe_and_report

    if not tasks or not embedders:
        raise ValueError("compare needs at least one task and one embedder")
    if reference is not None and reference not in embedders:
        raise ValueError(f"reference {reference!r} is none of the embedders compared: {list(embedders)}")
    for task in tasks.values():  # every refusal before the first embedding
        check_protocol(protocol, task)
    aggregation = check_head(head, aggregation, protocol)
    results = {}
    for column, task in tasks.items():
        probed = probe_and_report(
            task, dict(embedders), label_fractions=(label_fraction,), seeds=seeds, options=options,
            num_workers=num_workers, progress=progress, test_folds=test_folds, protocol=protocol, head=head,
            aggregation=aggregation, against=reference, n_boot=n_boot, cache=cache,
        )  # fmt: skip
        for name, result in zip(embedders, probed, strict=True):
            results[name, column] = result
    return tabulate(results, aggregation=aggregation, n_boot=n_boot, reference=reference)
