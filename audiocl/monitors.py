"""Is it learning? Lightning callbacks that watch the representation during pretraining.

- :class:`CollapseMonitor`: every ``eval.monitors.every_n_steps`` steps, on the step's own embeddings (no extra
  forward pass): the per-dimension standard deviation of the L2-normalised encoder embedding (SimSiam's
  collapse signal; about ``1/sqrt(dim)`` when the embeddings spread over the sphere, 0 when they collapse to a
  point), the effective rank of the embedding (RankMe, Garrido et al. 2023), and the alignment and uniformity
  of the normalised projections (Wang & Isola 2020). The same for the projection ``z`` (``z_std``,
  ``z_rank``). A :class:`CollapseWarning` is issued once, with the step, when the rank or the std ratio falls
  below its threshold.
- :class:`KnnMonitor`: every ``eval.knn.every_n_steps`` steps, the accuracy (ROC-AUC for multi-label sets) of
  a weighted kNN classifier (solo-learn's ``WeightedKNNClassifier``: cosine similarity, votes
  ``exp(sim / T)``) on a small labelled set, embedded as the probe embeds it.
- :class:`TrainingReport`: at the end of the run, ``training_report.md`` and ``training_curves.png`` in the run
  folder: the loss next to every monitor (:mod:`audiocl.training_report`).

Values go to the run's loggers (TensorBoard and ``csv/metrics.csv``) under ``monitor/...`` at their own
interval, whatever ``trainer.log_every_n_steps`` is. :func:`monitors_for` builds the callbacks a recipe asks for;
:class:`~audiocl.methods.ContrastiveMethod` registers them itself (``configure_callbacks``).

>>> h = torch.randn(256, 64)
>>> round(std_ratio(h), 1), effective_rank(h) > 40
(1.0, True)
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_only
from torch.nn import functional as F

__all__ = [
    "CollapseWarning",
    "normalised_std",
    "std_ratio",
    "effective_rank",
    "alignment",
    "uniformity",
    "embedding_monitors",
    "knn_scores",
    "CollapseMonitor",
    "KnnMonitor",
    "TrainingReport",
    "monitors_for",
]


class CollapseWarning(UserWarning):
    """The embeddings are collapsing: their effective rank or spread fell below the recipe's threshold."""


# ----- the statistics (functions; the callbacks only schedule and log them) ----------------------------------


def normalised_std(x: torch.Tensor) -> float:
    """Mean over dimensions of the std over the batch of the L2-normalised rows (SimSiam, Chen & He 2021).

    Shape: ``(N, D)`` -> a float; ``1/sqrt(D)`` for isotropic Gaussian rows, 0 for identical rows.
    """
    z = F.normalize(x.detach().double(), dim=1)
    return float(z.std(dim=0, correction=0).mean())


def std_ratio(x: torch.Tensor) -> float:
    """:func:`normalised_std` in units of ``1/sqrt(D)``: about 1 when healthy, 0 when collapsed."""
    return normalised_std(x) * math.sqrt(x.shape[1])


def effective_rank(x: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): ``exp`` of the entropy of the normalised singular values of ``x``.

    Shape: ``(N, D)`` -> a float in ``[1, min(N, D)]``; 1 for rows that are all multiples of one vector, 0 for
    all-zero rows (nothing left of the input).
    """
    s = torch.linalg.svdvals(x.detach().double())
    if not s.sum() > 0:
        return 0.0
    p = s / s.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> float:
    """Wang & Isola (2020): ``E ||f(x) - f(x+)||^alpha`` over positive pairs of L2-normalised rows (0 is best)."""
    a, b = F.normalize(z1.detach().double(), dim=1), F.normalize(z2.detach().double(), dim=1)
    return float((a - b).norm(dim=1).pow(alpha).mean())


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """Wang & Isola (2020): ``log E exp(-t ||f(x) - f(y)||^2)`` over distinct pairs of L2-normalised rows.

    Lower is more uniform; 0 for identical rows (the collapse end), about ``-4`` for 128-d rows spread evenly.
    """
    z = F.normalize(z.detach().double(), dim=1)
    return float(torch.pdist(z, p=2).pow(2).mul(-t).exp().mean().log())


def embedding_monitors(h: torch.Tensor, z: torch.Tensor, num_views: int) -> dict[str, float]:
    """Every collapse statistic of one step.

    Args:
        h: encoder embeddings ``(rows, E)``; the rows of every view, or of one (multi-format ``split``).
        z: projections ``(num_views * B, D)``, view-major; views 0 and 1 of a clip are a positive pair.
    """
    B = z.shape[0] // num_views
    return {
        "std": normalised_std(h),
        "std_ratio": std_ratio(h),
        "rank": effective_rank(h),
        "z_std_ratio": std_ratio(z),
        "z_rank": effective_rank(z),
        "alignment": alignment(z[:B], z[B : 2 * B]),
        "uniformity": uniformity(z[:B]),
    }


def knn_scores(
    bank: torch.Tensor, bank_targets: torch.Tensor, queries: torch.Tensor, k: int, temperature: float
) -> torch.Tensor:
    """Weighted kNN class scores (solo-learn's ``WeightedKNNClassifier``, cosine distance).

    Each query's ``k`` most cosine-similar bank rows vote for their classes with weight ``exp(sim / T)``.

    Shape:
        ``bank (N, E)``, ``bank_targets (N, C)`` (one-hot or multi-hot), ``queries (Q, E)`` -> ``(Q, C)``, the
        vote shares (each row sums to 1 for one-hot targets).
    """
    a, b = F.normalize(queries.double(), dim=1), F.normalize(bank.double(), dim=1)
    sim = a @ b.T  # (Q, N)
    top, idx = sim.topk(min(k, len(bank)), dim=1)
    weights = (top / temperature).exp()  # (Q, k)
    votes = (weights[..., None] * bank_targets.double()[idx]).sum(dim=1)  # (Q, C)
    return votes / weights.sum(dim=1, keepdim=True)


# ----- the callbacks -------------------------------------------------------------------------------------------


def _log(trainer, metrics: dict[str, float], step: int) -> None:
    """Straight to the loggers: a monitor's interval need not be a multiple of ``log_every_n_steps``."""
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=step)


