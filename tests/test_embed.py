"""audiocl.embed: chunking, pooling, resampling, batch consistency, baselines, streaming files, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from signals import sine
from torch import nn

from audiocl.audio import load, resample, save
from audiocl.data import list_inputs
from audiocl.embed import Embedder, MFCCStats, chunk_starts, embed_files, embed_many, mfcc_baseline
from audiocl.frontends import LogMel

SR = 16000
SEG = 4000  # 0.25 s chunks keep every test small


def tiny_pipeline(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """A real (if small) pipeline: log-mel front-end + a conv encoder."""
    torch.manual_seed(seed)
    frontend = LogMel(SR, n_mels=16)
    encoder = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 1)), nn.Flatten(), nn.Linear(8, 6)
    )
    return frontend, encoder


@pytest.fixture
def embedder() -> Embedder:
    frontend, encoder = tiny_pipeline()
    return Embedder(frontend, encoder, SR, SEG, hop_samples=SEG // 2, batch_size=5)


def reference_chunks(frontend, encoder, audio: torch.Tensor, seg: int, hop: int) -> torch.Tensor:
    """Slow reference: slice, zero-pad and embed each chunk by hand. (samples,) -> (chunks, dim)."""
    out, start = [], 0
    while True:
        chunk = audio[start : start + seg]
        chunk = torch.nn.functional.pad(chunk, (0, seg - len(chunk)))
        with torch.no_grad():
            out.append(encoder(frontend(chunk[None]))[0])
        if start + seg >= len(audio):
            return torch.stack(out)
        start += hop


@pytest.mark.parametrize("n,seg,hop", [(1, 10, 5), (10, 10, 5), (11, 10, 5), (25, 10, 5), (30, 10, 10), (26, 5, 10)])
def test_chunk_starts_cover_the_audio_without_empty_chunks(n, seg, hop):
    starts = chunk_starts(n, seg, hop).tolist()
    assert starts[0] == 0 and all(b - a == hop for a, b in zip(starts, starts[1:], strict=False))
    assert all(s < n for s in starts)  # no chunk starts past the end
    if hop <= seg:
        assert starts[-1] + seg >= n  # every sample covered
        assert len(starts) == 1 or starts[-2] + seg < n  # and no chunk more than needed


def test_embed_matches_chunk_by_chunk_reference_with_padded_last_chunk(embedder):
    audio = sine(440, SR, 0.7) + 0.1 * torch.randn(int(0.7 * SR), generator=torch.Generator().manual_seed(0))
    emb, times = embedder.embed(audio, SR, pooling="none", return_timestamps=True)
    ref = reference_chunks(embedder.frontend, embedder.encoder, audio, SEG, SEG // 2)
    assert emb.shape == ref.shape == (5, 6)  # 11200 samples: starts 0, 2000, ..., 8000 (last one padded)
    torch.testing.assert_close(emb, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(times.numpy(), (np.arange(5) * 2000 + SEG / 2) / SR)


def test_short_audio_is_one_zero_padded_chunk(embedder):
    audio = sine(300, SR, 0.1)
    emb = embedder.embed(audio, SR, pooling="none")
    ref = reference_chunks(embedder.frontend, embedder.encoder, audio, SEG, SEG // 2)
    assert emb.shape == (1, 6)
    torch.testing.assert_close(emb, ref, rtol=1e-5, atol=1e-6)


def test_batch_equals_item_by_item_and_numpy_in_numpy_out(embedder):
    batch = torch.stack([sine(f, SR, 0.6) for f in (200, 500, 900)])
    out = embedder.embed(batch, SR)
    assert out.shape == (3, 6) and isinstance(out, torch.Tensor)
    for row, audio in zip(out, batch, strict=True):
        torch.testing.assert_close(row, embedder.embed(audio, SR), rtol=1e-5, atol=1e-6)
    as_numpy = embedder.embed(batch.numpy(), SR)
    assert isinstance(as_numpy, np.ndarray) and as_numpy.dtype == np.float32
    np.testing.assert_allclose(as_numpy, out.numpy(), rtol=1e-5, atol=1e-6)


def test_poolings_derive_from_per_chunk_embeddings(embedder):
    audio = sine(700, SR, 0.9)
    chunks = embedder.embed(audio, SR, pooling="none")
    torch.testing.assert_close(embedder.embed(audio, SR, pooling="mean"), chunks.mean(0))
    torch.testing.assert_close(embedder.embed(audio, SR, pooling="max"), chunks.amax(0))
    both = embedder.embed(audio, SR, pooling="mean+max")
    torch.testing.assert_close(both, torch.cat([chunks.mean(0), chunks.amax(0)]))
    frontend, encoder = tiny_pipeline()
    assert Embedder(frontend, encoder, SR, SEG, pooling="mean+max").embedding_size == 12
    with pytest.raises(ValueError, match="pooling"):
        embedder.embed(audio, SR, pooling="median")


def test_other_rates_are_resampled(embedder):
    audio = sine(440, 44100, 0.5)
    torch.testing.assert_close(embedder.embed(audio, 44100), embedder.embed(resample(audio, 44100, SR), SR))
    assert not torch.allclose(embedder.embed(audio, 44100), embedder.embed(audio, SR))


def test_constructor_validates_and_embedding_dim_comes_from_the_encoder():
    frontend, encoder = tiny_pipeline()
    with pytest.raises(ValueError, match="hop_samples"):
        Embedder(frontend, encoder, SR, SEG, hop_samples=0)
    with pytest.raises(ValueError, match="segment_samples"):
        Embedder(frontend, encoder, SR, 0)
    encoder.embedding_dim = 6
    assert Embedder(frontend, encoder, SR, SEG).embedding_dim == 6


def test_embed_many_batches_clips_together_and_matches_embed(embedder):
    clips = [sine(200 + 100 * i, SR, s) for i, s in enumerate((0.1, 0.6, 0.3, 1.0))]
    calls = []
    forward = embedder._forward
    embedder._forward = lambda x: calls.append(len(x)) or forward(x)
    got = dict(embed_many(embedder, enumerate(clips)))
    # 1 + 4 chunks fill one batch of 5; 2 + 7 make one of 5 and one of 4: clips share forward passes
    assert calls == [5, 5, 4]
    assert sorted(got) == [0, 1, 2, 3]
    for i, clip in enumerate(clips):
        torch.testing.assert_close(got[i], embedder.embed(clip, SR, pooling="none"), rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # librosa's first MFCC call compiles (numba): seconds
def test_mfcc_baseline_is_mean_and_std_of_librosas_default_mfccs_over_the_clip():
    librosa = pytest.importorskip("librosa")
    noise = 0.05 * torch.randn(int(2.3 * SR), generator=torch.Generator().manual_seed(0))
    audio = (sine(440, SR, 2.3) + noise).numpy()
    emb = mfcc_baseline(SR).embed(audio, SR)  # the whole clip, as the plain baseline
    mfcc = librosa.feature.mfcc(y=audio, sr=SR, n_mfcc=20)  # every default: 2048/512, centred, 128 mels
    ref = np.concatenate([mfcc.mean(1), mfcc.std(1)])
    assert emb.shape == (40,)
    np.testing.assert_allclose(emb, ref, rtol=1e-4, atol=2e-3)
    chunked = mfcc_baseline(SR, chunk_s=1.0).embed(audio, SR, pooling="none")
    assert chunked.shape == (3, 40)  # per chunk on request


def test_mfcc_stats_reference():
    x = torch.randn(2, 1, 5, 30, generator=torch.Generator().manual_seed(0))
    out = MFCCStats(5)(x)
    torch.testing.assert_close(out, torch.cat([x[:, 0].mean(-1), x[:, 0].std(-1, correction=0)], dim=1))


@pytest.fixture
def audio_dir(tmp_path):
    root = tmp_path / "songs"
    (root / "sub").mkdir(parents=True)
    save(root / "a.wav", sine(300, SR, 1.3), SR)
    save(root / "sub" / "b.flac", sine(600, 22050, 0.2), 22050)
    (root / "sub" / "broken.wav").write_bytes(b"RIFF\x00\x00not audio at all")
    (root / "notes.md").write_text("not audio, not listed")
    (root / "._a.wav").write_bytes(b"AppleDouble metadata, hidden: not listed")
    return root


def test_list_inputs_expands_folders_and_list_files(audio_dir, tmp_path):
    assert [p.name for p in list_inputs([audio_dir])] == ["a.wav", "b.flac", "broken.wav"]
    listing = tmp_path / "list.txt"
    listing.write_text("# comment\nsongs/a.wav\n\nsongs/missing.wav\n")
    assert list_inputs([listing]) == [tmp_path / "songs/a.wav", tmp_path / "songs/missing.wav"]
    with pytest.raises(ValueError, match="nope"):
        list_inputs([tmp_path / "nope.wav"])


def test_embed_files_writes_paths_timestamps_and_skips_unreadable(embedder, audio_dir, tmp_path):
    out = tmp_path / "out" / "emb.npz"
    report = embed_files(embedder, [audio_dir], out, progress=False)
    assert [p.rsplit("/", 1)[-1] for p in report.files] == ["a.wav", "b.flac"]
    assert [p.rsplit("/", 1)[-1] for p, _ in report.skipped] == ["broken.wav"]
    data = np.load(out)
    assert list(data["paths"]) == report.files and data["skipped"][0].endswith("broken.wav")
    assert "broken.wav" in data["skipped_reasons"][0]
    for i, path in enumerate(report.files):
        audio, _ = load(path, SR)
        per_chunk, times = embedder.embed(audio, SR, pooling="none", return_timestamps=True)
        rows = data["chunk_file"] == i
        np.testing.assert_allclose(data["chunk_embeddings"][rows], per_chunk.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(data["timestamps"][rows], times.numpy())
        np.testing.assert_allclose(data["embeddings"][i], per_chunk.numpy().mean(0), rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in out.parent.iterdir()) == ["emb.npz"]  # no temporary file left


def test_embed_files_streams_long_files_in_bounded_reads(embedder, tmp_path, monkeypatch):
    import audiocl.audio

    long = sine(220, SR, 6.0) * torch.linspace(0.1, 1.0, 6 * SR)
    save(tmp_path / "long.wav", long, SR)
    reads = []
    real_load = audiocl.audio.load

    def spy(path, sample_rate=None, *, offset_s=0.0, duration_s=None):
        reads.append(duration_s)
        return real_load(path, sample_rate, offset_s=offset_s, duration_s=duration_s)

    monkeypatch.setattr(audiocl.audio, "load", spy)
    embed_files(embedder, [tmp_path / "long.wav"], tmp_path / "e.npz", progress=False, chunks_per_read=3)
    window_s = (SEG + 2 * SEG // 2) / SR  # 3 chunks at hop SEG/2
    assert len(reads) == -(-len(chunk_starts(6 * SR, SEG, SEG // 2)) // 3)  # 47 chunks, 3 per read
    assert all(d is not None and d <= window_s + 1e-9 for d in reads)
    whole = embedder.embed(long, SR, pooling="none")
    np.testing.assert_allclose(np.load(tmp_path / "e.npz")["chunk_embeddings"], whole.numpy(), rtol=1e-5, atol=1e-6)


def test_embed_files_is_atomic_when_it_fails(tmp_path, audio_dir):
    frontend, encoder = tiny_pipeline()

    class Failing(nn.Module):
        embedding_dim = 6  # so that the constructor needs no dry run

        def forward(self, x):
            raise RuntimeError("device fell over")

    out = tmp_path / "emb.npz"
    out.write_bytes(b"previous result")
    embedder = Embedder(frontend, Failing(), SR, SEG)
    with pytest.raises(RuntimeError, match="fell over"):
        embed_files(embedder, [audio_dir], out, progress=False)
    assert out.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir() if p.name != "songs"] == ["emb.npz"]


def test_cli_embed_with_the_mfcc_baseline(audio_dir, tmp_path, capsys):
    from audiocl.cli import main

    out = tmp_path / "mfcc.npz"
    code = main(["embed", "--baseline", "mfcc", str(audio_dir), "--out", str(out), "--pooling", "mean+max",
                 "--chunk-s", "0.5", "--device", "cpu", "--no-progress"])  # fmt: skip
    assert code == 0
    data = np.load(out)
    assert data["embeddings"].shape == (2, 80) and str(data["pooling"]) == "mean+max"
    assert int(data["segment_samples"]) == 8000
    assert "1 skipped" in capsys.readouterr().out
    assert main(["embed", "--baseline", "mfcc", "--checkpoint", "x.ckpt", str(audio_dir), "--out", str(out)]) == 2


def test_cli_embed_never_clobbers_an_input_an_existing_output_or_a_folder(audio_dir, tmp_path, capsys):
    from audiocl.cli import main

    mfcc = ["embed", "--baseline", "mfcc", "--chunk-s", "0.5", "--device", "cpu", "--no-progress"]
    wav = audio_dir / "a.wav"
    before = wav.read_bytes()
    assert main([*mfcc, str(wav), "--out", str(wav), "--overwrite"]) == 2  # the input itself
    assert "is also an input" in capsys.readouterr().err and wav.read_bytes() == before
    assert main([*mfcc, str(audio_dir), "--out", str(wav), "--overwrite"]) == 2  # a file inside an input folder
    assert "is one of the inputs" in capsys.readouterr().err and wav.read_bytes() == before
    assert main([*mfcc, str(wav), "--out", str(tmp_path)]) == 2  # a folder: refused at start
    assert "is a folder" in capsys.readouterr().err
    out = tmp_path / "emb.npz"
    out.write_bytes(b"a good earlier result")
    assert main([*mfcc, str(wav), "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and out.read_bytes() == b"a good earlier result"
    broken = audio_dir / "sub" / "broken.wav"
    assert main([*mfcc, str(broken), "--out", str(out), "--overwrite"]) == 2  # every input fails: nothing written
    assert "was not written" in capsys.readouterr().err and out.read_bytes() == b"a good earlier result"
    assert main([*mfcc, str(wav), "--out", str(out), "--overwrite"]) == 0
    assert np.load(out)["embeddings"].shape == (1, 40)


@pytest.mark.slow  # imports Lightning through audiocl.methods
def test_load_encoder_and_random_baseline_from_a_checkpoint(tmp_path, audio_dir):
    from audiocl.checkpoint import save_atomic
    from audiocl.cli import main
    from audiocl.config import load_recipe
    from audiocl.embed import build_embedder, load_encoder
    from audiocl.methods import ContrastiveMethod
    from audiocl.recipes_path import resolve_recipe

    recipe = load_recipe(resolve_recipe("demo"))
    torch.manual_seed(123)
    method = ContrastiveMethod(recipe).eval()
    ckpt = tmp_path / "demo.ckpt"
    save_atomic({"state_dict": method.state_dict(), "hyper_parameters": {"recipe": recipe.to_dict()}}, ckpt)

    embedder = load_encoder(ckpt, chunk_s=0.5, hop_s=0.25)
    assert (embedder.sample_rate, embedder.segment_samples, embedder.hop_samples) == (16000, 8000, 4000)
    audio = 0.3 * torch.randn(2, 12000, generator=torch.Generator().manual_seed(0))
    branch = method.branches["logmel"]
    with torch.no_grad():
        ref = torch.stack([branch.encoder(branch.frontend(audio[:, s : s + 8000])) for s in (0, 4000)], 1)
    torch.testing.assert_close(embedder.embed(audio, 16000, pooling="none"), ref, rtol=1e-5, atol=1e-6)

    random_a = build_embedder(baseline="random", recipe="demo", chunk_s=0.5)
    random_b = build_embedder(baseline="random", recipe="demo", chunk_s=0.5)
    torch.testing.assert_close(random_a.embed(audio, 16000), random_b.embed(audio, 16000))  # seeded
    assert not torch.allclose(random_a.embed(audio, 16000), embedder.embed(audio, 16000))
    with pytest.raises(ValueError, match="recipe"):
        build_embedder(baseline="random")

    out = tmp_path / "ckpt.npz"
    assert main(["embed", "--checkpoint", str(ckpt), str(audio_dir), "--out", str(out), "--device", "cpu",
                 "--chunk-s", "0.5", "--no-progress"]) == 0  # fmt: skip
    assert np.load(out)["embeddings"].shape == (2, 128)


def test_bench_embed_batched_agrees_with_the_per_clip_loop(capsys):
    import argparse

    from audiocl.bench import embed as bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--clips", "3", "--seconds", "0.6", "--chunk-s", "0.25", "--repeats", "1"])
    assert bench.run(args) == 0
    rows = [
        line.split() for line in capsys.readouterr().out.splitlines() if line.startswith(("Embedder (", "per-clip"))
    ]
    assert len(rows) == 2
    assert all(float(row[-1]) < 1e-4 for row in rows)  # max |diff| between the two paths


def test_streaming_reads_the_last_sliver_of_an_upsampled_file(tmp_path):
    from audiocl.frontends import Waveform

    # 100 frames at 8 kHz are 200 samples at 16 kHz; chunks of 199 start at 0 and 199, and the second one
    # begins on the file's last frame at 8 kHz, less than one source sample long.
    save(tmp_path / "short.wav", sine(440, 8000, 100 / 8000), 8000)
    torch.manual_seed(0)
    embedder = Embedder(Waveform(), nn.Sequential(nn.Flatten(), nn.Linear(199, 4)), SR, 199, batch_size=1)
    report = embed_files(embedder, [tmp_path / "short.wav"], tmp_path / "e.npz", progress=False, chunks_per_read=1)
    assert not report.skipped and report.num_chunks == 2


def test_a_long_mp3_is_decoded_once_not_once_per_window(embedder, tmp_path, monkeypatch):
    """libsndfile cannot resume an MP3 read, so a window costs a decode from the start: an MP3 is decoded
    once (linear, not quadratic, in its length) and its windows match the whole-file embedding."""
    import soundfile as sf

    import audiocl.audio

    long = (sine(220, SR, 6.0) * torch.linspace(0.1, 1.0, 6 * SR)).numpy()
    sf.write(tmp_path / "long.mp3", long, SR, format="MP3", subtype="MPEG_LAYER_III")
    reads, real_load = [], audiocl.audio.load

    def spy(path, sample_rate=None, *, offset_s=0.0, duration_s=None):
        reads.append(duration_s)
        return real_load(path, sample_rate, offset_s=offset_s, duration_s=duration_s)

    monkeypatch.setattr(audiocl.audio, "load", spy)
    embed_files(embedder, [tmp_path / "long.mp3"], tmp_path / "e.npz", progress=False, chunks_per_read=3)
    assert reads == [None]  # one whole decode, not one per window of 3 chunks
    whole = embedder.embed(real_load(tmp_path / "long.mp3", SR)[0], SR, pooling="none")
    np.testing.assert_allclose(np.load(tmp_path / "e.npz")["chunk_embeddings"], whole.numpy(), rtol=1e-5, atol=1e-6)
