"""Embeddings from a pretrained (or baseline) encoder: chunk, embed, pool; in memory or file by file.

An :class:`Embedder` holds a *pipeline*: a front-end and an encoder that map ``(batch, segment_samples)``
audio at ``sample_rate`` to ``(batch, dim)``. Audio of any length is cut into chunks of ``segment_samples``
every ``hop_samples`` (the rule lives in :mod:`audiocl.eval.chunking`):

- chunk ``k`` covers samples ``[k * hop, k * hop + segment)`` at the embedder's rate;
- there are ``1 + ceil((samples - segment) / hop)`` chunks (for ``hop <= segment``), so every sample is covered
  and the last chunk is zero-padded past the end of the audio; audio shorter than one segment gives a single
  zero-padded chunk;
- a chunk's timestamp is its centre, ``(k * hop + segment / 2) / sample_rate`` seconds, also for a padded
  chunk.

Per-chunk embeddings are pooled over time by ``"mean"``, ``"max"``, ``"mean+max"`` (both concatenated, twice
the size) or kept with ``"none"``: ``(batch, chunks, dim)``.

>>> enc = load_encoder("runs/clmr/last.ckpt")                     # doctest: +SKIP
>>> enc.embed(waveform, sample_rate=44100).shape                  # doctest: +SKIP
torch.Size([512])
>>> emb, t = enc.embed(batch, 44100, pooling="none", return_timestamps=True)  # doctest: +SKIP
>>> emb.shape, t.shape                                            # doctest: +SKIP
(torch.Size([8, 12, 512]), torch.Size([12]))
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audiocl.eval.chunking import chunk_centres_s, chunk_starts

__all__ = [
    "POOLINGS",
    "Embedder",
    "MFCCStats",
    "load_encoder",
    "random_encoder",
    "mfcc_baseline",
    "build_embedder",
    "embed_many",
    "embed_files",
    "EmbedFilesReport",
]

POOLINGS = ("mean", "max", "mean+max", "none")


def _check_pooling(pooling: str) -> str:
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    return pooling


def pool(chunks: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool per-chunk embeddings over the chunk axis.

    Shape:
        ``(..., chunks, dim)`` -> ``(..., dim)`` (``"mean"``, ``"max"``), ``(..., 2 * dim)`` (``"mean+max"``),
        unchanged (``"none"``).
    """
    if pooling == "mean":
        return chunks.mean(dim=-2)
    if pooling == "max":
        return chunks.amax(dim=-2)
    if pooling == "mean+max":
        return torch.cat([chunks.mean(dim=-2), chunks.amax(dim=-2)], dim=-1)
    if pooling == "none":
        return chunks
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


