"""What audiocl writes is readable by whoever the umask lets read it: a shared cache or run folder works."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from audiocl.atomic import current_umask, write_atomic
from audiocl.checkpoint import save_atomic
from audiocl.data.cache import prepare
from audiocl.synth import ensure_corpus


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_current_umask_reads_without_changing(umask):
    assert current_umask() == umask and current_umask() == umask


def test_atomic_files_and_corpus_folders_follow_the_umask(umask, messy_corpus, tmp_path):
    write_atomic(tmp_path / "results.json", lambda f: f.write(b"{}"))
    save_atomic({"w": torch.zeros(2)}, tmp_path / "last.ckpt")
    assert mode(tmp_path / "results.json") == mode(tmp_path / "last.ckpt") == 0o666 & ~umask
    out = tmp_path / "cache"
    prepare("folder", messy_corpus, out, 16000, shard_size=8, progress=False)
    written = [out / "index.json", out / "prepare.json", *out.glob("shard_*")]
    assert len(written) > 4 and {mode(p) for p in written} == {0o666 & ~umask}
    corpus = ensure_corpus(tmp_path / "synthetic", clips_per_class=2, sample_rate=8000, clip_seconds=0.5)
    assert mode(corpus) == 0o777 & ~umask
