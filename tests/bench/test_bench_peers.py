"""audiocl bench: each benchmark runs end to end on tiny sizes with its peer rows and the ratio against the
strongest peer; a peer that is not installed is named in one line and ours still runs (the import simulated
as missing through ``sys.modules``). Not timed: the figures are in docs/benchmarks.md."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import pytest
import torch
import torchaudio

from audiocl.bench import augment as bench_augment
from audiocl.bench import loss as bench_loss
from audiocl.cli import main

AUGMENT = ["bench", "augment", "--batch-size", "2", "--repeats", "1", "--min-seconds", "0", "--default-malloc"]
LOSS = ["bench", "loss", "--batch-sizes", "8", "--dim", "4", "--repeats", "1", "--default-malloc"]
NUMBER = r"[0-9]+\.[0-9]"


def _chain_row(out: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith("CLMR chain (paper's p)"))
    return line[len("CLMR chain (paper's p)") :].split()


# augment ---------------------------------------------------------------------------------------------------


def test_augment_chain_runs_both_peers_and_names_the_substitutions(capsys):
    assert main([*AUGMENT, "--no-per-transform"]) == 0
    out = capsys.readouterr().out
    assert "torch-audiomentations 0." in out and "batched on cpu" in out
    assert "torch-audiomentations CLMR chain, substitutions: delay (p=0.3): left out" in out
    assert "audiomentations CLMR chain, substitutions: delay (p=0.3): left out" in out
    # ms, ours, strongest peer, speed-up, its name, audiomentations, torch-audiomentations
    ms, ours, peer, speedup, name, am_rate, ta_rate = _chain_row(out)
    assert name in ("audiomentations", "torch-audiomentations")
    assert float(peer) == max(float(am_rate), float(ta_rate))
    assert float(speedup[:-1]) == pytest.approx(float(ours) / float(peer), rel=0.06, abs=0.06)
    ratio = re.search(rf"ratio ({NUMBER})x against the strongest peer \({name}\)", out)
    assert ratio and re.search(rf"torch-audiomentations {NUMBER} clips/s", out)
    # torchaudio 2.9 removed torchaudio.info, which torch-audiomentations reads impulse responses with
    note = "note: torch-audiomentations cannot read impulse response files here"
    assert (note in out) == (not hasattr(torchaudio, "info"))


def test_torch_audiomentations_given_tensors_convolves_with_one_of_the_same_responses():
    import soundfile as sf
    import torch_audiomentations as ta

    with tempfile.TemporaryDirectory() as tmp:
        bench_augment._write_impulse_responses(Path(tmp), count=3)
        rows, _, _ = bench_augment._torch_audiomentations(ta, tmp)
        irs = [torch.from_numpy(sf.read(p, dtype="float32")[0]) for p in sorted(Path(tmp).glob("*.wav"))]
    impulse = torch.zeros(4, 1, 30000)
    impulse[:, :, 0] = 1.0
    out = rows["impulse response files"](impulse, sample_rate=bench_augment.SR).samples[:, 0]
    for row in out:  # an impulse through the convolution gives back the response it drew
        assert any(torch.allclose(row[: len(ir)], ir, atol=1e-5) for ir in irs)


@pytest.mark.slow
def test_augment_per_transform_rows_name_the_strongest_peer(capsys):
    assert main(AUGMENT) == 0
    out = capsys.readouterr().out
    for row, peers in {
        "pitch shift (vocoders)": 2,  # both peers
        "impulse response files": 2,
        "pitch shift (WSOLA)": 1,  # audiomentations only
        "delay 200-450 ms": 0,  # neither
    }.items():
        cells = next(line for line in out.splitlines() if line.startswith(row))[len(row) :].split()
        assert len(cells) == 7 and sum(re.fullmatch(NUMBER + "+", c) is not None for c in cells[-2:]) == peers
        assert (cells[4] == "-") == (peers == 0)


def test_augment_without_torch_audiomentations_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_audiomentations", None)  # import fails as if not installed
    assert main([*AUGMENT, "--no-per-transform"]) == 0
    out = capsys.readouterr().out
    missing = [line for line in out.splitlines() if "pip install" in line]
    expected = (
        "peer torch-audiomentations is not installed, so its rows are left out: pip install torch-audiomentations"
    )
    assert missing == [expected]
    assert "Traceback" not in out and _chain_row(out)[-1] == "-"
    assert re.search(rf"ratio {NUMBER}x against the strongest peer \(audiomentations\)", out)


def test_augment_with_no_peer_still_runs_ours(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_audiomentations", None)
    monkeypatch.setitem(sys.modules, "audiomentations", None)
    assert main([*AUGMENT, "--no-per-transform"]) == 0
    out = capsys.readouterr().out
    assert "pip install audiomentations" in out and "pip install torch-audiomentations" in out
    assert re.search(rf"CLMR chain: audiocl {NUMBER} clips/s; no peer installed, no ratio", out)


# loss ------------------------------------------------------------------------------------------------------


def test_lightly_measures_the_same_loss_as_ours():
    ours = bench_loss.measure("audiocl", 16, 8, 0.5, "cpu", repeats=1)
    lightly = bench_loss.measure("lightly", 16, 8, 0.5, "cpu", repeats=1)
    assert lightly["loss"] == pytest.approx(ours["loss"], abs=1e-5)
    assert lightly["seconds"] > 0 and lightly["peak_bytes"] >= 0


def test_measure_refuses_an_unknown_implementation():
    with pytest.raises(ValueError, match="unknown implementation 'nope'"):
        bench_loss.measure("nope", 4, 2, 0.5, "cpu", repeats=1)


@pytest.mark.slow
def test_loss_table_has_both_peers_and_the_ratio(capsys):
    assert main(LOSS) == 0
    out = capsys.readouterr().out
    for name in ("audiocl nt_xent", "lightly NTXentLoss", "pytorch-metric-learning"):
        assert re.search(rf"^ +8 {name} +{NUMBER}+ +-?{NUMBER}+ +{NUMBER}+x +[0-9.e+-]+$", out, re.M), name
    assert re.search(r"B=8: [0-9.]+x faster than the strongest peer \((lightly|pytorch)", out)


@pytest.mark.slow
def test_loss_without_lightly_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "lightly", None)
    assert main([*LOSS, "--peer-limit-gb", "0"]) == 0  # pml skipped by its estimate: ours alone runs
    out = capsys.readouterr().out
    assert "peer lightly is not installed, so its rows are left out: pip install lightly" in out
    assert "lightly NTXentLoss" not in out and "skipped: needs" in out
    assert re.search(r"^ +8 audiocl nt_xent +[0-9.]+ .* - ", out, re.M)
    assert "no peer ran" in out


# frontend, embed -------------------------------------------------------------------------------------------


def test_frontend_prints_the_ratio_against_the_strongest_peer(capsys):
    assert main(["bench", "frontend", "--batch-size", "2", "--seconds", "0.2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "torchaudio (batched)" in out and "librosa (per clip)" in out
    assert re.search(r"strongest peer: logmel [0-9.]+x \((torchaudio|librosa).*\), mfcc [0-9.]+x", out)


def test_embed_prints_the_ratio_against_the_per_clip_loop(capsys):
    assert main(["bench", "embed", "--clips", "2", "--seconds", "1", "--repeats", "1"]) == 0
    assert re.search(r"strongest peer \(the per-clip loop\): [0-9.]+x", capsys.readouterr().out)
