#!/usr/bin/env python
"""Held-out evaluation corpora in the official on-disk layouts, made on this machine (nothing downloaded).

Three corpora that audiocl's loaders read as the real data sets (see DEVELOPERS.md, "Held-out data"):

- ``speech_commands/``: keywords spoken by espeak-ng (Speech Commands layout). A speaker is an accent, a voice
  variant, a pitch and a speed; the variants of the valid and test speakers are never used in train, so the
  lists split by speaker as the real ``validation_list.txt``/``testing_list.txt`` do. Needs ``espeak-ng``.
- ``magnatagatune/``: MIDI we compose, rendered by fluidsynth with the General MIDI sound font, cut into MP3
  clips (MagnaTagATune layout, ``annotations_final.csv`` and the Pons ``*_gt_mtt.tsv`` split files). 50 tags:
  the instruments playing, drums or not, tempo, register, loudness, mode, articulation, density and ensemble
  size. Tracks never span splits. Needs ``fluidsynth`` and ``fluid-soundfont-gm``.
- ``esc50/``: five-second scenes of synthesised sound events of 15 ESC-50 classes, over coloured noise, with a
  quieter distractor event and room reverb (ESC-50 layout, 5 folds, takes of one source in one fold). Needs
  nothing beyond numpy and scipy.

The Debian packages are for experiments only; audiocl itself never needs them::

    apt-get install -y espeak-ng fluidsynth fluid-soundfont-gm
    python scripts/make_eval_corpora.py --out ~/audiocl-eval            # a few CPU minutes
    audiocl probe --task speech_commands --data ~/audiocl-eval/speech_commands --baseline mfcc

Everything is a function of ``--seed`` (and of the espeak-ng/fluidsynth versions). A corpus is written into a
temporary folder beside its target and renamed when complete, so a failure leaves no partial corpus.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

REPO = Path(__file__).resolve().parents[1]
CORPORA = ("speech", "music", "sounds")


def _rng(seed: int, *key: int) -> np.random.Generator:
    """An independent stream per (seed, corpus, item), so an item does not depend on the corpus size."""
    return np.random.default_rng([seed, *key])


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="clip", disable=not enabled, leave=True)


def _colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise of unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    spectrum *= {"white": 1.0, "pink": f**-0.5, "brown": f**-1.0}[color]
    x = np.fft.irfft(spectrum, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)) + 1e-12)


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(audio, -1, 1).astype(np.float32), sample_rate, subtype="PCM_16")


def _require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"error: {name} not found; install it with `apt-get install -y {package}` (experiments only)")
    return path


# ------------------------------------------------------------------------------------------ speech (espeak-ng)
WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
# espeak-ng voice variants (espeak-ng-data/voices/!v): a speaker's timbre. Split between train and held-out.
VARIANTS = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
    "klatt4", "adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "aunty", "belinda", "benjamin", "boris",
    "caleb", "david", "ed", "edward", "grandma", "grandpa", "iven", "john", "linda", "max", "michel", "norbert",
    "paul", "quincy", "rob", "robert", "steph", "travis", "victor", "zac", "croak", "whisperf", "Lee",
]  # fmt: skip


def _speakers(n: int, seed: int) -> list[dict]:
    """``n`` speakers; valid and test speakers (the last 15 % each) use variants no train speaker uses."""
    rng = _rng(seed, 0, 0)
    variants = [VARIANTS[i] for i in rng.permutation(len(VARIANTS))]
    n_held = max(1, round(0.15 * n))
    splits = ["train"] * (n - 2 * n_held) + ["valid"] * n_held + ["test"] * n_held
    # Variants: the first 70 % for train speakers, then 15 % each for valid and test.
    cut1, cut2 = round(0.7 * len(variants)), round(0.85 * len(variants))
    pools = {"train": variants[:cut1], "valid": variants[cut1:cut2], "test": variants[cut2:]}
    speakers = []
    for i, split in enumerate(splits):
        r = _rng(seed, 0, 1, i)
        spk = {
            "split": split,
            "accent": ACCENTS[int(r.integers(len(ACCENTS)))],
            "variant": pools[split][int(r.integers(len(pools[split])))],
            "pitch": int(r.integers(20, 80)),
            "speed": int(r.integers(130, 200)),
        }
        spk["id"] = hashlib.sha1(json.dumps([seed, i, spk], sort_keys=True).encode()).hexdigest()[:8]
        speakers.append(spk)
    return speakers


def _say(word: str, spk: dict, pitch: int, speed: int, sample_rate: int) -> np.ndarray:
    """espeak-ng's rendering of ``word`` (22050 Hz) resampled to ``sample_rate``."""
    voice = f"{spk['accent']}+{spk['variant']}"
    cmd = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", word]
    wav = subprocess.run(cmd, capture_output=True, check=True).stdout
    import io

    audio, sr = sf.read(io.BytesIO(wav), dtype="float64")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    g = np.gcd(sample_rate, sr)
    return signal.resample_poly(audio, sample_rate // g, sr // g)


def make_speech(out: Path, *, seed: int, speakers: int, words: list[str], sample_rate: int, progress: bool) -> Path:
    """Speech Commands layout: ``<word>/<speaker>_nohash_<n>.wav`` (1 s), the two lists, background noise."""
    _require_tool("espeak-ng", "espeak-ng")
    people = _speakers(speakers, seed)
    lists: dict[str, list[str]] = {"valid": [], "test": []}
    with _progress(len(people) * len(words), "speech", progress) as bar:
        for s, spk in enumerate(people):
            for w, word in enumerate(words):
                r = _rng(seed, 0, 2, s, w)
                for n in range(1 + int(r.random() < 0.3)):  # some speakers say a word twice, as in the release
                    pitch = int(np.clip(spk["pitch"] + r.integers(-6, 7), 0, 99))
                    speed = int(spk["speed"] + r.integers(-15, 16))
                    voice = _say(word, spk, pitch, speed, sample_rate)
                    # Trim espeak-ng's silences, place the word at a random offset in one second.
                    loud = np.flatnonzero(np.abs(voice) > 0.02 * np.abs(voice).max())
                    voice = voice[loud[0] : loud[-1] + 1][:sample_rate]
                    clip = np.zeros(sample_rate)
                    start = int(r.integers(0, sample_rate - len(voice) + 1))
                    clip[start : start + len(voice)] = voice / (np.abs(voice).max() + 1e-9)
                    clip *= 10 ** (r.uniform(-18, -1) / 20)
                    noise = _colored_noise(sample_rate, ["white", "pink", "brown"][int(r.integers(3))], r)
                    clip += noise * _rms(voice) * 10 ** (-r.uniform(10, 35) / 20)  # a microphone's room
                    rel = f"{word}/{spk['id']}_nohash_{n}.wav"
                    _write_wav(out / rel, clip, sample_rate)
                    if spk["split"] in lists:
                        lists[spk["split"]].append(rel)
                bar.update()
    (out / "validation_list.txt").write_text("\n".join(sorted(lists["valid"])) + "\n")
    (out / "testing_list.txt").write_text("\n".join(sorted(lists["test"])) + "\n")
    noise_dir = out / "_background_noise_"
    for k, color in enumerate(("white", "pink", "brown")):
        _write_wav(
            noise_dir / f"{color}_noise.wav",
            0.3 * _colored_noise(30 * sample_rate, color, _rng(seed, 0, 3, k)),
            sample_rate,
        )
    (noise_dir / "README.md").write_text("Synthetic coloured noise (audiocl scripts/make_eval_corpora.py).\n")
    (out / "README.md").write_text(
        f"Synthetic Speech Commands-layout corpus: {len(words)} words spoken by {len(people)} espeak-ng speakers "
        f"(accent + variant + pitch + speed), seed {seed}. Valid/test speakers use variants unseen in train.\n"
    )
    (out / "LICENSE").write_text("Generated data; espeak-ng is GPL-3.0-or-later.\n")
    (out / "speakers.json").write_text(json.dumps(people, indent=1))
    return out


# ------------------------------------------------------------------------------------ music (fluidsynth + GM)
# (General MIDI program, tag, lowest, highest MIDI note the part may use)
INSTRUMENTS = [
    (0, "piano", 36, 96), (4, "electric piano", 40, 88), (6, "harpsichord", 41, 89), (11, "vibraphone", 53, 89),
    (12, "marimba", 48, 96), (19, "organ", 36, 96), (21, "accordion", 53, 89), (24, "guitar", 40, 84),
    (27, "electric guitar", 40, 86), (30, "distorted guitar", 40, 86), (32, "acoustic bass", 28, 55),
    (33, "electric bass", 28, 55), (40, "violin", 55, 100), (42, "cello", 36, 76), (48, "strings", 36, 96),
    (46, "harp", 36, 96), (52, "choir", 48, 79), (56, "trumpet", 55, 84), (57, "trombone", 40, 72),
    (58, "tuba", 28, 58), (60, "horn", 41, 77), (61, "brass", 41, 84), (65, "sax", 49, 81), (68, "oboe", 58, 91),
    (70, "bassoon", 34, 72), (71, "clarinet", 50, 91), (73, "flute", 60, 96), (75, "pan flute", 60, 96),
    (80, "synth lead", 48, 96), (88, "synth pad", 36, 96), (104, "sitar", 48, 84), (105, "banjo", 48, 84),
    (114, "steel drums", 52, 88),
]  # fmt: skip
STYLE_TAGS = ["drums", "no drums", "slow", "fast", "low", "high", "loud", "quiet", "major", "minor", "solo",
              "duet", "ensemble", "staccato", "legato", "dense", "sparse"]  # fmt: skip
MUSIC_TAGS = [name for _, name, _, _ in INSTRUMENTS] + STYLE_TAGS  # 33 + 17 = 50, the scored top 50
FOLDERS = "0123456789abcdef"
_SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10]}


