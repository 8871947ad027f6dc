"""The encoder pipeline that evaluation runs: a front-end, an encoder, their sample rate and segment length.

Built from a trained method (:func:`pipeline_of`), a checkpoint (:func:`load_pipeline`) or a recipe at random
initialisation (:func:`random_pipeline`); :func:`audiocl.embed.load_encoder` and
:func:`audiocl.embed.random_encoder` wrap it in an :class:`audiocl.embed.Embedder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from audiocl.config import Recipe


@dataclass(frozen=True)
class Pipeline:
    """``audio -> frontend -> encoder -> (batch, dim)``, at ``sample_rate``, on segments of ``segment_samples``."""

    frontend: nn.Module
    encoder: nn.Module
    sample_rate: int
    segment_samples: int

    def embedder(self, **kwargs):
        """An :class:`audiocl.embed.Embedder` on this pipeline; ``kwargs`` are the Embedder's options."""
        from audiocl.embed import Embedder

        return Embedder(self.frontend, self.encoder, self.sample_rate, self.segment_samples, **kwargs)


class ConcatEncoder(nn.Module):
    """Several branches side by side: ``audio -> cat([branch.embed(audio)])`` (multi-format evaluation)."""

    def __init__(self, branches: list[nn.Module]):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.embedding_dim = sum(b.embedding_dim for b in branches)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return torch.cat([b.embed(audio) for b in self.branches], dim=1)


def pipeline_of(method, branch: str | None = None) -> Pipeline:
    """The evaluation pipeline of a method (a :class:`~audiocl.methods.ContrastiveMethod`).

    With one branch, or ``branch`` naming one, the pipeline is that branch's front-end and encoder. With several
    branches and ``branch=None``, the encoder is their concatenation and the front-end the identity (each branch
    applies its own). ``"momentum"`` or ``"momentum.NAME"`` picks the momentum encoder's copy.
    """
    from audiocl.momentum import select_branches

    recipe = method.recipe
    branches, branch = select_branches(method, branch)
    names = list(branches)
    if branch is not None and branch not in names:
        raise ValueError(f"no branch {branch!r} in this checkpoint; it has {names}")
    if branch is None and len(names) > 1:
        frontend, encoder = nn.Identity(), ConcatEncoder(list(branches.values()))
    else:
        chosen = branches[branch or names[0]]
        frontend, encoder = chosen.frontend, chosen.encoder
    return Pipeline(frontend.eval(), encoder.eval(), recipe.data.sample_rate, recipe.views.crop_samples)


def load_pipeline(path: str | Path, branch: str | None = None) -> Pipeline:
    """The evaluation pipeline of a checkpoint written by ``audiocl pretrain``."""
    from audiocl.checkpoint import load_method

    return pipeline_of(load_method(path), branch)


def random_pipeline(recipe: Recipe | str | Path, branch: str | None = None, seed: int = 0) -> Pipeline:
    """The recipe's pipeline at random initialisation (the ``--baseline random`` of embed and probe), its weights
    drawn under ``seed`` without touching the caller's RNG state."""
    from audiocl.config import load_recipe
    from audiocl.methods import ContrastiveMethod
    from audiocl.recipes_path import resolve_recipe

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(resolve_recipe(recipe))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        method = ContrastiveMethod(recipe)
    return pipeline_of(method.eval(), branch)
