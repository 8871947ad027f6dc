"""``audiocl demo`` end to end on a small budget: corpus, pretraining, probes, table and report."""

import pytest

from audiocl.cli import main


@pytest.mark.slow
def test_short_demo_end_to_end(tmp_path, capsys):
    workdir = tmp_path / "demo"
    assert (
        main(
            [
                "demo",
                "--workdir",
                str(workdir),
                "--steps",
                "40",
                "--clips-per-class",
                "16",
                "--no-progress",
                "data.batch_size=32",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    for stage in ("1/4", "2/4", "3/4", "4/4", "pretrained", "random init", "mfcc stats", "accuracy points"):
        assert stage in out
    report = workdir / "report"
    for name in (
        "report.md",
        "results.json",
        "loss_curve.png",
        "embeddings_2d_pretrained.png",
        "embeddings_2d_random.png",
    ):
        assert (report / name).stat().st_size > 0
    import json

    results = {
        r["name"]: r["metrics"]["accuracy"]["mean"]
        for r in json.loads((report / "results.json").read_text())["results"]
    }
    assert set(results) == {"pretrained", "random init", "mfcc stats"}
    assert results["pretrained"] > 0.5  # chance is 0.2; even 40 steps learn the timbres
    assert results["pretrained"] >= results["random init"]


@pytest.mark.slow
def test_default_demo_beats_random_init_by_ten_points(tmp_path, monkeypatch, capsys):
    """The demo as a user runs it (no arguments; ~3 minutes on 2 cores): pretraining, on the train clips only,
    must beat the same encoder at random init by at least 10 accuracy points on the held-out clips."""
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--no-progress"]) == 0
    import json

    results = {
        r["name"]: r["metrics"]["accuracy"]["mean"]
        for r in json.loads((tmp_path / "audiocl-demo" / "report" / "results.json").read_text())["results"]
    }
    assert results["pretrained"] - results["random init"] >= 0.10, results
