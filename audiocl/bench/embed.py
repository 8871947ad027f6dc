"""``audiocl bench embed``: embedding throughput of :class:`audiocl.embed.Embedder` (chunks of many clips in
one batch) next to the loop people write first (one clip at a time, its chunks as the batch).

Both run the same front-end and encoder on the same clips, in inference mode, on the same device; the table
reports clips/s, seconds of audio per second, the speed-up, and the largest difference between the two
outputs (so a fast but wrong row shows).
"""

from __future__ import annotations

import argparse

from audiocl.bench._timing import best_times, device_sync

SUMMARY = "embedding throughput (clips/s, audio s/s): batched Embedder vs a per-clip loop"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=int, default=64, help="clips to embed (default 64)")
    parser.add_argument("--seconds", type=float, default=3.0, help="clip length in seconds (default 3)")
    parser.add_argument("--chunk-s", type=float, default=1.0, help="chunk length in seconds (default 1)")
    parser.add_argument("--encoder", default="tiny_cnn", help="encoder on a 16 kHz log-mel (default tiny_cnn)")
    parser.add_argument("--checkpoint", help="use this checkpoint's pipeline instead of --encoder")
    parser.add_argument("--batch-size", type=int, default=64, help="chunks per forward pass (default 64)")
    parser.add_argument("--device", default="cpu", help="device (default cpu)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds; the best counts (default 3)")


def run(args: argparse.Namespace) -> int:
    import torch

    from audiocl.embed import Embedder, chunk_starts, load_encoder

    if args.clips < 1 or args.seconds <= 0 or args.chunk_s <= 0 or args.repeats < 1:
        raise SystemExit("--clips and --repeats must be >= 1, --seconds and --chunk-s > 0")
    device = torch.device(args.device)
    if args.checkpoint:
        embedder = load_encoder(args.checkpoint, chunk_s=args.chunk_s, device=device, batch_size=args.batch_size)
    else:
        from audiocl.frontends import LogMel
        from audiocl.models import create_encoder

        torch.manual_seed(0)
        segment = int(round(args.chunk_s * 16000))
        embedder = Embedder(LogMel(16000), create_encoder(args.encoder), 16000, segment, device=device,
                            batch_size=args.batch_size)  # fmt: skip
    sr, seg = embedder.sample_rate, embedder.segment_samples
    sync = device_sync(device)
    audio = 0.1 * torch.randn(args.clips, int(args.seconds * sr), generator=torch.Generator().manual_seed(0))

    def per_clip():
        out = []
        with torch.inference_mode():
            for clip in audio:
                starts = chunk_starts(len(clip), seg, embedder.hop_samples)
                padded = torch.nn.functional.pad(clip, (0, int(starts[-1]) + seg - len(clip)))
                chunks = padded.unfold(0, seg, embedder.hop_samples)[: len(starts)].to(device)
                out.append(embedder.encoder(embedder.frontend(chunks)).mean(0).cpu())
        return torch.stack(out)

    impls = {"Embedder (batched)": lambda: embedder.embed(audio, sr), "per-clip loop": per_clip}
    times = best_times(impls, args.repeats, sync)
    reference = per_clip()
    chunks = len(chunk_starts(audio.shape[1], seg, embedder.hop_samples))
    print(
        f"embedding throughput: {args.clips} clips x {args.seconds:g} s ({chunks} chunks of {seg / sr:g} s each), "
        f"encoder {args.checkpoint or args.encoder}, batch {args.batch_size} chunks, device {device}, "
        f"best of {args.repeats}, torch threads {torch.get_num_threads()}"
    )
    header = f"{'implementation':<20} {'clips/s':>10} {'audio s/s':>10} {'speed-up':>9} {'max |diff|':>11}"
    print(header)
    print("-" * len(header))
    for name, fn in impls.items():
        rate = args.clips / times[name]
        diff = float((fn().cpu() - reference).abs().max())
        ratio = times["per-clip loop"] / times[name]
        print(f"{name:<20} {rate:>10.1f} {rate * args.seconds:>10.1f} {ratio:>8.2f}x {diff:>11.2e}")
    ratio = times["per-clip loop"] / times["Embedder (batched)"]
    print(f"\nEmbedder ratio against the strongest peer (the per-clip loop): {ratio:.2f}x")
    return 0
