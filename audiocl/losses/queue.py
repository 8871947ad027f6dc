"""A memory queue of keys from earlier batches: negatives beyond the batch (MoCo, He et al. 2020).

The order of a training step, which keeps the current batch from ever being its own negative:

1. ``negatives, labels = queue.negatives()``: the keys of earlier steps (a copy);
2. the loss, with those as extra negatives;
3. ``queue.enqueue(keys, labels)``: this step's keys, after the loss.

Under ``torch.distributed`` :meth:`MemoryQueue.enqueue` all-gathers the keys of every rank, in rank order,
so every rank writes the same keys to the same slots and holds the same queue (the order is that of one
process on the concatenated batch). The keys, labels, write pointer and fill count are buffers, so the queue
is in the module's ``state_dict``, hence in every checkpoint, and a resumed run continues with the very same
queue.

The size need not be a multiple of the global batch: writes wrap around the end of the ring, so the queue
always holds the most recent ``size`` keys (and the last ``size`` of a step's keys when a step brings more).
"""

from __future__ import annotations

import torch
from torch import nn

from audiocl.losses.distributed import gather_no_grad

WARMUPS = ("partial", "full")


class MemoryQueue(nn.Module):
    """A first-in first-out ring of ``size`` keys of dimension ``dim``, with a label per key.

    Args:
        size: the number of keys ``K`` held (``>= 1``).
        dim: the key dimension ``D``.
        warmup: while the queue is filling, ``"partial"`` uses the keys written so far and ``"full"`` none
            until all ``K`` slots hold a key (then the number of negatives never changes).
        gather_distributed: enqueue the keys of every rank under ``torch.distributed``.

    Shape:
        - enqueue: keys ``(n, D)``, labels ``(n,)`` or None (stored as -1).
        - negatives: ``(k, D)`` float32 and ``(k,)`` int64, with ``k`` the usable keys (0 to ``K``).

    >>> queue = MemoryQueue(size=8, dim=4)
    >>> queue.enqueue(torch.randn(3, 4))
    >>> keys, labels = queue.negatives()
    >>> keys.shape, int(queue.filled)
    (torch.Size([3, 4]), 3)
    """

    def __init__(self, size: int, dim: int, warmup: str = "partial", gather_distributed: bool = True):
        super().__init__()
        if not (isinstance(size, int) and size >= 1):
            raise ValueError(f"queue size must be a positive number of keys, got {size!r}")
        if not (isinstance(dim, int) and dim >= 1):
            raise ValueError(f"queue key dimension must be positive, got {dim!r}")
        if warmup not in WARMUPS:
            raise ValueError(f"queue warmup must be one of {WARMUPS}, got {warmup!r}")
        self.size, self.dim, self.warmup, self.gather_distributed = size, dim, warmup, gather_distributed
        self.register_buffer("keys", torch.zeros(size, dim))
        self.register_buffer("labels", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))  # the next slot to write
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))  # slots holding a key

    def negatives(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The usable keys and their labels, copied (so a later enqueue never changes a loss's saved inputs).

        Until the ring wraps the filled slots are ``0 .. filled - 1``; after that, all of them.
        """
        n = int(self.filled)
        if self.warmup == "full" and n < self.size:
            n = 0
        return self.keys[:n].clone(), self.labels[:n].clone()

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        """Write this step's keys (every rank's, in rank order, under ``torch.distributed``); call after the loss."""
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"queue keys must have shape (n, {self.dim}), got {tuple(keys.shape)}")
        if labels is None:
            labels = torch.full((keys.shape[0],), -1, dtype=torch.long, device=keys.device)
        elif labels.shape != keys.shape[:1]:
            raise ValueError(f"queue labels must have shape ({keys.shape[0]},), got {tuple(labels.shape)}")
        keys, labels = keys.detach().to(self.keys), labels.to(self.labels)
        if self.gather_distributed:
            keys, labels = gather_no_grad(keys), gather_no_grad(labels)
        n = keys.shape[0]
        start = int(self.ptr)
        if n > self.size:  # only the most recent `size` keys can be held
            start, keys, labels = (start + n - self.size) % self.size, keys[-self.size :], labels[-self.size :]
        slots = (start + torch.arange(keys.shape[0], device=self.keys.device)) % self.size
        self.keys[slots] = keys
        self.labels[slots] = labels
        self.ptr.fill_((int(self.ptr) + n) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + n))

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, warmup={self.warmup!r}"
