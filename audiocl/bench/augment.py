"""``audiocl bench augment``: the CLMR augmentation chain, audiocl (batched, on ``--device``) next to the
equivalent audiomentations chain (NumPy, one clip at a time on the CPU), on the same clips, in one run.

A step augments ``--batch-size`` clips of 59049 samples at 22.05 kHz twice (two views), as CLMR does.
The per-transform rows apply each transform with p=1 to every clip; the chain rows use CLMR's
probabilities. audiomentations has no delay, so its chain lacks CLMR's delay (p=0.3) and is that much
cheaper; its reverb is ``ApplyImpulseResponse`` over generated impulse responses, which audiocl's
``ImpulseResponse`` row runs on the same files.

Each row counts the best run of each side, over at least ``--repeats`` runs and ``--min-seconds``; every
run draws the same parameters. As CPU training does, the benchmark keeps freed memory for reuse
(``audiocl.allocator``), for both sides; ``--default-malloc`` leaves glibc's defaults.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from audiocl.bench._timing import best_times, device_sync

if TYPE_CHECKING:
    import torch

SUMMARY = "CLMR augmentation chain throughput (clips/s): audiocl batched vs audiomentations per clip"

SR = 22050
SAMPLES = 59049


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=48, help="clips per step, each gives 2 views (default 48)")
    parser.add_argument("--device", default="cpu", help="device for audiocl (default cpu)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs at least; the best counts (default 3)")
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=1.5,
        help="time each row for at least this long (more runs than --repeats if they fit); default 1.5",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice, one per core)"
    )
    parser.add_argument(
        "--no-per-transform", action="store_true", help="time only the whole chains, not each transform"
    )


def _write_impulse_responses(folder: Path, count: int = 8) -> None:
    """Exponentially decaying noise with RT60 from 0.1 to 1.0 s, as WAV files."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    for i, rt60 in enumerate(np.linspace(0.1, 1.0, count)):
        n = int(rt60 * SR)
        ir = rng.standard_normal(n) * np.exp(-math.log(1000) * np.arange(n) / n)
        ir[0] = 1.0
        sf.write(folder / f"ir_{i}.wav", (ir / np.abs(ir).max()).astype(np.float32), SR)


def _music_like(batch: int, generator: torch.Generator) -> torch.Tensor:
    """Clips of a few harmonic notes with a little noise, so pitch and filters have something to act on."""
    import torch

    t = torch.arange(SAMPLES, dtype=torch.float64) / SR
    f0 = 110 * 2 ** (torch.randint(0, 36, (batch, 3), generator=generator) / 12)  # (B, notes)
    x = sum(torch.sin(2 * math.pi * f0[:, n, None] * h * t[None, :]) / h for n in range(3) for h in (1, 2, 3))
    x = x + 0.05 * torch.randn(batch, SAMPLES, generator=generator, dtype=torch.float64)
    return (0.2 * x / x.abs().amax(dim=1, keepdim=True)).float()


