"""Checkpoints: written atomically, loaded without unpickling code, rebuilt from the saved recipe.

A checkpoint is Lightning's dictionary plus the resolved recipe under ``hyper_parameters["recipe"]``, so
:func:`load_method` rebuilds every module from the file alone. Loading always uses ``weights_only=True``: a
tampered file that would run code when unpickled is refused with :class:`CheckpointError` and nothing runs.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from audiocl.atomic import write_atomic
from audiocl.config import Recipe, RecipeError


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, not ours, or unsafe to load; the message names the file."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes to a temporary file in the same folder, fsyncs, then renames over the target.

    A process killed mid-write leaves the previous checkpoint intact and, at worst, a stray ``.tmp`` file.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        save_atomic(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only: bool | None = True) -> dict[str, Any]:
        return load_checkpoint(path, map_location=map_location or "cpu")


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` through :func:`audiocl.atomic.write_atomic`."""
    write_atomic(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)`` with one-line errors that name the file and say what it holds."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    # torch.save writes a zip archive (PK..); files of torch < 1.6 are a pickle stream (0x80, protocol 2-5).
    if not (head == b"PK\x03\x04" or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)):
        what = "an empty file" if not head else "neither a zip archive nor a pickle stream"
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({what})")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" not in str(err):  # torch's weights-only unpickler names the class it refused
            raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt)") from None
        refused = next((line.strip() for line in str(err).splitlines() if "GLOBAL" in line), "")
        raise CheckpointError(
            f"{path}: refused to load: it holds objects other than tensors and plain data, which could run code "
            f"when unpickled. Only load checkpoints you trust, and re-save them as plain weights. ({refused})"
        ) from None
    except (RuntimeError, EOFError, OSError, KeyError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): {err}") from None


def recipe_of(checkpoint: Any, path: str | Path) -> Recipe:
    """The recipe saved in a loaded checkpoint; a CheckpointError saying what the file is when it has none."""
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f"{path}: holds a {type(checkpoint).__name__}, not a training checkpoint (audiocl needs the "
            "dictionary that `audiocl pretrain` saves, with a recipe and a state_dict)"
        )
    try:
        return Recipe.from_dict(checkpoint["hyper_parameters"]["recipe"])
    except (KeyError, TypeError):
        raise CheckpointError(f"{path}: not an audiocl checkpoint (no recipe in hyper_parameters)") from None
    except RecipeError as err:
        raise CheckpointError(f"{path}: its recipe is invalid: {err}") from None


def checkpoint_recipe(path: str | Path) -> Recipe:
    """The resolved recipe saved in a checkpoint (e.g. to build its encoder at random init)."""
    return recipe_of(load_checkpoint(path), path)


def load_method(path: str | Path, map_location: str | torch.device = "cpu"):
    """Rebuild the :class:`~audiocl.methods.ContrastiveMethod` of a checkpoint, in eval mode."""
    from audiocl.methods import ContrastiveMethod

    checkpoint = load_checkpoint(path, map_location)
    method = ContrastiveMethod(recipe_of(checkpoint, path))
    try:
        method.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError) as err:
        raise CheckpointError(f"{path}: weights do not match its recipe: {err}") from None
    return method.eval()
