"""The one GPU check (DESIGN.md): environment, correctness, speed against the peers, training, embedding.

Run it through ``scripts/device_check.sh``, which installs what the machine lacks from ``.whl/`` (see
``scripts/fetch_device_wheels.sh``) and puts this tree on ``PYTHONPATH``. Every stage runs in its own process
under its own timeout, and every command inside a stage under its own timeout too; a failure (an exception, a
non-zero exit status, a timeout) is recorded in the stage's checks and the next stage runs. The results are
rewritten after each stage to ``OUT/device_check.json`` and ``OUT/device_check.md``:

1. environment: nvidia-smi, versions, GPU name and memory, what the wheel install did;
2. correctness: the tests that need CUDA (``-k cuda`` in the files that skip without it), CUDA against CPU
   for every front-end and every augmentation transform (same generator seed, so the same parameters), every
   loss in float32/bfloat16/float16 against a float64 reference, and a GradCache step against the
   whole-batch gradient;
3. speed against the peers: ``audiocl bench augment``, ``loss`` and ``frontend``;
4. training: the CLMR (SampleCNN) and COLA (EfficientNet-B0) recipes on the synthetic corpus in bf16, eager
   and with ``trainer.compile`` (and ``trainer.channels_last`` for the 2-D encoder), with clips/s, peak GPU
   memory, GPU utilisation (nvidia-smi sampled alongside) and the data-wait fraction;
5. embedding: ``audiocl bench embed``, and ``audiocl bench probe`` (the linear, kNN and MLP heads on cached
   embeddings, on the device).

They run in that order, except that training runs last: it takes longest, and what runs out of the overall
budget (``--budget-s``) is then its compiled runs (if the stages before it used all their time, its second
eager run too).

``--device cpu --quick`` is the short mode: tiny sizes, a few steps of the tiny recipes, and what needs CUDA
skipped with the reason. Checks that compare CUDA with the CPU still run there, CPU against CPU, so that the
check itself is exercised; they report ``skipped`` with that reason (or ``failed`` if they break). On a slow
or shared machine, ``--slack 3`` gives every timeout and the budget three times as long (the test suite does).

A stage's status is ``failed`` if any of its checks failed, ``skipped`` if all were skipped, else ``ok``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# In the order they run: training, the longest, last, so that a run out of time loses its compile runs only.
STAGES = ("environment", "correctness", "speed", "embedding", "training")
# Seconds per stage; together within the overall budget (--budget-s), which each stage's timeout also respects.
TIMEOUTS = {
    "full": {"environment": 30, "correctness": 110, "speed": 140, "embedding": 60, "training": 300},
    "quick": {"environment": 20, "correctness": 40, "speed": 60, "embedding": 40, "training": 60},
}
BUDGET_S = {"full": 465, "quick": 110}  # the whole run of the Python part: 8 minutes less the wheel install
TAIL = 4000  # characters of a command's output kept in the JSON


class Skip(Exception):
    """A check that cannot run here; the message says why."""


class CheckFailed(Exception):
    """A check that ran and found a disagreement; the message says which and by how much."""


# ----- recording ---------------------------------------------------------------------------------------------


class Recorder:
    """The checks of one stage, written to ``path`` after each one (so a stage killed at its timeout leaves
    what it had done)."""

    def __init__(self, path: Path):
        self.path, self.checks = path, []

    def _save(self) -> None:
        self.path.write_text(json.dumps({"checks": self.checks}, indent=1, default=str))

    def check(self, name: str, fn, *args, **kwargs) -> dict | None:
        """Run ``fn(*args, **kwargs)``, which returns a dict of values (``status``/``reason`` in it override),
        raises Skip, or raises anything else (a failure)."""
        began = time.monotonic()
        entry: dict = {"name": name}
        try:
            values = fn(*args, **kwargs) or {}
            entry.update({"status": "ok", **values})
        except Skip as why:
            entry.update(status="skipped", reason=str(why))
        except CheckFailed as why:
            entry.update(status="failed", reason=str(why))
        except Exception as error:  # every failure is recorded, never raised
            entry.update(
                status="failed", reason=f"{type(error).__name__}: {error}", traceback=traceback.format_exc()[-TAIL:]
            )
        entry["seconds"] = round(time.monotonic() - began, 2)
        self.checks.append(entry)
        self._save()
        return entry

    def command(self, name: str, cmd: list[str], timeout: float, parse=None, env: dict | None = None) -> dict:
        """Run ``cmd`` under ``timeout`` as a check: ``ok`` iff it exits 0 (and ``parse(output)``, which returns
        values or raises, agrees)."""

        def run():
            rc, output, seconds = run_command(cmd, timeout, env)
            values = {"command": " ".join(cmd), "rc": rc, "wall_s": round(seconds, 1), "output": output[-TAIL:]}
            if rc != 0:
                why = f"timed out after {timeout:.0f} s" if rc == 124 else f"exit status {rc}"
                return {**values, "status": "failed", "reason": why}
            if parse is not None:
                try:
                    values.update(parse(output))
                except Exception as error:
                    return {**values, "status": "failed", "reason": f"output not as expected: {error}"}
            return values

        return self.check(name, run)


def run_command(cmd: list[str], timeout: float, env: dict | None = None) -> tuple[int, str, float]:
    """``(exit status, stdout and stderr, seconds)``; on timeout the whole process group is killed and the
    status is 124 (as ``timeout`` reports it)."""
    began = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=max(1.0, timeout))
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        output, _ = proc.communicate()
        rc = 124
    return rc, output or "", time.monotonic() - began


def _kill_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def audiocl_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "audiocl", *args]


# ----- 1. environment ----------------------------------------------------------------------------------------

VERSIONED = [
    "torch",
    "torchaudio",
    "lightning",
    "timm",
    "scikit-learn",
    "numpy",
    "scipy",
    "soundfile",
    "librosa",
    "numba",
    "audiomentations",
    "torch-audiomentations",
    "lightly",
    "pytorch-metric-learning",
    "pytest",
]
REQUIRED = {"torch", "torchaudio", "lightning", "timm", "scikit-learn", "numpy", "soundfile", "librosa", "pytest"}


def stage_environment(rec: Recorder, args) -> None:
    def nvidia_smi():
        if shutil.which("nvidia-smi") is None:
            raise Skip("no nvidia-smi on this machine")
        rc, full, _ = run_command(["nvidia-smi"], 20)
        query = "name,memory.total,driver_version,clocks.max.sm,power.limit"
        rc2, row, _ = run_command(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"], 20)
        if rc or rc2:
            raise CheckFailed(f"nvidia-smi exit status {rc or rc2}: {(full + row)[-500:]}")
        return {"gpus": [line.strip() for line in row.strip().splitlines()], "output": full[-TAIL:]}

    def versions():
        from importlib.metadata import PackageNotFoundError, version

        found = {"python": platform.python_version(), "platform": platform.platform()}
        for name in VERSIONED:
            try:
                found[name] = version(name)
            except PackageNotFoundError:
                found[name] = None
        import torch

        found["torch.version.cuda"] = torch.version.cuda
        found["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        import audiocl

        found["audiocl"] = f"{getattr(audiocl, '__version__', '?')} from {Path(audiocl.__file__).parent}"
        missing = sorted(n for n in REQUIRED if found.get(n) is None)
        if missing:
            return {"versions": found, "status": "failed", "reason": f"missing: {', '.join(missing)}"}
        return {"versions": found}

    def device():
        import torch

        values = {"cuda_available": torch.cuda.is_available(), "device_count": torch.cuda.device_count()}
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            values.update(
                name=p.name,
                memory_gib=round(p.total_memory / 2**30, 1),
                capability=f"{p.major}.{p.minor}",
                multiprocessors=p.multi_processor_count,
            )
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            return {**values, "status": "failed", "reason": "--device cuda, but torch sees no CUDA device"}
        values["cpu_threads"] = torch.get_num_threads()
        return values

    def wheels():
        log, rc = os.environ.get("AUDIOCL_DEVICE_PIP_LOG"), os.environ.get("AUDIOCL_DEVICE_PIP_RC")
        if log is None:
            raise Skip("not started through scripts/device_check.sh: no wheel install")
        text = Path(log).read_text() if Path(log).exists() else ""
        if rc == "none":
            raise Skip(text.strip() or "no .whl folder: nothing installed")
        values = {"pip_rc": rc, "pip_output": text[-TAIL:]}
        if rc != "0":
            return {**values, "status": "failed", "reason": f"pip install from .whl exit status {rc}"}
        return values

    rec.check("nvidia-smi", nvidia_smi)
    rec.check("versions", versions)
    rec.check("device", device)
    rec.check("wheels", wheels)


# ----- 2. correctness ----------------------------------------------------------------------------------------


def cuda_test_files() -> list[str]:
    """Test files with a test that skips without CUDA."""
    pattern = re.compile(r"skipif\(\s*not torch\.cuda\.is_available\(\)")
    return sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py") if pattern.search(p.read_text())
    )


def _pytest_counts(output: str) -> dict:
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", output)}
    if not counts.get("passed"):
        raise ValueError(f"no test passed ({counts})")
    if counts.get("skipped"):
        raise ValueError(f"{counts['skipped']} CUDA tests skipped on a CUDA machine ({counts})")
    return {"counts": counts}


def compare(name: str, got, want, rtol: float, atol: float) -> dict:
    """Max absolute and relative differences; CheckFailed beyond ``atol + rtol * |want|`` anywhere."""
    import torch

    got, want = got.detach().double().cpu(), want.detach().double().cpu()
    if got.shape != want.shape:
        raise CheckFailed(f"{name}: shape {tuple(got.shape)} against {tuple(want.shape)}")
    if not torch.isfinite(got).all():
        raise CheckFailed(f"{name}: non-finite values")
    diff = (got - want).abs()
    worst = float((diff - rtol * want.abs()).max()) if diff.numel() else 0.0
    values = {
        "max_abs": float(diff.max()) if diff.numel() else 0.0,
        "max_rel": float((diff / want.abs().clamp_min(1e-12)).max()) if diff.numel() else 0.0,
    }
    if worst > atol:
        raise CheckFailed(f"{name}: max |diff| {values['max_abs']:.3g} beyond atol {atol:g} + rtol {rtol:g}")
    return values


def _against_cpu(args) -> tuple:
    """The device to compare with the CPU, and whether that is only a dry run (no CUDA)."""
    import torch

    cuda = args.device.startswith("cuda") and torch.cuda.is_available()
    return torch.device(args.device if cuda else "cpu"), not cuda


DRY = "needs CUDA: ran CPU against CPU, which checks only that the comparison runs"


def check_frontends(args) -> dict:
    import torch

    from audiocl.frontends import FRONTENDS, create_frontend

    device, dry = _against_cpu(args)
    x = 0.1 * torch.randn(4, 8000, generator=torch.Generator().manual_seed(0))
    results, failures = {}, []
    for name in sorted(FRONTENDS):
        try:
            frontend = create_frontend(name)
            want = frontend(x)
            got = frontend.to(device)(x.to(device))
            results[name] = compare(name, got, want, rtol=1e-4, atol=1e-3)  # as tests/test_frontends.py
        except Exception as error:
            failures.append(f"{name}: {error}")
    return _summary(results, failures, dry, "rtol 1e-4, atol 1e-3 (float32 on both)")


def _summary(results: dict, failures: list, dry: bool, tolerance: str) -> dict:
    values = {"tolerance": tolerance, "results": results}
    if failures:
        return {**values, "status": "failed", "reason": "; ".join(failures)[:TAIL]}
    if dry:
        return {**values, "status": "skipped", "reason": DRY}
    return values


def augment_cases(sample_rate: int, ir_folder: str) -> tuple[dict, list]:
    """Every transform class in ``audiocl.augment`` built from its defaults (p=0.7, both pitch/stretch methods),
    the combinators and the presets; and the classes that could not be built (a failure to fix here)."""
    import inspect

    from audiocl import augment as A
    from audiocl.augment.pitch import METHODS

    cases, problems = {}, []
    for name in A.__all__:
        cls = getattr(A, name)
        if not inspect.isclass(cls) or not issubclass(cls, A.Transform) or cls is A.Transform:
            continue
        if name == "Audiomentations":  # runs audiomentations on the CPU: nothing of ours to compare
            continue
        params = inspect.signature(cls).parameters
        kwargs, missing = {}, []
        for pname, param in params.items():
            if pname == "sample_rate":
                kwargs[pname] = sample_rate
            elif pname == "source" or pname.endswith(("folder", "path", "paths")):
                kwargs[pname] = ir_folder
            elif pname == "p":
                kwargs[pname] = 0.7
            elif param.default is inspect.Parameter.empty and param.kind not in (
                param.VAR_POSITIONAL,
                param.VAR_KEYWORD,
            ):
                missing.append(pname)
        if missing:
            problems.append(f"{name}: no value for {', '.join(missing)} (add it to scripts/device_check.py)")
            continue
        variants = {f"{name}({m})": {**kwargs, "method": m} for m in METHODS} if "method" in params else {name: kwargs}
        for label, kw in variants.items():
            cases[label] = lambda cls=cls, kw=kw: cls(**kw)
    cases["TimeMask(fill=noise)"] = lambda: A.TimeMask(min_fraction=0.05, fill="noise", p=0.7)
    cases["Compose"] = lambda: A.Compose([A.Gain(p=0.7), A.LowPass(sample_rate, p=0.7)])
    cases["RandomApply"] = lambda: A.RandomApply([A.Gain(), A.HighPass(sample_rate)], p=0.7)
    cases["OneOf"] = lambda: A.OneOf([A.Gain(), A.HighPass(sample_rate), A.Delay(sample_rate)], p=0.7)
    cases["preset clmr"] = lambda: A.clmr(sample_rate)
    cases["preset clar"] = lambda: A.clar(sample_rate, p=0.7)
    return cases, problems


def _write_irs(folder: Path, sample_rate: int) -> None:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    for i, seconds in enumerate((0.05, 0.1, 0.2)):
        n = int(seconds * sample_rate)
        ir = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.2 * n))
        sf.write(folder / f"ir{i}.wav", (0.5 * ir / np.abs(ir).max()).astype(np.float32), sample_rate)


def check_augment(args) -> dict:
    """Each transform on the CPU and on the device with the same seed, so the same parameters. Transforms that
    draw random signals (a ``seed`` among their draws: noise, synthetic responses) agree in distribution only:
    there the rows they leave alone must be equal and each row's RMS within 25 %."""
    import torch

    device, dry = _against_cpu(args)
    sr = 16000
    results, failures = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        _write_irs(Path(tmp), sr)
        cases, problems = augment_cases(sr, tmp)
        failures += problems
        for label, make in cases.items():
            try:
                transform = make()
                dims = getattr(transform, "input_dims", 2)
                shape = (6, 2, 32, 40) if dims == 4 else (6, 8000)
                x = 0.3 * torch.randn(shape, generator=torch.Generator().manual_seed(7))
                drawn = transform.draw(shape[0], torch.Generator().manual_seed(5))
                random_signal = any(k.split(".")[-1] == "seed" for k in drawn)
                want = transform(x, torch.Generator().manual_seed(5))
                got = transform.to(device)(x.to(device), torch.Generator().manual_seed(5)).cpu()
                if not random_signal:
                    results[label] = compare(label, got, want, rtol=1e-3, atol=2e-4)  # as tests/augment
                    continue
                if not torch.isfinite(got).all():
                    raise CheckFailed("non-finite values")
                if "chosen" in drawn:  # a single transform: the rows it left alone are the input
                    kept = ~drawn["chosen"]
                    compare(f"{label} (rows left alone)", got[kept], x[kept], rtol=0, atol=0)
                rms_got, rms_want = got.flatten(1).pow(2).mean(1).sqrt(), want.flatten(1).pow(2).mean(1).sqrt()
                ratio = float((rms_got / rms_want.clamp_min(1e-12) - 1).abs().max())
                if ratio > 0.25:
                    raise CheckFailed(f"row RMS differs by {ratio:.0%} (random signals: in distribution only)")
                results[label] = {"in_distribution": True, "max_row_rms_rel_diff": ratio}
            except Exception as error:
                failures.append(f"{label}: {type(error).__name__}: {error}"[:400])
    return _summary(results, failures, dry, "rtol 1e-3, atol 2e-4; random signals: rows left alone equal, RMS 25 %")


