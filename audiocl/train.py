"""``pretrain(recipe)``: a Lightning run of :class:`~audiocl.methods.ContrastiveMethod` into a run folder.

The run folder (``recipe.output_dir``) holds:

- ``recipe.yaml``: the resolved recipe (after overrides);
- ``environment.json``: versions and devices;
- ``checkpoints/last.ckpt`` (rewritten every ``trainer.last_every_n_steps``) and
  ``checkpoints/step=N.ckpt`` (kept, every ``trainer.checkpoint_every_n_steps``);
- ``tensorboard/`` and ``csv/metrics.csv``: loss, learning rate, clips/s, data-wait fraction.

A run folder with ``checkpoints/last.ckpt`` resumes from it: same step, optimizer, scheduler and batches.

What is refused, before anything is written into the run folder: an invalid recipe; a resume whose recipe
differs from the checkpoint's unless the changes are taken (:mod:`audiocl.resume`); a checkpoint that is not
an audiocl training checkpoint; a folder another live run holds (:mod:`audiocl.run_lock`). A run whose loss
stays non-finite stops with :class:`~audiocl.train_callbacks.TrainingDiverged` and leaves the last finite
``last.ckpt`` in place.
"""

from __future__ import annotations

import csv
import json
import platform
import sys
import time
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from audiocl.checkpoint import AtomicCheckpointIO, load_checkpoint, recipe_of
from audiocl.config import Recipe, RecipeError, load_recipe, save_recipe
from audiocl.resume import TakeLearningRate, check_resume
from audiocl.run_lock import RunLock
from audiocl.train_callbacks import (
    PENDING_ROW_KEY,
    DivergenceGuard,
    GuardedCheckpoint,
    LogRowInCheckpoint,
    TrainingDiverged,
    weights_are_finite,
)


def environment() -> dict:
    import torchaudio

    import audiocl

    cuda = torch.cuda.is_available()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "audiocl": audiocl.__version__,
        "torch": torch.__version__,
        "torchaudio": torchaudio.__version__,
        "lightning": L.__version__,
        "cuda_available": cuda,
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "cpu_threads": torch.get_num_threads(),
    }


class _ResumingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes ``metrics.csv`` on start; this one keeps the rows logged before the step
    the run resumes from, so a resumed run's log is one continuous curve."""

    def __init__(self, log_dir: str, keep_before_step: int, pending_row: dict | None = None):
        self.keep_before_step = keep_before_step
        self._kept: dict[int, set[str]] = {}  # step -> the keys its kept rows hold
        super().__init__(log_dir)
        # The row the resume checkpoint covers, if a kill came between the checkpoint and the row's write (a
        # monitor's row of the same step may be there: it is the training row's keys that tell).
        row = dict(pending_row or {})
        step = row.pop("step", None)
        if step is not None and step < keep_before_step and not set(row) - {"epoch"} <= self._kept.get(step, set()):
            self.log_metrics(row, step)
            self.save()

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            keys, rows = list(reader.fieldnames or []), list(reader)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            kept = [r for r in rows if int(r["step"]) < self.keep_before_step]
            writer.writerows(kept)
        self.metrics_keys = keys
        for r in kept:
            self._kept.setdefault(int(r["step"]), set()).update(k for k, v in r.items() if v not in ("", None))


