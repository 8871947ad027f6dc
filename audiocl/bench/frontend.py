"""``audiocl bench frontend``: LogMel and MFCC throughput, audiocl (one batched call) next to librosa (one
clip at a time, its only mode) and torchaudio.transforms, on the same clips with the same settings.

Every implementation computes the same features (frames centred, zero padding, identical filter banks);
the table also reports the largest difference from librosa's output, so a fast but wrong row shows, and
the last line our ratio against the strongest (fastest) peer of each feature.
"""

from __future__ import annotations

import argparse

from audiocl.bench._peers import strongest
from audiocl.bench._timing import best_times, device_sync

SUMMARY = "LogMel and MFCC throughput (clips/s): audiocl batched vs librosa per clip and torchaudio"

SR = 16000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=64, help="clips per batch (default 64)")
    parser.add_argument("--seconds", type=float, default=1.0, help="clip length in seconds at 16 kHz (default 1)")
    parser.add_argument("--device", default="cpu", help="device for audiocl and torchaudio (default cpu)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds; the best counts (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def run(args: argparse.Namespace) -> int:
    import librosa
    import numpy as np
    import torch
    import torchaudio

    from audiocl.frontends import MFCC, LogMel

    if args.batch_size < 1 or args.seconds <= 0 or args.repeats < 1:
        raise SystemExit("--batch-size and --repeats must be >= 1 and --seconds > 0")
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = device_sync(device)
    generator = torch.Generator().manual_seed(0)
    audio = 0.1 * torch.randn(args.batch_size, int(args.seconds * SR), generator=generator)
    audio_dev, clips = audio.to(device), audio.numpy()

    # One setting per feature, spelled out for each library (COLA's log-mel; librosa's MFCC).
    mel_kw = dict(n_fft=1024, win_length=400, hop_length=160, n_mels=64, center=True, pad_mode="constant")
    ours_logmel = LogMel(SR, center=True).to(device)  # 25 ms / 10 ms, 64 HTK mels 60-7800 Hz, magnitude
    ta_mel = torchaudio.transforms.MelSpectrogram(
        SR, f_min=60.0, f_max=7800.0, power=1.0, mel_scale="htk", norm=None, **mel_kw
    ).to(device)

    def librosa_logmel(x):
        mel = librosa.feature.melspectrogram(
            y=x, sr=SR, power=1.0, fmin=60.0, fmax=7800.0, htk=True, norm=None, **mel_kw
        )
        return np.log(mel + 1e-6)

    mfcc_kw = dict(n_fft=512, win_length=400, hop_length=160, n_mels=64, center=True, pad_mode="constant")
    ours_mfcc = MFCC(SR, n_mfcc=20, n_mels=64, center=True).to(device)  # Slaney mels 0-8000 Hz, 80 dB floor
    ta_mfcc = torchaudio.transforms.MFCC(
        SR, n_mfcc=20, melkwargs=dict(mel_scale="slaney", norm="slaney", **mfcc_kw)
    ).to(device)

    cases = {
        "logmel": {
            "audiocl (batched)": lambda: ours_logmel(audio_dev),
            "torchaudio (batched)": lambda: torch.log(ta_mel(audio_dev) + 1e-6),
            "librosa (per clip)": lambda: np.stack([librosa_logmel(x) for x in clips]),
        },
        "mfcc": {
            "audiocl (batched)": lambda: ours_mfcc(audio_dev)[:, 0],
            # torchaudio applies its 80 dB floor below the peak of the whole batch, not of each clip:
            # per clip, as librosa and audiocl do, costs it a Python loop.
            "torchaudio (batched)": lambda: ta_mfcc(audio_dev),
            "librosa (per clip)": lambda: np.stack(
                [librosa.feature.mfcc(y=x, sr=SR, n_mfcc=20, **mfcc_kw) for x in clips]
            ),
        },
    }

    print(
        f"front-end throughput: {args.batch_size} clips x {args.seconds:g} s at {SR} Hz, device {device}, "
        f"best of {args.repeats}, torch threads {torch.get_num_threads()} (librosa always on the CPU)"
    )
    header = (
        f"{'feature':<8} {'implementation':<22} {'clips/s':>11} {'audiocl speed-up':>17} {'max |diff| vs librosa':>22}"
    )
    print(header)
    print("-" * len(header))
    summary = []
    for feature, impls in cases.items():
        rates = {name: args.batch_size / t for name, t in best_times(impls, args.repeats, sync).items()}
        peer, peer_rate = strongest({name: rate for name, rate in rates.items() if not name.startswith("audiocl")})
        summary.append(f"{feature} {rates['audiocl (batched)'] / peer_rate:.2f}x ({peer})")
        reference = np.asarray(impls["librosa (per clip)"](), dtype=np.float64)
        for name, fn in impls.items():
            out = fn()
            out = out.squeeze(1).double().cpu().numpy() if isinstance(out, torch.Tensor) else out
            diff = float(np.abs(out.reshape(reference.shape) - reference).max())
            ratio = rates["audiocl (batched)"] / rates[name]
            print(f"{feature:<8} {name:<22} {rates[name]:>11.1f} {ratio:>16.2f}x {diff:>22.2e}")
    print("\naudiocl ratio against the strongest peer: " + ", ".join(summary))
    return 0
