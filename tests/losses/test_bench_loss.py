"""audiocl bench loss: one case measures time, memory and the loss; the table skips the peer past its limit."""

from __future__ import annotations

import argparse

import pytest

from audiocl.bench import loss as bench


def test_measure_ours_and_the_peer_agree():
    ours = bench.measure("audiocl", 16, 8, 0.5, "cpu", repeats=1)
    peer = bench.measure("pml", 16, 8, 0.5, "cpu", repeats=1)
    assert ours["loss"] == pytest.approx(peer["loss"], abs=1e-5)
    assert ours["seconds"] > 0 and peer["seconds"] > 0


@pytest.mark.slow
def test_table_with_the_peer_skipped(capsys):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--batch-sizes", "8", "--dim", "4", "--repeats", "1", "--peer-limit-gb", "0"])
    assert bench.run(args) == 0
    out = capsys.readouterr().out
    assert "audiocl nt_xent" in out and "skipped: needs" in out


def test_queue_case_uses_the_queued_negatives():
    # A full queue of 32 random keys adds negatives: a larger loss than in-batch, on the same embeddings.
    in_batch = bench.measure("audiocl", 16, 8, 0.5, "cpu", repeats=1)
    queued = bench.measure("audiocl", 16, 8, 0.5, "cpu", repeats=1, queue=32)
    peer = bench.measure("lightly", 16, 8, 0.5, "cpu", repeats=1, queue=32)
    assert queued["loss"] > in_batch["loss"] and queued["seconds"] > 0 and peer["seconds"] > 0


@pytest.mark.slow
def test_queue_table(capsys):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--queue", "16", "--batch-sizes", "8", "--dim", "4", "--repeats", "1"])
    assert bench.run(args) == 0
    out = capsys.readouterr().out
    for row in ("audiocl nt_xent + queue", "lightly NTXentLoss memory bank", "in-batch B=16"):
        assert row in out
