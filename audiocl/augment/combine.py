"""Combinators: ``Compose`` (in order), ``RandomApply`` (a chain, per example with p), ``OneOf`` (one each).

They take the same ``forward(x, generator=None)`` as every transform and pass the generator down, so
a whole chain is reproducible from one seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from audiocl.augment.base import Transform, default_generator, may_overwrite


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

    def forward(self, x: Tensor, generator: torch.Generator | None = None, inplace: bool = False) -> Tensor:
        g = default_generator(generator)
        owned = inplace  # may x be overwritten? Not the caller's tensor, unless the caller says so.
        for transform in self.transforms:
            if isinstance(transform, _COMBINABLE):
                y = transform(x, g, inplace=owned)
                owned, x = may_overwrite(y, x, owned), y
            else:  # another module: its result may be memory it keeps, so never overwrite it
                x, owned = transform(x, g), False
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

    def forward(self, x: Tensor, generator: torch.Generator | None = None, inplace: bool = False) -> Tensor:
        g = default_generator(generator)
        chosen = torch.rand(x.shape[0], generator=g) < self.p
        if bool(chosen.all()):
            return self.chain(x, g, inplace=inplace)
        if not bool(chosen.any()):
            return x
        index = chosen.nonzero().squeeze(1).to(x.device)
        done = self.chain(x.index_select(0, index), g, inplace=True)  # the selected rows are a copy of our own
        return (x if inplace else x.clone()).index_copy_(0, index, done)


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

    def forward(self, x: Tensor, generator: torch.Generator | None = None, inplace: bool = False) -> Tensor:
        g = default_generator(generator)
        batch = x.shape[0]
        chosen = torch.rand(batch, generator=g) < self.p
        which = torch.multinomial(self.weights.cpu(), batch, replacement=True, generator=g)
        out = x
        # A loop over the few transforms (not over examples): each runs batched on its own examples.
        for k, transform in enumerate(self.transforms):
            mine = chosen & (which == k)
            if not bool(mine.any()):
                continue
            index = mine.nonzero().squeeze(1)
            if out is x and not inplace:  # the caller's tensor: write into a copy
                out = x.clone()
            if isinstance(transform, Transform):  # works on its rows of `out` directly, no gathering
                out = transform.forward_rows(out, index, g, inplace=True)
                continue
            index = index.to(x.device)
            rows = x.index_select(0, index)  # a copy of our own; other branches write other rows
            done = transform(rows, g, inplace=True) if isinstance(transform, _COMBINABLE) else transform(rows, g)
            out.index_copy_(0, index, done)
        return out


# The modules whose forward takes ``inplace``.
_COMBINABLE = (Transform, Compose, RandomApply, OneOf)