# dtype name -> (loss relative tolerance, gradient tolerance relative to the largest reference gradient)
LOSS_TOLERANCES = {"float32": (1e-5, 1e-5), "bfloat16": (1e-3, 2e-2), "float16": (1e-4, 3e-3)}


def check_losses(args) -> dict:
    """Every loss of ``audiocl.losses`` on the device in each dtype, against float64 on the CPU with the same
    embeddings (and the same weights, for the bilinear loss): the value and the gradient of the embeddings."""
    import copy

    import torch

    from audiocl.losses import LOSSES, create_loss

    device = torch.device(args.device if torch.cuda.is_available() or args.device == "cpu" else "cpu")
    V, B, D = 2, 64, 32  # noqa: N806
    z = torch.nn.functional.normalize(torch.randn(V, B, D, generator=torch.Generator().manual_seed(0)), dim=-1)
    labels = torch.arange(B) % 8  # supcon: 8 classes of 8 clips
    results, failures = {}, []
    for name in sorted(LOSSES):
        torch.manual_seed(0)
        module = create_loss(name, dim=D)
        for dtype_name, (loss_tol, grad_tol) in LOSS_TOLERANCES.items():
            label = f"{name} {dtype_name}"
            try:
                # The reference sees the same embeddings rounded to the dtype: what is checked is the loss's
                # arithmetic, not the rounding of its input (which moves a mining loss's choices).
                ref_module = copy.deepcopy(module).double()
                z64 = z.detach().to(getattr(torch, dtype_name)).double().requires_grad_()
                ref = ref_module(z64, labels)
                ref.backward()
                ref_grad = z64.grad
            except Exception as error:
                failures.append(f"{label} float64 reference: {type(error).__name__}: {error}")
                continue
            try:
                dev_module = copy.deepcopy(module).to(device)
                zd = z.detach().to(device=device, dtype=getattr(torch, dtype_name)).clone().requires_grad_()
                loss = dev_module(zd, labels.to(device))
                loss.backward()
                if not (torch.isfinite(loss) and torch.isfinite(zd.grad).all()):
                    raise CheckFailed("non-finite loss or gradient")
                loss_rel = abs(float(loss) - float(ref)) / max(abs(float(ref)), 1e-12)
                grad_rel = float((zd.grad.double().cpu() - ref_grad).abs().max() / ref_grad.abs().max())
                results[label] = {
                    "loss": float(loss),
                    "reference": float(ref),
                    "loss_rel": loss_rel,
                    "grad_rel": grad_rel,
                    "grad_dtype": str(zd.grad.dtype),
                }
                if loss_rel > loss_tol or grad_rel > grad_tol:
                    raise CheckFailed(
                        f"loss rel {loss_rel:.2g} (tol {loss_tol:g}), grad rel {grad_rel:.2g} (tol {grad_tol:g})"
                    )
            except Exception as error:
                failures.append(f"{label}: {type(error).__name__}: {error}"[:400])
    tolerance = "; ".join(f"{k}: loss rel {a:g}, grad rel {b:g} of max" for k, (a, b) in LOSS_TOLERANCES.items())
    values = {"device": str(device), "tolerance": tolerance, "results": results}
    if failures:
        return {**values, "status": "failed", "reason": "; ".join(failures)[:TAIL]}
    return values


