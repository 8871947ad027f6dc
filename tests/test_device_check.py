"""scripts/device_check.sh: the short CPU mode runs every stage to ok or skipped; failures (an exception, a
non-zero exit status, a timeout, a stage that breaks) are recorded, never raised, and the run goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from repo_scripts import load_script

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "device_check.py"


@pytest.fixture(scope="module")
def dc():
    return load_script("device_check")


def test_recorder_records_exceptions_exit_statuses_and_timeouts(dc, tmp_path):
    rec = dc.Recorder(tmp_path / "stage.json")
    rec.check("raises", lambda: 1 / 0)
    rec.check("skips", dc._raise, dc.Skip("needs CUDA"))
    rec.command("exits 3", [sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], timeout=30)
    rec.command("hangs", [sys.executable, "-c", "import time; time.sleep(30)"], timeout=1)
    rec.command("parse disagrees", [sys.executable, "-c", "print('x')"], timeout=30, parse=dc._lines("^y"))
    rec.command("fine", [sys.executable, "-c", "print('ratio 2x')"], timeout=30, parse=dc._lines("ratio"))
    saved = {c["name"]: c for c in json.loads((tmp_path / "stage.json").read_text())["checks"]}
    assert saved["raises"]["status"] == "failed" and "ZeroDivisionError" in saved["raises"]["reason"]
    assert saved["skips"] == {**saved["skips"], "status": "skipped", "reason": "needs CUDA"}
    assert (
        saved["exits 3"]["rc"] == 3 and saved["exits 3"]["status"] == "failed" and "out" in saved["exits 3"]["output"]
    )
    assert saved["hangs"]["rc"] == 124 and saved["hangs"]["reason"] == "timed out after 1 s"
    assert saved["parse disagrees"]["status"] == "failed" and "no line matches" in saved["parse disagrees"]["reason"]
    assert saved["fine"]["status"] == "ok" and saved["fine"]["summary"] == {"ratio": ["ratio 2x"]}
    assert [dc.stage_status(c) for c in ([], [saved["skips"]], [saved["skips"], saved["fine"]])] == [
        "failed",
        "skipped",
        "ok",
    ]
    assert dc.stage_status(list(saved.values())) == "failed"


def test_compare_fails_beyond_its_tolerance(dc):
    import torch

    assert dc.compare("x", torch.ones(3), torch.ones(3) + 1e-5, rtol=0, atol=1e-4)["max_abs"] < 1e-4
    with pytest.raises(dc.CheckFailed, match="beyond atol"):
        dc.compare("x", torch.ones(3), torch.ones(3) + 1e-3, rtol=0, atol=1e-4)
    with pytest.raises(dc.CheckFailed, match="non-finite"):
        dc.compare("x", torch.tensor([float("nan")]), torch.zeros(1), rtol=0, atol=1)


def test_every_augmentation_class_is_built(dc, tmp_path):
    from audiocl import augment as A

    dc._write_irs(tmp_path, 16000)
    cases, problems = dc.augment_cases(16000, str(tmp_path))
    assert problems == []
    built = {type(make()).__name__ for make in cases.values()}
    transforms = {n for n in A.__all__ if isinstance(getattr(A, n), type) and issubclass(getattr(A, n), A.Transform)}
    assert transforms - {"Transform", "Audiomentations"} <= built


def test_a_failing_stage_is_recorded_and_the_run_goes_on(tmp_path):
    # --device cuda on a machine without CUDA: the environment stage fails, the report says so, exit status 1.
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cuda", "--quick", "--stages", "environment", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    report = json.loads((tmp_path / "device_check.json").read_text())
    if report["stages"]["environment"]["checks"][2].get("cuda_available"):
        pytest.skip("this machine has CUDA")
    assert out.returncode == 1 and report["stages"]["environment"]["status"] == "failed"
    device = report["stages"]["environment"]["checks"][2]
    assert device["status"] == "failed" and "sees no CUDA device" in device["reason"]
    assert "## environment: failed" in (tmp_path / "device_check.md").read_text()


@pytest.mark.slow
def test_short_cpu_mode_runs_every_stage(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path / "out")}
    out = subprocess.run(
        # CI shares two cores: the timeouts are the GPU's, so they get slack (the stages still must pass)
        ["bash", "scripts/device_check.sh", "--device", "cpu", "--quick", "--slack", "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )
    report = json.loads((tmp_path / "out" / "device_check.json").read_text())
    stages = report["stages"]
    assert list(stages) == ["environment", "correctness", "speed", "embedding", "training"]
    bad = {
        n: (s.get("reason"), [(c["name"], c.get("reason")) for c in s["checks"] if c["status"] == "failed"])
        for n, s in stages.items()
        if s["status"] not in ("ok", "skipped")
    }
    assert not bad, f"{bad}\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
    assert out.returncode == 0
    checks = {c["name"]: c for s in stages.values() for c in s["checks"]}
    assert checks["pytest -k cuda"]["status"] == "skipped" and "needs CUDA" in checks["pytest -k cuda"]["reason"]
    assert checks["losses fp32/bf16/fp16 vs fp64"]["status"] == "ok"  # runs for real on the CPU
    assert checks["clmr_tiny bf16"]["status"] == "ok" and checks["clmr_tiny bf16"]["clips_per_s_median"] > 0
    assert checks["bench probe"]["status"] == "ok" and len(checks["bench probe"]["summary"]) == 3  # one line a head
    assert report["seconds"] < 120
    assert (tmp_path / "out" / "device_check.md").read_text().startswith("# audiocl device check (quick")
