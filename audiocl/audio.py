"""Audio I/O: decode (soundfile), mix down to mono, resample (soxr), report a file's rate and length.

Everything that reads a file raises :class:`AudioError` naming the file when the file is missing, empty,
truncated, not audio, claims a sample rate outside :data:`SAMPLE_RATE_RANGE`, contains NaN/Inf samples or
has no samples, so a data loader can skip it and say why.
Loaded audio is float32 mono in [-1, 1], shape ``(samples,)``.

>>> audio, rate = load("clip.flac", sample_rate=16000, offset_s=1.0, duration_s=2.0)  # doctest: +SKIP
>>> audio.shape, rate                                                                  # doctest: +SKIP
(torch.Size([32000]), 16000)
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audiocl.validation import finite_number, positive_int

__all__ = ["AUDIO_EXTENSIONS", "SAMPLE_RATE_RANGE", "AudioError", "AudioInfo", "info", "load", "resample", "save"]

#: File suffixes that :func:`load` decodes (libsndfile >= 1.1, as bundled in the soundfile wheels).
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".au")

#: Sample rates (Hz, inclusive) a file may claim: from below telephone speech (8 kHz) to the highest rate audio
#: hardware records (768 kHz). A header outside it is corrupt, not audio, or not worth a resampling pass.
SAMPLE_RATE_RANGE: tuple[int, int] = (1_000, 768_000)

# Suffix -> (format, subtype) for :func:`save`; subtype None lets libsndfile pick its default.
_WRITE_FORMATS = {
    ".wav": ("WAV", "FLOAT"),  # float so that saving then loading is exact
    ".flac": ("FLAC", "PCM_24"),
    ".ogg": ("OGG", "VORBIS"),
    ".opus": ("OGG", "OPUS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
    ".aiff": ("AIFF", "FLOAT"),
    ".aif": ("AIFF", "FLOAT"),
}

# libsndfile repairs a truncated WAV/AIFF header silently and only notes it in its log, e.g.
# "data : 64000 (should be 31978)" (WAV) or " SSND : 64008 (should be 31956)" (AIFF);
# an Ogg stream cut short logs "File ended unexpectedly".
_SHORT_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be\s*(\d+)\)", re.MULTILINE)


class AudioError(Exception):
    """A file that cannot be used as audio. The message names the file; ``.path`` holds it."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable, so it crosses DataLoader worker and multiprocessing boundaries
        return type(self), (self.path, self.reason)


@dataclass(frozen=True)
class AudioInfo:
    """Header facts about an audio file, read without decoding it."""

    sample_rate: int
    num_frames: int
    channels: int
    format: str = ""  # libsndfile's container name: "WAV", "FLAC", "OGG", "MP3", ...

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.sample_rate


def _open(path: Path) -> sf.SoundFile:
    """Open ``path`` for reading, turning every way it can fail into an AudioError naming the file."""
    if not path.exists():
        if path.is_symlink():
            raise AudioError(path, "broken symbolic link (its target is missing, or the links form a loop)")
        raise AudioError(path, "file not found")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        f = sf.SoundFile(path)
    except (sf.SoundFileError, RuntimeError, TypeError) as e:
        raise AudioError(path, f"not a readable audio file ({e})") from e
    low, high = SAMPLE_RATE_RANGE
    if not low <= f.samplerate <= high:
        f.close()
        raise AudioError(path, f"implausible sample rate {f.samplerate} Hz in the header (expected {low}-{high} Hz)")
    log = f.extra_info
    for claimed, actual in _SHORT_CHUNK.findall(log):
        if int(actual) < int(claimed):
            f.close()
            raise AudioError(path, f"truncated: header claims {claimed} data bytes, file holds {actual}")
    if "File ended unexpectedly" in log:
        f.close()
        raise AudioError(path, "truncated: the stream ends before its end-of-stream marker")
    # A cut Ogg (Vorbis, Opus) still opens and decodes what is there; libsndfile's log tells: the last whole
    # page lacks the end-of-stream flag, and the cut page after it is "junk".
    if "lacks an end-of-stream bit" in log or "Junk after the last page" in log:
        f.close()
        raise AudioError(path, "truncated or corrupt: the Ogg stream does not end with its end-of-stream page")
    return f


