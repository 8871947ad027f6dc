"""Gather embeddings across processes with gradients, so a loss sees the negatives of every rank.

Every loss in :mod:`audiocl.losses` uses the same scheme under ``torch.distributed`` with ``k`` ranks:

1. the *keys* (the candidates of the softmax) are gathered from all ranks with :func:`gather_with_grad`;
2. each rank keeps its own embeddings as *anchors* and returns the mean of its anchors' losses.

The backward of the gather all-reduces (sums) the keys' gradients and hands each rank the slice of its own
embeddings, so rank ``r`` receives the gradient that the sum of all ranks' losses sends to its embeddings.
Each rank's loss is ``k`` times its share of the global mean, so that sum is ``k`` times the gradient of the
global loss, and DDP's averaging (division by ``k``) gives exactly the gradient of one process training on the
concatenated batch. The rank losses average to the global loss (log them with ``sync_dist=True``).
All ranks must pass tensors of the same shape (``torch.distributed.all_gather`` requires it).
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True inside an initialised process group with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of ranks (1 outside ``torch.distributed``)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank (0 outside ``torch.distributed``)."""
    return dist.get_rank() if is_distributed() else 0


class _GatherWithGrad(torch.autograd.Function):
    """all_gather in forward; all-reduce of the gradient and this rank's slice in backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, dim: int) -> torch.Tensor:
        ctx.dim, ctx.size = dim, x.shape[dim]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=dim)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()  # all_reduce works in place: never on autograd's buffer view
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad.narrow(ctx.dim, dist.get_rank() * ctx.size, ctx.size), None


def gather_with_grad(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Concatenate ``x`` from all ranks along ``dim``, in rank order, keeping gradients.

    Outside ``torch.distributed`` (or with one rank) returns ``x`` itself.

    Shape:
        - x: ``(..., n, ...)`` with ``n`` at ``dim``, equal on every rank.
        - output: ``(..., world_size * n, ...)``; this rank's block starts at ``rank() * n``.

    >>> x = torch.randn(4, 8, requires_grad=True)
    >>> gather_with_grad(x).shape   # single process: unchanged
    torch.Size([4, 8])
    """
    if not is_distributed():
        return x
    return _GatherWithGrad.apply(x, dim)


def gather_no_grad(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Concatenate ``x`` (labels, indices) from all ranks along ``dim``, without gradients."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=dim)


def gather_keys(x: torch.Tensor, dim: int, enabled: bool = True) -> tuple[torch.Tensor, int]:
    """Keys gathered from every rank (when ``enabled``) and the offset of this rank's block along ``dim``."""
    if not (enabled and is_distributed()):
        return x, 0
    return gather_with_grad(x, dim), rank() * x.shape[dim]


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum of ``x`` over all ranks, without gradient (counts that normalise a loss); ``x`` outside
    ``torch.distributed``."""
    if not is_distributed():
        return x
    x = x.detach().clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x