def _track_plan(seed: int, t: int) -> dict:
    """A track's instruments, tempo, register, loudness, mode, articulation and density (and its tags)."""
    r = _rng(seed, 1, 0, t)
    n_parts = int(r.choice([1, 2, 3], p=[0.3, 0.35, 0.35]))
    parts = [INSTRUMENTS[i] for i in r.choice(len(INSTRUMENTS), n_parts, replace=False)]
    plan = {
        "parts": parts,
        "drums": bool(r.random() < 0.4),
        "tempo": ["slow", "medium", "fast"][int(r.integers(3))],
        "register": ["low", "mid", "high"][int(r.integers(3))],
        "dynamics": ["quiet", "medium", "loud"][int(r.integers(3))],
        "mode": ["major", "minor"][int(r.integers(2))],
        "articulation": ["staccato", "normal", "legato"][int(r.integers(3))],
        "density": ["sparse", "normal", "dense"][int(r.integers(3))],
        "key": int(r.integers(12)),
    }
    plan["bpm"] = float(
        {"slow": r.uniform(55, 80), "medium": r.uniform(95, 120), "fast": r.uniform(140, 180)}[plan["tempo"]]
    )
    tags = {name for _, name, _, _ in parts}
    tags.add("drums" if plan["drums"] else "no drums")
    tags |= {plan["tempo"], plan["register"], plan["dynamics"], plan["mode"], plan["articulation"], plan["density"]}
    tags.add({1: "solo", 2: "duet", 3: "ensemble"}[n_parts])
    plan["tags"] = sorted(tags & set(MUSIC_TAGS))
    return plan