class Embedder:
    """Chunked, batched embeddings from a front-end + encoder pipeline.

    Args:
        frontend: ``(batch, samples) -> features`` (e.g. :class:`audiocl.frontends.LogMel`).
        encoder: ``features -> (batch, dim)``; its ``embedding_dim`` attribute gives ``dim`` (else one dry run).
        sample_rate: the rate in Hz the pipeline expects; other rates are resampled.
        segment_samples: chunk length, the segment length the encoder was trained on.
        hop_samples: distance between chunk starts; default ``segment_samples`` (no overlap).
        pooling: default pooling of :meth:`embed`: ``"mean"``, ``"max"``, ``"mean+max"`` or ``"none"``.
        device: where the pipeline runs; chunks are moved there one batch at a time.
        batch_size: chunks per forward pass.
        whole_clip: one chunk per clip, the clip itself, for encoders of any input length (the MFCC statistics
            baseline: clip-level statistics, as the plain baseline computes them). ``segment_samples`` then
            sizes only the windows of :meth:`embed_windows` (HEAR's timestamp embeddings).

    Attributes:
        sample_rate, segment_samples, hop_samples, pooling, batch_size.
        embedding_dim: size of one chunk's embedding.
        embedding_size: size of :meth:`embed`'s output with the default pooling (``2 * embedding_dim`` for
            ``"mean+max"``).
        identity: what built the pipeline, for the embedding cache (:mod:`audiocl.eval.cache`): set by
            :func:`load_encoder` (the checkpoint's SHA-256), :func:`random_encoder` and :func:`mfcc_baseline`;
            empty for a pipeline built by hand (the cache then goes by its weights and settings alone).

    >>> from audiocl.frontends import LogMel                                          # doctest: +SKIP
    >>> enc = Embedder(LogMel(16000), my_encoder, 16000, segment_samples=16000)      # doctest: +SKIP
    >>> enc.embed(torch.zeros(3, 40000), 16000).shape                                 # doctest: +SKIP
    torch.Size([3, 512])
    """

    def __init__(
        self,
        frontend: nn.Module,
        encoder: nn.Module,
        sample_rate: int,
        segment_samples: int,
        *,
        hop_samples: int | None = None,
        pooling: str = "mean",
        device: str | torch.device = "cpu",
        batch_size: int = 64,
        whole_clip: bool = False,
    ):
        for name, value in (("sample_rate", sample_rate), ("segment_samples", segment_samples)):
            if isinstance(value, bool) or int(value) != value or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        hop_samples = segment_samples if hop_samples is None else hop_samples
        if isinstance(hop_samples, bool) or int(hop_samples) != hop_samples or hop_samples <= 0:
            raise ValueError(f"hop_samples must be a positive int or None, got {hop_samples!r}")
        if int(batch_size) != batch_size or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.frontend = frontend.eval()
        self.encoder = encoder.eval()
        self.sample_rate = int(sample_rate)
        self.segment_samples = int(segment_samples)
        self.hop_samples = int(hop_samples)
        self.pooling = _check_pooling(pooling)
        self.batch_size = int(batch_size)
        self.whole_clip = bool(whole_clip)
        self.identity: dict = {}
        self.to(device)
        dim = getattr(encoder, "embedding_dim", None)
        if dim is None:  # an encoder without the attribute: ask it once
            dim = self._forward(torch.zeros(1, self.segment_samples, device=self.device)).shape[-1]
        self.embedding_dim = int(dim)

    # -- properties -------------------------------------------------------------------------------------
    @property
    def embedding_size(self) -> int:
        return 2 * self.embedding_dim if self.pooling == "mean+max" else self.embedding_dim

    @property
    def device(self) -> torch.device:
        """The device of the pipeline's first parameter or buffer (so ``module.to(...)`` elsewhere is seen)."""
        for module in (self.encoder, self.frontend):
            for t in module.parameters():
                return t.device
            for t in module.buffers():
                return t.device
        return torch.device("cpu")

    def to(self, device: str | torch.device) -> Embedder:
        self.frontend.to(device)
        self.encoder.to(device)
        return self

    def __repr__(self) -> str:
        return (
            f"Embedder(sample_rate={self.sample_rate}, segment_samples={self.segment_samples}, "
            f"hop_samples={self.hop_samples}, embedding_dim={self.embedding_dim}, pooling={self.pooling!r}, "
            f"device={self.device})"
        )

    # -- core -------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def _forward(self, chunks: torch.Tensor) -> torch.Tensor:
        """``(n, segment_samples)`` on the pipeline's device -> ``(n, dim)`` float32."""
        return self.encoder(self.frontend(chunks)).float()

    def embed_windows(self, audio: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        """Embed the windows ``audio[:, s : s + segment_samples]`` for every start ``s``.

        Starts may be negative or run past the end: the audio is zero-padded there. Windows are gathered and
        sent to the device ``batch_size`` at a time, so memory stays bounded however many overlap.

        Shape:
            ``audio (batch, samples)``, ``starts (chunks,)`` -> ``(batch, chunks, dim)`` on the pipeline's device.
        """
        B, N = audio.shape
        K, S = len(starts), self.segment_samples
        starts = starts.to(torch.long)
        left = max(0, -int(starts.min()))
        right = max(0, int(starts.max()) + S - N)
        if left or right:
            audio = torch.nn.functional.pad(audio, (left, right))
        offsets = torch.arange(S, device=audio.device)
        starts = starts.to(audio.device) + left
        out = torch.empty(B * K, self.embedding_dim, device=self.device)
        device = self.device
        for lo in range(0, B * K, self.batch_size):
            pair = torch.arange(lo, min(lo + self.batch_size, B * K), device=audio.device)
            b, k = pair // K, pair % K
            windows = audio[b[:, None], starts[k][:, None] + offsets]  # (n, S)
            out[lo : lo + len(pair)] = self._forward(windows.to(device, torch.float32, non_blocking=True))
        return out.view(B, K, self.embedding_dim)

    def _pad_short(self, audio: torch.Tensor) -> torch.Tensor:
        """Whole-clip mode: a clip shorter than one segment is zero-padded to it, as its one chunk would be."""
        return torch.nn.functional.pad(audio, (0, max(0, self.segment_samples - audio.shape[-1])))

    def timestamps(self, num_chunks: int) -> np.ndarray:
        """Centre of each chunk in seconds, ``(num_chunks,)`` float64."""
        return chunk_centres_s(num_chunks, self.segment_samples, self.hop_samples, self.sample_rate)

    def embed(
        self,
        audio: torch.Tensor | np.ndarray,
        sample_rate: int,
        *,
        pooling: str | None = None,
        return_timestamps: bool = False,
    ):
        """Embed mono audio of any length (resampled to :attr:`sample_rate` when ``sample_rate`` differs).

        Args:
            audio: ``(samples,)`` or ``(batch, samples)``, float in [-1, 1]; a torch tensor or a numpy array.
            sample_rate: the rate of ``audio`` in Hz.
            pooling: ``"mean"``, ``"max"``, ``"mean+max"`` or ``"none"``; default the embedder's.
            return_timestamps: also return the chunk centres in seconds.

        Returns:
            The embeddings, a numpy array for numpy input, else a tensor on ``audio``'s device; with
            ``return_timestamps``, a tuple ``(embeddings, timestamps)`` with timestamps ``(chunks,)`` float64
            (the same for every row of a batch).

        Shape:
            ``(samples,)`` -> ``(dim',)`` pooled or ``(chunks, dim)`` with ``"none"``;
            ``(batch, samples)`` -> ``(batch, dim')`` or ``(batch, chunks, dim)``; ``dim' = 2 * dim`` for
            ``"mean+max"``.
        """
        pooling = _check_pooling(self.pooling if pooling is None else pooling)
        is_numpy = isinstance(audio, np.ndarray)
        x = torch.from_numpy(np.ascontiguousarray(audio)) if is_numpy else audio
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"audio must be a torch.Tensor or numpy array, got {type(audio).__name__}")
        if x.ndim not in (1, 2) or x.shape[-1] == 0:
            raise ValueError(f"audio must be (samples,) or (batch, samples) with samples > 0, got {tuple(x.shape)}")
        single = x.ndim == 1
        x = x.float().reshape(-1, x.shape[-1])
        if int(sample_rate) != self.sample_rate:
            from audiocl.audio import resample

            x = resample(x, int(sample_rate), self.sample_rate)
        if self.whole_clip:
            times = np.array([x.shape[-1] / 2 / self.sample_rate])
            x = self._pad_short(x)
            rows = [
                self._forward(x[lo : lo + self.batch_size].to(self.device)) for lo in range(0, len(x), self.batch_size)
            ]
            emb = pool(torch.cat(rows)[:, None], pooling)
        else:
            starts = chunk_starts(x.shape[-1], self.segment_samples, self.hop_samples)
            emb, times = pool(self.embed_windows(x, starts), pooling), self.timestamps(len(starts))
        if single:
            emb = emb[0]
        if is_numpy:
            emb = emb.cpu().numpy()
        else:
            emb = emb.to(audio.device)
            times = torch.from_numpy(times)
        return (emb, times) if return_timestamps else emb


