"""``audiocl bench augment``: the CLMR augmentation chain, audiocl (batched, on ``--device``) next to the
equivalent chains of audiomentations (NumPy, one clip at a time on the CPU) and torch-audiomentations
(batched torch, on ``--device`` like ours), on the same clips, in one run.

A step augments ``--batch-size`` clips of 59049 samples at 22.05 kHz twice (two views), as CLMR does.
The per-transform rows apply each transform with p=1 to every clip; the chain rows use CLMR's
probabilities. Every row reports the speed-up over the strongest peer that ran it.

Where a peer lacks one of CLMR's transforms, its chain is mapped as closely as it allows, and is that much
cheaper where a transform is left out (the benchmark prints the same list):

- audiomentations: no delay, so its chain lacks CLMR's delay (p=0.3); its reverb is
  ``ApplyImpulseResponse`` (p=0.6) over generated impulse responses, which audiocl's ``ImpulseResponse``
  row runs on the same files.
- torch-audiomentations: no delay either (left out); reverb is ``ApplyImpulseResponse`` (p=0.6) over the
  same impulse responses; noise is ``AddColoredNoise`` with a flat spectrum (white) at 0-60 dB SNR; the
  filters are julius' windowed-sinc FIR filters, not order-2 responses; its ``PitchShift`` is a phase
  vocoder that draws from the ratios its sample rate makes fast (within -7..7 semitones), not a continuous
  range; its ``OneOf`` picks one transform for the whole batch, so CLMR's one-of high-pass or low-pass
  (p=0.8 per clip) is a high-pass and a low-pass each with p=0.4, independent: the same 0.8 filters per
  clip on average. torch-audiomentations reads impulse responses through ``torchaudio.info`` and
  ``torchaudio.load``, which torchaudio 2.9 removed; where they are gone, it is given the same responses as
  in-memory tensors through its own ``{"samples", "sample_rate"}`` input (so it skips decoding them).

Each row counts the best run of each side, over at least ``--repeats`` runs and ``--min-seconds``; a peer
stops after ``--max-seconds`` of runs once one has finished (ours is never cut short). Every run draws the
same parameters. As CPU training
does, the benchmark keeps freed memory for reuse (``audiocl.allocator``), for every side;
``--default-malloc`` leaves glibc's defaults. A peer that is not installed is named, with the package to
install, and its rows are left out.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from audiocl.bench._peers import import_peer, strongest
from audiocl.bench._timing import best_times, device_sync

if TYPE_CHECKING:
    import torch

SUMMARY = (
    "CLMR augmentation chain throughput (clips/s): audiocl batched vs audiomentations per clip and "
    "torch-audiomentations batched"
)

SR = 22050
SAMPLES = 59049
PEERS = ("audiomentations", "torch-audiomentations")

SUBSTITUTIONS = {
    "audiomentations": [
        "delay (p=0.3): left out (no such transform)",
        "reverb (p=0.6): ApplyImpulseResponse over the generated impulse responses",
    ],
    "torch-audiomentations": [
        "delay (p=0.3): left out (no such transform)",
        "reverb (p=0.6): ApplyImpulseResponse over the generated impulse responses",
        "noise: AddColoredNoise with f_decay 0 (white), 0-60 dB SNR, uniform in dB "
        "(ours draws the amplitude ratio uniformly, as CLMR did)",
        "high/low-pass one-of (p=0.8 per clip): HighPassFilter p=0.4 and LowPassFilter p=0.4, independent "
        "(its OneOf chooses per batch); julius FIR filters, not order 2",
        "pitch shift: phase vocoder over its fast ratios in -7..7 semitones (discrete), not WSOLA",
    ],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=48, help="clips per step, each gives 2 views (default 48)")
    parser.add_argument("--device", default="cpu", help="device for audiocl and torch-audiomentations (default cpu)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs at least; the best counts (default 3)")
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=1.5,
        help="time each row for at least this long (more runs than --repeats if they fit); default 1.5",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=10.0,
        help="stop timing a peer once its runs took this long, after one run (default 10); ours is not capped",
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


def _audiomentations(am, ir_folder: str) -> tuple[dict, object]:
    """audiomentations' per-transform rows (by our row name) and its CLMR chain; rolloff fixed at
    12 dB/octave = order 2."""
    rows = {
        "polarity": am.PolarityInversion(p=1.0),
        "noise (SNR 0-60 dB)": am.AddGaussianSNR(0, 60, p=1.0),
        "gain (-20..-2 dB)": am.Gain(-20, -2, p=1.0),
        "high-pass 200-1200 Hz": am.HighPassFilter(200, 1200, 12, 12, p=1.0),
        "low-pass 2200-4000 Hz": am.LowPassFilter(2200, 4000, 12, 12, p=1.0),
        "pitch shift (WSOLA)": am.PitchShift(-7, 7, p=1.0),
        "pitch shift (vocoders)": am.PitchShift(-7, 7, method="librosa_phase_vocoder", p=1.0),
        "impulse response files": am.ApplyImpulseResponse(ir_folder, p=1.0),
    }
    chain = am.Compose(
        [
            am.PolarityInversion(p=0.8),
            am.AddGaussianSNR(0, 60, p=0.01),
            am.Gain(-20, -2, p=0.3),
            am.OneOf([am.HighPassFilter(200, 1200, 12, 12, p=1.0), am.LowPassFilter(2200, 4000, 12, 12, p=1.0)], p=0.8),
            am.PitchShift(-7, 7, p=0.6),
            am.ApplyImpulseResponse(ir_folder, p=0.6),
        ]
    )
    return rows, chain


def _torch_audiomentations(ta, ir_folder: str) -> tuple[dict, object, str | None]:
    """torch-audiomentations' per-transform rows, its CLMR chain, and a note if its impulse responses had to
    be given as tensors (its file reading needs functions that torchaudio 2.9 removed)."""
    import soundfile as sf
    import torch

    kw = dict(sample_rate=SR, output_type="dict")

    def impulse_response(p):
        return ta.ApplyImpulseResponse(ir_folder, p=p, **kw)

    rows = {
        "polarity": ta.PolarityInversion(p=1.0, **kw),
        "noise (SNR 0-60 dB)": ta.AddColoredNoise(0, 60, min_f_decay=0.0, max_f_decay=0.0, p=1.0, **kw),
        "gain (-20..-2 dB)": ta.Gain(-20, -2, p=1.0, **kw),
        "high-pass 200-1200 Hz": ta.HighPassFilter(200, 1200, p=1.0, **kw),
        "low-pass 2200-4000 Hz": ta.LowPassFilter(2200, 4000, p=1.0, **kw),
        "pitch shift (vocoders)": ta.PitchShift(-7, 7, p=1.0, **kw),
        "impulse response files": impulse_response(1.0),
    }
    chain = ta.Compose(
        [
            ta.PolarityInversion(p=0.8, **kw),
            ta.AddColoredNoise(0, 60, min_f_decay=0.0, max_f_decay=0.0, p=0.01, **kw),
            ta.Gain(-20, -2, p=0.3, **kw),
            ta.HighPassFilter(200, 1200, p=0.4, **kw),
            ta.LowPassFilter(2200, 4000, p=0.4, **kw),
            ta.PitchShift(-7, 7, p=0.6, **kw),
            impulse_response(0.6),
        ],
        output_type="dict",
    )
    note = None
    irs = [rows["impulse response files"], chain.transforms[-1]]
    try:
        irs[0].audio(irs[0].ir_paths[0])  # its own file reading (torchaudio.info, torchaudio.load)
    except (AttributeError, ImportError, RuntimeError, OSError) as error:
        note = (
            f"torch-audiomentations cannot read impulse response files here ({type(error).__name__}: {error}; "
            "torchaudio 2.9 removed torchaudio.info and moved torchaudio.load to torchcodec): it is given the "
            "same responses as in-memory tensors, so it skips decoding them"
        )
        tensors = [
            {"samples": torch.from_numpy(sf.read(path, dtype="float32", always_2d=True)[0].T.copy()), "sample_rate": SR}
            for path in irs[0].ir_paths
        ]
        for transform in irs:
            transform.ir_paths = tensors
    return rows, chain, note


def run(args: argparse.Namespace) -> int:
    import random

    import numpy as np
    import torch

    from audiocl import augment as A

    if args.batch_size < 1 or args.repeats < 1 or args.min_seconds < 0 or args.max_seconds < args.min_seconds:
        raise SystemExit("--batch-size and --repeats must be >= 1, 0 <= --min-seconds <= --max-seconds")
    if args.threads is not None:
        # On a loaded machine, OpenMP threads that wait for each other cost more than they give.
        torch.set_num_threads(args.threads)
    am = import_peer("audiomentations", "audiomentations")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # its output_type migration notice, on import
        ta = import_peer("torch_audiomentations", "torch-audiomentations")
    device = torch.device(args.device)
    sync = device_sync(device)
    clips = _music_like(args.batch_size, torch.Generator().manual_seed(0))
    views = clips.repeat(2, 1)  # two views of every clip: (2 * B, samples)
    n_views = views.shape[0]
    views_dev, views_np = views.to(device), views.numpy()
    views_dev3 = views_dev[:, None]  # (2 * B, 1, samples): torch-audiomentations' (batch, channels, samples)

    with tempfile.TemporaryDirectory() as tmp:
        _write_impulse_responses(Path(tmp))
        ours_ir = A.ImpulseResponse(tmp, SR).to(device)

        # Every run of a row draws the same parameters (seeded anew), so that the best run is the least
        # disturbed one, not the one that happened to transform the fewest clips.
        def am_fn(transform):
            def run_am():
                random.seed(0)  # audiomentations draws from the global random and NumPy generators
                np.random.seed(0)  # noqa: NPY002
                return [transform(samples=x, sample_rate=SR) for x in views_np]

            return run_am

        def ta_fn(transform):
            transform = transform.to(device)

            def run_ta():
                random.seed(0)  # torch-audiomentations draws from the global random and torch generators
                torch.manual_seed(0)
                return transform(views_dev3, sample_rate=SR).samples

            return run_ta

        def ours(transform):
            transform = transform.to(device)
            return lambda: transform(views_dev, torch.Generator().manual_seed(0))

        rows = [
            ("polarity", A.PolarityInversion()),
            ("noise (SNR 0-60 dB)", A.AddNoise(0, 60, snr_scale="amplitude")),
            ("gain (-20..-2 dB)", A.Gain(-20, -2, step_db=1)),
            ("high-pass 200-1200 Hz", A.HighPass(SR, 200, 1200)),
            ("low-pass 2200-4000 Hz", A.LowPass(SR, 2200, 4000)),
            ("delay 200-450 ms", A.Delay(SR)),
            ("pitch shift (WSOLA)", A.PitchShift(SR, -7, 7, method="wsola")),
            ("pitch shift (vocoders)", A.PitchShift(SR, -7, 7)),
            ("reverb (synthetic RIR)", A.Reverb(SR)),
            ("impulse response files", ours_ir),
        ]
        peer_rows, peer_chains, notes = {}, {}, []
        if am is not None:
            am_rows, am_chain = _audiomentations(am, tmp)
            peer_rows["audiomentations"] = {name: am_fn(t) for name, t in am_rows.items()}
            peer_chains["audiomentations"] = am_fn(am_chain)
        if ta is not None:
            ta_rows, ta_chain, note = _torch_audiomentations(ta, tmp)
            peer_rows["torch-audiomentations"] = {name: ta_fn(t) for name, t in ta_rows.items()}
            peer_chains["torch-audiomentations"] = ta_fn(ta_chain)
            notes += [note] if note else []

        versions = [
            f"audiomentations {am.__version__} per clip on the CPU" if am else None,
            f"torch-audiomentations {ta.__version__} batched on {device}" if ta else None,
        ]
        print(
            f"augmentation throughput: {args.batch_size} clips x 2 views x {SAMPLES} samples at {SR} Hz, "
            f"audiocl on {device}, peers: {', '.join(v for v in versions if v) or 'none installed'}; best of "
            f">= {args.repeats} runs and >= {args.min_seconds:g} s per row (a peer <= {args.max_seconds:g} s), "
            f"torch threads {torch.get_num_threads()}, malloc "
            + ("keeps freed memory (audiocl.allocator)" if getattr(args, "freed_memory_kept", False) else "default")
        )
        for peer in peer_chains:
            print(f"{peer} CLMR chain, substitutions: " + "; ".join(SUBSTITUTIONS[peer]))
        for note in notes:
            print(f"note: {note}")
        header = (
            f"{'transform (p=1)':<24} {'audiocl ms':>11} {'audiocl clips/s':>16} {'peer clips/s':>13} "
            f"{'speed-up':>9}  {'strongest peer':<22}" + "".join(f" {p + ' /s':>24}" for p in PEERS)
        )
        print(header)
        print("-" * len(header))

        def report(name, ours_fn, peer_fns):
            times = best_times({"audiocl": ours_fn}, args.repeats, sync, args.min_seconds)  # ours: never capped
            times |= best_times(peer_fns, args.repeats, sync, args.min_seconds, args.max_seconds)
            rates = {impl: n_views / t for impl, t in times.items()}
            best = strongest({p: rates.get(p) for p in PEERS})
            cells = "".join(f" {rates[p]:>24.1f}" if p in rates else f" {'-':>24}" for p in PEERS)
            if best:
                peer = f"{best[1]:>13.1f} {rates['audiocl'] / best[1]:>8.1f}x  {best[0]:<22}"
            else:
                peer = f"{'-':>13} {'-':>9}  {'-':<22}"
            print(f"{name:<24} {1e3 * times['audiocl']:>11.1f} {rates['audiocl']:>16.1f} {peer}{cells}")
            return rates, best

        if not args.no_per_transform:
            for name, mine in rows:
                report(name, ours(mine), {p: fns[name] for p, fns in peer_rows.items() if name in fns})
            print("-" * len(header))
        rates, best = report("CLMR chain (paper's p)", ours(A.clmr(SR)), peer_chains)
        out = A.clmr(SR).to(device)(views_dev, torch.Generator().manual_seed(0))
        assert torch.isfinite(out).all() and out.shape == views_dev.shape
        summary = ", ".join(f"{impl} {rate:.1f} clips/s" for impl, rate in rates.items())
        if best:
            ratio = f"ratio {rates['audiocl'] / best[1]:.1f}x against the strongest peer ({best[0]})"
        else:
            ratio = "no peer installed, no ratio"
        print(f"\nCLMR chain: {summary}; {ratio}")
    return 0
