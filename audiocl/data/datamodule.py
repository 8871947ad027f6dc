"""The pretraining data module: files -> workers (decode + long random crop) -> batches.

Each batch is a pure function of (seed, step, rank): :class:`StepBatchSampler` draws the clip indices and a crop
seed per clip from the step number, and the dataset takes its crop from that seed. So a resumed run sees exactly
the batches it would have seen, whatever the number of workers, and DDP ranks see disjoint slices of one global
batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from audiocl.config import Recipe, RecipeError


class StepBatchSampler(Sampler):
    """Batches of ``(index, crop_seed)`` for steps ``start_step .. num_steps - 1``.

    The global batch of step ``k`` takes positions ``k * B * world .. (k + 1) * B * world - 1`` of an endless
    sequence of epochs, each a fresh permutation of the data set seeded by (seed, epoch); rank ``r`` takes its
    ``B`` consecutive positions. Every clip is seen once per epoch across all ranks.

    >>> list(StepBatchSampler(4, 2, num_steps=1, seed=0))  # doctest: +SKIP
    [[(3, 912...), (0, 57...)]]
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        num_steps: int,
        seed: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        start_step: int | Callable[[], int] = 0,
    ):
        if num_items < 1:
            raise ValueError("the data set is empty")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.num_items, self.batch_size, self.num_steps, self.seed = num_items, batch_size, num_steps, seed
        self.rank, self.world_size = rank, world_size
        # A callable is read whenever iteration starts: Lightning re-iterates the loader when it believes an
        # epoch has ended (after a resume, its epoch length is stale), and the batches must go on from the
        # trainer's current step rather than start over.
        self._start_step = start_step

    @property
    def start_step(self) -> int:
        return self._start_step() if callable(self._start_step) else self._start_step

    def __len__(self) -> int:
        return max(0, self.num_steps - self.start_step)

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_items, generator=g)

    def __iter__(self):
        perms: dict[int, torch.Tensor] = {}
        global_batch = self.batch_size * self.world_size
        for step in range(self.start_step, self.num_steps):
            first = step * global_batch + self.rank * self.batch_size
            batch = []
            for position in range(first, first + self.batch_size):
                epoch, offset = divmod(position, self.num_items)
                if epoch not in perms:
                    perms = {epoch: self._permutation(epoch)}  # keep one epoch's permutation in memory
                crop_seed = (self.seed * 2_654_435_761 + position) % 2**63
                batch.append((int(perms[epoch][offset]), crop_seed))
            yield batch


class TimedDataLoader(DataLoader):
    """A DataLoader that records how long the training loop was blocked waiting for each batch
    (``last_wait_s``), the numerator of the logged data-wait fraction."""

    last_wait_s: float = 0.0

    # Resumable by construction: StepBatchSampler starts at the trainer's step, so there is no state to save.
    # (Defining these tells Lightning so, instead of warning that a mid-epoch resume is unreliable.)
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __iter__(self):
        batches = super().__iter__()
        while True:
            start = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            self.last_wait_s = time.perf_counter() - start
            yield batch


class PretrainDataModule(L.LightningDataModule):
    """Lists the recipe's data set once, then serves step-indexed batches of long crops."""

    def __init__(self, recipe: Recipe):
        super().__init__()
        self.recipe = recipe
        self.dataset = None

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is None:
            self.dataset = build_pretrain_dataset(self.recipe)

    def train_dataloader(self) -> DataLoader:
        d = self.recipe.data
        trainer = self.trainer
        sampler = StepBatchSampler(
            len(self.dataset),
            d.batch_size,
            self.recipe.trainer.max_steps,
            self.recipe.seed,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
            start_step=(lambda: trainer.global_step) if trainer else 0,
        )
        return TimedDataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=d.num_workers,
            persistent_workers=False,
            pin_memory=torch.cuda.is_available(),
        )


def _synthetic_corpus(recipe: Recipe):
    """``recipe.data`` pointing at the synthetic corpus, generated under the run folder the first time."""
    import dataclasses

    from audiocl.synth import ensure_corpus

    d = recipe.data
    root = ensure_corpus(
        Path(recipe.output_dir) / "synthetic_corpus",
        clips_per_class=max(2, d.synthetic_clips_per_class),
        sample_rate=d.sample_rate,
        clip_seconds=max(d.clip_seconds, 0.5),
        seed=recipe.seed,
    )
    return dataclasses.replace(d, root=str(root / "audio"))