def check_gradcache(args) -> dict:
    """A GradCache step (chunks of 5 of 16 clips, dropout replayed) against one backward over the whole batch
    (the same chunked calls under the same seed), on the device, float32."""
    import torch
    from torch import nn

    from audiocl.gradcache import cached_step
    from audiocl.losses import nt_xent

    device = torch.device(args.device if torch.cuda.is_available() or args.device == "cpu" else "cpu")

    def encoder():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv1d(1, 8, 9, stride=4),
            nn.GELU(),
            nn.Dropout(0.2),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(8, 16),
        ).to(device)

    x = torch.randn(16, 2, 1, 1024, generator=torch.Generator().manual_seed(1)).to(device)  # (clips, views, 1, T)

    def encode(model):
        return lambda c: model(c.flatten(0, 1)).unflatten(0, (c.shape[0], 2))  # (clips, views, dim)

    def loss_fn(z):
        return nt_xent(z.transpose(0, 1), 0.2)

    ref_model, model = encoder(), encoder()
    torch.manual_seed(5)
    ref = loss_fn(torch.cat([encode(ref_model)(c) for c in x.split(5)]))
    ref.backward()
    torch.manual_seed(5)
    loss = cached_step(encode(model), x, loss_fn, chunk_size=5)
    worst = max(
        float((a.grad - b.grad).abs().max() / b.grad.abs().max().clamp_min(1e-12))
        for a, b in zip(model.parameters(), ref_model.parameters(), strict=True)
    )
    values = {"device": str(device), "loss": float(loss), "reference": float(ref), "max_grad_rel": worst}
    if abs(float(loss) - float(ref)) > 1e-6 or worst > 1e-4:
        raise CheckFailed(f"loss {float(loss)} against {float(ref)}, max grad rel {worst:.2g} (tol 1e-4)")
    return values