def run(args: argparse.Namespace) -> int:
    import random

    import audiomentations as am
    import numpy as np
    import torch

    from audiocl import augment as A

    if args.batch_size < 1 or args.repeats < 1 or args.min_seconds < 0:
        raise SystemExit("--batch-size and --repeats must be >= 1, --min-seconds >= 0")
    if args.threads is not None:
        # On a loaded machine, OpenMP threads that wait for each other cost more than they give.
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = device_sync(device)
    clips = _music_like(args.batch_size, torch.Generator().manual_seed(0))
    views = clips.repeat(2, 1)  # two views of every clip: (2 * B, samples)
    n_views = views.shape[0]
    views_dev, views_np = views.to(device), views.numpy()

    with tempfile.TemporaryDirectory() as tmp:
        _write_impulse_responses(Path(tmp))
        ours_ir = A.ImpulseResponse(tmp, SR).to(device)

        # Every run of a row draws the same parameters (seeded anew), so that the best run is the least
        # disturbed one, not the one that happened to transform the fewest clips.
        def peer(transform):
            def run_peer():
                random.seed(0)  # audiomentations draws from the global random and NumPy generators
                np.random.seed(0)  # noqa: NPY002
                return [transform(samples=x, sample_rate=SR) for x in views_np]

            return run_peer

        def ours(transform):
            transform = transform.to(device)
            return lambda: transform(views_dev, torch.Generator().manual_seed(0))

        # (name, audiocl, audiomentations or None); audiomentations' rolloff fixed at 12 dB/octave = order 2.
        rows = [
            ("polarity", A.PolarityInversion(), am.PolarityInversion(p=1.0)),
            ("noise (SNR 40-80 dB)", A.AddNoise(40, 80), am.AddGaussianSNR(40, 80, p=1.0)),
            ("gain (-20..-1 dB)", A.Gain(-20, -1), am.Gain(-20, -1, p=1.0)),
            ("high-pass 200-1200 Hz", A.HighPass(SR, 200, 1200), am.HighPassFilter(200, 1200, 12, 12, p=1.0)),
            ("low-pass 2200-4000 Hz", A.LowPass(SR, 2200, 4000), am.LowPassFilter(2200, 4000, 12, 12, p=1.0)),
            ("delay 200-450 ms", A.Delay(SR), None),
            ("pitch shift (WSOLA)", A.PitchShift(SR, -7, 7, method="wsola"), am.PitchShift(-7, 7, p=1.0)),
            (
                "pitch shift (vocoders)",
                A.PitchShift(SR, -7, 7),
                am.PitchShift(-7, 7, method="librosa_phase_vocoder", p=1.0),
            ),
            ("reverb (synthetic RIR)", A.Reverb(SR), None),
            ("impulse response files", ours_ir, am.ApplyImpulseResponse(tmp, p=1.0)),
        ]
        chains = {
            "audiocl": A.clmr(SR).to(device),
            "audiomentations": am.Compose(
                [
                    am.PolarityInversion(p=0.8),
                    am.AddGaussianSNR(40, 80, p=0.01),
                    am.Gain(-20, -1, p=0.3),
                    am.OneOf(
                        [am.HighPassFilter(200, 1200, 12, 12, p=1.0), am.LowPassFilter(2200, 4000, 12, 12, p=1.0)],
                        p=0.8,
                    ),
                    am.PitchShift(-7, 7, p=0.6),
                    am.ApplyImpulseResponse(tmp, p=0.6),
                ]
            ),
        }

        print(
            f"augmentation throughput: {args.batch_size} clips x 2 views x {SAMPLES} samples at {SR} Hz, "
            f"audiocl on {device}, audiomentations {am.__version__} per clip on the CPU, best of >= {args.repeats} "
            f"runs and >= {args.min_seconds:g} s per row, "
            f"torch threads {torch.get_num_threads()}, malloc "
            + ("keeps freed memory (audiocl.allocator)" if getattr(args, "freed_memory_kept", False) else "default")
        )
        header = (
            f"{'transform (p=1)':<24} {'audiocl ms':>11} {'audiocl clips/s':>16} {'peer clips/s':>13} {'speed-up':>9}"
        )
        print(header)
        print("-" * len(header))

        def report(name, ours_fn, peer_fn):
            impls = {"ours": ours_fn} if peer_fn is None else {"ours": ours_fn, "peer": peer_fn}
            times = best_times(impls, args.repeats, sync, args.min_seconds)
            rate = n_views / times["ours"]
            if peer_fn is None:
                print(f"{name:<24} {1e3 * times['ours']:>11.1f} {rate:>16.1f} {'-':>13} {'-':>9}")
                return rate, None
            peer_rate = n_views / times["peer"]
            print(f"{name:<24} {1e3 * times['ours']:>11.1f} {rate:>16.1f} {peer_rate:>13.1f} {rate / peer_rate:>8.1f}x")
            return rate, peer_rate

        if not args.no_per_transform:
            for name, mine, theirs in rows:
                report(name, ours(mine), None if theirs is None else peer(theirs))
            print("-" * len(header))
        rate, peer_rate = report("CLMR chain (paper's p)", ours(chains["audiocl"]), peer(chains["audiomentations"]))
        out = chains["audiocl"](views_dev, torch.Generator().manual_seed(0))
        assert torch.isfinite(out).all() and out.shape == views_dev.shape
        print(
            f"\nCLMR chain: audiocl {rate:.1f} clips/s, audiomentations {peer_rate:.1f} clips/s, "
            f"ratio {rate / peer_rate:.1f}x (target >= 10x on 2 CPU cores)"
        )
    return 0