class MFCCStats(nn.Module):
    """Mean and (population) standard deviation of features over time: the MFCC baseline's "encoder".

    Shape:
        ``(batch, channels, freq, frames)`` -> ``(batch, 2 * channels * freq)``: all means, then all stds.

    >>> MFCCStats(20)(torch.randn(2, 1, 20, 50)).shape
    torch.Size([2, 40])
    """

    def __init__(self, num_features: int):
        super().__init__()
        self.embedding_dim = 2 * int(num_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        flat = features.flatten(1, -2)  # (B, C*F, T)
        return torch.cat([flat.mean(dim=-1), flat.std(dim=-1, correction=0)], dim=-1)


class _ChunkBatcher:
    """Batches the chunks of consecutive clips together, so that short clips still fill the encoder's batches.

    ``add`` queues a clip's chunks and, once ``batch_size`` chunks are waiting, embeds them all and returns
    the finished ``(key, (chunks, dim) CPU tensor)`` pairs in order; ``flush`` embeds what is left.
    """

    def __init__(self, embedder: Embedder):
        self.embedder = embedder
        self.keys: list = []
        self.windows: list[torch.Tensor] = []
        self.count = 0

    def add(self, key, audio: torch.Tensor) -> list:
        e = self.embedder
        if e.whole_clip:  # clips of different lengths do not stack: one forward pass each
            return [*self.flush(), (key, e._forward(e._pad_short(audio.float()[None]).to(e.device)).cpu())]
        S, H = self.embedder.segment_samples, self.embedder.hop_samples
        starts = chunk_starts(audio.shape[-1], S, H)
        audio = torch.nn.functional.pad(audio.float(), (0, max(0, int(starts[-1]) + S - audio.shape[-1])))
        self.keys.append(key)
        self.windows.append(audio.unfold(-1, S, H)[: len(starts)])  # (K, S), a view
        self.count += len(starts)
        return self.flush() if self.count >= self.embedder.batch_size else []

    def flush(self) -> list:
        if not self.keys:
            return []
        e = self.embedder
        outs, batch, size = [], [], 0
        for windows in self.windows:  # copy batch_size windows at a time, never the whole overlapping set
            lo = 0
            while lo < len(windows):
                part = windows[lo : lo + e.batch_size - size]
                batch.append(part)
                size, lo = size + len(part), lo + len(part)
                if size == e.batch_size:
                    outs.append(e._forward(torch.cat(batch).to(e.device)).cpu())
                    batch, size = [], 0
        if batch:
            outs.append(e._forward(torch.cat(batch).to(e.device)).cpu())
        out = torch.cat(outs)
        done = list(zip(self.keys, out.split([len(w) for w in self.windows]), strict=True))
        self.keys, self.windows, self.count = [], [], 0
        return done


def embed_many(embedder: Embedder, clips: Iterable[tuple[object, torch.Tensor]]):
    """Per-chunk embeddings of many clips, the chunks of consecutive clips batched together.

    Args:
        clips: ``(key, audio)`` pairs, audio ``(samples,)`` at ``embedder.sample_rate``.

    Yields:
        ``(key, embeddings)`` in input order, embeddings ``(chunks, dim)`` float32 on the CPU.
    """
    batcher = _ChunkBatcher(embedder)
    for key, audio in clips:
        yield from batcher.add(key, audio)
    yield from batcher.flush()


def _seconds_to_samples(seconds: float | None, sample_rate: int, name: str) -> int | None:
    if seconds is None:
        return None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name} must be a positive number of seconds, got {seconds!r}")
    return max(1, int(round(seconds * sample_rate)))


