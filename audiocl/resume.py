"""What a resumed run may change: the recipe it resumes with against the recipe its checkpoint was trained with.

A resume restores the optimizer and scheduler state of the checkpoint, so a changed value in the recipe would be
recorded (``recipe.yaml``, the next checkpoint) without being what runs. So a resume whose recipe differs is
refused, listing the keys, unless each change is named with ``--take-changes KEY,...`` and is one the run can
really apply (:data:`TAKEABLE`); other changes (another encoder, batch size, data set) need a fresh run.

>>> recipe_changes(old, new)                                     # doctest: +SKIP
{'optim.lr': (0.001, 0.5)}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightning.pytorch.callbacks import Callback

from audiocl.config import Recipe, RecipeError

__all__ = ["TAKEABLE", "recipe_changes", "check_resume", "TakeLearningRate"]

# Keys a resumed run applies for real, and how.
TAKEABLE: dict[str, str] = {
    "name": "a label only",
    "trainer.max_steps": "the sampler, the schedule and the Trainer read it",
    "trainer.log_every_n_steps": "the Trainer reads it",
    "trainer.checkpoint_every_n_steps": "the checkpoint callbacks read it",
    "trainer.last_every_n_steps": "the checkpoint callbacks read it",
    "trainer.progress_bar": "the Trainer reads it",
    "trainer.compile": "the encoder is compiled after the weights load",
    "data.num_workers": "the DataLoader reads it",
    "optim.warmup_steps": "the schedule is rebuilt from the recipe, not restored",
    "optim.schedule": "the schedule is rebuilt from the recipe, not restored",
    "optim.min_lr_ratio": "the schedule is rebuilt from the recipe, not restored",
    "optim.lr": "the restored optimizer's learning rates are rescaled (TakeLearningRate)",
}
# Where a run is, not what it is: never compared.
_IGNORED = ("output_dir",)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat  # an empty mapping adds no key: {} and {n_mels: 32} differ in n_mels only
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        flat = {f"{prefix}#": len(value)}
        for i, item in enumerate(value):
            flat.update(_flatten(item, f"{prefix}{i}."))
        return flat
    return {prefix[:-1]: value}


def recipe_changes(old: Recipe, new: Recipe) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (old value, new value)}`` for every value that differs (``output_dir`` aside)."""
    a, b = _flatten(old.to_dict()), _flatten(new.to_dict())
    changed = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    return {k: v for k, v in changed.items() if k not in _IGNORED}


def _taken(key: str, names: Iterable[str]) -> bool:
    return any(key == n or key.startswith(f"{n}.") for n in names)


def check_resume(old: Recipe, new: Recipe, take: Iterable[str], where: str) -> dict[str, tuple[Any, Any]]:
    """The changes to apply; a RecipeError listing them when one is not taken or cannot be applied on resume."""
    take = [t.strip() for t in take if t.strip()]
    changes = recipe_changes(old, new)
    shown = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in list(changes.items())[:8])
    shown += f" (and {len(changes) - 8} more)" if len(changes) > 8 else ""
    fixed = [k for k in changes if k not in TAKEABLE]
    if fixed:
        raise RecipeError(
            f"--resume: the recipe differs from the one {where} was trained with in {shown}; "
            f"{', '.join(fixed[:8])} cannot change in a resumed run: start a fresh one (--fresh, or another "
            "output_dir)"
        )
    untaken = [k for k in changes if not _taken(k, take)]
    if untaken:
        raise RecipeError(
            f"--resume: the recipe differs from the one {where} was trained with in {shown}; to apply the change, "
            f"resume with --take-changes {','.join(untaken)}; or start afresh with --fresh"
        )
    return changes


class TakeLearningRate(Callback):
    """Rescale the learning rates restored from a checkpoint by ``new_lr / old_lr`` (runs after the restore).

    LambdaLR sets ``lr = base_lr * factor(step)``; the base learning rates come back from the checkpoint, so
    they, each group's ``initial_lr`` and its current ``lr`` are scaled. The recipe's lr scaling (linear, sqrt)
    is a factor of both, so the ratio carries it.
    """

    def __init__(self, old_lr: float, new_lr: float):
        self.ratio = new_lr / old_lr

    def on_train_start(self, trainer, pl_module) -> None:
        for config in trainer.lr_scheduler_configs:
            config.scheduler.base_lrs = [lr * self.ratio for lr in config.scheduler.base_lrs]
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] *= self.ratio
                if "initial_lr" in group:
                    group["initial_lr"] *= self.ratio