def _track_notes(plan: dict, seconds: float, rng: np.random.Generator) -> list[tuple[float, float, int, int, int]]:
    """``(start_s, end_s, channel, note, velocity)`` of every note of the track (drums on channel 9)."""
    beat = 60.0 / plan["bpm"]
    step = beat * {"sparse": 2.0, "normal": 0.5, "dense": 0.25}[plan["density"]]
    hold = {"staccato": 0.3, "normal": 0.8, "legato": 1.05}[plan["articulation"]]
    vel = {"quiet": (30, 50), "medium": (65, 85), "loud": (105, 125)}[plan["dynamics"]]
    shift = {"low": -14, "mid": 0, "high": 14}[plan["register"]]
    scale = np.array(_SCALES[plan["mode"]])
    notes = []
    for ch, (_, _, lo, hi) in enumerate(plan["parts"]):
        centre = int(np.clip((lo + hi) // 2 + shift, lo + 4, hi - 4))
        degree = 0
        t = 0.0
        role = ch  # 0 melody, 1 chords/arpeggio, 2 bass-like line (one octave under its centre)
        while t < seconds:
            degree += int(rng.integers(-2, 3))
            degree = int(np.clip(degree, -7, 7))
            octave, idx = divmod(degree, 7)
            pitch = centre + plan["key"] % 12 - 6 + 12 * octave + int(scale[idx])
            if role == 2:
                pitch -= 12
            dur = step * (2 if role == 1 else 1)
            pitch = int(np.clip(pitch, lo, hi))
            chord = [pitch, pitch + int(scale[2] - scale[0]), pitch + 7] if role == 1 else [pitch]
            for p in chord:
                notes.append((t, t + dur * hold, ch, int(np.clip(p, 0, 127)), int(rng.integers(*vel))))
            t += dur
    if plan["drums"]:
        eighth = beat / 2
        for k in range(int(seconds / eighth)):
            t = k * eighth
            hits = [42] + ([36] if k % 4 == 0 else []) + ([38] if k % 4 == 2 else [])
            for p in hits:
                notes.append((t, t + 0.1, 9, p, int(rng.integers(*vel))))
    return notes


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    while n > 0x7F:
        n >>= 7
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))


