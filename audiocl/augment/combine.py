"""Combinators: ``Compose`` (in order), ``RandomApply`` (a chain, per example with p), ``OneOf`` (one each).

They take the same ``forward(x, generator=None)`` as every transform and pass the generator down, so
a whole chain is reproducible from one seed. Like a transform, each first ``draw``s everything for the
whole batch (one flat dict of per-example tensors, its steps' keys prefixed with their position:
``"3.which"``, ``"3.0.cutoff_hz"``), then applies it (``apply_drawn``); the rows of a draw applied to the
rows of the batch alone give those rows of the batch's result. Like a transform, a combinator never modifies
its input: what it returns is a new tensor (or the input itself, where no row was transformed).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from audiocl.augment.base import Transform, default_generator, select_rows


class Compose(nn.Module):
    """Apply ``transforms`` one after the other.

    Shape:
        - x: ``(batch, ...)``; output: same.

    >>> from audiocl.augment import Compose, Gain, PolarityInversion
    >>> aug = Compose([PolarityInversion(p=0.5), Gain(p=0.5)])
    >>> aug(torch.zeros(4, 100), torch.Generator().manual_seed(0)).shape
    torch.Size([4, 100])
    """

    def __init__(self, transforms: Sequence[nn.Module]) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        """What each step draws for ``batch`` examples, in order, its keys prefixed ``"<step>."`` (modules that
        are not ours draw as they run, from the same generator)."""
        return _drawn_by(self.transforms, batch, generator)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        g = default_generator(generator)
        return self.apply_drawn(x, self.draw(x.shape[0], g), g)

    def apply_drawn(self, x: Tensor, drawn: dict[str, Tensor], generator: torch.Generator | None = None) -> Tensor:
        """The steps applied in order with their draws (``draw``, one row per example of ``x``)."""
        g = default_generator(generator)
        for k, transform in enumerate(self.transforms):
            if isinstance(transform, _OURS):
                x = transform.apply_drawn(x, _step(drawn, k), g)
            else:  # another module draws as it runs
                x = transform(x, g)
        return x


class RandomApply(nn.Module):
    """Apply the chain ``transforms`` to each example with probability ``p`` (all of it or nothing).

    Shape:
        - x: ``(batch, ...)``; output: same.

    >>> from audiocl.augment import Gain, RandomApply
    >>> aug = RandomApply([Gain()], p=0.3)
    >>> aug(torch.ones(2, 8), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 8])
    """

    def __init__(self, transforms: Sequence[nn.Module] | nn.Module, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p={p} is a probability and must lie in [0, 1]")
        if isinstance(transforms, nn.Module):
            transforms = [transforms]
        self.chain = Compose(transforms)
        self.p = float(p)

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        """``"chosen"`` per example, then the chain's draws for every example (used by the chosen ones only)."""
        chosen = torch.rand(batch, generator=generator) < self.p
        return {"chosen": chosen, **self.chain.draw(batch, generator)}

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        g = default_generator(generator)
        return self.apply_drawn(x, self.draw(x.shape[0], g), g)

    def apply_drawn(self, x: Tensor, drawn: dict[str, Tensor], generator: torch.Generator | None = None) -> Tensor:
        """The chain applied to the examples ``drawn["chosen"]`` with their draws, the others as they are."""
        chosen = drawn["chosen"]
        chain = {k: v for k, v in drawn.items() if k != "chosen"}
        if bool(chosen.all()):
            return self.chain.apply_drawn(x, chain, generator)
        if not bool(chosen.any()):
            return x
        index = chosen.nonzero().squeeze(1)
        rows = index.to(x.device)
        done = self.chain.apply_drawn(x.index_select(0, rows), select_rows(chain, index), generator)
        return x.index_copy(0, rows, done)


class OneOf(nn.Module):
    """Apply exactly one of ``transforms`` to each example (with probability ``p``), picked per example.

    ``weights`` (default: equal) are the relative chances of each transform.

    Shape:
        - x: ``(batch, ...)``; output: same.

    >>> from audiocl.augment import HighPass, LowPass, OneOf
    >>> aug = OneOf([HighPass(16000), LowPass(16000)])
    >>> aug(torch.randn(3, 1600), torch.Generator().manual_seed(0)).shape
    torch.Size([3, 1600])
    """

    def __init__(self, transforms: Sequence[nn.Module], p: float = 1.0, weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if not transforms:
            raise ValueError("OneOf needs at least one transform")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p={p} is a probability and must lie in [0, 1]")
        weights = [1.0] * len(transforms) if weights is None else list(weights)
        if len(weights) != len(transforms) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights={weights} must be {len(transforms)} non-negative numbers, not all 0")
        self.transforms = nn.ModuleList(transforms)
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float64), persistent=False)
        self.p = float(p)

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        """``"chosen"`` and the branch (``"which"``) per example, then every branch's draws for every example,
        prefixed ``"<branch>."`` (each branch uses those of its own examples)."""
        chosen = torch.rand(batch, generator=generator) < self.p
        which = torch.multinomial(self.weights.cpu(), batch, replacement=True, generator=generator)
        return {"chosen": chosen, "which": which, **_drawn_by(self.transforms, batch, generator)}

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        g = default_generator(generator)
        return self.apply_drawn(x, self.draw(x.shape[0], g), g)

    def apply_drawn(self, x: Tensor, drawn: dict[str, Tensor], generator: torch.Generator | None = None) -> Tensor:
        """Each chosen example transformed by its branch with its draws, the others as they are."""
        g = default_generator(generator)
        # A loop over the few transforms (not over examples): each runs batched on its own examples.
        parts = []
        for k, transform in enumerate(self.transforms):
            mine = drawn["chosen"] & (drawn["which"] == k)
            if not bool(mine.any()):
                continue
            index = mine.nonzero().squeeze(1)
            rows = x.index_select(0, index.to(x.device))
            if isinstance(transform, _OURS):
                done = transform.apply_drawn(rows, select_rows(_step(drawn, k), index), g)
            else:
                done = transform(rows, g)
            parts.append((index, done))
        if not parts:
            return x
        out = x.clone()  # a new tensor; the branches write disjoint rows of it
        for index, done in parts:
            out.index_copy_(0, index.to(x.device), done)
        return out


def _drawn_by(steps: Sequence[nn.Module], batch: int, generator: torch.Generator) -> dict[str, Tensor]:
    """The draws of ``steps`` (ours; other modules draw as they run), their keys prefixed ``"<position>."``."""
    return {
        f"{k}.{name}": value
        for k, step in enumerate(steps)
        if isinstance(step, _OURS)
        for name, value in step.draw(batch, generator).items()
    }


def _step(drawn: dict[str, Tensor], k: int) -> dict[str, Tensor]:
    """The draws of step ``k``, without their prefix."""
    prefix = f"{k}."
    return {name[len(prefix) :]: value for name, value in drawn.items() if name.startswith(prefix)}


# The modules that draw first and apply the draws (``draw``, ``apply_drawn``); others draw as they run.
_OURS = (Transform, Compose, RandomApply, OneOf)
