"""Embedding cache: a task's per-chunk embeddings, computed once per embedder and settings, then memory-mapped.

Every later probe of the same task (another seed, label fraction, head or protocol) reads them instead of
running the encoder again. An entry is found by a key, the SHA-256 of :func:`cache_fields`: everything that
changes the numbers, and nothing that does not.

- **The embedder:** the checkpoint's SHA-256 (its content, not its path or mtime) or the baseline's name and
  settings (:attr:`audiocl.embed.Embedder.identity`); a SHA-256 of the pipeline's weights and buffers and its
  modules' ``repr`` (so a pipeline built by hand is told apart too); sample rate, chunk and hop in samples,
  whole-clip mode. Not the pooling (the chunks are stored unpooled), device or batch size.
- **The task:** its name and loader options, and per item its path, offset and duration and the file's size
  and mtime (``[size, mtime_ns]``, taken before decoding, so a file rewritten meanwhile shows as a change).
- **The versions:** :data:`FORMAT_VERSION` of this layout and audiocl's version.

An entry is a folder ``<cache dir>/<key>/`` holding ``embeddings.npy``, ``(chunks of all items, dim)`` float32
read with ``np.load(mmap_mode="r")``, and ``index.json``::

    {"version": 1, "key": "3fa2...", "fields": {...the key's fields, readable...}, "embedder": "Embedder(...)",
     "items": ["/data/a.wav", ...], "offsets": [0, 3, null, ...], "counts": [3, 3, 0, ...],
     "skipped": [["/data/b.wav", "cannot decode ..."]]}

``offsets[i]`` is item ``i``'s first row (null for an unreadable item). An entry is written into a hidden
temporary folder and renamed into place, so a killed run leaves no partial entry; an entry that cannot be read
back (truncated, edited, of another version) is warned about and computed again. Temporary folders that a
killed run left behind (``.<key>.*.tmp``) are removed by the next write once they are an hour old.

The cache folder is ``$AUDIOCL_CACHE_DIR``, else ``$XDG_CACHE_HOME/audiocl/embeddings``, else
``~/.cache/audiocl/embeddings``.

>>> cache = EmbeddingCache()                                                 # doctest: +SKIP
>>> emb = embed_task(task, load_encoder("last.ckpt"), cache=cache)           # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from audiocl.atomic import make_public_dir, write_atomic
from audiocl.data.cache import file_stamp

__all__ = ["FORMAT_VERSION", "ENV_VAR", "EmbeddingCache", "CacheKey", "cache_fields", "default_cache_dir"]

#: Version of the entry layout; a change makes every older entry a miss.
FORMAT_VERSION = 1
#: The environment variable that moves the cache folder.
ENV_VAR = "AUDIOCL_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$AUDIOCL_CACHE_DIR``, else ``$XDG_CACHE_HOME/audiocl/embeddings``, else ``~/.cache/audiocl/embeddings``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "audiocl" / "embeddings"


def weights_sha256(embedder) -> str:
    """SHA-256 of the front-end's and encoder's parameters and buffers (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for part, module in (("frontend", embedder.frontend), ("encoder", embedder.encoder)):
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            t = t.detach().cpu().contiguous()
            digest.update(f"{part}.{name}:{t.dtype}:{tuple(t.shape)};".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # bytes: bfloat16 has no numpy twin
    return digest.hexdigest()


def _item_record(item) -> list:
    path = os.path.abspath(item.path)
    return [path, item.offset_s, item.duration_s, file_stamp(path)]


def cache_fields(task, embedder, items: list | None = None) -> dict:
    """Everything that changes a task's per-chunk embeddings, JSON-able (see the module docstring); ``items``:
    the task's item records, when already taken."""
    import audiocl

    # The path is not part of the key: the checkpoint's content hash says which weights these are.
    identity = {k: v for k, v in getattr(embedder, "identity", {}).items() if k != "path"}
    items = [_item_record(it) for it in task.items] if items is None else items
    return {
        "format": FORMAT_VERSION,
        "audiocl": audiocl.__version__,
        "embedder": {
            **identity,
            "weights_sha256": weights_sha256(embedder),
            "pipeline": f"{embedder.frontend!r} -> {embedder.encoder!r}",
        },
        "sample_rate": embedder.sample_rate,
        "segment_samples": embedder.segment_samples,
        "hop_samples": embedder.hop_samples,
        "whole_clip": embedder.whole_clip,
        "task": {
            "name": task.name,
            "options": getattr(task, "options", {}),
            "items": len(task.items),
            "items_sha256": hashlib.sha256(json.dumps(items).encode()).hexdigest(),
        },
    }


@dataclass
class CacheKey:
    """An entry's key: ``digest`` (the folder's name) and the ``fields`` it hashes; ``items`` per item
    ``[path, offset_s, duration_s, [size, mtime_ns]]``, kept readable in the index."""

    digest: str
    fields: dict
    items: list


class EmbeddingCache:
    """The per-chunk embeddings of tasks, one folder per :class:`CacheKey` under ``root``.

    Args:
        root: the cache folder; default :func:`default_cache_dir`.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.root)!r})"

    def key(self, task, embedder) -> CacheKey:
        """The key of ``task`` embedded by ``embedder``; take it before embedding (the files' stamps)."""
        items = [_item_record(it) for it in task.items]
        fields = cache_fields(task, embedder, items)
        text = json.dumps(fields, sort_keys=True, default=str)
        return CacheKey(hashlib.sha256(text.encode()).hexdigest(), fields, items)

    def entry(self, key: CacheKey) -> Path:
        return self.root / key.digest

    def read(self, key: CacheKey) -> tuple[list, list] | None:
        """``(chunks, skipped)`` of the entry, chunks memory-mapped ``(chunks_i, dim)`` views (None for an
        unreadable item); None when there is no entry, or (with a warning) when it cannot be read back."""
        folder = self.entry(key)
        if not folder.is_dir():
            return None
        try:
            return _read_entry(folder, key)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as err:  # json/npy errors are ValueErrors
            warnings.warn(f"ignoring a broken embedding cache entry {folder} ({err}); embedding again", stacklevel=3)
            return None

    def write(self, key: CacheKey, chunks: list, skipped: list, *, embedder: str = "") -> Path | None:
        """Store ``chunks`` (per item ``(chunks_i, dim)`` or None) as the entry of ``key``, replacing a broken
        one; returns its folder, or None when there is nothing to store (no item could be embedded)."""
        rows = [c for c in chunks if c is not None]
        if not rows:  # an empty array cannot be memory-mapped, and no probe can use it
            return None
        counts = [0 if c is None else len(c) for c in chunks]
        offsets = _offsets(chunks, counts)
        index = {
            "version": FORMAT_VERSION,
            "key": key.digest,
            "fields": key.fields,
            "embedder": embedder,
            "items": [r[0] for r in key.items],
            "stamps": key.items,
            "offsets": offsets,
            "counts": counts,
            "skipped": [list(s) for s in skipped],
        }
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _remove_stale_tmp(self.root)
            tmp = Path(tempfile.mkdtemp(prefix=f".{key.digest[:16]}.", suffix=".tmp", dir=self.root))
            array = np.concatenate([np.asarray(c, np.float32) for c in rows])
            write_atomic(tmp / "embeddings.npy", lambda f: np.save(f, array))
            write_atomic(tmp / "index.json", lambda f: f.write(json.dumps(index, default=str).encode()))
            make_public_dir(tmp)
            _replace_dir(tmp, self.entry(key))
        except OSError as err:  # a read-only or full cache costs the reuse, never the probe
            warnings.warn(f"cannot store embeddings in the cache {self.root}: {err}", stacklevel=3)
            return None
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename worked
        return self.entry(key)


def _offsets(chunks: list, counts: list) -> list:
    """Each item's first row in the stacked array, None for an item without embeddings."""
    starts = np.cumsum([0, *counts[:-1]])
    return [None if c is None else int(s) for c, s in zip(chunks, starts, strict=True)]


def _read_entry(folder: Path, key: CacheKey) -> tuple[list, list]:
    index = json.loads((folder / "index.json").read_text())
    if index.get("version") != FORMAT_VERSION or index.get("key") != key.digest:
        raise ValueError(f"index of version {index.get('version')} for key {index.get('key')}")
    array = np.load(folder / "embeddings.npy", mmap_mode="r")
    offsets, counts = index["offsets"], index["counts"]
    if array.dtype != np.float32 or array.ndim != 2 or not len(offsets) == len(counts) == len(key.items):
        raise ValueError(f"embeddings {array.dtype} {array.shape} do not match the index")
    if sum(counts) != len(array) or offsets != _offsets(offsets, counts):
        raise ValueError(f"the index lists {sum(counts)} chunks, embeddings.npy holds {len(array)}")
    chunks = [None if o is None else array[o : o + n] for o, n in zip(offsets, counts, strict=True)]
    return chunks, [tuple(s) for s in index["skipped"]]


#: A temporary entry folder older than this was left by a killed run (writing one takes seconds).
STALE_TMP_S = 3600


def _remove_stale_tmp(root: Path) -> None:
    now = time.time()
    for tmp in root.glob(".*.tmp"):
        try:
            if now - tmp.stat().st_mtime > STALE_TMP_S:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:  # removed meanwhile by another run
            pass


def _replace_dir(new: Path, final: Path) -> None:
    """Rename ``new`` to ``final``; an existing ``final`` (broken, or written meanwhile by another run with the
    same key) is moved aside first and removed."""
    try:
        os.rename(new, final)
        return
    except OSError:
        if not final.exists():
            raise
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    os.rename(final, old)
    try:
        os.rename(new, final)
    finally:
        shutil.rmtree(old, ignore_errors=True)


def report_hit(folder: Path, task, chunks: list, skipped: list) -> None:
    """The one line a user sees when an entry is reused: which task, how much, which folder."""
    n = sum(c is not None for c in chunks)
    print(f"audiocl: reusing cached embeddings of {task.name} ({n} items, {len(skipped)} skipped): {folder}",
          file=sys.stderr)  # fmt: skip
