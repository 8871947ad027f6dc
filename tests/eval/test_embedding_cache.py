"""audiocl.eval.cache: embeddings computed once per task, embedder and settings, reused without a forward pass."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from layouts import make_csv
from torch import nn

from audiocl.data.task import load_task
from audiocl.embed import Embedder, mfcc_baseline
from audiocl.eval.cache import EmbeddingCache, default_cache_dir
from audiocl.frontends import LogMel
from audiocl.probe import ProbeOptions, embed_task, probe_and_report

SR = 8000  # the clips of make_csv: 0.1 s at 8 kHz
FAST = ProbeOptions(max_epochs=10, patience=3, weight_decays=(0.0,))


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()  # tiny matrices: a second thread on a busy 2-core machine only waits
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def task(tmp_path):
    return load_task("csv", make_csv(tmp_path / "data", multilabel=False))


def tiny_embedder(*, seed: int = 0, hop_samples: int | None = None) -> Embedder:
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d((4, 1)), nn.Flatten())
    return Embedder(LogMel(SR, n_mels=16, f_max_hz=None), encoder, SR, 400, hop_samples=hop_samples, batch_size=16)


def count_forwards(embedder: Embedder, monkeypatch) -> list:
    """Count the embedder's forward passes (every embedding goes through ``_forward``)."""
    calls, forward = [], embedder._forward
    monkeypatch.setattr(embedder, "_forward", lambda x: calls.append(len(x)) or forward(x))
    return calls


def test_second_probe_of_the_same_task_does_no_forward_pass(task, tmp_path, monkeypatch, capsys):
    cache = EmbeddingCache(tmp_path / "cache")
    embedder = tiny_embedder()
    calls = count_forwards(embedder, monkeypatch)
    probe = dict(seeds=(0,), options=FAST, progress=False, n_boot=0, cache=cache)
    first = probe_and_report(task, {"tiny": embedder}, **probe)
    assert calls and "reusing" not in capsys.readouterr().err
    calls.clear()
    second = probe_and_report(task, {"tiny": embedder}, label_fractions=(1.0, 0.5), **probe)
    assert calls == []  # another probe, at two label fractions: not one chunk embedded again
    err = capsys.readouterr().err
    assert f"reusing cached embeddings of {task.name} (18 items, 0 skipped)" in err and str(cache.root) in err
    assert second[0].metrics == first[0].metrics and second[0].runs == first[0].runs
    # Read back memory-mapped, equal to a fresh embedding to the bit.
    cached, fresh = embed_task(task, embedder, progress=False, cache=cache), embed_task(task, embedder, progress=False)
    assert isinstance(cached.chunks[0].base, np.memmap) and cached.chunks[0].shape == (2, 16)
    for a, b in zip(cached.chunks, fresh.chunks, strict=True):
        np.testing.assert_array_equal(a, b)
    index = json.loads((next(cache.root.iterdir()) / "index.json").read_text())
    assert index["offsets"][:3] == [0, 2, 4] and index["fields"]["segment_samples"] == 400


