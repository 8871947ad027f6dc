"""Decode-once cache: ``prepare`` writes a data set as sharded memory-mapped arrays; training reads crops.

MP3-heavy sets such as MagnaTagATune would otherwise decode every file on every epoch. ``prepare`` decodes
and resamples each file once into ``shard_NNNNN.npy`` (int16 scaled by 32767, or float16), each shard the
concatenation of up to ``shard_size`` files, and writes ``index.json``::

    {"version": 1, "sample_rate": 16000, "dtype": "int16", "scale": 32767.0,
     "shards": ["shard_00000.npy", ...],
     "clips": [{"path": ..., "shard": 0, "offset": 0, "length": 48000, "label": -1}, ...],
     "skipped": [{"path": ..., "reason": ...}, ...]}

Robustness: a shard is written to a temporary file and renamed, then its ``shard_NNNNN.json`` is written
(the same way), so a killed ``prepare`` leaves only whole shards; run it again and it keeps the finished
shards and does the rest. Unreadable files are skipped and listed in the report and the index.

>>> report = prepare("magnatagatune", "/data/mtat", "/cache/mtat16k", sample_rate=16000)  # doctest: +SKIP
>>> ds = CachedClipDataset("/cache/mtat16k", clip_samples=96000)                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from audiocl.atomic import write_atomic
from audiocl.data.clips import WorkerSeeded, stack_crops
from audiocl.validation import choice, non_negative_int, positive_int

__all__ = ["prepare", "PrepareReport", "CachedClipDataset", "INT16_SCALE"]

INT16_SCALE = 32767.0
_DTYPES = {"int16": np.int16, "float16": np.float16}
_VERSION = 1


def _write_json(path: Path, obj) -> None:
    write_atomic(path, lambda f: f.write(json.dumps(obj, indent=1).encode()))


def _write_npy(f, chunks: list[np.ndarray]) -> None:
    """Write the concatenation of 1-D ``chunks`` as one ``.npy`` without building it in memory."""
    shape = (sum(len(c) for c in chunks),)
    np.lib.format.write_array_header_1_0(
        f, {"descr": np.lib.format.dtype_to_descr(chunks[0].dtype), "fortran_order": False, "shape": shape}
    )
    for c in chunks:
        f.write(np.ascontiguousarray(c).data)


def file_stamp(path: str, content_hash: bool = False) -> list | None:
    """What tells a file's content apart on a later run: ``[size, mtime_ns]`` (plus a SHA-256 of the bytes
    when ``content_hash``); None for a file that cannot be read (missing, a dangling link, a link loop)."""
    try:
        st = os.stat(path)
        stamp: list = [st.st_size, st.st_mtime_ns]
        if content_hash:
            import hashlib

            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            stamp.append(digest.hexdigest())
    except OSError:
        return None
    return stamp


def _encode(audio: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "int16":
        return np.round(np.clip(audio, -1.0, 1.0) * INT16_SCALE).astype(np.int16)
    return audio.astype(np.float16)


def _prepare_shard(
    shard: int, paths: list[str], labels: list[int], out: str, sample_rate: int, dtype: str, content_hash: bool
) -> tuple[int, dict]:
    """Decode one shard's files and write ``shard_NNNNN.npy`` + ``shard_NNNNN.json``; returns the json."""
    from audiocl.audio import AudioError, load

    chunks, clips, skipped, offset = [], [], [], 0
    stamps = [file_stamp(p, content_hash) for p in paths]  # before decoding: a later rewrite shows as a change
    for path, label in zip(paths, labels, strict=True):
        try:
            audio, _ = load(path, sample_rate)
        except AudioError as e:
            skipped.append({"path": path, "reason": e.reason})
            continue
        data = _encode(audio.numpy(), dtype)
        chunks.append(data)
        clips.append({"path": path, "offset": offset, "length": len(data), "label": label})
        offset += len(data)
    name = f"shard_{shard:05d}.npy"
    if chunks:  # an empty array cannot be memory-mapped: a shard of only bad files gets no .npy
        write_atomic(Path(out) / name, lambda f: _write_npy(f, chunks))
    meta = {"file": name if chunks else None, "num_samples": offset, "clips": clips, "skipped": skipped}
    meta["stamps"] = stamps
    _write_json(Path(out) / f"shard_{shard:05d}.json", meta)
    return shard, meta