def write_midi(path: Path, events: list[tuple[float, bytes]]) -> None:
    """A format-0 standard MIDI file of ``(time_s, message bytes)`` at 120 bpm, 480 ticks per beat."""
    ticks_per_s = 960
    track = bytearray()
    track += _vlq(0) + b"\xff\x51\x03" + (500000).to_bytes(3, "big")  # tempo: 500,000 us per beat
    last = 0
    for time_s, msg in sorted(events, key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80)):  # note-offs first
        tick = int(round(time_s * ticks_per_s))
        track += _vlq(tick - last) + msg
        last = tick
    track += _vlq(0) + b"\xff\x2f\x00"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(track)) + track)


def _render(midi: Path, wav: Path, sample_rate: int, soundfont: Path) -> np.ndarray:
    cmd = ["fluidsynth", "-ni", "-q", "-g", "0.7", "-r", str(sample_rate), "-F", str(wav), str(soundfont), str(midi)]
    subprocess.run(cmd, capture_output=True, check=True)
    audio, _ = sf.read(wav, dtype="float64")
    return audio.mean(axis=1) if audio.ndim > 1 else audio


def find_soundfont() -> Path:
    for p in ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2"):
        if Path(p).is_file():
            return Path(p)
    raise SystemExit("error: no General MIDI sound font; install it with `apt-get install -y fluid-soundfont-gm`")


