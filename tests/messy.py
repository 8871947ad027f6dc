"""The messy corpus: a folder holding every kind of bad file a user's data has, beside good ones.

Import as ``from messy import BAD, GOOD, ODD, TINY`` (tests/ is on sys.path). The reliability suite's
``messy_corpus`` fixture (session, read-only) is ``root/<class>/...`` with two classes of good 1 s clips at 16 kHz and,
spread over both classes, one file of each kind in :data:`BAD` (file name -> what is wrong with it) and the
readable oddities in :data:`ODD`. Tests run commands on it and check that each bad file is skipped and listed,
never a crash, and that the good and odd ones are used.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
GOOD = [f"plucked/good_{i}.wav" for i in range(3)] + [f"bowed/good_{i}.wav" for i in range(3)]
# Readable, but at a rate whose reduced ratio to 16 kHz is huge (22051:16000), or in another container.
ODD = ["plucked/odd_rate_22051.wav", "bowed/odd_rate_44099.flac"]
BAD = {
    "plucked/empty.wav": "empty file",
    "plucked/random_bytes.wav": "not a readable audio file",
    "plucked/text_named.mp3": "not a readable audio file",
    "plucked/truncated.wav": "truncated",
    "bowed/absurd_rate.wav": "implausible sample rate 1000003 Hz",
    "bowed/nan_samples.wav": "NaN or Inf",
    "bowed/zero_length.wav": "zero length",
    "bowed/loop_a.wav": "broken symbolic link",
    "bowed/loop_b.wav": "broken symbolic link",
    "bowed/dangling.wav": "broken symbolic link",
}


def _tone(seconds: float, rate: int, freq: float) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def make_messy_corpus(root: Path) -> Path:
    for i, rel in enumerate(GOOD):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / rel, _tone(1.0, SR, 220.0 * (i + 1)), SR, subtype="PCM_16")
    sf.write(root / ODD[0], _tone(1.0, 22051, 330.0), 22051, subtype="PCM_16")
    sf.write(root / ODD[1], _tone(1.0, 44099, 550.0), 44099)
    p = root / "plucked"
    (p / "empty.wav").write_bytes(b"")
    (p / "random_bytes.wav").write_bytes(np.random.default_rng(0).bytes(4096))
    (p / "text_named.mp3").write_text("this is not audio\n" * 50)
    whole = (p / "good_0.wav").read_bytes()
    (p / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    b = root / "bowed"
    sf.write(b / "absurd_rate.wav", _tone(0.5, SR, 440.0), 1_000_003, subtype="PCM_16")
    nan = _tone(0.5, SR, 440.0)
    nan[100] = np.nan
    sf.write(b / "nan_samples.wav", nan, SR, subtype="FLOAT")
    sf.write(b / "zero_length.wav", np.zeros(0, np.float32), SR)
    os.symlink("loop_b.wav", b / "loop_a.wav")
    os.symlink("loop_a.wav", b / "loop_b.wav")
    os.symlink("no_such_file.wav", b / "dangling.wav")
    return root


# The tiny pretraining settings every run here uses: seconds on 2 CPU cores.
TINY = [
    "data.batch_size=4",
    "data.num_workers=0",
    "trainer.progress_bar=false",
    "trainer.max_steps=4",
    "trainer.last_every_n_steps=2",
    "trainer.log_every_n_steps=1",
]


def python() -> str:
    return sys.executable