def _worker_init(parent: int) -> None:
    import threading

    torch.set_num_threads(1)  # one process per core does the parallelism
    # A worker must not outlive a killed prepare (it would go on writing shards): when the parent dies, the
    # worker is re-parented, and this thread ends it. The parent's PID comes from the parent itself, since it
    # may already be dead by the time a worker has imported torch and runs this.

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="audiocl-parent-watch", daemon=True).start()


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.1f} s"


@dataclass
class PrepareReport:
    """What ``prepare`` did: counts, the skipped files with reasons, and where the index is."""

    out: Path
    num_files: int
    num_clips: int
    total_seconds: float
    num_shards: int
    reused_shards: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    changed_shards: int = 0  # shards redone because a file in them changed since the earlier run
    elapsed_s: float = 0.0

    def summary(self) -> str:
        lines = [
            f"cache {self.out}: {self.num_clips}/{self.num_files} files, {_duration(self.total_seconds)} of "
            f"audio in {self.num_shards} shards ({self.reused_shards} kept from an earlier run), "
            f"{self.elapsed_s:.1f} s",
        ]
        if self.changed_shards:
            lines.append(f"redid {self.changed_shards} shard(s) whose files changed since the earlier run")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} unreadable file(s) (all listed in index.json):")
            lines += [f"  {p}: {r}" for p, r in self.skipped[:20]]
            if len(self.skipped) > 20:
                lines.append(f"  ... and {len(self.skipped) - 20} more")
        return "\n".join(lines)