def info(path: str | os.PathLike) -> AudioInfo:
    """Sample rate, length and channel count of ``path`` from its header, without decoding the audio.

    Raises :class:`AudioError` for a missing, empty, truncated or non-audio file. A valid file with no
    samples reports ``num_frames == 0`` (:func:`load` raises for it). For an MP3 without a Xing/Info/VBRI
    tag, ``num_frames`` is libsndfile's estimate from the file size and may exceed the decodable length.

    >>> info("clip.wav").duration_s  # doctest: +SKIP
    4.0
    """
    path = Path(path)
    with _open(path) as f:
        return AudioInfo(int(f.samplerate), int(f.frames), int(f.channels), str(f.format))


def load(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    offset_s: float = 0.0,
    duration_s: float | None = None,
) -> tuple[torch.Tensor, int]:
    """Decode ``path`` to float32 mono in [-1, 1], optionally a part of it and at another rate.

    Args:
        path: a WAV, FLAC, OGG (Vorbis/Opus), MP3 or AIFF file.
        sample_rate: resample to this rate in Hz (soxr, see :func:`resample`); None keeps the file's rate.
        offset_s: start reading this many seconds into the file (seeks: earlier audio is not decoded,
            except in MP3 files, where libsndfile's seeks return wrong samples).
        duration_s: read at most this many seconds; None reads to the end.

    Returns:
        ``(audio, rate)``: audio of shape ``(samples,)``, the mean of the file's channels, clipped to
        [-1, 1] (float files may exceed it and resampling can overshoot by a little), and its rate in Hz.

    Raises:
        AudioError: the file is missing, empty, truncated, not audio, claims a rate outside
            :data:`SAMPLE_RATE_RANGE`, holds NaN/Inf samples, has no samples, or ``offset_s`` lies at or beyond
            its end.
        ValueError: an argument is out of range.

    >>> audio, rate = load("speech.wav", sample_rate=16000)  # doctest: +SKIP
    """
    sample_rate = positive_int("sample_rate", sample_rate, allow_none=True)
    offset_s = finite_number("offset_s", offset_s, minimum=0)
    if duration_s is not None:
        duration_s = finite_number("duration_s", duration_s, minimum=0, exclusive=True)

    path = Path(path)
    with _open(path) as f:
        rate, total, mp3 = int(f.samplerate), int(f.frames), f.format == "MP3"
        if total == 0:
            raise AudioError(path, "zero length: the file holds no samples")
        start = int(round(offset_s * rate))
        if start >= total:
            raise AudioError(
                path, f"offset_s={offset_s} is at or beyond the end of the file ({total / rate:.3f} s long)"
            )
        wanted = total - start if duration_s is None else min(total - start, int(round(duration_s * rate)))
        if wanted <= 0:
            raise AudioError(path, f"duration_s={duration_s} selects no samples at {rate} Hz")
        try:
            if mp3:
                # libsndfile's MP3 decoder (1.2.2, in the soundfile 0.14 wheels) returns wrong samples after
                # a seek or from a second read call; one read from the start is right, so drop the offset.
                data = f.read(start + wanted, dtype="float32", always_2d=True)[start:]
            else:
                f.seek(start)
                data = f.read(wanted, dtype="float32", always_2d=True)  # (frames, channels)
        except (sf.SoundFileError, RuntimeError) as e:
            raise AudioError(path, f"decoding failed, the file is corrupt or truncated ({e})") from e
    if len(data) == 0:
        raise AudioError(path, f"offset_s={offset_s} lies beyond the decodable audio (corrupt or truncated file)")
    if len(data) < wanted and not (mp3 and not _mp3_length_is_exact(path)):
        raise AudioError(path, f"truncated: header promises {wanted} frames from the offset, decoded {len(data)}")
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    if not np.isfinite(mono).all():
        raise AudioError(path, "contains NaN or Inf samples")
    audio = torch.from_numpy(np.ascontiguousarray(mono))
    if sample_rate is not None and sample_rate != rate:
        audio, rate = resample(audio, rate, int(sample_rate)), int(sample_rate)
    return audio.clamp_(-1.0, 1.0), rate


