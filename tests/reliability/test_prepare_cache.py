"""``prepare`` re-runs: a changed file is decoded again, and its workers do not outlive it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiocl.data.cache import CachedClipDataset, prepare


def cached_audio(out: Path, path: Path) -> np.ndarray:
    ds = CachedClipDataset(out, clip_samples=16000)
    i = ds.files.index(path)
    return ds[(i, 0)]["audio"].numpy()


def test_a_rewritten_file_is_decoded_again(messy_copy, tmp_path):
    out = tmp_path / "cache"
    prepare("folder", messy_copy, out, 16000, shard_size=4, progress=False)
    target = messy_copy / "plucked" / "good_1.wav"
    assert abs(cached_audio(out, target)).max() > 0.4
    sf.write(target, np.zeros(16000, np.float32), 16000, subtype="PCM_16")  # same path, new content
    report = prepare("folder", messy_copy, out, 16000, shard_size=4, progress=False)
    assert report.changed_shards == 1 and report.reused_shards == report.num_shards - 1
    assert "redid 1 shard(s) whose files changed" in report.summary()
    assert abs(cached_audio(out, target)).max() == 0  # the new audio, not the old


def test_content_hash_sees_a_change_that_keeps_size_and_mtime(messy_copy, tmp_path):
    out = tmp_path / "cache"
    prepare("folder", messy_copy, out, 16000, shard_size=4, progress=False, content_hash=True)
    target = messy_copy / "bowed" / "good_2.wav"
    st = target.stat()
    audio, rate = sf.read(target, dtype="float32")
    sf.write(target, -audio, rate, subtype="PCM_16")  # same size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    report = prepare("folder", messy_copy, out, 16000, shard_size=4, progress=False, content_hash=True)
    assert report.changed_shards == 1
    np.testing.assert_allclose(cached_audio(out, target), -audio, atol=1e-4)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_workers_die_with_a_killed_prepare(messy_corpus, tmp_path):
    out = tmp_path / "cache"
    cmd = [sys.executable, "-m", "audiocl", "prepare", "folder", "--data", str(messy_corpus), "--out", str(out),
           "--workers", "2", "--shard-size", "1", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        workers: list[int] = []
        while len(workers) < 2 or not list(out.glob("shard_*.json")):
            assert proc.poll() is None, "prepare ended before it could be killed"
            assert time.time() < deadline
            workers = [c for c in _children(proc.pid) if "spawn" in Path(f"/proc/{c}/cmdline").read_text()]
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.time() + 10
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "workers outlived their parent"
    index = out / "index.json"
    assert not index.exists() or json.loads(index.read_text())  # nothing half-written
