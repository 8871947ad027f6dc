"""The HEAR 2021 common API (Turian et al., 2022) for audiocl checkpoints, so hear-eval-kit can score them.

- ``load_model(model_file_path)`` -> a ``torch.nn.Module`` with ``sample_rate``, ``scene_embedding_size`` and
  ``timestamp_embedding_size``;
- ``get_scene_embeddings(audio, model)``: ``(n, samples)`` -> ``(n, scene_embedding_size)``, the mean of the
  embeddings of the clip's chunks (chunks and padding as in :mod:`audiocl.embed`);
- ``get_timestamp_embeddings(audio, model)``: ``(n, samples)`` -> embeddings ``(n, frames,
  timestamp_embedding_size)`` and timestamps ``(n, frames)`` in milliseconds. Frame ``k`` is the embedding of
  the encoder's segment (its training crop) *centred* at ``k * hop_ms``, zero-padded past either end of the
  clip; frames run from 0 ms to the last multiple of ``hop_ms`` not after the end of the clip (default hop
  50 ms, the largest HEAR suggests). Centres are computed from the frame index, never by accumulating a
  rounded hop, so they do not drift on long audio (e.g. 1102.5 samples per 50 ms at 22.05 kHz).

Audio is float32 in [-1, 1] at ``model.sample_rate``; outputs are float32 on the audio's device.

``load_model("")`` (what hear-validator calls without ``-m``) raises a ValueError asking for a checkpoint: a
default model would silently score something other than the user's encoder. ``load_model("mfcc")`` gives the
MFCC baseline (16 kHz) for a checkpoint-free run.

>>> model = load_model("runs/clmr/last.ckpt")                          # doctest: +SKIP
>>> emb, ts = get_timestamp_embeddings(torch.rand(2, 3 * model.sample_rate) * 2 - 1, model)  # doctest: +SKIP
>>> emb.shape, ts[0, :3]                                                # doctest: +SKIP
(torch.Size([2, 61, 512]), tensor([  0.,  50., 100.]))
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiocl.embed import Embedder
from audiocl.eval.chunking import frame_starts

__all__ = [
    "HEAR_SAMPLE_RATES",
    "HearModel",
    "frame_starts",
    "load_model",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
]

#: The input rates the HEAR 2021 API allows.
HEAR_SAMPLE_RATES = (16000, 22050, 44100, 48000)


class HearModel(nn.Module):
    """An :class:`audiocl.embed.Embedder` as a HEAR model (``.to(device)`` moves its front-end and encoder).

    Args:
        embedder: the embedder; its rate must be one of :data:`HEAR_SAMPLE_RATES`.
        hop_ms: distance between timestamp embeddings in milliseconds (<= 50 as HEAR suggests).
    """

    def __init__(self, embedder: Embedder, hop_ms: float = 50.0):
        super().__init__()
        if embedder.sample_rate not in HEAR_SAMPLE_RATES:
            raise ValueError(
                f"HEAR models take audio at one of {HEAR_SAMPLE_RATES} Hz; this encoder expects "
                f"{embedder.sample_rate} Hz"
            )
        if not (math.isfinite(hop_ms) and 0 < hop_ms <= 50):
            raise ValueError(f"hop_ms must be in (0, 50] milliseconds, got {hop_ms!r}")
        self.embedder = embedder
        self.frontend, self.encoder = embedder.frontend, embedder.encoder  # registered: .to() moves them
        self.sample_rate = int(embedder.sample_rate)
        self.scene_embedding_size = int(embedder.embedding_dim)
        self.timestamp_embedding_size = int(embedder.embedding_dim)
        self.hop_ms = float(hop_ms)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return get_scene_embeddings(audio, self)


def load_model(model_file_path: str = "", *, branch: str | None = None, hop_ms: float = 50.0, **kwargs) -> HearModel:
    """A HEAR model from an ``audiocl pretrain`` checkpoint (or ``"mfcc"`` for the MFCC baseline).

    Args:
        model_file_path: the checkpoint. Empty raises ValueError (see the module docstring).
        branch: multi-format checkpoints: ``"waveform"`` or ``"logmel"``; None concatenates both.
        hop_ms: hop of the timestamp embeddings in milliseconds.
        **kwargs: ``batch_size`` (chunks per forward pass), ``chunk_s`` (default the training segment).
    """
    from audiocl.embed import load_encoder, mfcc_baseline

    if not model_file_path:
        raise ValueError(
            "audiocl.hear.load_model needs the path of an audiocl checkpoint "
            "(hear-validator audiocl.hear -m runs/NAME/checkpoints/last.ckpt), or 'mfcc' for the MFCC baseline"
        )
    if str(model_file_path) == "mfcc":
        return HearModel(mfcc_baseline(16000, **kwargs), hop_ms)
    return HearModel(load_encoder(model_file_path, branch, **kwargs), hop_ms)


def _check(audio: torch.Tensor, model: HearModel) -> None:
    if not isinstance(audio, torch.Tensor) or audio.ndim != 2 or audio.shape[1] == 0:
        shape = tuple(audio.shape) if isinstance(audio, torch.Tensor) else type(audio).__name__
        raise ValueError(f"audio must be a (n_sounds, samples) tensor at {model.sample_rate} Hz, got {shape}")


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings every ``model.hop_ms`` ms; see the module docstring.

    Shape:
        ``(n, samples)`` -> embeddings ``(n, frames, timestamp_embedding_size)`` float32, timestamps
        ``(n, frames)`` float32 in ms.
    """
    _check(audio, model)
    e = model.embedder
    starts = frame_starts(audio.shape[1], e.sample_rate, model.hop_ms, e.segment_samples)
    emb = e.embed_windows(audio.float(), starts).to(audio.device, torch.float32)
    times = torch.arange(len(starts), dtype=torch.float64, device=audio.device) * model.hop_ms
    return emb, times.float().expand(audio.shape[0], -1).contiguous()


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """One embedding per clip: the mean of its chunk embeddings.

    Shape:
        ``(n, samples)`` -> ``(n, scene_embedding_size)`` float32.
    """
    _check(audio, model)
    return model.embedder.embed(audio, model.sample_rate, pooling="mean").to(torch.float32)