def prepare(
    dataset: str,
    root: str | os.PathLike,
    out: str | os.PathLike,
    sample_rate: int,
    *,
    dtype: str = "int16",
    shard_size: int = 256,
    num_workers: int = 0,
    progress: bool = True,
    content_hash: bool = False,
    **options,
) -> PrepareReport:
    """Decode and resample a data set once into a sharded memory-mapped cache (see the module docstring).

    Args:
        dataset: a name of :func:`audiocl.data.pretrain_files` ("folder", "csv", "magnatagatune", ...).
        root: the data set's root (or list file).
        out: the cache folder (created; an existing cache with the same settings is resumed).
        sample_rate: rate in Hz of the cached audio.
        dtype: "int16" (half the size of float32, quantisation error <= 1/65534) or "float16".
        shard_size: files per shard (also the unit of resumption).
        num_workers: processes decoding shards in parallel (0: this process).
        progress: show a tqdm progress bar.
        content_hash: besides each file's size and modification time, compare a SHA-256 of its bytes to tell
            whether a finished shard still holds the files' current audio (reads every file on every run).
        **options: passed to :func:`audiocl.data.pretrain_files` (e.g. ``splits=None`` for all splits).

    Returns:
        A :class:`PrepareReport`; ``report.summary()`` is a printable account.

    Raises:
        ValueError: bad arguments, or ``out`` holds a cache made with other settings or other files.
    """
    from tqdm.auto import tqdm

    from audiocl.data.files import pretrain_files

    choice("dtype", dtype, _DTYPES)
    sample_rate = positive_int("sample_rate", sample_rate)
    shard_size = positive_int("shard_size", shard_size)
    num_workers = non_negative_int("num_workers", num_workers)
    started = time.perf_counter()
    files, labels = pretrain_files(dataset, root, return_labels=True, **options)
    # Absolute, links not resolved: a link loop or a dangling link is kept under its own name, then skipped
    # and listed when it fails to decode (Path.resolve() raises on a loop and names a dangling link's target).
    paths = [os.path.abspath(f) for f in files]
    labels = labels or [-1] * len(paths)

    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    settings = {
        "version": _VERSION,
        "dataset": dataset,
        "sample_rate": int(sample_rate),
        "dtype": dtype,
        "shard_size": int(shard_size),
        "paths": paths,
        "labels": labels,
        "content_hash": bool(content_hash),
    }
    manifest = out / "prepare.json"
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        changed = [k for k in settings if old.get(k) != settings[k]]
        if changed:
            raise ValueError(
                f"{out} holds a cache prepared with other {', '.join(changed)}; use another --out or delete it"
            )
    else:
        _write_json(manifest, settings)
    for stale in out.glob(".*.tmp"):  # left by a run killed mid-write (audiocl.atomic)
        stale.unlink()

    num_shards = math.ceil(len(paths) / shard_size)
    metas: dict[int, dict] = {}
    changed = 0
    for s in range(num_shards):
        meta_path = out / f"shard_{s:05d}.json"
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            if meta["file"] is None or (out / meta["file"]).is_file():
                # Same paths are not the same audio: a file rewritten or replaced since then redoes its shard.
                now = [file_stamp(p, content_hash) for p in paths[s * shard_size : (s + 1) * shard_size]]
                if meta.get("stamps") == now:
                    metas[s] = meta
                else:
                    changed += 1
    reused = len(metas)
    todo = [s for s in range(num_shards) if s not in metas]
    jobs = [
        (
            s,
            paths[s * shard_size : (s + 1) * shard_size],
            labels[s * shard_size : (s + 1) * shard_size],
            str(out),
            int(sample_rate),
            dtype,
            bool(content_hash),
        )
        for s in todo
    ]
    done_files = sum(len(m["clips"]) + len(m["skipped"]) for m in metas.values())
    with tqdm(
        total=len(paths), initial=done_files, desc=f"prepare {dataset}", unit="file", disable=not progress
    ) as bar:
        if num_workers > 0 and len(jobs) > 1:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
            with ProcessPoolExecutor(
                num_workers, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
            ) as pool:
                futures = [pool.submit(_prepare_shard, *job) for job in jobs]
                for fut in as_completed(futures):
                    s, meta = fut.result()
                    metas[s] = meta
                    bar.update(len(meta["clips"]) + len(meta["skipped"]))
        else:
            for job in jobs:
                s, meta = _prepare_shard(*job)
                metas[s] = meta
                bar.update(len(meta["clips"]) + len(meta["skipped"]))

    shards, clips, skipped = [], [], []
    for s in range(num_shards):
        meta = metas[s]
        if meta["file"] is not None:
            shards.append(meta["file"])
            clips += [{**c, "shard": len(shards) - 1} for c in meta["clips"]]
        skipped += meta["skipped"]
    index = {
        "version": _VERSION,
        "dataset": dataset,
        "sample_rate": int(sample_rate),
        "dtype": dtype,
        "scale": INT16_SCALE if dtype == "int16" else 1.0,
        "shards": shards,
        "clips": clips,
        "skipped": skipped,
    }
    _write_json(out / "index.json", index)
    report = PrepareReport(
        out=out,
        num_files=len(paths),
        num_clips=len(clips),
        total_seconds=sum(c["length"] for c in clips) / sample_rate,
        num_shards=num_shards,
        reused_shards=reused,
        changed_shards=changed,
        skipped=[(s["path"], s["reason"]) for s in skipped],
        elapsed_s=time.perf_counter() - started,
    )
    return report