class CollapseMonitor(Callback):
    """Collapse statistics of the step's embeddings every ``every_n_steps`` steps, and a one-time warning.

    Reads ``pl_module.step_embeddings`` (``{"h", "z"}``, set by the training step; absent under GradCache).
    ``history`` keeps ``(step, stats)``; ``collapsed_at_step`` is the step of the warning, or None.
    """

    def __init__(self, every_n_steps: int = 10, min_rank: float = 2.0, min_std_ratio: float = 0.1):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.min_rank = min_rank
        self.min_std_ratio = min_std_ratio
        self.history: list[tuple[int, dict[str, float]]] = []
        self.collapsed_at_step: int | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        seen = getattr(pl_module, "step_embeddings", None)
        if seen is None or ((step - 1) % self.every_n_steps and step < trainer.max_steps):  # first, every N, last
            return
        stats = embedding_monitors(seen["h"], seen["z"], pl_module.recipe.views.num_views)
        self.history.append((step, stats))
        if trainer.is_global_zero:
            _log(trainer, {f"monitor/{k}": v for k, v in stats.items()}, step)
        self.check(stats, step)

    def check(self, stats: dict[str, float], step: int) -> None:
        """Warn once when the embedding's rank or std ratio is under its threshold."""
        low = []
        if stats["rank"] < self.min_rank:
            low.append(f"effective rank {stats['rank']:.2f} < {self.min_rank:g}")
        if stats["std_ratio"] < self.min_std_ratio:
            low.append(f"std of the normalised embedding x sqrt(dim) {stats['std_ratio']:.3f} < {self.min_std_ratio:g}")
        if low and self.collapsed_at_step is None:
            self.collapsed_at_step = step
            _warn_rank_zero(
                f"collapse at step {step}: {'; '.join(low)} (eval.monitors.min_rank / min_std_ratio). The encoder "
                "maps different clips to nearly the same embedding: check the augmentations, the learning rate "
                "and the temperature."
            )

    def state_dict(self) -> dict:
        return {"collapsed_at_step": self.collapsed_at_step}

    def load_state_dict(self, state_dict: dict) -> None:
        self.collapsed_at_step = state_dict.get("collapsed_at_step")


@rank_zero_only
def _warn_rank_zero(message: str) -> None:
    warnings.warn(message, CollapseWarning, stacklevel=2)