def make_music(
    out: Path, *, seed: int, tracks: int, clips_per_track: int, clip_seconds: float, sample_rate: int, progress: bool
) -> Path:
    """MagnaTagATune layout: MP3 clips in folders 0-f, ``annotations_final.csv``, Pons split files."""
    from audiocl.data.magnatagatune import top_tags

    _require_tool("fluidsynth", "fluidsynth")
    soundfont = find_soundfont()
    track_s = clips_per_track * clip_seconds
    gap_s = 2.5  # silence between tracks in one rendering, for the reverb tail to die
    batch = 8  # tracks per fluidsynth call (it loads the sound font once per call)
    order = _rng(seed, 1, 1).permutation(tracks)  # track -> folder, balanced over the 16 folders
    rows = []
    with _progress(tracks * clips_per_track, "music", progress) as bar, tempfile.TemporaryDirectory() as tmp:
        for first in range(0, tracks, batch):
            ids = list(range(first, min(first + batch, tracks)))
            plans, events = [], []
            for k, t in enumerate(ids):
                plan = _track_plan(seed, t)
                plans.append(plan)
                t0 = k * (track_s + gap_s)
                for ch, (program, _, _, _) in enumerate(plan["parts"]):
                    events.append((t0, bytes([0xC0 | ch, program])))
                    events.append((t0, bytes([0xB0 | ch, 7, 100])))  # channel volume
                for s, e, ch, note, vel in _track_notes(plan, track_s, _rng(seed, 1, 2, t)):
                    events.append((t0 + s, bytes([0x90 | ch, note, vel])))
                    events.append((t0 + min(e, track_s), bytes([0x80 | ch, note, 0])))
                for ch in range(16):  # all notes off at the end of the track
                    events.append((t0 + track_s, bytes([0xB0 | ch, 123, 0])))
            midi, wav = Path(tmp) / "batch.mid", Path(tmp) / "batch.wav"
            write_midi(midi, events)
            audio = _render(midi, wav, sample_rate, soundfont)
            for k, (t, plan) in enumerate(zip(ids, plans, strict=True)):
                folder = FOLDERS[int(order[t]) % len(FOLDERS)]
                name = f"synthetic_artist_{t:04d}-generated_album_{t % 7}-{1 + t % 12:02d}-track_{t:04d}"
                for j in range(clips_per_track):
                    lo = int(round((k * (track_s + gap_s) + j * clip_seconds) * sample_rate))
                    clip = audio[lo : lo + int(round(clip_seconds * sample_rate))]
                    clip = np.pad(clip, (0, int(round(clip_seconds * sample_rate)) - len(clip)))
                    rel = f"{folder}/{name}-{30 * j}-{30 * j + 29}.mp3"
                    (out / folder).mkdir(parents=True, exist_ok=True)
                    sf.write(out / rel, np.clip(clip, -1, 1).astype(np.float32), sample_rate, format="MP3",
                             subtype="MPEG_LAYER_III")  # fmt: skip
                    onehot = [int(tag in plan["tags"]) for tag in MUSIC_TAGS]
                    rows.append([str(2 * (t * clips_per_track + j)), *map(str, onehot), rel])  # ids with gaps
                    bar.update()
    with open(out / "annotations_final.csv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", quotechar='"', quoting=csv.QUOTE_ALL)
        w.writerow(["clip_id", *MUSIC_TAGS, "mp3_path"])
        w.writerows(rows)
    # Pons et al. split files: train = folders 0-9, val = a-b, test = c-f (a track lives in one folder).
    matrix = np.array([[int(x) for x in r[1:-1]] for r in rows])
    top = top_tags(matrix, len(MUSIC_TAGS))
    for split, folders in {"train": "0123456789", "val": "ab", "test": "cdef"}.items():
        lines = [
            f"{r[0]}\t{json.dumps([float(x) for x in matrix[i, top]])}"
            for i, r in enumerate(rows)
            if r[-1][0] in folders
        ]
        (out / f"{split}_gt_mtt.tsv").write_text("\n".join(lines) + "\n")
    return out


# ------------------------------------------------------------------------------ environmental sounds (ESC-50)
def _env(n: int, sr: int, attack_s: float, decay_s: float) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(1.0, t / max(attack_s, 1e-4)) * np.exp(-t / max(decay_s, 1e-4))


def _tone(f: np.ndarray, sr: int, harmonics: np.ndarray) -> np.ndarray:
    """Harmonic tone of instantaneous frequency ``f`` (Hz per sample), amplitudes ``harmonics``."""
    phase = 2 * np.pi * np.cumsum(f) / sr
    out = np.zeros(len(f))
    for k, a in enumerate(harmonics, start=1):
        out += a * np.sin(k * phase) * (k * f < 0.45 * sr)
    return out


def _bandpass(x: np.ndarray, lo: float, hi: float, sr: int) -> np.ndarray:
    hi = min(hi, 0.45 * sr)
    lo = min(max(lo, 20.0), 0.5 * hi)  # a band above a low rate's Nyquist shrinks instead of failing
    sos = signal.butter(2, [lo, hi], btype="band", fs=sr, output="sos")
    return signal.sosfilt(sos, x)


def _dog(p, r, sr):
    n = int(0.18 * sr)
    f = p["f0"] * np.linspace(1.2, 0.8, n) * r.uniform(0.95, 1.05)
    return _tone(f, sr, 1 / np.arange(1, 12) ** 0.7) * _env(n, sr, 0.01, 0.06) + 0.3 * _bandpass(
        r.standard_normal(n), 500, 3000, sr
    ) * _env(n, sr, 0.005, 0.04)


def _rooster(p, r, sr):
    n = int(r.uniform(1.0, 1.6) * sr)
    x = np.linspace(0, 1, n)
    f = p["f0"] * (1 + 0.5 * np.sin(np.pi * np.minimum(1, 1.5 * x)) - 0.3 * x)
    return _tone(f, sr, 1 / np.arange(1, 10)) * np.sin(np.pi * x) ** 0.5