def stage_correctness(rec: Recorder, args) -> None:
    import torch

    files = cuda_test_files()
    if args.device.startswith("cuda") and torch.cuda.is_available():
        rec.command(
            "pytest -k cuda",
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda", *files],
            timeout=args.t(100),
            parse=_pytest_counts,
        )
    else:
        rec.check("pytest -k cuda", _raise, Skip(f"needs CUDA: the CUDA tests in {', '.join(files)} skip without it"))
    rec.check("frontends CUDA vs CPU", check_frontends, args)
    rec.check("augment CUDA vs CPU", check_augment, args)
    rec.check("losses fp32/bf16/fp16 vs fp64", check_losses, args)
    rec.check("gradcache step", check_gradcache, args)


def _raise(error: Exception):
    raise error


# ----- 3. speed ----------------------------------------------------------------------------------------------


def _lines(*patterns: str):
    """A parser keeping the output lines that match each pattern (an error if one has none)."""

    def parse(output: str) -> dict:
        found = {}
        for pattern in patterns:
            hits = [line.strip() for line in output.splitlines() if re.search(pattern, line)]
            if not hits:
                raise ValueError(f"no line matches {pattern!r}")
            found[pattern] = hits
        return {"summary": found}

    return parse


def stage_speed(rec: Recorder, args) -> None:
    d = ["--device", args.device]
    if args.quick:
        augment = ["--batch-size", "2", "--repeats", "1", "--min-seconds", "0", "--max-seconds", "1"]
        loss = ["--batch-sizes", "8", "--dim", "4", "--repeats", "1"]
        frontend = ["--batch-size", "2", "--seconds", "0.2", "--repeats", "1"]
    else:  # per-transform rows left out: audiomentations alone would take minutes at 512 clips
        augment = ["--batch-size", "256", "--repeats", "1", "--min-seconds", "0", "--max-seconds", "20"]
        loss = ["--batch-sizes", "256", "1024", "4096", "16384", "--peer-limit-gb", "100"]
        frontend = []
    rec.command(
        "bench augment",
        audiocl_cmd("bench", "augment", *d, "--no-per-transform", *augment),
        timeout=args.t(60),
        parse=_lines(r"^CLMR chain: "),
    )
    rec.command(
        "bench loss",
        audiocl_cmd("bench", "loss", *d, *loss),
        timeout=args.t(90),
        parse=_lines(r"against the strongest peer", r"nt_xent"),
    )
    rec.command(
        "bench frontend",
        audiocl_cmd("bench", "frontend", *d, *frontend),
        timeout=args.t(40),
        parse=_lines(r"ratio against the strongest peer"),
    )