class KnnMonitor(Callback):
    """Weighted-kNN accuracy (or macro ROC-AUC) of the current encoder on a small labelled set.

    Args:
        task: an :class:`audiocl.data.Task`; the bank is its train split (k-fold: every fold but the last), the
            queries its valid split, else its test split (k-fold: the last fold).
        every_n_steps: how often (and at the start and the end of training).
        k, temperature: as :func:`knn_scores`.
        max_items: at most this many bank and query clips (a seeded subsample, fixed for the run).
        seed: the subsample.
    """

    def __init__(self, task, every_n_steps: int = 100, *, k: int = 20, temperature: float = 0.07,
                 max_items: int = 400, seed: int = 0):  # fmt: skip
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.task, self.every_n_steps = task, every_n_steps
        self.k, self.temperature, self.max_items, self.seed = k, temperature, max_items, seed
        self.metric = "roc_auc" if task.multilabel else "accuracy"
        self.history: list[tuple[int, float]] = []
        self._clips: dict[str, list[torch.Tensor]] | None = None
        self._targets: dict[str, np.ndarray] = {}
        self._last_step: int | None = None

    def _sides(self) -> dict[str, list]:
        items = self.task.items
        if self.task.folds:
            last = max(self.task.folds)
            sides = {"bank": [i for i in items if i.fold != last], "query": [i for i in items if i.fold == last]}
        else:
            query = "valid" if any(i.split == "valid" for i in items) else "test"
            sides = {"bank": [i for i in items if i.split == "train"], "query": [i for i in items if i.split == query]}
        for side, chosen in sides.items():
            if not chosen:
                raise ValueError(f"eval.knn: the {self.task.name} set has no {side} clips (train / valid or test)")
        rng = np.random.default_rng(self.seed)
        return {
            side: [chosen[j] for j in sorted(rng.choice(len(chosen), self.max_items, replace=False))]
            if len(chosen) > self.max_items
            else chosen
            for side, chosen in sides.items()
        }

    def _load(self, sample_rate: int) -> None:
        """Decode the chosen clips once, at the model's rate; they stay in memory for the run."""
        self._clips = {}
        C = self.task.num_classes
        for side, items in self._sides().items():
            self._clips[side] = [torch.as_tensor(item.load(sample_rate)[0]).float() for item in items]
            targets = np.zeros((len(items), C), dtype=np.float32)
            for row, item in enumerate(items):
                targets[row, item.target] = 1.0
            self._targets[side] = targets

    def on_train_start(self, trainer, pl_module) -> None:
        self.evaluate(trainer, pl_module)  # step 0: the random-init encoder's value, the bar to clear

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every_n_steps == 0 or step >= trainer.max_steps:
            self.evaluate(trainer, pl_module)

    def evaluate(self, trainer, pl_module) -> float:
        step = trainer.global_step
        if step == self._last_step:
            return self.history[-1][1]
        value = self.score(pl_module)
        self.history.append((step, value))
        self._last_step = step
        if trainer.is_global_zero:
            _log(trainer, {f"monitor/knn_{self.metric}": value}, step)
        return value

    def score(self, pl_module) -> float:
        """Embed the bank and the queries with the module's evaluation pipeline and score the kNN classifier."""
        from audiocl.embed import embed_many
        from audiocl.eval.pipeline import pipeline_of
        from audiocl.probe import score

        if self._clips is None:
            self._load(pl_module.recipe.data.sample_rate)
        modes = {m: m.training for m in pl_module.modules()}  # the pipeline is put in eval mode; restored below
        try:
            embedder = pipeline_of(pl_module).embedder(device=pl_module.device)
            emb = {
                side: torch.stack([e.mean(dim=0) for _, e in embed_many(embedder, enumerate(clips))])
                for side, clips in self._clips.items()
            }
        finally:
            for m, training in modes.items():
                m.train(training)
        votes = knn_scores(emb["bank"], torch.from_numpy(self._targets["bank"]), emb["query"], self.k, self.temperature)
        y = self._targets["query"] if self.task.multilabel else self._targets["query"].argmax(1)
        return float(score(votes.numpy(), y, self.task.multilabel)[self.metric])


class TrainingReport(Callback):
    """At the end of training, ``training_report.md`` and ``training_curves.png`` in ``out`` (rank zero)."""

    def __init__(self, out: str | Path, collapse: CollapseMonitor | None = None):
        self.out = Path(out)
        self.collapse = collapse
        self.paths: list[Path] = []

    def on_train_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        from lightning.pytorch.loggers import CSVLogger

        from audiocl.training_report import write_training_report

        csv = next((Path(lg.log_dir) / "metrics.csv" for lg in trainer.loggers if isinstance(lg, CSVLogger)), None)
        if csv is None or not csv.is_file():
            return
        collapsed = self.collapse.collapsed_at_step if self.collapse is not None else None
        self.paths = write_training_report(csv, self.out, collapsed_at_step=collapsed, recipe=pl_module.recipe)


def _knn_task(recipe):
    """The labelled set of ``eval.knn``, or the synthetic corpus's labels when pretraining on it; else None."""
    from audiocl.data import load_task

    knn = recipe.eval.knn
    if knn.dataset is not None:
        return load_task(knn.dataset, knn.root, **knn.options)
    d = recipe.data
    if d.root is None and d.synthetic_clips_per_class > 0 and d.dataset == "folder":
        from audiocl.data.datamodule import _synthetic_corpus  # the corpus pretraining reads (made once)

        return load_task("csv", Path(_synthetic_corpus(recipe).root).parent / "labels.csv")
    return None


def monitors_for(recipe) -> list[Callback]:
    """The monitor callbacks ``recipe.eval`` asks for (see :class:`audiocl.config.EvalConfig`)."""
    callbacks: list[Callback] = []
    m, knn = recipe.eval.monitors, recipe.eval.knn
    collapse = None
    if m.every_n_steps:
        collapse = CollapseMonitor(m.every_n_steps, min_rank=m.min_rank, min_std_ratio=m.min_std_ratio)
        callbacks.append(collapse)
    if knn.every_n_steps:
        task = _knn_task(recipe)
        if task is not None:
            callbacks.append(
                KnnMonitor(
                    task,
                    knn.every_n_steps,
                    k=knn.k,
                    temperature=knn.temperature,
                    max_items=knn.max_items,
                    seed=recipe.seed,
                )  # fmt: skip
            )
    if m.report:
        callbacks.append(TrainingReport(recipe.output_dir, collapse))
    return callbacks
