"""Pretraining dataset: each item is one long random crop of one file, decoded and resampled in the worker.

Workers do only what must happen per file (decode, resample, crop). Views, augmentations and the front-end
run batched on the training device in the step, from the ``(batch, clip_samples)`` long crops.

Seeding: an item asked for as ``ds[(index, crop_seed)]`` takes its crop (and any replacement of an unreadable
file) from a generator seeded with ``crop_seed``, so a sampler that derives the seeds from the step makes
every batch a pure function of the step, whatever the number of workers (exact resume).
An item asked for as ``ds[index]`` draws from the process's own ``torch.Generator``. In the main process
it is seeded with ``seed``; in a DataLoader worker with ``seed`` mixed with the worker's seed from
``torch.utils.data.get_worker_info().seed`` (the loader's base seed + worker id, which the DataLoader
draws from its ``generator=`` or the global torch seed, e.g. Lightning's ``seed_everything``). So workers
differ from each other and from epoch to epoch, and a run is repeatable for a seed and a worker count.
No ``worker_init_fn`` is needed.

>>> ds = ClipDataset(files, sample_rate=22050, clip_samples=59049 * 2, seed=0)   # doctest: +SKIP
>>> item = ds[0]; item["audio"].shape, item["length"], item["label"]             # doctest: +SKIP
(torch.Size([118098]), 118098, -1)
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset, get_worker_info

from audiocl.validation import positive_int

__all__ = ["ClipDataset", "WorkerSeeded", "fit_length", "stack_crops"]


class WorkerSeeded:
    """Mixin giving ``self._generator()``: a CPU generator distinct per DataLoader worker (see module doc)."""

    seed: int = 0
    _gen: torch.Generator | None = None
    _gen_key: tuple | None = None

    def _generator(self) -> torch.Generator:
        info = get_worker_info()
        key = (os.getpid(), None if info is None else info.seed)
        if self._gen is None or self._gen_key != key:
            seed = self.seed if info is None else (self.seed * 1_000_003 + info.seed) % (2**63 - 1)
            self._gen, self._gen_key = torch.Generator().manual_seed(seed), key
        return self._gen

    def _key(self, key: int | tuple[int, int]) -> tuple[int, torch.Generator]:
        """``index`` -> (index, the process's generator); ``(index, crop_seed)`` -> (index, a generator
        seeded with ``crop_seed``), so that a step-indexed sampler fixes every crop whatever the workers."""
        if isinstance(key, (tuple, list)):
            index, crop_seed = key
            return int(index), torch.Generator().manual_seed(int(crop_seed))
        return int(key), self._generator()

    def __getstate__(self) -> dict:
        # A worker starts from the dataset's settings, never from the parent's generator state.
        return {**self.__dict__, "_gen": None, "_gen_key": None}


def stack_crops(crops: list[torch.Tensor], samples: int, count: int | None) -> dict:
    """``{"audio", "length"}`` of an item: one crop ``(samples,)`` and an int when ``count`` is None, else
    ``count`` crops ``(count, samples)`` and their valid lengths ``(count,)``."""
    fitted = [fit_length(c, samples) for c in crops]
    if count is None:
        return {"audio": fitted[0][0], "length": fitted[0][1]}
    return {"audio": torch.stack([a for a, _ in fitted]), "length": torch.tensor([n for _, n in fitted])}


def fit_length(audio: torch.Tensor, samples: int) -> tuple[torch.Tensor, int]:
    """Cut ``audio`` to ``samples`` or zero-pad it at the end: ``(audio (samples,), valid samples)``.

    >>> fit_length(torch.ones(3), 5)
    (tensor([1., 1., 1., 0., 0.]), 3)
    """
    n = audio.shape[-1]
    if n >= samples:
        return audio[:samples], samples
    return torch.nn.functional.pad(audio, (0, samples - n)), n


class ClipDataset(WorkerSeeded, Dataset):
    """Random long crops of audio files, for pretraining.

    Each ``__getitem__`` reads the file's header, draws a crop start with the process's generator and
    decodes only that part (resampled to ``sample_rate``). A file shorter than ``clip_samples`` is
    zero-padded at the end; ``length`` gives its valid samples (see :func:`audiocl.sampling.sample_views`).

    A file that cannot be decoded (:class:`audiocl.audio.AudioError`) is skipped: another index is drawn,
    the file is added to ``.skipped`` as ``(path, reason)``, never retried in this process, and a warning
    names it once. (Each DataLoader worker holds its own copy, so ``.skipped`` in the main process lists
    only what the main process saw; the warnings, and ``skip_log`` if given, cover every worker.)

    Args:
        files: audio file paths.
        sample_rate: output rate in Hz.
        clip_samples: length of each crop in samples at ``sample_rate``.
        labels: optional class index per file (``-1`` in the item when None).
        seed: see the module docstring.
        max_retries: how many replacement files to try before giving up on an item.
        skip_log: a text file to which every process appends ``path<TAB>reason`` per skipped file (once
            per process that meets it), so the run can list them all (e.g. ``run_dir/skipped_files.tsv``).
        crops: None for one crop per item; an int ``k`` for ``k`` independent crops anywhere in the file
            (CLMR's views: ``RandomResizedCrop`` on the whole track). Each is decoded on its own (an MP3, which
            cannot seek, is decoded once over the span holding all its crops).

    Items (``ds[index]`` or ``ds[(index, crop_seed)]``, see the module docstring):
        ``{"audio": Tensor (clip_samples,) float32, "length": int, "label": int, "index": int}``;
        ``index`` is the index of the file actually used. With ``crops=k``: ``audio (k, clip_samples)`` and
        ``length (k,)``.

    Shape:
        ``audio``: ``(clip_samples,)``; a DataLoader batch: ``(batch, clip_samples)`` plus ``length (batch,)``
        (with ``crops=k``: ``(batch, k, clip_samples)`` and ``(batch, k)``).

    >>> loader = DataLoader(ClipDataset(files, 16000, 96000), batch_size=64, num_workers=8,
    ...                     generator=torch.Generator().manual_seed(0))            # doctest: +SKIP
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike],
        sample_rate: int,
        clip_samples: int,
        *,
        labels: Sequence[int] | None = None,
        seed: int = 0,
        max_retries: int = 20,
        skip_log: str | os.PathLike | None = None,
        crops: int | None = None,
    ):
        if len(files) == 0:
            raise ValueError("ClipDataset needs at least one file")
        sample_rate, clip_samples = positive_int("sample_rate", sample_rate), positive_int("clip_samples", clip_samples)
        crops = positive_int("crops", crops, allow_none=True)
        if labels is not None and len(labels) != len(files):
            raise ValueError(f"got {len(labels)} labels for {len(files)} files")
        self.files = [Path(f) for f in files]
        self.sample_rate = int(sample_rate)
        self.clip_samples = int(clip_samples)
        self.labels = None if labels is None else [int(x) for x in labels]
        self.seed = int(seed)
        self.max_retries = int(max_retries)
        self.skip_log = None if skip_log is None else Path(skip_log)
        self.crops = None if crops is None else int(crops)
        self.skipped: list[tuple[Path, str]] = []
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.files)

    def _crop(self, path: Path, generator: torch.Generator) -> list[torch.Tensor]:
        """One crop (``crops=None``) or ``crops`` independent crops of ``path``, each decoded on its own."""
        from audiocl.audio import info, load

        header = info(path)
        # Source frames that resample to at least clip_samples.
        need = math.ceil(self.clip_samples * header.sample_rate / self.sample_rate)
        if header.num_frames <= need:
            return [load(path, self.sample_rate)[0]] * (self.crops or 1)
        starts = torch.randint(header.num_frames - need + 1, (self.crops or 1,), generator=generator).tolist()
        rate = header.sample_rate
        if self.crops is not None and header.format == "MP3":
            # libsndfile cannot seek in MP3 (a read at an offset decodes from the start): decode the span that
            # holds every crop once, then cut the crops from it.
            lo, hi = min(starts), max(starts) + need
            span, _ = load(path, offset_s=lo / rate, duration_s=(hi - lo) / rate)
            from audiocl.audio import resample

            return [resample(span[s - lo : s - lo + need], rate, self.sample_rate) for s in starts]
        return [load(path, self.sample_rate, offset_s=s / rate, duration_s=need / rate)[0] for s in starts]

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        from audiocl.audio import AudioError

        index, generator = self._key(key)
        seeded = isinstance(key, (tuple, list))
        for attempt in range(self.max_retries + 1):
            if index not in self._bad:
                # With a crop seed, each attempt crops from its own generator and replacements are drawn from
                # `generator` alone, so whether this process already knew a file was bad changes nothing.
                crop_seed = (int(key[1]) ^ ((attempt + 1) * 0x9E3779B97F4A7C15)) % 2**63 if seeded else 0
                crop_gen = torch.Generator().manual_seed(crop_seed) if seeded else generator
                try:
                    crops = self._crop(self.files[index], crop_gen)
                except AudioError as e:
                    self._bad.add(index)
                    self.skipped.append((self.files[index], e.reason))
                    warnings.warn(f"skipping unreadable audio file {e}", RuntimeWarning, stacklevel=2)
                    if self.skip_log is not None:  # one short appended line: safe from many workers at once
                        with open(self.skip_log, "a") as log:
                            log.write(f"{self.files[index]}\t{e.reason}\n")
                else:
                    label = -1 if self.labels is None else self.labels[index]
                    return {**stack_crops(crops, self.clip_samples, self.crops), "label": label, "index": index}
            index = int(torch.randint(len(self.files), (1,), generator=generator))
        raise RuntimeError(
            f"ClipDataset: {self.max_retries + 1} files in a row could not be decoded; skipped so far: "
            + ", ".join(str(p) for p, _ in self.skipped[-5:])
        )