class ResumingCSVLogger(CSVLogger):
    """A CSVLogger that continues ``metrics.csv`` when the run resumes at ``keep_before_step``."""

    def __init__(self, *args, keep_before_step: int = 0, pending_row: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.keep_before_step = keep_before_step
        self.pending_row = pending_row

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumingWriter(self.log_dir, self.keep_before_step, self.pending_row)
        return self._experiment


def last_checkpoint(output_dir: str | Path) -> Path | None:
    path = Path(output_dir) / "checkpoints" / "last.ckpt"
    return path if path.is_file() else None


def pretrain(
    recipe: Recipe,
    *,
    resume: str | Path | bool | None = None,
    callbacks: list | None = None,
    keep_freed_memory: bool = False,
    take_changes: list[str] | tuple[str, ...] = (),
):
    """Train from ``recipe``; returns the Lightning ``Trainer`` (its ``.lightning_module`` is the model).

    ``resume``: a checkpoint path; ``None`` resumes from the run folder's ``last.ckpt`` when there is one;
    ``True`` resumes from it and raises FileNotFoundError when there is none; ``False`` starts a clean run
    folder: an existing one is moved aside to ``<output_dir>.replaced-<time>`` (nothing of it is lost).

    ``take_changes``: recipe keys (or sections) whose new values a resume applies; any other difference from the
    checkpoint's recipe is refused with a RecipeError listing the keys (see :mod:`audiocl.resume`).

    ``keep_freed_memory``: when training on the CPU, ask glibc's malloc to keep the memory the process frees
    for reuse (``audiocl.allocator``), so that every step's augmentation buffers are reused instead of faulted
    in anew. It is a process-wide setting, so it is off unless asked; ``audiocl pretrain`` and ``audiocl demo``
    ask (``--default-malloc`` or ``AUDIOCL_DEFAULT_MALLOC=1`` opts out).

    Raises:
        RecipeError: the recipe, or a resume with another recipe, is refused (nothing written).
        CheckpointError: the resume checkpoint is missing, corrupt, unsafe or not an audiocl checkpoint.
        RunLockedError: another live run holds the run folder.
        TrainingDiverged: the loss stayed non-finite; ``last.ckpt`` holds the last finite state.
    """
    out = Path(recipe.output_dir)
    fresh = resume is False
    if resume is None or resume is True:
        required, resume = resume is True, last_checkpoint(out)
        if required and resume is None:
            raise FileNotFoundError(f"--resume: the run folder {out} has no checkpoints/last.ckpt to resume from")
    elif resume is False:
        resume = None
    checkpoint = None
    if resume is not None:  # checked before anything is written
        checkpoint = load_checkpoint(resume)
        changes = check_resume(recipe_of(checkpoint, resume), recipe, take_changes, str(resume))
        if "optim.lr" in changes:
            callbacks = [*(callbacks or []), TakeLearningRate(*changes["optim.lr"])]
    elif not fresh and (out / "recipe.yaml").is_file():
        _check_same_run(out, recipe)
    lock = RunLock(out) if _is_launching_process() else None
    if lock is not None:
        lock.acquire()
    try:
        if fresh and lock is not None:
            lock = _move_aside(out, lock)
        return _fit(recipe, resume, checkpoint, callbacks, keep_freed_memory)
    finally:
        if lock is not None:
            lock.release()
            if lock.created_folder and out.is_dir() and not any(out.iterdir()):
                out.rmdir()  # refused before anything was written: leave no empty folder


def _check_same_run(out: Path, recipe: Recipe) -> None:
    """A folder with a recipe but no checkpoint (a run stopped before its first one) takes only its own recipe."""
    from audiocl.resume import recipe_changes

    try:
        old = load_recipe(out / "recipe.yaml")
    except RecipeError:
        return  # not ours to judge: it is overwritten as before
    changes = recipe_changes(old, recipe)
    if changes:
        shown = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in list(changes.items())[:8])
        raise RecipeError(
            f"{out} holds another run (its recipe.yaml differs in {shown}); use --fresh to move it aside, or "
            "another output_dir"
        )


