"""The decode-once cache: round trip within int16 quantisation, shards, resume, corrupt files, no partial shard."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from layouts import write_tone

import audiocl.audio
from audiocl.audio import load
from audiocl.data import CachedClipDataset, prepare
from audiocl.data.cache import INT16_SCALE


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cache_src")
    for i in range(10):
        write_tone(d / f"clip{i:02d}.wav", 0.1 + 0.02 * i, 8000, 200.0 + 50 * i)
    return d


@pytest.fixture
def broken_dir(tmp_path, audio_dir):
    d = tmp_path / "src"
    d.mkdir()
    for f in sorted(audio_dir.iterdir())[:5]:
        (d / f.name).write_bytes(f.read_bytes())
    (d / "clip02.wav").write_bytes(b"")  # empty
    (d / "clip99.wav").write_text("RIFF but not really\n")  # not audio
    return d


def _whole(ds: CachedClipDataset, i: int) -> torch.Tensor:
    item = ds[i]
    return item["audio"][: item["length"]]


# int16: half a step of 1/32767; float16: half an ulp, 2**-11 relative.
@pytest.mark.parametrize("dtype, atol, rtol", [("int16", 0.5 / INT16_SCALE + 1e-7, 0), ("float16", 1e-7, 2**-11)])
def test_round_trip(tmp_path, audio_dir, dtype, atol, rtol):
    report = prepare("folder", audio_dir, tmp_path / "c", 16000, dtype=dtype, shard_size=4, progress=False)
    assert report.num_clips == 10 and report.num_shards == 3 and not report.skipped
    ds = CachedClipDataset(tmp_path / "c", clip_samples=8000, sample_rate=16000)
    assert len(ds) == 10 and ds.sample_rate == 16000
    for i, f in enumerate(sorted(audio_dir.iterdir())):
        want, _ = load(f, 16000)
        got = _whole(ds, i)
        assert ds.files[i] == f.resolve() and got.shape == want.shape
        torch.testing.assert_close(got, want, atol=atol, rtol=rtol)
    shard = np.load(tmp_path / "c" / "shard_00000.npy", mmap_mode="r")
    assert isinstance(shard, np.memmap) and shard.dtype == np.dtype(dtype)


def test_random_crops_and_seeding(tmp_path, audio_dir):
    prepare("folder", audio_dir, tmp_path / "c", 8000, progress=False)
    ds = CachedClipDataset(tmp_path / "c", clip_samples=400, seed=0)
    full = _whole(CachedClipDataset(tmp_path / "c", clip_samples=8000), 9)
    crops = [ds[9]["audio"] for _ in range(5)]
    starts = set()
    for c in crops:
        hits = [s for s in range(len(full) - 400 + 1) if torch.equal(full[s : s + 400], c)]
        assert hits
        starts.add(hits[0])
    assert len(starts) > 1
    again = CachedClipDataset(tmp_path / "c", clip_samples=400, seed=0)
    assert all(torch.equal(again[9]["audio"], c) for c in crops)
    padded = ds[0]  # 0.1 s = 800 samples > 400: cropped; ask a longer crop to see padding
    assert padded["length"] == 400
    long = CachedClipDataset(tmp_path / "c", clip_samples=1000)[0]
    assert long["length"] == 800 and not long["audio"][800:].any()


def test_corrupt_files_are_reported_not_fatal(tmp_path, broken_dir):
    report = prepare("folder", broken_dir, tmp_path / "c", 8000, shard_size=2, progress=False)
    skipped = {p.split("/")[-1]: r for p, r in report.skipped}
    assert set(skipped) == {"clip02.wav", "clip99.wav"} and "empty" in skipped["clip02.wav"]
    assert report.num_clips == 4 and report.num_files == 6
    assert "clip02.wav" in report.summary() and "clip99.wav" in report.summary()
    index = json.loads((tmp_path / "c" / "index.json").read_text())
    assert len(index["clips"]) == 4 and len(index["skipped"]) == 2
    assert len(CachedClipDataset(tmp_path / "c", 100).skipped) == 2


def test_resume_after_interruption(tmp_path, audio_dir, monkeypatch):
    reference = prepare("folder", audio_dir, tmp_path / "ref", 8000, shard_size=3, progress=False)
    calls = []
    real_load = audiocl.audio.load

    def dying_load(path, *a, **kw):
        calls.append(path)
        if len(calls) == 5:  # inside the second shard
            raise KeyboardInterrupt
        return real_load(path, *a, **kw)

    monkeypatch.setattr(audiocl.audio, "load", dying_load)
    with pytest.raises(KeyboardInterrupt):
        prepare("folder", audio_dir, tmp_path / "c", 8000, shard_size=3, progress=False)
    names = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert "shard_00000.npy" in names and "shard_00001.npy" not in names and "index.json" not in names

    calls.clear()
    monkeypatch.setattr(audiocl.audio, "load", lambda path, *a, **kw: calls.append(path) or real_load(path, *a, **kw))
    report = prepare("folder", audio_dir, tmp_path / "c", 8000, shard_size=3, progress=False)
    assert report.reused_shards == 1 and len(calls) == 10 - 3  # the finished shard was not decoded again
    ref = json.loads((tmp_path / "ref" / "index.json").read_text())
    got = json.loads((tmp_path / "c" / "index.json").read_text())
    assert got["clips"] == ref["clips"] and reference.num_clips == report.num_clips == 10
    for s in ref["shards"]:
        assert np.array_equal(np.load(tmp_path / "c" / s), np.load(tmp_path / "ref" / s))


def test_no_partial_shard_when_killed_mid_write(tmp_path, audio_dir, monkeypatch):
    real_header = np.lib.format.write_array_header_1_0

    def killed_after_header(f, header):
        real_header(f, header)
        f.write(b"\x00" * 10)
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array_header_1_0", killed_after_header)
    with pytest.raises(KeyboardInterrupt):
        prepare("folder", audio_dir, tmp_path / "c", 8000, shard_size=4, progress=False)
    names = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert "shard_00000.npy" not in names and "shard_00000.json" not in names
    assert not list((tmp_path / "c").glob("*.tmp"))  # an exception removes the temporary file
    # A SIGKILL cannot clean up: the temporary file it leaves behind is removed by the next run.
    (tmp_path / "c" / ".shard_00000.npy.x1y2.tmp").write_bytes(b"\x93NUMPY partial")
    monkeypatch.setattr(np.lib.format, "write_array_header_1_0", real_header)
    report = prepare("folder", audio_dir, tmp_path / "c", 8000, shard_size=4, progress=False)
    assert report.num_clips == 10 and not list((tmp_path / "c").glob("*.tmp"))


def test_settings_mismatch_and_guards(tmp_path, audio_dir):
    prepare("folder", audio_dir, tmp_path / "c", 8000, progress=False)
    with pytest.raises(ValueError, match="sample_rate"):
        prepare("folder", audio_dir, tmp_path / "c", 16000, progress=False)
    with pytest.raises(ValueError, match="16000 Hz was asked"):
        CachedClipDataset(tmp_path / "c", 100, sample_rate=16000)
    with pytest.raises(ValueError, match="index.json"):
        CachedClipDataset(tmp_path / "nothing", 100)
    with pytest.raises(ValueError, match="dtype"):
        prepare("folder", audio_dir, tmp_path / "d", 8000, dtype="int8")


@pytest.mark.slow
def test_parallel_workers_match_serial(tmp_path, audio_dir):
    serial = prepare("folder", audio_dir, tmp_path / "s", 16000, shard_size=3, progress=False)
    parallel = prepare("folder", audio_dir, tmp_path / "p", 16000, shard_size=3, num_workers=2, progress=False)
    assert serial.num_clips == parallel.num_clips == 10
    for s in json.loads((tmp_path / "s" / "index.json").read_text())["shards"]:
        assert np.array_equal(np.load(tmp_path / "s" / s), np.load(tmp_path / "p" / s))


def test_crop_seed_keys(tmp_path, audio_dir):
    prepare("folder", audio_dir, tmp_path / "c", 8000, progress=False)
    a = CachedClipDataset(tmp_path / "c", 300, seed=0)
    b = CachedClipDataset(tmp_path / "c", 300, seed=5)
    assert torch.equal(a[(9, 42)]["audio"], b[(9, 42)]["audio"])
    assert len({tuple(a[(9, s)]["audio"][:3].tolist()) for s in range(6)}) > 1


def test_few_open_shards(tmp_path, audio_dir):
    prepare("folder", audio_dir, tmp_path / "c", 8000, shard_size=2, progress=False)
    ds = CachedClipDataset(tmp_path / "c", 200, max_open_shards=2)
    full = CachedClipDataset(tmp_path / "c", 200)
    for i in [0, 3, 5, 9, 0, 7]:
        assert torch.equal(ds[(i, 1)]["audio"], full[(i, 1)]["audio"])
        assert len(ds._arrays) <= 2
