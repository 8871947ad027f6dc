"""audiocl bench augment: the CLMR chain next to audiomentations' in one run, on a tiny batch."""

from __future__ import annotations

import re

import audiocl.allocator
from audiocl.cli import main

TINY = ["bench", "augment", "--batch-size", "2", "--repeats", "1", "--min-seconds", "0"]


def _ratio(out: str) -> float:
    return float(re.search(r"ratio ([0-9.]+)x", out).group(1))


def test_chain_row_and_ratio_with_default_malloc(capsys):
    assert main([*TINY, "--no-per-transform", "--default-malloc"]) == 0
    out = capsys.readouterr().out
    assert "malloc default" in out
    assert re.search(r"CLMR chain \(paper's p\) +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+x", out)
    assert _ratio(out) > 0


def test_the_command_keeps_freed_memory_unless_told_not_to(capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(audiocl.allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    assert main([*TINY, "--no-per-transform"]) == 0
    assert calls == [1] and "malloc keeps freed memory" in capsys.readouterr().out
    assert main([*TINY, "--no-per-transform", "--default-malloc"]) == 0
    assert calls == [1]


def test_per_transform_rows(capsys):
    assert main([*TINY, "--default-malloc"]) == 0
    out = capsys.readouterr().out
    for row in ("polarity", "high-pass", "delay", "pitch shift (WSOLA)", "reverb (synthetic RIR)", "impulse response"):
        assert row in out