class CachedClipDataset(WorkerSeeded, Dataset):
    """Random crops read straight from an ``audiocl prepare`` cache (memory-mapped, no decoding).

    Same items and seeding as :class:`audiocl.data.ClipDataset` (``ds[index]`` or ``ds[(index, crop_seed)]``):
    ``{"audio": Tensor (clip_samples,) float32, "length": int, "label": int, "index": int}``.

    Shape:
        ``audio``: ``(clip_samples,)``, zero-padded after ``length`` valid samples.

    Args:
        out: the cache folder (holding ``index.json``).
        clip_samples: crop length in samples at the cache's ``sample_rate``.
        sample_rate: if given, must equal the cache's rate (a guard against a stale cache).
        seed: see :mod:`audiocl.data.clips`.
        crops: None for one crop per item; ``k`` for ``k`` independent crops anywhere in the clip, items
            ``audio (k, clip_samples)``, ``length (k,)`` (as :class:`audiocl.data.ClipDataset`). Reading a crop
            is a slice of the memory map, so crops over a whole track cost no decoding.
        max_open_shards: memory maps kept open per process (each holds a file descriptor).

    >>> ds = CachedClipDataset("/cache/mtat16k", clip_samples=96000, sample_rate=16000)  # doctest: +SKIP
    """

    def __init__(
        self,
        out: str | os.PathLike,
        clip_samples: int,
        *,
        sample_rate: int | None = None,
        seed: int = 0,
        crops: int | None = None,
        max_open_shards: int = 128,
    ):
        self.out = Path(out).expanduser()
        index_path = self.out / "index.json"
        if not index_path.is_file():
            raise ValueError(f"cache index {index_path} not found; run `audiocl prepare` to build the cache")
        index = json.loads(index_path.read_text())
        if index.get("version") != _VERSION:
            raise ValueError(f"{index_path}: cache version {index.get('version')}, expected {_VERSION}; re-run prepare")
        if sample_rate is not None and sample_rate != index["sample_rate"]:
            raise ValueError(
                f"cache {self.out} holds audio at {index['sample_rate']} Hz, but {sample_rate} Hz was asked for; "
                "prepare a cache at that rate"
            )
        clip_samples = positive_int("clip_samples", clip_samples)
        if not index["clips"]:
            raise ValueError(f"cache {self.out} holds no clips (every file was skipped, see index.json)")
        self.sample_rate = int(index["sample_rate"])
        self.clip_samples = int(clip_samples)
        self.crops = positive_int("crops", crops, allow_none=True)
        self.seed = int(seed)
        self.scale = float(index["scale"])
        self.shard_files = [self.out / name for name in index["shards"]]
        clips = index["clips"]
        self.files = [Path(c["path"]) for c in clips]
        self.labels = [int(c["label"]) for c in clips]
        self._where = np.array([[c["shard"], c["offset"], c["length"]] for c in clips], dtype=np.int64)
        self.skipped = [(Path(s["path"]), s["reason"]) for s in index["skipped"]]
        self.max_open_shards = int(max_open_shards)
        self._arrays: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_arrays": OrderedDict()}  # each worker maps the shards itself

    def __len__(self) -> int:
        return len(self.files)

    def _array(self, shard: int) -> np.ndarray:
        # Each open memory map holds a file descriptor: keep the most recently used ones only.
        if shard in self._arrays:
            self._arrays.move_to_end(shard)
        else:
            if len(self._arrays) >= self.max_open_shards:
                self._arrays.popitem(last=False)
            self._arrays[shard] = np.load(self.shard_files[shard], mmap_mode="r")
        return self._arrays[shard]

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, generator = self._key(key)
        shard, offset, length = (int(v) for v in self._where[index])
        n = min(length, self.clip_samples)
        starts = [0] * (self.crops or 1)
        if length > self.clip_samples:
            starts = torch.randint(length - self.clip_samples + 1, (self.crops or 1,), generator=generator).tolist()
        array = self._array(shard)
        crops = []
        for start in starts:
            raw = np.asarray(array[offset + start : offset + start + n], dtype=np.float32)
            crops.append(torch.from_numpy(raw / self.scale if self.scale != 1.0 else raw))
        label = -1 if self.labels is None else self.labels[index]
        return {**stack_crops(crops, self.clip_samples, self.crops), "label": label, "index": index}