# ----- 4. training -------------------------------------------------------------------------------------------


class GpuSampler:
    """nvidia-smi sampled in the background (utilisation %, memory used MiB), each sample stamped on arrival."""

    def __init__(self, period_ms: int = 200):
        self.samples: list[tuple[float, float, float]] = []
        self.proc = None
        if shutil.which("nvidia-smi") is None:
            return
        query = [
            "nvidia-smi",
            "--query-gpu=utilization.gpu,memory.used",
            "--format=csv,noheader,nounits",
            f"--loop-ms={period_ms}",
            "-i",
            "0",
        ]
        self.proc = subprocess.Popen(query, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                util, mem = (float(v) for v in line.split(","))
            except ValueError:
                continue
            self.samples.append((time.time(), util, mem))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=5)

    def between(self, start: float | None, end: float | None) -> dict:
        inside = [s for s in self.samples if (start is None or s[0] >= start) and (end is None or s[0] <= end)]
        if not inside:
            return {"gpu_samples": 0}
        utils = sorted(s[1] for s in inside)
        return {
            "gpu_samples": len(inside),
            "gpu_util_mean": round(sum(utils) / len(utils), 1),
            "gpu_util_median": utils[len(utils) // 2],
            "gpu_mem_used_max_mib": max(s[2] for s in inside),
        }


def train_run(args, recipe: str, overrides: list[str], steps: int, warmup: int, clips: int, timeout: float) -> dict:
    """One ``audiocl bench train`` run in its own process, with GPU sampling over its measured steps."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "train.json"
        cmd = audiocl_cmd(
            "bench",
            "train",
            "--recipe",
            recipe,
            "--steps",
            str(steps),
            "--warmup",
            str(warmup),
            "--clips",
            str(clips),
            "--json",
            str(summary),
            *overrides,
        )
        sampler = GpuSampler() if args.device.startswith("cuda") else None
        try:
            rc, output, seconds = run_command(cmd, timeout)
        finally:
            if sampler:
                sampler.stop()
        values = {"command": " ".join(cmd), "rc": rc, "wall_s": round(seconds, 1), "output": output[-TAIL:]}
        if rc != 0:
            why = f"timed out after {timeout:.0f} s" if rc == 124 else f"exit status {rc}"
            return {**values, "status": "failed", "reason": why}
        result = json.loads(summary.read_text())
    values.update({k: v for k, v in result.items() if k != "window"})
    if result.get("peak_gpu_bytes") is not None:
        values["peak_gpu_gib"] = round(result["peak_gpu_bytes"] / 2**30, 2)
    if sampler:
        window = result.get("window", {})
        values.update(sampler.between(window.get("start"), window.get("end")))
    return values


def stage_training(rec: Recorder, args) -> None:
    import torch

    args.cuda = args.device.startswith("cuda") and torch.cuda.is_available()
    if args.quick:
        cpu = [
            "trainer.precision=bf16-mixed",
            f"trainer.accelerator={'gpu' if args.cuda else 'cpu'}",
            "trainer.devices=1",
        ]
        for recipe in ("clmr_tiny", "cola_tiny"):
            rec.check(f"{recipe} bf16", train_run, args, recipe, cpu, steps=3, warmup=1, clips=10, timeout=args.t(30))
            rec.check(
                f"{recipe} bf16 compile",
                _raise,
                Skip("needs CUDA: compiling on a few CPU cores takes longer than the short mode's budget"),
            )
        return
    if not args.cuda:
        for name in ("clmr_magnatagatune", "cola_audioset"):
            rec.check(name, _raise, Skip("needs CUDA: the full recipes train at GPU batch sizes"))
        return
    gpu = ["trainer.precision=bf16-mixed", "trainer.accelerator=gpu", "trainer.devices=1"]
    # CLMR reads each view anywhere in the file (views.span=file), so 5 s synthetic clips serve as well as the
    # recipe's 30 s and are quicker to generate; COLA decodes whole 10 s clips, as it would.
    clmr = ["data.clip_seconds=5.0"]
    runs = [  # eager first, so that their figures are in even if a compiled run runs out of time
        ("clmr_magnatagatune bf16", "clmr_magnatagatune", [*gpu, *clmr], 60),
        ("cola_audioset bf16", "cola_audioset", gpu, 70),
        # channels_last is for 4-D activations: SampleCNN is 1-D, so only COLA's EfficientNet-B0 gets it
        ("clmr_magnatagatune bf16 compile", "clmr_magnatagatune", [*gpu, *clmr, "trainer.compile=true"], 90),
        (
            "cola_audioset bf16 compile channels_last",
            "cola_audioset",
            [*gpu, "trainer.compile=true", "trainer.channels_last=true"],
            100,
        ),
    ]
    for label, recipe, overrides, timeout in runs:
        rec.check(label, train_run, args, recipe, overrides, steps=100, warmup=10, clips=60, timeout=args.t(timeout))


# ----- 5. embedding ------------------------------------------------------------------------------------------


def stage_embedding(rec: Recorder, args) -> None:
    extra = ["--clips", "2", "--seconds", "1", "--repeats", "1"] if args.quick else []
    rec.command(
        "bench embed",
        audiocl_cmd("bench", "embed", "--device", args.device, *extra),
        timeout=args.t(30),
        parse=_lines(r"ratio against the strongest peer"),
    )
    # the probe heads on cached embeddings (5,000 clips; the short mode: 300 clips of 16 values)
    extra = ["--clips", "300", "--dim", "16", "--classes", "5", "--n-boot", "100"] if args.quick else []
    rec.command(
        "bench probe",
        audiocl_cmd("bench", "probe", "--device", args.device, *extra),
        timeout=args.t(30),
        parse=_lines(r"^linear\s+audiocl", r"^knn\s+audiocl", r"^mlp\s+audiocl"),
    )


STAGE_FUNCTIONS = {
    "environment": stage_environment,
    "correctness": stage_correctness,
    "speed": stage_speed,
    "training": stage_training,
    "embedding": stage_embedding,
}


# ----- the driver --------------------------------------------------------------------------------------------


def stage_status(checks: list[dict]) -> str:
    statuses = {c.get("status") for c in checks}
    if "failed" in statuses or not checks:
        return "failed"
    return "ok" if "ok" in statuses else "skipped"


def run_stage_process(name: str, args, timeout: float) -> dict:
    """Stage ``name`` in a child process under ``timeout``; its checks so far even if it dies."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "stage.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--stage",
            name,
            "--result",
            str(result),
            "--device",
            args.device,
            "--deadline",
            str(time.time() + timeout),
            "--slack",
            str(args.slack),
        ] + (["--quick"] if args.quick else [])
        rc, output, seconds = run_command(cmd, timeout)
        checks = json.loads(result.read_text())["checks"] if result.exists() else []
    entry = {"status": stage_status(checks), "seconds": round(seconds, 1), "checks": checks}
    if rc != 0:
        why = f"the stage timed out after {timeout:.0f} s" if rc == 124 else f"the stage process exited {rc}"
        entry.update(status="failed", reason=why, rc=rc, output=output[-TAIL:])
    elif not checks:
        entry.update(reason="the stage recorded no check", output=output[-TAIL:])
    return entry