def _mp3_length_is_exact(path: Path) -> bool:
    """Whether an MP3 states its length in a Xing/Info/VBRI tag; without one, libsndfile estimates the
    length from the file size and bit rate, often a little long (libsndfile issues #876, #1001)."""
    with open(path, "rb") as f:
        head = f.read(10)
        start = 0
        if head[:3] == b"ID3" and len(head) == 10:  # skip an ID3v2 tag: syncsafe size, + footer if flagged
            start = 10 + int.from_bytes(bytes(b & 0x7F for b in head[6:10]), "big") + (10 if head[5] & 0x10 else 0)
        f.seek(start)
        first_frame = f.read(2048)
    return any(tag in first_frame[:200] for tag in (b"Xing", b"Info", b"VBRI"))


def resample(audio: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Resample along the last axis with soxr (the SoX resampler, "HQ" quality), at any rate ratio.

    soxr's polyphase filters cost time proportional to the samples and memory independent of the ratio, so
    22,051 Hz -> 16 kHz costs what 44.1 -> 16 kHz does (a windowed-sinc kernel sized by the reduced ratio,
    here 22051:16000, would not). The tensor goes through the CPU (soxr is a C library) and comes back on its
    device and dtype (float32 and float64 exactly, other floats via float32); no gradient flows through.

    Shape:
        ``(..., samples)`` -> ``(..., ceil(samples * new_sr / orig_sr))``

    >>> resample(torch.zeros(2, 44100), 44100, 16000).shape
    torch.Size([2, 16000])
    """
    import soxr

    orig_sr, new_sr = positive_int("orig_sr", orig_sr), positive_int("new_sr", new_sr)
    if orig_sr == new_sr:
        return audio
    if not audio.is_floating_point():
        raise ValueError(f"resample needs floating-point audio, got {audio.dtype}")
    samples = audio.shape[-1]
    out_samples = math.ceil(samples * new_sr / orig_sr)
    work = torch.float64 if audio.dtype == torch.float64 else torch.float32
    rows = audio.detach().to("cpu", work).reshape(-1, samples).numpy()  # (rows, samples)
    # soxr rounds the output length; a few trailing zeros make it at least ceil(), as torchaudio's was.
    pad = math.ceil(orig_sr / new_sr) + 1
    rows = np.pad(rows, ((0, 0), (0, pad)))
    out = soxr.resample(np.ascontiguousarray(rows.T), orig_sr, new_sr, quality="HQ")[:out_samples]  # (out, rows)
    result = torch.from_numpy(np.ascontiguousarray(out.T)).reshape(*audio.shape[:-1], out_samples)
    return result.to(audio.device, audio.dtype)


def save(path: str | os.PathLike, audio: torch.Tensor | np.ndarray, sample_rate: int) -> None:
    """Write ``audio`` with soundfile, the format chosen by the suffix (one of :data:`AUDIO_EXTENSIONS`).

    WAV and AIFF are written as 32-bit float (lossless round trip), FLAC as 24-bit PCM, OGG as Vorbis,
    OPUS as Ogg Opus, MP3 as MPEG layer III. Values are expected in [-1, 1].

    Shape:
        ``audio``: ``(samples,)`` or ``(channels, samples)``

    >>> save("out.flac", torch.zeros(16000), 16000)  # doctest: +SKIP
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise ValueError(f"cannot tell the format of {path}: use one of the suffixes {sorted(_WRITE_FORMATS)}")
    sample_rate = positive_int("sample_rate", sample_rate)
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().float().numpy()
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim not in (1, 2):
        raise ValueError(f"audio must be (samples,) or (channels, samples), got shape {audio.shape}")
    if audio.ndim == 2:
        audio = audio.T  # soundfile wants (frames, channels)
    fmt, subtype = _WRITE_FORMATS[suffix]
    sf.write(path, audio, int(sample_rate), format=fmt, subtype=subtype)
