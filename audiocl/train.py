"""``pretrain(recipe)``: a Lightning run of :class:`~audiocl.methods.ContrastiveMethod` into a run folder.

The run folder (``recipe.output_dir``) holds:

- ``recipe.yaml``: the resolved recipe (after overrides);
- ``environment.json``: versions and devices;
- ``checkpoints/last.ckpt`` (rewritten every ``trainer.last_every_n_steps``) and
  ``checkpoints/step=N.ckpt`` (kept, every ``trainer.checkpoint_every_n_steps``);
- ``tensorboard/`` and ``csv/metrics.csv``: loss, learning rate, clips/s, data-wait fraction.

A run folder with ``checkpoints/last.ckpt`` resumes from it: same step, optimizer, scheduler and batches.
"""

from __future__ import annotations

import csv
import json
import platform
import sys
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from audiocl.checkpoint import AtomicCheckpointIO
from audiocl.config import Recipe, RecipeError, save_recipe


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

    def __init__(self, log_dir: str, keep_before_step: int):
        self.keep_before_step = keep_before_step
        super().__init__(log_dir)

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
            writer.writerows(r for r in rows if int(r["step"]) < self.keep_before_step)
        self.metrics_keys = keys


class ResumingCSVLogger(CSVLogger):
    """A CSVLogger that continues ``metrics.csv`` when the run resumes at ``keep_before_step``."""

    def __init__(self, *args, keep_before_step: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.keep_before_step = keep_before_step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumingWriter(self.log_dir, self.keep_before_step)
        return self._experiment


def last_checkpoint(output_dir: str | Path) -> Path | None:
    path = Path(output_dir) / "checkpoints" / "last.ckpt"
    return path if path.is_file() else None


def _step_of(checkpoint: str | Path | None) -> int:
    if checkpoint is None:
        return 0
    from audiocl.checkpoint import load_checkpoint

    return int(load_checkpoint(checkpoint).get("global_step", 0))


def pretrain(
    recipe: Recipe,
    *,
    resume: str | Path | bool | None = None,
    callbacks: list | None = None,
    keep_freed_memory: bool = False,
):
    """Train from ``recipe``; returns the Lightning ``Trainer`` (its ``.lightning_module`` is the model).

    ``resume``: a checkpoint path; ``None`` resumes from the run folder's ``last.ckpt`` when there is one;
    ``True`` resumes from it and raises FileNotFoundError when there is none; ``False`` starts afresh even then.

    ``keep_freed_memory``: when training on the CPU, ask glibc's malloc to keep the memory the process frees
    for reuse (``audiocl.allocator``), so that every step's augmentation buffers are reused instead of faulted
    in anew. It is a process-wide setting, so it is off unless asked; ``audiocl pretrain`` and ``audiocl demo``
    ask (``--default-malloc`` or ``AUDIOCL_DEFAULT_MALLOC=1`` opts out).
    """
    from audiocl import allocator
    from audiocl.data.datamodule import PretrainDataModule
    from audiocl.methods import ContrastiveMethod

    out = Path(recipe.output_dir)
    ckpt_dir = out / "checkpoints"
    if resume is None or resume is True:
        required, resume = resume is True, last_checkpoint(out)
        if required and resume is None:
            raise FileNotFoundError(f"--resume: the run folder {out} has no checkpoints/last.ckpt to resume from")
    elif resume is False:
        resume = None
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
    keep = ModelCheckpoint(
        ckpt_dir,
        filename="step={step}",
        every_n_train_steps=t.checkpoint_every_n_steps,
        save_top_k=-1,
        auto_insert_metric_name=False,
        save_last=False,
    )
    last = ModelCheckpoint(ckpt_dir, every_n_train_steps=t.last_every_n_steps, save_top_k=0, save_last=True)
    bar = [StepProgressBar()] if t.progress_bar else []
    try:
        trainer = _trainer(out, t, resume, [keep, last, *bar, *(callbacks or [])])
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
    trainer.save_checkpoint(ckpt_dir / "last.ckpt", weights_only=False)  # the final state, whatever the interval
    return trainer


class StepProgressBar(TQDMProgressBar):
    """Lightning's bar, with the run's step out of ``max_steps`` (its own count restarts with each epoch and on
    resume)."""

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        return {"step": f"{trainer.global_step}/{trainer.max_steps}", **super().get_metrics(trainer, pl_module)}


def _trainer(out: Path, t, resume: str | None, callbacks: list) -> L.Trainer:
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
                out, name="csv", version="", keep_before_step=_step_of(resume), flush_logs_every_n_steps=1
            ),
        ],
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
    )
