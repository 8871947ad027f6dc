"""audiocl.hear: the checks of hear-validator (HEAR 2021) and the placement of the timestamp embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from audiocl.embed import Embedder
from audiocl.frontends import LogMel
from audiocl.hear import HearModel, frame_starts, get_scene_embeddings, get_timestamp_embeddings, load_model


def tiny_model(sample_rate: int = 16000, segment_s: float = 0.2) -> HearModel:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d((3, 1)), nn.Flatten())
    segment = int(segment_s * sample_rate)
    return HearModel(Embedder(LogMel(sample_rate, n_mels=16), encoder, sample_rate, segment, batch_size=128))


@pytest.fixture(params=["tiny-16k", "tiny-22.05k", "mfcc"])
def model(request):
    if request.param == "mfcc":
        return load_model("mfcc")
    return tiny_model(22050 if request.param == "tiny-22.05k" else 16000)


def white_noise(num_audio: int, length_s: float, sample_rate: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand((num_audio, int(length_s * sample_rate)), generator=g) * 2 - 1.0  # as hear-validator


def test_model_attributes(model):
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate in (16000, 22050, 44100, 48000)
    assert isinstance(model.scene_embedding_size, int) and isinstance(model.timestamp_embedding_size, int)


@pytest.mark.parametrize("length", [1.07, 1.98, 4.0])
def test_timestamp_embeddings_pass_the_validator_checks(model, length):
    emb, ts = get_timestamp_embeddings(white_noise(2, length, model.sample_rate), model)
    assert emb.dtype == torch.float32
    emb, ts = emb.detach().cpu().numpy(), ts.detach().cpu().numpy()
    assert emb.ndim == 3 and ts.ndim == 2 and emb.shape[0] == 2
    assert emb.shape[:2] == ts.shape and emb.shape[2] == model.timestamp_embedding_size
    assert ts.shape[1] > 1
    diff = np.diff(ts)
    avg = diff.mean()
    assert diff.max() <= 50.0
    assert np.abs(diff - avg).max() <= 1.0  # regular
    assert ts.min() <= avg  # starts at the beginning
    assert ts.max() >= 1000 * length - 2 * avg  # ends within two hops of the end ...
    assert ts.max() <= 1000 * length  # ... and not after it
    assert np.isfinite(emb).all()


def test_scene_embeddings_pass_the_validator_checks(model):
    emb = get_scene_embeddings(white_noise(4, 2.74, model.sample_rate), model)
    assert emb.dtype == torch.float32
    assert emb.shape == (4, model.scene_embedding_size)
    assert torch.isfinite(emb).all()


def test_timestamp_embedding_is_the_segment_centred_on_its_timestamp():
    model = tiny_model(22050)  # 50 ms is 1102.5 samples: centres must be rounded per frame, not accumulated
    e = model.embedder
    audio = white_noise(1, 0.5, 22050)
    emb, ts = get_timestamp_embeddings(audio, model)
    half = e.segment_samples // 2
    padded = torch.nn.functional.pad(audio[0], (half, e.segment_samples))
    for k in (0, 3, len(ts[0]) - 1):
        centre = round(ts[0, k].item() / 1000 * 22050)
        window = padded[centre : centre + e.segment_samples]  # centre - half in the unpadded audio
        with torch.no_grad():
            ref = e.encoder(e.frontend(window[None]))[0]
        torch.testing.assert_close(emb[0, k], ref, rtol=1e-5, atol=1e-6)


def test_frame_centres_do_not_drift_on_long_audio():
    sr, hop_ms = 22050, 50.0
    num = 37 * 60 * sr  # 37 minutes: a rounded 1102-sample hop would be 25 ms off by the end
    starts = frame_starts(num, sr, hop_ms, 1000)
    k = torch.tensor([0, 1, 1000, len(starts) - 1])
    expected = torch.round(k.double() * 1102.5).long() - 500
    assert torch.equal(starts[k], expected)
    assert len(starts) == 37 * 60 * 20 + 1


def test_scene_embedding_is_the_mean_of_chunk_embeddings():
    model = tiny_model()
    audio = white_noise(2, 1.0, 16000)
    chunks = model.embedder.embed(audio, 16000, pooling="none")
    torch.testing.assert_close(get_scene_embeddings(audio, model), chunks.mean(1))


def test_load_model_without_a_checkpoint_says_what_to_pass():
    with pytest.raises(ValueError, match="checkpoint"):
        load_model()
    with pytest.raises(ValueError, match="Hz"):
        HearModel(Embedder(LogMel(8000, n_mels=16, f_max_hz=3800), nn.Flatten(), 8000, 800))
    with pytest.raises(ValueError, match="audio must be"):
        get_scene_embeddings(torch.zeros(16000), tiny_model())