def build_pretrain_dataset(recipe: Recipe):
    """The recipe's pretraining data set: a memory-mapped cache or decoded files, labels masked to
    ``data.label_fraction`` (the rest are -1, unlabelled; all of them when the fraction is 0)."""
    from audiocl.data import CachedClipDataset, ClipDataset, load_task, pretrain_files

    d = recipe.data
    if d.root is None and d.synthetic_clips_per_class > 0 and d.dataset == "folder":
        d = _synthetic_corpus(recipe)
    if d.root is None:
        raise RecipeError("data.root: no data given; set data.root=/path/to/audio on the command line")
    v = recipe.views
    # views.span=file: the worker reads every view itself, anywhere in the file; else one long crop per clip.
    clip_samples, crops = (
        (v.crop_samples, v.num_views) if v.span == "file" else (round(d.clip_seconds * d.sample_rate), None)
    )
    if d.dataset == "cache":
        try:
            dataset = CachedClipDataset(
                d.root, clip_samples, sample_rate=d.sample_rate, seed=recipe.seed, crops=crops, **d.options
            )
        except (OSError, ValueError) as err:
            raise RecipeError(f"data.root: {err}") from err
        cached = dataset.labels if any(label >= 0 for label in dataset.labels) else None
        dataset.labels = _training_labels(recipe, cached)
        return dataset
    try:
        files, labels = pretrain_files(d.dataset, d.root, return_labels=True, **d.options)
    except (OSError, ValueError) as err:
        raise RecipeError(f"data: {err}") from err
    if d.label_fraction > 0 and labels is None and d.dataset == "folder":
        # A labelled run (CLAR) reads a folder as a folder-per-class tree: the class is the parent folder.
        task = load_task("folder", d.root)
        files, labels = [it.path for it in task.items], [int(it.target) for it in task.items]
    if not files:
        raise RecipeError(f"data.root: no audio files found under {d.root} for data.dataset={d.dataset!r}")
    _require_one_readable(files, d.root)
    labels = _training_labels(recipe, labels)
    # Every worker appends the files it had to skip, so a corrupt file is reported, not a crash hours in.
    skip_log = Path(recipe.output_dir) / "skipped_files.tsv"
    return ClipDataset(
        files, d.sample_rate, clip_samples, labels=labels, seed=recipe.seed, skip_log=skip_log, crops=crops
    )


def _require_one_readable(files: list, root) -> None:
    """A RecipeError when not one file decodes: unreadable files are skipped during training, but a data set of
    nothing but unreadable files would end in the workers' "could not be decoded" error, a traceback, at step 0.
    Stops at the first readable file, so a good data set costs one short decode."""
    from audiocl.audio import AudioError, load

    first_reason = None
    for path in files:
        try:
            load(path, duration_s=0.05)
            return
        except AudioError as err:
            first_reason = first_reason or str(err)
    raise RecipeError(f"data.root: none of the {len(files)} files under {root} is readable audio (e.g. {first_reason})")


def _training_labels(recipe: Recipe, labels: list[int] | None) -> list[int] | None:
    """The labels training may see: ``data.label_fraction`` of them (None when it is 0), checked against
    ``supervised.num_classes``."""
    fraction, num_classes = recipe.data.label_fraction, recipe.supervised.num_classes
    if fraction == 0:
        return None
    if labels is None:
        raise RecipeError("data.label_fraction: this data set has no labels for the supervised head")
    from audiocl.data.task import stratified_parts

    labelled = stratified_parts(labels, (fraction, 1 - fraction), recipe.seed, at_least_one=True) == 0
    kept = [label if keep else -1 for label, keep in zip(labels, labelled, strict=True)]
    if num_classes and max(kept) >= num_classes:
        raise RecipeError(
            f"supervised.num_classes: {num_classes}, but the data has {max(kept) + 1} classes; set "
            f"supervised.num_classes={max(kept) + 1}"
        )
    return kept
