"""Callbacks of a pretraining run that keep its folder trustworthy: no NaN checkpoint, no lost log row.

- :class:`DivergenceGuard` stops a run whose loss stays non-finite, with :class:`TrainingDiverged`.
- :class:`GuardedCheckpoint` is Lightning's ModelCheckpoint, but never saves non-finite weights, so the last
  good ``last.ckpt`` survives a divergence.
- :class:`LogRowInCheckpoint` puts the row that a step's checkpoint covers into the checkpoint: Lightning saves
  checkpoint N before it writes row N-1 of ``metrics.csv``, and a kill between the two would lose the row for
  good (a resume keeps the rows before its step). The resumed run writes it back (``audiocl.train``).
"""

from __future__ import annotations

import math

import torch
from lightning.fabric.utilities.apply_func import convert_tensors_to_scalars
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

__all__ = ["TrainingDiverged", "DivergenceGuard", "GuardedCheckpoint", "LogRowInCheckpoint", "PENDING_ROW_KEY"]

PENDING_ROW_KEY = "audiocl_pending_log_row"


class TrainingDiverged(RuntimeError):
    """The loss stayed NaN or infinite; the message says for how long and which checkpoint is the last good."""


def _loss_of(outputs, trainer) -> float | None:
    loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
    if loss is None:
        loss = trainer.callback_metrics.get("train/loss")
    return None if loss is None else float(loss.detach() if isinstance(loss, torch.Tensor) else loss)


class DivergenceGuard(Callback):
    """Raise :class:`TrainingDiverged` after ``patience`` steps in a row with a non-finite loss.

    One NaN step is enough to make the weights NaN in float32 training; mixed precision's loss scaler skips
    steps whose gradients overflow, so a few infinite losses in a row there are normal: ``patience`` allows them.
    """

    def __init__(self, patience: int = 3):
        self.patience = int(patience)
        self.bad_steps = 0
        self.first_bad_step: int | None = None
        self.last_loss: float | None = None

    @property
    def healthy(self) -> bool:
        return self.bad_steps == 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = _loss_of(outputs, trainer)
        if loss is None:
            return
        self.last_loss = loss
        if math.isfinite(loss):
            self.bad_steps, self.first_bad_step = 0, None
            return
        self.bad_steps += 1
        self.first_bad_step = self.first_bad_step if self.first_bad_step is not None else trainer.global_step - 1
        if self.bad_steps >= self.patience:
            raise TrainingDiverged(
                f"training diverged: the loss was {loss} for {self.bad_steps} steps in a row (from step "
                f"{self.first_bad_step}); checkpoints/last.ckpt keeps the last finite state. Lower optim.lr or set "
                "trainer.gradient_clip_val, then resume with --take-changes"
            )


def weights_are_finite(module: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


class GuardedCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that skips a save while ``guard`` sees a non-finite loss or the weights are not finite.

    ``role`` tells two of them apart in a checkpoint: Lightning keys a ModelCheckpoint's state by its intervals
    only, so the step checkpoints and ``last.ckpt`` at the same interval would collide and the run would not start.
    """

    def __init__(self, *args, guard: DivergenceGuard, role: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.guard, self.role = guard, role

    @property
    def state_key(self) -> str:
        key = super().state_key
        return key if self.role is None else f"{key}[{self.role}]"

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        if not self.guard.healthy or not weights_are_finite(trainer.lightning_module):
            return
        super()._save_checkpoint(trainer, filepath)


class LogRowInCheckpoint(Callback):
    """Store the ``metrics.csv`` row of the step being checkpointed (if it is a logging step) in the checkpoint.

    This reads Lightning's logger connector, the same values it is about to write.
    """

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        connector = trainer._logger_connector
        if not trainer.training or not connector.should_update_logs:
            return
        metrics = convert_tensors_to_scalars(dict(connector.metrics["log"]))
        if metrics:
            metrics.setdefault("epoch", trainer.current_epoch)  # as Lightning's own log_metrics adds it
            checkpoint[PENDING_ROW_KEY] = {"step": trainer.fit_loop.epoch_loop._batches_that_stepped, **metrics}