def test_every_setting_that_changes_the_numbers_changes_the_key(task, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    base = tiny_embedder()
    key = cache.key(task, base).digest
    assert cache.key(task, tiny_embedder()).digest == key  # the same weights built again: the same entry
    assert cache.key(task, tiny_embedder(seed=1)).digest != key  # other weights
    assert cache.key(task, tiny_embedder(hop_samples=200)).digest != key  # other hop
    wider = Embedder(base.frontend, base.encoder, SR, 800, batch_size=16)  # other chunk length
    assert cache.key(task, wider).digest != key
    assert cache.key(task, mfcc_baseline(SR)).digest != cache.key(task, mfcc_baseline(SR, n_mfcc=13)).digest
    pooled = tiny_embedder()
    pooled.pooling = "max"  # chunks are stored unpooled: the pooling does not matter
    assert cache.key(task, pooled).digest == key
    path = task.items[0].path
    os.utime(path, ns=(0, os.stat(path).st_mtime_ns + 10**9))  # the audio was rewritten
    assert cache.key(task, base).digest != key


def test_changed_audio_or_hop_is_embedded_again(task, tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path / "cache")
    embedder = tiny_embedder()
    embed_task(task, embedder, progress=False, cache=cache)
    other_hop = tiny_embedder(hop_samples=200)
    calls = count_forwards(other_hop, monkeypatch)
    assert len(embed_task(task, other_hop, progress=False, cache=cache).chunks[0]) == 3 and calls
    path = task.items[0].path
    os.utime(path, ns=(0, os.stat(path).st_mtime_ns + 10**9))
    calls = count_forwards(embedder, monkeypatch)
    embed_task(task, embedder, progress=False, cache=cache)
    assert calls and len(list(cache.root.iterdir())) == 3


@pytest.mark.slow  # builds, saves and loads a real checkpoint (imports Lightning)
def test_a_checkpoint_rewritten_in_place_or_another_branch_is_embedded_again(task, tmp_path, monkeypatch):
    from audiocl.checkpoint import save_atomic
    from audiocl.config import load_recipe
    from audiocl.embed import load_encoder
    from audiocl.methods import ContrastiveMethod
    from audiocl.recipes_path import resolve_recipe

    recipe = load_recipe(resolve_recipe("multiformat_tiny"))
    ckpt = tmp_path / "last.ckpt"

    def save(seed):
        torch.manual_seed(seed)
        method = ContrastiveMethod(recipe).eval()
        save_atomic({"state_dict": method.state_dict(), "hyper_parameters": {"recipe": recipe.to_dict()}}, ckpt)

    cache = EmbeddingCache(tmp_path / "cache")
    save(0)
    first = embed_task(task, load_encoder(ckpt, "logmel"), progress=False, cache=cache)
    again = load_encoder(ckpt, "logmel")
    calls = count_forwards(again, monkeypatch)
    embed_task(task, again, progress=False, cache=cache)
    assert calls == [] and again.identity["sha256"] and again.identity["path"] == str(ckpt.resolve())
    waveform = load_encoder(ckpt, "waveform")
    calls = count_forwards(waveform, monkeypatch)
    embed_task(task, waveform, progress=False, cache=cache)
    assert calls  # another branch
    save(1)  # retrained: other weights under the same path
    retrained = load_encoder(ckpt, "logmel")
    calls = count_forwards(retrained, monkeypatch)
    emb = embed_task(task, retrained, progress=False, cache=cache)
    assert calls and not np.allclose(emb.chunks[0], first.chunks[0])


@pytest.mark.parametrize("damage", ["truncated array", "garbled index", "missing array", "wrong offsets"])
def test_a_broken_entry_is_warned_about_and_embedded_again(task, tmp_path, monkeypatch, damage):
    cache = EmbeddingCache(tmp_path / "cache")
    embedder = tiny_embedder()
    good = embed_task(task, embedder, progress=False, cache=cache).chunks
    entry = cache.entry(cache.key(task, embedder))
    array, index = entry / "embeddings.npy", entry / "index.json"
    if damage == "truncated array":
        array.write_bytes(array.read_bytes()[:200])
    elif damage == "garbled index":
        index.write_text('{"version": 1, "key": ')
    elif damage == "missing array":
        array.unlink()
    else:
        meta = json.loads(index.read_text())
        meta["offsets"][1] += 1
        index.write_text(json.dumps(meta))
    calls = count_forwards(embedder, monkeypatch)
    with pytest.warns(UserWarning, match="broken embedding cache entry .* embedding again"):
        redone = embed_task(task, embedder, progress=False, cache=cache).chunks
    assert calls
    for a, b in zip(redone, good, strict=True):
        np.testing.assert_array_equal(a, b)
    calls.clear()
    embed_task(task, embedder, progress=False, cache=cache)  # the entry was written anew
    assert calls == [] and sorted(p.name for p in entry.iterdir()) == ["embeddings.npy", "index.json"]


def test_a_run_killed_while_writing_leaves_no_entry(task, tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path / "cache")
    embedder = tiny_embedder()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        embed_task(task, embedder, progress=False, cache=cache)
    assert list(cache.root.iterdir()) == []  # neither an entry nor its temporary folder
    monkeypatch.undo()
    calls = count_forwards(embedder, monkeypatch)
    embed_task(task, embedder, progress=False, cache=cache)
    assert calls and len(list(cache.root.iterdir())) == 1


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOCL_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine" and EmbeddingCache().root == tmp_path / "mine"
    monkeypatch.delenv("AUDIOCL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "audiocl" / "embeddings"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "audiocl" / "embeddings"


def test_cli_probe_twice_reuses_the_cache_and_no_cache_writes_nothing(task, tmp_path, capsys):
    from audiocl.cli import main

    cache = tmp_path / "cache"
    base = ["probe", "--task", "csv", "--data", str(tmp_path / "data" / "labels.csv"), "--baseline", "mfcc",
            "--sample-rate", str(SR), "--seeds", "0", "--max-epochs", "20", "--bootstrap", "0", "--device", "cpu",
            "--no-progress", "--overwrite"]  # fmt: skip
    assert main([*base, "--cache-dir", str(cache), "--out", str(tmp_path / "1.json")]) == 0
    assert "reusing" not in capsys.readouterr().err and len(list(cache.iterdir())) == 1
    assert main([*base, "--cache-dir", str(cache), "--out", str(tmp_path / "2.json")]) == 0
    assert "reusing cached embeddings of csv" in capsys.readouterr().err
    results = [json.loads((tmp_path / f"{k}.json").read_text())["results"][0] for k in (1, 2)]
    assert results[0]["metrics"] == results[1]["metrics"]
    elsewhere = tmp_path / "elsewhere"
    assert main([*base, "--no-cache", "--cache-dir", str(elsewhere), "--out", str(tmp_path / "3.json")]) == 0
    assert not elsewhere.exists() and "reusing" not in capsys.readouterr().err


def test_a_temporary_folder_left_by_a_killed_run_is_removed_once_stale(task, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    stale, fresh = cache.root / ".0123.abc.tmp", cache.root / ".4567.def.tmp"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "embeddings.npy").write_bytes(b"half of an array")
    os.utime(stale, (0, 0))
    embed_task(task, tiny_embedder(), progress=False, cache=cache)
    assert not stale.exists() and fresh.exists()  # the fresh one may be another run's, still writing
