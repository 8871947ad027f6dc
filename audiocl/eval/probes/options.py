"""The settings of every probe head, in one place so that a result can state them."""

from __future__ import annotations

from dataclasses import dataclass, field

from audiocl.eval.protocols import ClmrOptions, PublishedOptions

__all__ = ["ProbeOptions"]


@dataclass
class ProbeOptions:
    """Hyper-parameters of the linear probe (the same for every task, so that numbers are comparable)."""

    lr: float = 1e-2  # Adam; full-batch steps on standardised inputs converge in ~100-300 epochs
    max_epochs: int = 500
    patience: int = 20  # epochs without a better validation loss before stopping
    weight_decays: tuple[float, ...] = (0.0, 1e-3, 1e-2)  # L2 penalty (Adam weight_decay), picked on valid
    batch_size: int = 4096  # chunks per step; full batch when the training set is no larger
    device: str = "cpu"
    clmr: ClmrOptions = field(default_factory=ClmrOptions)  # the settings of protocol="clmr"
    published: PublishedOptions = field(default_factory=PublishedOptions)  # and of protocol="published"
