"""ClipDataset: random long crops, padding, corrupt-file skipping, worker seeding, determinism."""

from __future__ import annotations

import pytest
import torch
from layouts import write_tone
from torch.utils.data import DataLoader

from audiocl.audio import load
from audiocl.data import ClipDataset


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    long = [write_tone(d / f"long{i}.wav", 0.5, 8000, 300.0 + 100 * i) for i in range(4)]
    short = write_tone(d / "short.wav", 0.1, 8000, 500.0)
    empty = d / "empty.wav"
    empty.write_bytes(b"")
    text = d / "not_audio.wav"
    text.write_text("this is not a wav file\n" * 10)
    whole = write_tone(d / "whole.mp3", 1.0, 16000)
    cut = d / "cut.mp3"  # header and first frames intact, the rest missing: fails only past its valid part
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return {"long": long, "short": short, "empty": empty, "text": text, "cut": cut}


def _offset(crop: torch.Tensor, full: torch.Tensor) -> int:
    """Where ``crop`` starts in ``full`` (exactly, not approximately)."""
    n = len(crop)
    hits = [s for s in range(len(full) - n + 1) if torch.equal(full[s : s + n], crop)]
    assert len(hits) == 1
    return hits[0]


def test_crop_is_a_slice_of_the_file(files):
    ds = ClipDataset(files["long"], sample_rate=8000, clip_samples=1000, seed=0)
    starts = set()
    for _ in range(6):
        item = ds[1]
        assert item["audio"].shape == (1000,) and item["audio"].dtype == torch.float32
        assert item["length"] == 1000 and item["index"] == 1 and item["label"] == -1
        full, _ = load(files["long"][1])
        starts.add(_offset(item["audio"], full))
    assert len(starts) > 1  # the crop start is random


def test_resampled_crop_length(files):
    ds = ClipDataset(files["long"], sample_rate=16000, clip_samples=3000, seed=0)
    item = ds[0]
    assert item["audio"].shape == (3000,) and item["length"] == 3000
    assert item["audio"].abs().max() > 0.3


def test_short_file_is_zero_padded(files):
    ds = ClipDataset([files["short"]], sample_rate=16000, clip_samples=4000, labels=[7])
    item = ds[0]
    full, _ = load(files["short"], 16000)
    assert item["length"] == len(full) == 1600 and item["label"] == 7
    assert torch.equal(item["audio"][:1600], full) and not item["audio"][1600:].any()


def test_corrupt_files_are_skipped_and_named(files):
    paths = [files["empty"], files["text"], *files["long"]]
    ds = ClipDataset(paths, sample_rate=8000, clip_samples=800, seed=0)
    with pytest.warns(RuntimeWarning, match="empty.wav"):
        item = ds[0]
    assert item["index"] >= 1 and item["audio"].shape == (800,)
    with pytest.warns(RuntimeWarning, match="not_audio.wav"):
        while files["text"] not in [p for p, _ in ds.skipped]:
            ds[1]
    assert [p for p, _ in ds.skipped] == [files["empty"], files["text"]]
    assert "empty" in ds.skipped[0][1]
    for _ in range(5):  # known-bad files are not decoded (nor warned about) again
        assert ds[0]["index"] >= 2
    assert len(ds.skipped) == 2
    bad = ClipDataset([files["empty"]], 8000, 800, max_retries=3)
    with pytest.warns(RuntimeWarning), pytest.raises(RuntimeError, match="could not be decoded"):
        bad[0]


def test_deterministic_for_a_seed(files):
    def crops(seed):
        ds = ClipDataset(files["long"], 8000, 500, seed=seed)
        return torch.stack([ds[i % 4]["audio"] for i in range(8)])

    assert torch.equal(crops(1), crops(1))
    assert not torch.equal(crops(1), crops(2))


def test_workers_are_seeded_distinctly_and_reproducibly(files):
    # Every item is the same file, so items differ only by where the crop starts.
    ds = ClipDataset([files["long"][0]] * 8, 8000, 500, seed=0)

    def run(seed):
        loader = DataLoader(ds, batch_size=4, num_workers=2, generator=torch.Generator().manual_seed(seed))
        return [b["audio"] for b in loader]  # batch 0 from worker 0, batch 1 from worker 1

    first, again, other = run(0), run(0), run(1)
    assert not torch.equal(first[0], first[1])  # the two workers draw different crops
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_validation(files):
    with pytest.raises(ValueError, match="at least one file"):
        ClipDataset([], 8000, 100)
    with pytest.raises(ValueError, match="sample_rate"):
        ClipDataset(files["long"], 0, 100)
    with pytest.raises(ValueError, match="labels"):
        ClipDataset(files["long"], 8000, 100, labels=[1])


def test_crop_seed_keys_fix_the_crop(files):
    # A step-indexed sampler passes (index, crop_seed): the crop depends on nothing else.
    a = ClipDataset(files["long"], 8000, 500, seed=0)
    b = ClipDataset(files["long"], 8000, 500, seed=9)
    b[2]  # advancing b's own stream changes nothing for seeded keys
    assert torch.equal(a[(2, 123)]["audio"], b[(2, 123)]["audio"])
    assert a[(2, 123)]["index"] == 2
    crops = {tuple(a[(2, s)]["audio"][:4].tolist()) for s in range(6)}
    assert len(crops) > 1
    loader = DataLoader(a, batch_sampler=[[(0, 5), (1, 6)], [(2, 7), (3, 8)]], num_workers=2)
    batches = [bt["audio"] for bt in loader]
    assert torch.equal(batches[1][0], a[(2, 7)]["audio"])


def test_crop_seed_keys_ignore_what_the_process_knew(files):
    # The cut MP3 fails after its crop start was drawn; a process that already knew it was bad must still
    # pick the same replacement and crop for the same (index, crop_seed).
    paths = [files["cut"], *files["long"]]
    knew = ClipDataset(paths, 16000, 4000)
    with pytest.warns(RuntimeWarning, match="cut.mp3"):
        knew[0]
    for crop_seed in range(6):
        fresh = ClipDataset(paths, 16000, 4000)
        with pytest.warns(RuntimeWarning, match="cut.mp3"):
            want = fresh[(0, crop_seed)]
        got = knew[(0, crop_seed)]
        assert got["index"] == want["index"] != 0 and torch.equal(got["audio"], want["audio"])


def test_skip_log_collects_every_worker(tmp_path, files):
    log = tmp_path / "skipped.tsv"
    ds = ClipDataset([files["empty"], files["text"], *files["long"]], 8000, 400, skip_log=log)
    loader = DataLoader(ds, batch_sampler=[[(0, 1), (2, 1)], [(1, 2), (3, 2)]], num_workers=2)
    list(loader)  # the workers warn on their own stderr
    logged = {line.split("\t")[0] for line in log.read_text().splitlines()}  # once per worker that met it
    assert logged == {str(files["empty"]), str(files["text"])}
    assert ds.skipped == []  # the workers' copies skipped them, not this process
