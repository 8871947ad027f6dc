"""The one base class of every batched transform: per-example ``p``, per-example parameters, seeded.

A transform follows audiomentations' split. ``randomize_parameters(batch, generator)`` draws a dict of
per-example parameter tensors on the CPU; ``apply(x, params)`` transforms a batch with them. ``forward``
glues the two together:

1. ``draw``: which examples are transformed (``rand < p``, per example: ``"chosen"``) and their parameters,
   from the CPU generator and *always for the whole batch*, so the random stream does not depend on the
   outcomes and the same seed gives the same parameters on CPU and CUDA;
2. ``apply_drawn``: the parameters of the chosen examples go to the input's device and dtype, and ``apply``
   runs on those examples only, batched; they are scattered back.

Every row of ``apply``'s result depends on that row and its parameters only, never on the other rows of the
batch (how many, which, in what order): so chunking a batch, or selecting some of its rows, changes nothing.
Random *signals* (noise, synthetic impulse responses) therefore come from a seed per example among the
parameters (``row_seeds``), each row's drawn on the input's device from its own seed (``row_noise``):
reproducible on each device, and never copied across the bus. Parameters are identical across devices,
such signals only in distribution.

The combinators (``Compose``, ``RandomApply``, ``OneOf``) have ``draw`` and ``apply_drawn`` too: a chain's draws
are one flat dict of per-example tensors (``"3.0.cutoff_hz"``: step 3, its branch 0), so that any rows of
them apply to those rows of the batch alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def default_generator(generator: torch.Generator | None) -> torch.Generator:
    """``generator`` or, when None, torch's default CPU generator (so ``torch.manual_seed`` controls it)."""
    return generator if generator is not None else torch.default_generator


def uniform(batch: int, low: float, high: float, generator: torch.Generator, step: float | None = None) -> Tensor:
    """``batch`` float64 draws from U[low, high) on the CPU; with a ``step``, uniform over the grid
    ``low, low + step, ...`` up to ``high`` included (e.g. whole dB or whole cents, as some papers' code draws).
    """
    if step is None:
        return low + (high - low) * torch.rand(batch, generator=generator, dtype=torch.float64)
    count = int((high - low) / step + 1e-9)  # the grid's last index
    return low + step * torch.randint(count + 1, (batch,), generator=generator).double()


def check_step(name: str, step: float | None) -> float | None:
    """``step`` as a float, or None; raise ValueError unless it is positive (names the parameter)."""
    if step is None:
        return None
    if not step > 0:
        raise ValueError(f"{name}={step} must be positive (or None: any value in the range)")
    return float(step)


def randint(batch: int, low: int, high: int, generator: torch.Generator) -> Tensor:
    """``batch`` int64 draws from {low, ..., high} (both ends included) on the CPU."""
    return torch.randint(low, high + 1, (batch,), generator=generator)


def check_range(name: str, low: float, high: float, *, min_value: float | None = None) -> None:
    """Raise ValueError unless ``min_value <= low <= high`` (names the parameters in the message)."""
    if low > high:
        raise ValueError(f"min_{name}={low} is larger than max_{name}={high}; swap them")
    if min_value is not None and low < min_value:
        raise ValueError(f"min_{name}={low} must be >= {min_value}")


def row_seeds(batch: int, generator: torch.Generator) -> Tensor:
    """``batch`` int64 seeds on the CPU, one per example, for the random signals ``apply`` draws (``row_noise``)."""
    return torch.randint(2**62, (batch,), generator=generator)


def row_noise(seeds: Tensor, lengths: int | Sequence[int], like: Tensor) -> Tensor:
    """Standard Gaussian noise on ``like``'s device and dtype, each row from its own seed.

    Row ``i`` holds ``lengths[i]`` samples (or ``lengths`` for all) drawn from a generator seeded with
    ``seeds[i]``, then zeros up to the longest: the same values whatever the other rows.

    Shape:
        - seeds: ``(batch,)`` int64; output: ``(batch, max(lengths))``.
    """
    seeds = seeds.tolist()
    lengths = [lengths] * len(seeds) if isinstance(lengths, int) else [int(n) for n in lengths]
    width = max(lengths, default=0)
    ragged = any(n < width for n in lengths)
    out = like.new_zeros(len(seeds), width) if ragged else like.new_empty(len(seeds), width)
    g = torch.Generator(device=like.device)
    for row, seed, n in zip(out, seeds, lengths, strict=True):  # one draw per example, each from its seed
        row[:n].normal_(generator=g.manual_seed(seed))
    return out