def _from_pipeline(pipeline, chunk_s: float | None, hop_s: float | None, **kwargs) -> Embedder:
    segment = _seconds_to_samples(chunk_s, pipeline.sample_rate, "chunk_s") or pipeline.segment_samples
    hop = _seconds_to_samples(hop_s, pipeline.sample_rate, "hop_s")
    return Embedder(pipeline.frontend, pipeline.encoder, pipeline.sample_rate, segment, hop_samples=hop, **kwargs)


def load_encoder(
    checkpoint: str | os.PathLike,
    branch: str | None = None,
    *,
    chunk_s: float | None = None,
    hop_s: float | None = None,
    **kwargs,
) -> Embedder:
    """An :class:`Embedder` for a pretraining checkpoint (via :func:`audiocl.eval.pipeline.load_pipeline`).

    Args:
        checkpoint: a checkpoint written by ``audiocl pretrain``.
        branch: for multi-format checkpoints, ``"waveform"`` or ``"logmel"``; None concatenates both.
        chunk_s: chunk length in seconds; default the segment length the encoder was trained on (an encoder
            with a fixed input size, such as SampleCNN, only accepts that).
        hop_s: hop between chunks in seconds; default the chunk length.
        **kwargs: ``pooling``, ``device``, ``batch_size`` of :class:`Embedder`.

    >>> enc = load_encoder("runs/clmr/last.ckpt", device="cuda")  # doctest: +SKIP
    """
    from audiocl.data.cache import file_stamp
    from audiocl.eval.pipeline import load_pipeline

    stamp = file_stamp(os.fspath(checkpoint), content_hash=True)  # before loading: a rewrite shows as a change
    embedder = _from_pipeline(load_pipeline(checkpoint, branch), chunk_s, hop_s, **kwargs)
    path = str(Path(checkpoint).resolve())
    embedder.identity = {"kind": "checkpoint", "sha256": stamp[-1] if stamp else None, "branch": branch, "path": path}
    return embedder