def _cow(p, r, sr):
    n = int(r.uniform(1.0, 2.0) * sr)
    x = np.arange(n) / sr
    f = p["f0"] * (1 + 0.03 * np.sin(2 * np.pi * 4 * x)) * np.linspace(1.0, 0.85, n)
    return _bandpass(_tone(f, sr, 1 / np.arange(1, 20)), 80, 1500, sr) * np.clip(np.sin(np.pi * x / x[-1]), 0, 1) ** 0.7


def _birds(p, r, sr):
    n = int(0.08 * sr)
    f = np.geomspace(p["f0"], p["f0"] * r.uniform(1.3, 1.8), n)
    return _tone(f, sr, np.array([1.0, 0.2])) * np.hanning(n)


def _drops(p, r, sr):
    n = int(0.12 * sr)
    f = np.geomspace(p["f0"] * r.uniform(0.9, 1.1), p["f0"] * 2, n)
    return _tone(f, sr, np.array([1.0])) * _env(n, sr, 0.001, 0.025)


def _knock(p, r, sr):
    n = int(0.15 * sr)
    out = np.zeros(n)
    for ratio, a in ((1.0, 1.0), (2.3, 0.5), (4.1, 0.25)):
        out += a * np.sin(2 * np.pi * p["f0"] * ratio * np.arange(n) / sr)
    return out * _env(n, sr, 0.0005, 0.02) + 0.5 * r.standard_normal(n) * _env(n, sr, 0.0002, 0.003)


def _tick(p, r, sr):
    n = int(0.03 * sr)
    return _bandpass(r.standard_normal(n), p["f0"], p["f0"] * 2.5, sr) * _env(n, sr, 0.0002, 0.004)


def _bell(p, r, sr):
    n = int(2.5 * sr)
    t = np.arange(n) / sr
    ratios = np.array([0.5, 1.0, 1.183, 1.506, 2.0, 2.514, 2.662, 3.011])
    out = sum(np.sin(2 * np.pi * p["f0"] * q * t) * np.exp(-t * (0.8 + q)) / (1 + i) for i, q in enumerate(ratios))
    return out * _env(n, sr, 0.002, 10.0)


def _horn(p, r, sr):
    n = int(r.uniform(0.4, 1.2) * sr)
    base = np.full(n, p["f0"])
    x = _tone(base, sr, 1 / np.arange(1, 15) ** 0.5) + _tone(base * 1.26, sr, 1 / np.arange(1, 15) ** 0.5)
    return np.tanh(2 * x) * _env(n, sr, 0.02, 50) * np.minimum(1, (n - np.arange(n)) / (0.03 * sr))


def _continuous(kind):
    """Classes that fill the scene rather than happen at instants: synthesised over the whole clip."""

    def make(p, r, sr, n):
        t = np.arange(n) / sr
        if kind == "rain":
            drops = np.zeros(n)
            idx = r.integers(0, n, int(p["rate"] * n / sr))
            drops[idx] = r.uniform(0.2, 1.0, len(idx))
            kernel = r.standard_normal(int(0.004 * sr)) * np.exp(-np.arange(int(0.004 * sr)) / (0.001 * sr))
            return np.convolve(drops, kernel, "same") + 0.3 * _bandpass(r.standard_normal(n), 800, 6000, sr)
        if kind == "fire":
            crackles = np.zeros(n)
            idx = r.integers(0, n, int(p["rate"] * n / sr))
            crackles[idx] = r.uniform(-1.0, 1.0, len(idx)) ** 3
            return _bandpass(crackles, 1000, 7000, sr) * 4 + 0.4 * _bandpass(r.standard_normal(n), 30, 300, sr)
        if kind == "wind":
            gust = 0.6 + 0.4 * np.sin(2 * np.pi * p["f0"] * t + r.uniform(0, 6.3)) ** 2
            return _bandpass(r.standard_normal(n), 150, 1200, sr) * gust
        if kind == "siren":
            f = p["f0"] * (1 + 0.4 * np.sin(2 * np.pi * p["rate"] * t))
            return _tone(f, sr, np.array([1.0, 0.4, 0.2, 0.1]))
        if kind == "engine":
            f = p["f0"] * (1 + 0.02 * r.standard_normal(n).cumsum() / np.sqrt(sr)).clip(0.8, 1.2)
            return np.tanh(3 * _tone(f, sr, 1 / np.arange(1, 25))) + 0.2 * _bandpass(r.standard_normal(n), 40, 800, sr)
        if kind == "helicopter":
            chop = np.maximum(0, np.sin(2 * np.pi * p["rate"] * t)) ** 6
            return _bandpass(r.standard_normal(n), 60, 2000, sr) * (0.2 + chop) + 0.5 * np.sin(2 * np.pi * p["f0"] * t)
        raise ValueError(kind)

    return make


