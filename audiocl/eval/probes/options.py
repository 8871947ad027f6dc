"""The settings of every probe head, in one place so that a result can state them."""

from __future__ import annotations

from dataclasses import dataclass, field

from audiocl.eval.protocols import ClmrOptions, PublishedOptions

__all__ = ["AGGREGATIONS", "HEADS", "KnnOptions", "MlpOptions", "ProbeOptions"]

#: Probe heads: name -> default aggregation of chunks (HEAR/EVAR scene tasks pool embeddings before the head;
#: CLMR and the linear probe average probabilities after it).
HEADS = {"linear": "probability", "knn": "embedding", "mlp": "embedding"}
AGGREGATIONS = ("probability", "embedding")


@dataclass(frozen=True)
class KnnOptions:
    """Weighted cosine kNN (Wu et al. 2018; the convention of DINO's ``eval_knn.py`` and solo-learn)."""

    k: int = 20
    temperature: float = 0.07  # neighbour weight exp(cosine / T)


@dataclass(frozen=True)
class MlpOptions:
    """HEAR-style MLP head (hear-eval-kit's ``FullyConnectedPrediction`` and ``PARAM_GRID``: one hidden layer of
    1024, dropout 0.1, Adam, batches of 1024, the validation score checked every 3 epochs, early stopping after 20
    checks without a better one, at most 500 epochs), its learning rate chosen on the validation score."""

    hidden: int = 1024
    dropout: float = 0.1
    lrs: tuple[float, ...] = (3.2e-3, 1e-3)  # the larger two of HEAR's four (3.2e-3, 1e-3, 3.2e-4, 1e-4)
    max_epochs: int = 500
    patience: int = 20  # validation checks (not epochs) without a strictly better score
    check_every: int = 3  # epochs between validation checks (Lightning's check_val_every_n_epoch)
    batch_size: int = 1024


@dataclass
class ProbeOptions:
    """Hyper-parameters of every head (the same for every task, so that numbers are comparable); the top-level
    fields are the linear probe's."""

    lr: float = 1e-2  # Adam; full-batch steps on standardised inputs converge in ~100-300 epochs
    max_epochs: int = 500
    patience: int = 20  # epochs without a better validation loss before stopping
    weight_decays: tuple[float, ...] = (0.0, 1e-3, 1e-2)  # L2 penalty (Adam weight_decay), picked on valid
    batch_size: int = 4096  # chunks per step; full batch when the training set is no larger
    device: str = "cpu"
    clmr: ClmrOptions = field(default_factory=ClmrOptions)  # the settings of protocol="clmr"
    published: PublishedOptions = field(default_factory=PublishedOptions)  # and of protocol="published"
    knn: KnnOptions = field(default_factory=KnnOptions)  # head="knn"
    mlp: MlpOptions = field(default_factory=MlpOptions)  # head="mlp"