def random_encoder(
    recipe,
    branch: str | None = None,
    *,
    seed: int = 0,
    chunk_s: float | None = None,
    hop_s: float | None = None,
    **kwargs,
) -> Embedder:
    """The ``random`` baseline: the recipe's front-end and encoder at random initialisation.

    Built by :func:`audiocl.eval.pipeline.random_pipeline`, which draws the weights under ``seed`` without
    touching the caller's RNG state. ``recipe`` is a recipe, a recipe file or a packaged recipe name.
    """
    from audiocl.eval.pipeline import random_pipeline

    if isinstance(recipe, str | os.PathLike):
        from audiocl.recipes_path import resolve_recipe

        recipe = resolve_recipe(recipe)
    embedder = _from_pipeline(random_pipeline(recipe, branch, seed=seed), chunk_s, hop_s, **kwargs)
    embedder.identity = {"kind": "random", "seed": seed, "branch": branch}  # the recipe shows in the weights
    return embedder


def mfcc_baseline(
    sample_rate: int = 16000,
    *,
    n_mfcc: int = 20,
    chunk_s: float | None = None,
    hop_s: float | None = None,
    **kwargs,
) -> Embedder:
    """The ``mfcc`` baseline: the mean and standard deviation over time of ``n_mfcc`` MFCCs, over the whole clip
    (default) or per chunk of ``chunk_s`` seconds.

    An :class:`Embedder` whose front-end is :class:`audiocl.frontends.MFCC` and whose encoder is
    :class:`MFCCStats` on ``librosa.feature.mfcc``'s defaults (2048-sample frames every 512, centred, 128
    Slaney mels, 80 dB floor); ``embedding_dim = 2 * n_mfcc``. Clip-level statistics are the field's plain
    baseline (MFCC mean and std over the clip, then logistic regression); 1-s chunks of 25 ms frames, averaged
    after the probe, ran 1 to 4 points below it (issue 18), so they are the option, not the default. Clips
    shorter than 1 s are zero-padded to 1 s; HEAR's timestamp embeddings use 1-s windows.

    >>> mfcc_baseline(16000).embed(torch.zeros(16000), 16000).shape  # doctest: +SKIP
    torch.Size([40])
    """
    from audiocl.eval.pipeline import Pipeline
    from audiocl.frontends import MFCC

    # librosa.feature.mfcc's defaults, in samples at any rate: 2048-point frames every 512, centred, 128 mels.
    ms = 1000 / sample_rate
    frontend = MFCC(sample_rate, n_mfcc=n_mfcc, n_mels=128, win_ms=2048 * ms, hop_ms=512 * ms, n_fft=2048, center=True)
    pipeline = Pipeline(frontend, MFCCStats(n_mfcc), sample_rate, int(sample_rate))
    embedder = _from_pipeline(pipeline, chunk_s, hop_s, whole_clip=chunk_s is None, **kwargs)
    embedder.identity = {"kind": "mfcc", "n_mfcc": n_mfcc}
    return embedder


def build_embedder(
    *,
    checkpoint: str | os.PathLike | None = None,
    baseline: str | None = None,
    recipe=None,
    branch: str | None = None,
    sample_rate: int | None = None,
    **kwargs,
) -> Embedder:
    """The embedder the CLI asks for: a checkpoint, or ``baseline="random"`` (needs ``recipe``) or ``"mfcc"``.

    ``sample_rate`` only applies to the MFCC baseline (default 16 kHz).
    """
    if (checkpoint is None) == (baseline is None):
        raise ValueError("give exactly one of a checkpoint or a baseline ('random' or 'mfcc')")
    if checkpoint is not None:
        return load_encoder(checkpoint, branch, **kwargs)
    if baseline == "mfcc":
        return mfcc_baseline(sample_rate or 16000, **kwargs)
    if baseline == "random":
        if recipe is None:
            raise ValueError("the random baseline needs a recipe (--recipe PATH_OR_NAME) to build its encoder")
        return random_encoder(recipe, branch, **kwargs)
    raise ValueError(f"baseline must be 'random' or 'mfcc', got {baseline!r}")


# -- files ----------------------------------------------------------------------------------------------