# (ESC-50 target, category, esc10, synthesiser, per-source parameter ranges, events per clip (None = continuous))
ESC_CLASSES = [
    (0, "dog", True, _dog, {"f0": (350, 800)}, (2, 6)),
    (1, "rooster", True, _rooster, {"f0": (450, 900)}, (1, 2)),
    (3, "cow", False, _cow, {"f0": (90, 180)}, (1, 2)),
    (10, "rain", True, _continuous("rain"), {"rate": (200, 2000)}, None),
    (12, "crackling_fire", True, _continuous("fire"), {"rate": (20, 120)}, None),
    (14, "chirping_birds", False, _birds, {"f0": (2000, 5000)}, (6, 20)),
    (15, "water_drops", False, _drops, {"f0": (600, 1800)}, (3, 10)),
    (16, "wind", False, _continuous("wind"), {"f0": (0.05, 0.3)}, None),
    (30, "door_wood_knock", False, _knock, {"f0": (120, 350)}, (2, 6)),
    (38, "clock_tick", True, _tick, {"f0": (1500, 5000)}, "regular"),
    (40, "helicopter", True, _continuous("helicopter"), {"f0": (40, 90), "rate": (12, 25)}, None),
    (42, "siren", False, _continuous("siren"), {"f0": (500, 1100), "rate": (0.15, 0.8)}, None),
    (43, "car_horn", False, _horn, {"f0": (300, 500)}, (1, 3)),
    (44, "engine", False, _continuous("engine"), {"f0": (25, 70)}, None),
    (46, "church_bells", False, _bell, {"f0": (200, 700)}, (1, 4)),
]


def _event_track(cls: tuple, params: dict, r: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """One class's sound over ``n`` samples: events at random times, regular ticks, or a continuous texture."""
    _, _, _, synth, _, events = cls
    if events is None:
        x = synth(params, r, sr, n)
        fade = np.minimum(1, np.minimum(np.arange(n), n - np.arange(n)) / (0.05 * sr))
        return x * fade * (0.5 + 0.5 * _env(n, sr, r.uniform(0.01, 1.5), r.uniform(3, 20)))
    out = np.zeros(n)
    if events == "regular":
        period = r.uniform(0.25, 1.0)
        times = np.arange(r.uniform(0, period), n / sr, period)
    else:
        times = np.sort(r.uniform(0, 0.85 * n / sr, int(r.integers(events[0], events[1] + 1))))
    for t0 in times:
        e = synth(params, r, sr) * r.uniform(0.5, 1.0)
        i = int(t0 * sr)
        e = e[: n - i]
        out[i : i + len(e)] += e
    return out


def _reverb(x: np.ndarray, sr: int, r: np.random.Generator) -> np.ndarray:
    """A room: exponentially decaying noise of a random RT60, mixed with the dry signal."""
    rt60 = r.uniform(0.1, 0.9)
    n = int(rt60 * sr)
    ir = r.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)  # -60 dB at rt60
    ir[0] = 0.0
    wet = signal.fftconvolve(x, ir / np.sqrt(np.sum(ir**2)))[: len(x)]
    mix = r.uniform(0.1, 0.5)
    return (1 - mix) * x + mix * wet


