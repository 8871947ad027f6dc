"""Gradient caching (GradCache): the exact gradient of a contrastive loss over a batch larger than memory.

Gao, Zhang, Han & Callan 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup".
A contrastive loss couples every example of the batch, so the batch cannot simply be split into
micro-batches with accumulated gradients. GradCache splits the backward pass at the embeddings instead:

1. embed the batch chunk by chunk without an autograd graph (activations of one chunk at a time);
2. compute the loss on the concatenated embeddings and its gradient with respect to them;
3. re-run each chunk with a graph, under the random state it had in step 1, and back-propagate the cached
   embedding gradients into the encoder.

The parameter gradients then equal those of one backward pass over the whole batch, up to float rounding,
at the price of a second forward. Peak memory is one chunk's activations plus the ``(batch, dim)``
embeddings.

BatchNorm caveat: in training mode BatchNorm normalises each chunk with that chunk's statistics (as
DDP normalises each GPU's share), so the result is the gradient of full-batch training *with chunk-sized
BatchNorm batches*, not of BatchNorm over the whole batch; and running statistics are updated in both
passes (twice per step). Prefer LayerNorm/GroupNorm encoders, a chunk size large enough for stable
statistics, or SyncBatchNorm-like reasoning when comparing against full-batch numbers.

Under DDP: DDP all-reduces gradients during a backward pass that follows a forward through its wrapper,
once per step. GradCache runs several backward passes, outside that pattern, so run :func:`cached_step`
under ``ddp_model.no_sync()`` (Lightning: ``trainer.strategy.block_backward_sync()``), with ``encode``
calling the unwrapped module, then call :func:`average_gradients` once. With the losses of
:mod:`audiocl.losses` (which gather keys across ranks) the gradients then equal those of one process on
the concatenated batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.distributed as dist

from audiocl.losses.distributed import is_distributed


def _get_rng(generators: Sequence[torch.Generator]) -> tuple:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return torch.get_rng_state(), cuda, [g.get_state() for g in generators]


def _set_rng(state: tuple, generators: Sequence[torch.Generator]) -> None:
    cpu, cuda, own = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)
    for g, s in zip(generators, own, strict=True):
        g.set_state(s)


def cached_step(
    encode: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    chunk_size: int,
    backward: Callable[[torch.Tensor], None] = lambda t: t.backward(),
    *,
    generators: Sequence[torch.Generator] = (),
) -> torch.Tensor:
    """Accumulate into the parameters' ``.grad`` the gradient of ``loss_fn(encode(inputs))``, chunk by chunk.

    ``encode`` must be a function of its chunk alone (per-example computation; see the module docstring for
    BatchNorm). Randomness inside it (dropout, augmentations) is replayed: the global CPU and CUDA RNG states,
    and those of ``generators``, are saved before each chunk's first run and restored for its second; after
    the step they are where one pass would leave them.

    Args:
        encode: maps a chunk of ``inputs`` (along dim 0) to its embeddings (along dim 0).
        inputs: the whole batch; dim 0 is split into chunks of ``chunk_size``.
        loss_fn: maps the concatenated embeddings to a scalar loss. Its own parameters (COLA's ``W``) get
            their gradients in step 2.
        chunk_size: examples per chunk (the last may be smaller).
        backward: runs the backward of the loss, e.g. ``LightningModule.manual_backward`` or
            ``lambda t: scaler.scale(t).backward()``; a loss scale it applies carries over to every chunk.
        generators: explicit generators used inside ``encode`` whose states must be replayed too.

    Returns:
        The loss, detached.

    Shape:
        - inputs: ``(B, ...)``; encode(chunk): ``(b, ...)``; loss_fn input: ``(B, ...)``; output: ``()``.

    >>> encoder = torch.nn.Linear(10, 4)
    >>> x = torch.randn(8, 2, 10)                      # (clips, views, features)
    >>> from audiocl.losses import nt_xent
    >>> loss = cached_step(encoder, x, lambda z: nt_xent(z.transpose(0, 1)), chunk_size=3)
    >>> encoder.weight.grad.shape
    torch.Size([4, 10])
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of examples, got {chunk_size}")
    chunks = inputs.split(chunk_size)
    states, embeddings = [], []
    with torch.no_grad():
        for chunk in chunks:
            states.append(_get_rng(generators))
            embeddings.append(encode(chunk))
    after = _get_rng(generators)

    z = torch.cat(embeddings).requires_grad_()
    loss = loss_fn(z)
    backward(loss)
    grad = z.grad if z.grad is not None else torch.zeros_like(z)

    for chunk, state, chunk_grad in zip(chunks, states, grad.split(chunk_size), strict=True):
        _set_rng(state, generators)
        torch.autograd.backward(encode(chunk), chunk_grad)
    _set_rng(after, generators)
    return loss.detach()


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Average the parameters' ``.grad`` over all ranks in one all-reduce, as DDP would.

    For steps run under ``no_sync()`` (see the module docstring). Every rank must hold gradients for the
    same parameters. Does nothing outside ``torch.distributed``.
    """
    if not is_distributed():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for g, part in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(part.view_as(g))