def stream_chunks(
    path: str | os.PathLike, embedder: Embedder, *, chunks_per_read: int | None = None
) -> Iterable[torch.Tensor]:
    """Per-chunk embeddings of one file, read a window at a time so memory stays bounded.

    Each read decodes (and resamples) the audio of ``chunks_per_read`` consecutive chunks (default the
    embedder's batch size), via :func:`audiocl.audio.load` with ``offset_s``/``duration_s``. Chunk positions
    match :meth:`Embedder.embed` on the whole file, to within one sample of the file's rate; with resampling,
    the first and last few samples of each read see the resampler's edge instead of their neighbours.

    MP3 is the exception: libsndfile's decoder cannot resume a read or seek correctly, so a window can only
    be read by decoding from the start, and window-by-window reads would cost the square of the length. An
    MP3 is therefore decoded once into host memory (mono at the embedder's rate: ~320 MB per hour at
    22.05 kHz, plus the decoder's frames while it runs), and still sent to the device a window at a time.

    Yields:
        ``(n, dim)`` float32 CPU tensors, consecutive chunks in order.

    Raises:
        audiocl.audio.AudioError: the file cannot be read (possibly after some windows were yielded).
    """
    from audiocl.audio import info, load

    sr, S, H = embedder.sample_rate, embedder.segment_samples, embedder.hop_samples
    meta = info(path)
    if meta.num_frames == 0:
        load(path)  # raises the AudioError for an empty file
    num_samples = math.ceil(meta.num_frames * sr / meta.sample_rate)
    starts = chunk_starts(num_samples, S, H)
    m = chunks_per_read or embedder.batch_size
    whole = load(path, sr)[0] if meta.format == "MP3" else None  # see the docstring
    for first in range(0, len(starts), m):
        block = starts[first : first + m]
        lo, hi = int(block[0]), int(block[-1]) + S
        if whole is not None:
            window = whole[lo:hi]
            audio = torch.nn.functional.pad(window, (0, hi - lo - len(window)))  # zeros past the end
            yield embedder.embed_windows(audio[None], block - lo)[0].cpu()
            continue
        hi_valid = min(hi, num_samples)  # ask only for audio that exists; the rest is zero-padded
        # At the file's own rate the last window can round to its final frame or to none: read at least one.
        offset_s = min(lo / sr, (meta.num_frames - 1) / meta.sample_rate)
        duration_s = max((hi_valid - lo) / sr, 1 / meta.sample_rate)
        audio, _ = load(path, sr, offset_s=offset_s, duration_s=duration_s)
        audio = audio[: hi - lo]
        yield embedder.embed_windows(audio[None], block - lo)[0].cpu()


