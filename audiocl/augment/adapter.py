"""Run an existing audiomentations pipeline on a batch: CPU only, one example at a time.

This is for users who already have an audiomentations chain and want it inside ``audiocl``'s data
path. It is as slow as audiomentations (NumPy, per example, on the CPU: the batch goes to the host
and back); the native ``audiocl.augment`` transforms are batched on the input's device instead.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from audiocl.augment.base import default_generator


class Audiomentations(nn.Module):
    """Wrap ``pipeline`` (any audiomentations transform or ``Compose``) as a batch transform.

    Reproducible from ``generator``: before each example, Python's and NumPy's global generators
    (which audiomentations draws from) are seeded from it, and their previous states are restored
    afterwards, so the caller's global random state is left untouched.

    Shape:
        - x: ``(batch, samples)`` on any device; output: same, on the same device.

    >>> import audiomentations as am
    >>> aug = Audiomentations(am.Gain(p=1.0), sample_rate=16000)
    >>> aug(torch.ones(2, 160), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 160])
    """

    def __init__(self, pipeline: Callable[..., np.ndarray], sample_rate: int) -> None:
        super().__init__()
        if not callable(pipeline):
            raise ValueError("pipeline must be an audiomentations transform (called as pipeline(samples, sample_rate))")
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate={sample_rate} must be a positive integer in Hz")
        self.pipeline, self.sample_rate = pipeline, int(sample_rate)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        g = default_generator(generator)
        seeds = torch.randint(2**31 - 1, (x.shape[0],), generator=g).tolist()
        batch = x.detach().cpu().numpy().astype(np.float32, copy=False)
        # audiomentations draws from the global generators: seed them per example, then restore them.
        py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
        try:
            out = []
            for example, seed in zip(batch, seeds, strict=True):  # per example: audiomentations has no batch mode
                random.seed(seed)
                np.random.seed(seed)  # noqa: NPY002
                y = self.pipeline(samples=example, sample_rate=self.sample_rate)
                if y.shape != example.shape:
                    raise ValueError(
                        f"the audiomentations pipeline changed the length {example.shape} -> {y.shape}; "
                        "use transforms that keep it (e.g. leave_length_unchanged=True)"
                    )
                out.append(y)
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)  # noqa: NPY002
        return torch.from_numpy(np.stack(out)).to(device=x.device, dtype=x.dtype)