def make_sounds(out: Path, *, seed: int, per_class: int, clip_seconds: float, sample_rate: int, progress: bool) -> Path:
    """ESC-50 layout: ``meta/esc50.csv`` and ``audio/<fold>-<src>-<take>-<target>.wav``, 5 folds."""
    n = int(round(clip_seconds * sample_rate))
    rows = []
    with _progress(per_class * len(ESC_CLASSES), "sounds", progress) as bar:
        for c, cls in enumerate(ESC_CLASSES):
            target, category, esc10, _, ranges, _ = cls
            for i in range(per_class):
                source = i // 2  # two takes of each source recording, both in one fold
                fold = 1 + source % 5
                take = "AB"[i % 2]
                src_rng = _rng(seed, 2, c, source)
                params = {k: float(src_rng.uniform(*v)) for k, v in ranges.items()}
                r = _rng(seed, 2, c, source, i % 2)
                clip = _event_track(cls, params, r, n, sample_rate)
                clip = clip / (_rms(clip) + 1e-9)
                if r.random() < 0.5:  # a quieter event of another class in the same scene
                    other = ESC_CLASSES[(c + 1 + int(r.integers(len(ESC_CLASSES) - 1))) % len(ESC_CLASSES)]
                    op = {k: float(r.uniform(*v)) for k, v in other[4].items()}
                    d = _event_track(other, op, r, n, sample_rate)
                    clip += d / (_rms(d) + 1e-9) * 10 ** (-r.uniform(10, 20) / 20)
                clip = _reverb(clip, sample_rate, r)
                noise = _colored_noise(n, ["white", "pink", "brown"][int(r.integers(3))], r)
                clip += noise * _rms(clip) * 10 ** (-r.uniform(5, 30) / 20)
                clip *= 10 ** (r.uniform(-20, -3) / 20) / (np.abs(clip).max() + 1e-9)
                src = f"{100000 + 1000 * target + source}"
                name = f"{fold}-{src}-{take}-{target}.wav"
                _write_wav(out / "audio" / name, clip, sample_rate)
                rows.append([name, fold, target, category, str(esc10), src, take])
                bar.update()
    rows.sort()
    (out / "meta").mkdir(parents=True, exist_ok=True)
    with open(out / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        w.writerows(rows)
    return out


# ------------------------------------------------------------------------------------------------------- CLI
def _inside_repo(path: Path) -> bool:
    path = path.resolve()
    return path == REPO or REPO in path.parents


def build(corpus: str, target: Path, maker, **kwargs) -> Path:
    """Make one corpus in a temporary sibling folder and rename it to ``target`` when complete."""
    if target.exists() and any(target.iterdir()):
        raise SystemExit(f"error: {target} exists and is not empty; remove it or pass --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        maker(tmp, **kwargs)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        target.rmdir()
    tmp.rename(target)
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", required=True, type=Path, help="folder to create the corpora in (outside the repository)")
    p.add_argument("--only", nargs="+", choices=CORPORA, default=list(CORPORA), help="which corpora to make")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-rate", type=int, default=16000, help="Hz, every corpus")
    p.add_argument("--speakers", type=int, default=40, help="speech: speakers (15%% valid, 15%% test)")
    p.add_argument("--words", nargs="+", default=WORDS, help="speech: the keywords (word folders)")
    p.add_argument("--tracks", type=int, default=160, help="music: tracks (each in one of the 16 folders)")
    p.add_argument("--clips-per-track", type=int, default=2, help="music: clips cut from each track")
    p.add_argument("--music-seconds", type=float, default=8.0, help="music: clip length")
    p.add_argument("--per-class", type=int, default=20, help="sounds: clips per class (over 5 folds, 2 takes a source)")
    p.add_argument("--sounds-seconds", type=float, default=5.0, help="sounds: clip length")
    p.add_argument("--force", action="store_true", help="replace existing corpora in --out")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if _inside_repo(args.out):
        p.error(f"--out {args.out} is inside the repository {REPO}; generated data stays outside it")
    for name, value in (("--speakers", args.speakers), ("--tracks", args.tracks), ("--per-class", args.per_class)):
        if value < (7 if name == "--speakers" else 5):
            p.error(f"{name} {value} is too small to fill every split (speakers >= 7, tracks and per-class >= 5)")
    progress = not args.no_progress
    jobs = {
        "speech": ("speech_commands", make_speech, {"speakers": args.speakers, "words": args.words}),
        "music": (
            "magnatagatune",
            make_music,
            {"tracks": args.tracks, "clips_per_track": args.clips_per_track, "clip_seconds": args.music_seconds},
        ),
        "sounds": ("esc50", make_sounds, {"per_class": args.per_class, "clip_seconds": args.sounds_seconds}),
    }
    for corpus in args.only:
        folder, maker, kwargs = jobs[corpus]
        target = args.out / folder
        if args.force and target.exists():
            shutil.rmtree(target)
        build(corpus, target, maker, seed=args.seed, sample_rate=args.sample_rate, progress=progress, **kwargs)
        print(f"{corpus}: {target}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