@dataclass
class EmbedFilesReport:
    """What :func:`embed_files` did."""

    out_path: Path
    files: list[str] = field(default_factory=list)
    num_chunks: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def embed_files(
    embedder: Embedder,
    inputs: Sequence[str | os.PathLike],
    out_path: str | os.PathLike,
    *,
    pooling: str | None = None,
    progress: bool = True,
    chunks_per_read: int | None = None,
) -> EmbedFilesReport:
    """Embed audio files (or folders, or list files) into one ``.npz``, streaming each file.

    A file longer than ``chunks_per_read`` chunks (default the batch size) is never decoded whole: it is read
    a window at a time (:func:`stream_chunks`); shorter files are read whole and their chunks batched with
    their neighbours'. Unreadable files are reported on stderr,
    skipped, and listed in the output; the rest finish. When no file can be read, ValueError and nothing is
    written. ``out_path`` is never one of the inputs. The ``.npz`` is written to a temporary file next to
    ``out_path`` and moved into place, so a crash never leaves a half-written output.

    The ``.npz`` holds, for ``N`` embedded files and ``M`` chunks in all:

    - ``paths`` ``(N,)`` str; ``embeddings`` ``(N, dim')`` the pooled embeddings (absent for ``"none"``);
    - ``chunk_embeddings`` ``(M, dim)`` float32, ``chunk_file`` ``(M,)`` int (row in ``paths``),
      ``timestamps`` ``(M,)`` float64 chunk centres in seconds from the start of their file;
    - ``skipped`` ``(S,)`` and ``skipped_reasons`` ``(S,)`` str;
    - ``sample_rate``, ``segment_samples``, ``hop_samples``, ``pooling``.

    >>> embed_files(load_encoder("last.ckpt"), ["songs/"], "emb.npz")  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from audiocl.audio import AudioError, info, load
    from audiocl.data.folder import list_inputs

    pooling = _check_pooling(embedder.pooling if pooling is None else pooling)
    out_path = Path(out_path)
    files = list_inputs(inputs)
    # os.path.realpath, not Path.resolve(), which raises on a link loop (skipped and listed below instead)
    if os.path.realpath(out_path.expanduser()) in {os.path.realpath(f.expanduser()) for f in files}:
        raise ValueError(f"{out_path} is one of the inputs: choose another output")
    report = EmbedFilesReport(out_path=out_path)

    def skip(path: Path, error: Exception) -> None:
        report.skipped.append((str(path), str(error)))
        tqdm.write(f"audiocl embed: skipping {error}", file=sys.stderr)

    durations = {}  # path -> (seconds, samples at the embedder's rate); the progress bar counts seconds
    for path in files:  # headers only
        try:
            meta = info(path)
            durations[path] = (meta.duration_s, math.ceil(meta.num_frames * embedder.sample_rate / meta.sample_rate))
        except AudioError as e:
            skip(path, e)

    pooled, chunk_embs, chunk_file, times = [], [], [], []
    batcher = _ChunkBatcher(embedder)
    per_read = chunks_per_read or embedder.batch_size
    sr = embedder.sample_rate

    def keep(done: list) -> None:
        for (path, duration), per_chunk in done:  # per_chunk: (K, dim)
            index = len(report.files)
            report.files.append(str(path))
            chunk_embs.append(per_chunk.numpy())
            chunk_file.append(np.full(len(per_chunk), index, dtype=np.int64))
            times.append([duration / 2] if embedder.whole_clip else embedder.timestamps(len(per_chunk)))
            if pooling != "none":
                pooled.append(pool(per_chunk, pooling).numpy())
            bar.update(duration)

    with tqdm(total=sum(d for d, _ in durations.values()), unit="s", desc="embed", disable=not progress) as bar:
        for path, (duration, num_samples) in durations.items():
            chunks = len(chunk_starts(num_samples, embedder.segment_samples, embedder.hop_samples))
            short = embedder.whole_clip or chunks <= per_read
            shown = 0.0  # seconds of this file already counted by the bar
            try:
                if short:  # one read: batch its chunks with the neighbouring files' chunks
                    keep(batcher.add((path, duration), load(path, sr)[0]))
                    continue
                keep(batcher.flush())  # keep the output in input order
                parts = []
                for part in stream_chunks(path, embedder, chunks_per_read=per_read):
                    parts.append(part)
                    step = min(len(part) * embedder.hop_samples / sr, duration - shown)
                    bar.update(step)  # a long file moves the bar as it goes
                    shown += step
                per_chunk = torch.cat(parts)
            except AudioError as e:
                skip(path, e)
                bar.update(duration - shown)
                continue
            keep([((path, duration - shown), per_chunk)])
        keep(batcher.flush())

    dim = embedder.embedding_dim
    arrays = {
        "paths": np.array(report.files, dtype=str),
        "chunk_embeddings": np.concatenate(chunk_embs) if chunk_embs else np.zeros((0, dim), np.float32),
        "chunk_file": np.concatenate(chunk_file) if chunk_file else np.zeros(0, np.int64),
        "timestamps": np.concatenate(times) if times else np.zeros(0),
        "skipped": np.array([p for p, _ in report.skipped], dtype=str),
        "skipped_reasons": np.array([r for _, r in report.skipped], dtype=str),
        "sample_rate": np.int64(embedder.sample_rate),
        "segment_samples": np.int64(embedder.segment_samples),
        "hop_samples": np.int64(embedder.hop_samples),
        "pooling": np.array(pooling),
    }
    if pooling != "none":
        size = 2 * dim if pooling == "mean+max" else dim
        arrays["embeddings"] = np.stack(pooled) if pooled else np.zeros((0, size), np.float32)
    report.num_chunks = len(arrays["chunk_embeddings"])
    if not report.files:  # a failed run leaves an existing output as it was
        raise ValueError(f"none of the {len(files)} input file(s) could be read; {out_path} was not written")
    _save_npz_atomic(out_path, arrays)
    return report


def _save_npz_atomic(out_path: Path, arrays: dict) -> None:
    from audiocl.atomic import write_atomic

    write_atomic(out_path, lambda f: np.savez(f, **arrays))  # a file object: numpy adds no ".npz" to the name