def _is_launching_process() -> bool:
    """Whether this is the process that owns the run folder: not a DDP worker started by torchrun, SLURM or
    Lightning's launcher (they set these), which come after it and would find their own lock held."""
    import os

    return all(int(os.environ.get(k, "0") or 0) == 0 for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def _move_aside(out: Path, lock: RunLock) -> RunLock:
    """``--fresh``: rename a used run folder to ``<name>.replaced-<time>`` and lock the new, empty one."""
    if not any(p.name != lock.path.name for p in out.iterdir()):
        return lock
    aside = out.with_name(f"{out.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while aside.exists():
        aside, n = out.with_name(f"{out.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}-{n}"), n + 1
    out.rename(aside)
    lock.moved_to(aside)
    fresh = RunLock(out).acquire()
    lock.release()
    print(f"--fresh: moved the previous run folder to {aside}", file=sys.stderr)
    return fresh


def _fit(recipe: Recipe, resume, checkpoint: dict | None, callbacks: list | None, keep_freed_memory: bool):
    from audiocl import allocator
    from audiocl.data.datamodule import PretrainDataModule
    from audiocl.methods import ContrastiveMethod

    out = Path(recipe.output_dir)
    ckpt_dir = out / "checkpoints"
    L.seed_everything(recipe.seed, workers=True, verbose=False)
    datamodule = PretrainDataModule(recipe)
    datamodule.setup("fit")  # lists and checks the data before any model is built or file written
    model = ContrastiveMethod(recipe)
    t = recipe.trainer
    if t.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if t.compile:
        for branch in model.branches.values():
            branch.encoder.compile()
    guard = DivergenceGuard()
    keep = GuardedCheckpoint(
        ckpt_dir,
        filename="step={step}",
        every_n_train_steps=t.checkpoint_every_n_steps,
        save_top_k=-1,
        auto_insert_metric_name=False,
        save_last=False,
        guard=guard,
    )
    last = GuardedCheckpoint(
        ckpt_dir, every_n_train_steps=t.last_every_n_steps, save_top_k=0, save_last=True, guard=guard, role="last"
    )
    bar = [StepProgressBar()] if t.progress_bar else []
    step = 0 if checkpoint is None else int(checkpoint.get("global_step", 0))
    pending = None if checkpoint is None else checkpoint.get(PENDING_ROW_KEY)
    try:
        trainer = _trainer(out, t, step, pending, [guard, LogRowInCheckpoint(), keep, last, *bar, *(callbacks or [])])
    except (ValueError, TypeError, MisconfigurationException) as err:  # e.g. a GPU asked for where there is none
        raise RecipeError(
            f"trainer (accelerator={t.accelerator!r}, devices={t.devices!r}, strategy={t.strategy!r}, "
            f"precision={t.precision!r}): {err}"
        ) from err
    if keep_freed_memory and isinstance(trainer.accelerator, CPUAccelerator):  # on a GPU: nothing to gain
        allocator.keep_freed_memory()
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        save_recipe(recipe, out / "recipe.yaml")
        (out / "environment.json").write_text(json.dumps(environment(), indent=2))
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    if not (guard.healthy and weights_are_finite(model)):  # ended inside a divergence: keep the last good state
        raise TrainingDiverged(
            f"training ended with a non-finite loss ({guard.last_loss}) or weights; {ckpt_dir / 'last.ckpt'} keeps "
            "the last finite state"
        )
    trainer.save_checkpoint(ckpt_dir / "last.ckpt", weights_only=False)  # the final state, whatever the interval
    return trainer


class StepProgressBar(TQDMProgressBar):
    """Lightning's bar, with the run's step out of ``max_steps`` (its own count restarts with each epoch and on
    resume)."""

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        return {"step": f"{trainer.global_step}/{trainer.max_steps}", **super().get_metrics(trainer, pl_module)}


def _trainer(out: Path, t, resume_step: int, pending_row: dict | None, callbacks: list) -> L.Trainer:
    """The Lightning Trainer of a run."""
    return L.Trainer(
        default_root_dir=out,
        max_steps=t.max_steps,
        max_epochs=-1,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=t.precision,
        sync_batchnorm=t.sync_batchnorm,
        log_every_n_steps=t.log_every_n_steps,
        gradient_clip_val=None if t.chunk_size else t.gradient_clip_val,
        enable_progress_bar=t.progress_bar,
        enable_model_summary=False,
        use_distributed_sampler=False,  # StepBatchSampler shards the global batch itself
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=[
            TensorBoardLogger(out, name="tensorboard", version=""),
            # Flushed at every step, so the rows up to a checkpoint are on disk when a run is killed.
            ResumingCSVLogger(
                out,
                name="csv",
                version="",
                keep_before_step=resume_step,
                pending_row=pending_row,
                flush_logs_every_n_steps=1,
            ),
        ],
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
    )