class Transform(nn.Module):
    """Base of every transform: applied to each example with probability ``p``.

    The contract is audiomentations': subclasses implement ``randomize_parameters`` (CPU, whole batch) and
    ``apply`` (batched, on the input's device, out of place), whose every row depends on that row and its
    parameters only. ``forward`` draws, selects the chosen rows, applies, and writes them into a new tensor: the
    input is never modified. ``input_dims`` is 2 for waveforms ``(batch, samples)`` and 4 for features
    ``(batch, channels, freq, frames)``.

    An optional CPU executor sits beside the contract: a transform can set ``cpu_chunk`` to be applied that many
    examples at a time on the CPU (None: the whole batch at once), its rows sorted into chunks by the parameter
    its cost follows (``chunk_order``). Only the phase vocoder does: measured, chunks pay for it and for
    nothing else (docs/benchmarks.md, "The augmentation core").
    """

    cpu_chunk: int | None = None
    input_dims = 2

    def __init__(self, p: float = 1.0) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p={p} is a probability and must lie in [0, 1]")
        self.p = float(p)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Per-example parameters, each a CPU tensor with ``batch`` rows."""
        return {}

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        """Transform every example of ``x`` with its ``params`` (already on ``x.device``) into a new tensor; row
        ``i`` of the result depends on ``x[i]`` and the ``i``-th parameters only."""
        raise NotImplementedError

    def row_factors(self, params: dict[str, Tensor]) -> Tensor | None:
        """For transforms that only scale each example (``apply(x) == x * factor``): the ``(batch,)`` CPU
        factors, so that ``forward`` makes one pass over the batch instead of a gather and a scatter."""
        return None

    def chunk_order(self, params: dict[str, Tensor]) -> Tensor | None:
        """For transforms whose cost follows a parameter: the rows in that order (an ``argsort``), so that each
        CPU chunk holds rows of similar cost and sizes its buffers for them. None: as they come."""
        return None

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Everything ``forward`` draws for ``batch`` examples, per example: whether it is transformed
        (``"chosen"``, bool) and its parameters (``randomize_parameters``)."""
        chosen = torch.rand(batch, generator=generator) < self.p
        return {"chosen": chosen, **self.randomize_parameters(batch, generator)}

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``x`` with each example transformed with probability ``p``, as a new tensor."""
        return self.apply_drawn(x, self.draw(x.shape[0], default_generator(generator)))

    def apply_drawn(self, x: Tensor, drawn: dict[str, Tensor], generator: torch.Generator | None = None) -> Tensor:
        """``x`` with the examples ``drawn["chosen"]`` transformed by their parameters, the others as they are.

        ``drawn`` is what ``draw`` returns, one row per example of ``x``; ``generator`` is unused (the
        combinators pass it on to modules that are not ours). ``x`` is never modified.
        """
        chosen = drawn["chosen"]
        if not bool(chosen.any()):
            return x
        params = {k: v for k, v in drawn.items() if k != "chosen"}
        factors = self.row_factors(params)
        if factors is not None:  # one pass: the unchosen rows are scaled by 1
            factors = torch.where(chosen, factors, 1.0)
            return x * _to(factors, x).view(-1, *([1] * (x.dim() - 1)))
        if bool(chosen.all()):
            if self.cpu_chunk is None or x.device.type != "cpu" or self.cpu_chunk >= len(x):
                return self.apply(x, {k: _to(v, x) for k, v in params.items()})
            return apply_rows(self, x, torch.arange(len(x)), params, torch.empty_like(x))
        picked = chosen.nonzero().squeeze(1)
        return apply_rows(self, x, picked, {k: v[picked] for k, v in params.items()}, x.clone())

    def extra_repr(self) -> str:
        return f"p={self.p}"


def apply_rows(transform: Transform, x: Tensor, index: Tensor, params: dict[str, Tensor], out: Tensor) -> Tensor:
    """The CPU executor: ``transform.apply`` on the rows ``index`` of ``x``, written into those rows of ``out``
    (a new tensor of the caller's), ``cpu_chunk`` rows at a time on the CPU, in ``chunk_order``.

    Each chunk is gathered, transformed and written while it is in cache. The rows do not depend on each other,
    so how they are chunked does not change the result. ``params`` has one entry per row of ``index``.
    """
    chunk = transform.cpu_chunk if transform.cpu_chunk is not None and x.device.type == "cpu" else len(index)
    order = transform.chunk_order(params) if chunk < len(index) else None
    positions = torch.arange(len(index)) if order is None else order
    for start in range(0, len(index), max(chunk, 1)):
        mine = positions[start : start + chunk]
        rows = index[mine].to(x.device)
        done = transform.apply(x.index_select(0, rows), {k: _to(v[mine], x) for k, v in params.items()})
        out.index_copy_(0, rows, done)
    return out


def select_rows(drawn: dict[str, Tensor], rows: Tensor) -> dict[str, Tensor]:
    """The draws of the examples ``rows`` (a CPU index) only: what those examples get alone."""
    return {k: v[rows] for k, v in drawn.items()}


def _to(value: Tensor, like: Tensor) -> Tensor:
    """A parameter tensor on ``like``'s device; floating point ones in ``like``'s dtype."""
    if value.is_floating_point():
        return value.to(device=like.device, dtype=like.dtype)
    return value.to(device=like.device)