def write_report(report: dict, out: Path) -> None:
    (out / "device_check.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "device_check.md").write_text(markdown(report))


def markdown(report: dict) -> str:
    lines = [
        f"# audiocl device check ({'quick, ' if report['quick'] else ''}--device {report['device']})",
        "",
        f"Started {report['started']}, {report.get('seconds', '?')} s in all. Machine: {report['machine']}.",
        "",
        "| stage | status | seconds | note |",
        "| --- | --- | --- | --- |",
    ]
    for name, stage in report["stages"].items():
        lines.append(f"| {name} | {stage['status']} | {stage.get('seconds', '')} | {stage.get('reason', '')} |")
    for name, stage in report["stages"].items():
        lines += ["", f"## {name}: {stage['status']}", ""]
        if stage.get("reason"):
            lines += [f"{stage['reason']}", ""]
        for check in stage.get("checks", []):
            why = f": {check['reason']}" if check.get("reason") else ""
            lines.append(f"- **{check['name']}**: {check['status']} ({check.get('seconds', '?')} s){why}")
            for key in (
                "gpus",
                "versions",
                "counts",
                "summary",
                "tolerance",
                "clips_per_s_median",
                "data_wait_fraction_median",
                "peak_gpu_gib",
                "gpu_util_mean",
                "gpu_util_median",
                "max_grad_rel",
            ):
                if check.get(key) is not None:
                    lines.append(f"  - {key}: `{json.dumps(check[key], default=str)}`")
            if check.get("results"):
                lines += ["", "  | case | values |", "  | --- | --- |"]
                lines += [f"  | {case} | `{json.dumps(v, default=str)}` |" for case, v in check["results"].items()]
                lines.append("")
            if check.get("output") and (check["name"].startswith("bench") or check["status"] == "failed"):
                lines += ["", "```", check["output"].strip()[-TAIL:], "```", ""]
            if check.get("traceback"):
                lines += ["", "```", check["traceback"].strip(), "```", ""]
        if stage.get("output") and stage["status"] == "failed":
            lines += ["", "```", stage["output"].strip(), "```"]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--quick", action="store_true", help="the short mode: tiny sizes, a few steps")
    parser.add_argument("--out", default=os.environ.get("OUT") or "device_check_out", help="where the report goes")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES), help="run only these")
    parser.add_argument("--budget-s", type=float, default=None, help="overall time budget (default 465, quick 110)")
    parser.add_argument(
        "--slack",
        type=float,
        default=1.0,
        help="multiply every timeout and the budget by this, for a slow or shared machine (default 1)",
    )
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # internal: run one stage here
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    if args.stage:  # a child: one stage, its commands' timeouts within the stage's deadline
        args.t = lambda seconds: max(1.0, min(seconds * args.slack, args.deadline - time.time() - 2))
        STAGE_FUNCTIONS[args.stage](Recorder(Path(args.result)), args)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    budget = (args.budget_s or BUDGET_S[mode]) * args.slack
    began = time.monotonic()
    report = {
        "device": args.device,
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs)",
        "budget_s": budget,
        "slack": args.slack,
        "stages": {},
    }
    for name in args.stages:
        left = budget - (time.monotonic() - began)
        if left < 5:
            report["stages"][name] = {
                "status": "failed",
                "reason": f"not run: the {budget:.0f} s budget was spent",
                "checks": [],
            }
        else:
            timeout = min(TIMEOUTS[mode][name] * args.slack, left)
            print(f"device check: {name} (up to {timeout:.0f} s)", flush=True)
            report["stages"][name] = run_stage_process(name, args, timeout)
            print(f"device check: {name} {report['stages'][name]['status']}", flush=True)
        report["seconds"] = round(time.monotonic() - began, 1)
        write_report(report, out)
    failed = [n for n, s in report["stages"].items() if s["status"] == "failed"]
    print(
        f"device check: {report['seconds']} s; report in {out}/device_check.md"
        + (f"; failed: {', '.join(failed)}" if failed else "; no stage failed")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
