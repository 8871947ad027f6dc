"""`audiocl prepare`: parsing, the cache it writes, the printed report, errors."""

from __future__ import annotations

import json

from audiocl.cli import build_parser, main


def test_prepare_command(tmp_path, esc_root, capsys):
    out = tmp_path / "cache"
    argv = [
        "prepare",
        "esc50",
        "--data",
        str(esc_root),
        "--out",
        str(out),
        "--sample-rate",
        "8000",
        "--dtype",
        "float16",
        "--shard-size",
        "16",
        "--no-progress",
        "--workers",
        "0",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"cache {out}: 60/60 files" in printed and "4 shards" in printed
    index = json.loads((out / "index.json").read_text())
    assert index["sample_rate"] == 8000 and index["dtype"] == "float16" and len(index["clips"]) == 60
    assert main(argv) == 0  # resumes: every shard kept
    assert "4 kept from an earlier run" in capsys.readouterr().out


def test_prepare_reports_skipped_files(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "broken.wav").write_bytes(b"")
    data, out = str(tmp_path / "data"), str(tmp_path / "c")
    code = main(["prepare", "folder", "--data", data, "--out", out, "--no-progress", "--workers", "0"])
    printed = capsys.readouterr().out
    assert code == 1 and "broken.wav" in printed and "0/1 files" in printed


def test_prepare_parser():
    args = build_parser().parse_args(["prepare", "gtzan", "--data", "d", "--out", "o", "--all-splits"])
    assert args.workers is None  # the CPU count up to 8
    assert (args.dataset, args.sample_rate, args.dtype, args.shard_size, args.all_splits) == (
        "gtzan",
        16000,
        "int16",
        256,
        True,
    )
    # The names come from the registry (checked when the command runs, so that --help does not load torch).
    assert main(["prepare", "audioset", "--data", "d", "--out", "o"]) == 2


def test_prepare_options_and_errors(tmp_path, mtat_root, capsys):
    out = str(tmp_path / "c")
    argv = ["prepare", "magnatagatune", "--data", str(mtat_root), "--out", out, "--no-progress", "--workers", "0"]
    assert main([*argv, "--option", "split=won", "--shard-size", "100"]) == 0
    printed = capsys.readouterr().out  # Won's train split: folders 0-7, clips with a top-50 tag
    assert "23/24 files" in printed and "0-29.mp3: empty file" in printed
    assert main([*argv, "--sample-rate", "8000"]) == 2  # the cache holds 16 kHz audio
    assert "sample_rate" in capsys.readouterr().err
    assert main(["prepare", "esc50", "--data", str(tmp_path), "--out", out, "--no-progress", "--workers", "0"]) == 2
    assert "esc50.csv" in capsys.readouterr().err
    assert main([*argv, "--option", "oops"]) == 2
