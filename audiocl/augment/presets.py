"""The augmentation chains of the papers, with the source of every value.

Segment cropping is not part of these chains: it is ``audiocl.sampling.sample_views`` (CLMR's
``RandomResizedCrop``, COLA's two segments per clip), applied before them.
"""

from __future__ import annotations

from torch import nn

from audiocl.augment.combine import Compose, OneOf
from audiocl.augment.delay import Delay
from audiocl.augment.filters import HighPass, LowPass
from audiocl.augment.gain import Gain, PolarityInversion
from audiocl.augment.noise import AddNoise
from audiocl.augment.pitch import PitchShift, TimeStretch
from audiocl.augment.reverb import Reverb
from audiocl.augment.time import Fade, TimeMask, TimeShift


def clmr(sample_rate: int) -> Compose:
    """CLMR's chain (Spijkervet & Burgoyne, "Contrastive Learning of Musical Representations", ISMIR 2021).

    Probabilities: github.com/spijkervet/CLMR ``config/config.yaml`` (``transforms_polarity: 0.8``,
    ``transforms_noise: 0.01``, ``transforms_gain: 0.3``, ``transforms_filters: 0.8``,
    ``transforms_delay: 0.3``, ``transforms_pitch: 0.6``, ``transforms_reverb: 0.6``), applied in this
    order by CLMR's ``main.py``, each wrapped in ``RandomApply`` (here: each transform's ``p``).
    Ranges: the defaults of the transforms it calls (github.com/Spijkervet/torchaudio-augmentations):

    - ``PolarityInversion``.
    - ``Noise(min_snr=0.0001, max_snr=0.01)``: noise std 1e-4..1e-2 times the signal's, i.e. an SNR of
      40-80 dB (drawn uniform in amplitude there, uniform in dB here); white.
    - ``Gain(min_gain=-20, max_gain=-1)``: -20..-1 dB.
    - ``HighLowPass``: high-pass 200-1200 Hz or low-pass 2200-4000 Hz, one of the two with equal chance.
      Those are biquads; here order-2 Butterworth responses (the same 12 dB/octave).
    - ``Delay``: 200-450 ms in 50 ms steps, ``(x + 0.5 * delayed) / 2``.
    - ``PitchShift``: -700..700 cents (WavAugment/sox ``pitch``) = -7..7 semitones, here continuous.
      sox's ``pitch`` is a time-domain WSOLA (its ``tempo`` effect plus resampling), and so is ours
      here (``method="wsola"``, our choice for speed): on 2 CPU cores it shifts 96 CLMR clips in
      ~45 ms against ~350 ms for the phase vocoder. Trade-off: WSOLA keeps
      tones and voices clean but can double sharp transients and blur dense polyphony, where the
      vocoder is smoother (and phasier); pass your own ``PitchShift(..., method="phase_vocoder")``
      for that.
    - ``Reverb``: sox ``reverb`` with reverberance, damping and room size each 0-100 %. sox has no
      RT60 parameter; this is approximated by synthetic responses with RT60 0.1-1.0 s and a
      direct-to-reverberant ratio of 0-10 dB (our choice, not CLMR's).

    >>> import torch
    >>> aug = clmr(22050)
    >>> aug(torch.randn(2, 59049), torch.Generator().manual_seed(0)).shape  # doctest: +SKIP
    torch.Size([2, 59049])
    """
    return Compose(
        [
            PolarityInversion(p=0.8),
            AddNoise(min_snr_db=40.0, max_snr_db=80.0, colors=("white",), p=0.01),
            Gain(min_gain_db=-20.0, max_gain_db=-1.0, p=0.3),
            OneOf(
                [
                    HighPass(sample_rate, min_cutoff_hz=200.0, max_cutoff_hz=1200.0, order=2),
                    LowPass(sample_rate, min_cutoff_hz=2200.0, max_cutoff_hz=4000.0, order=2),
                ],
                p=0.8,
            ),
            Delay(sample_rate, min_delay_ms=200.0, max_delay_ms=450.0, step_ms=50.0, p=0.3),
            PitchShift(sample_rate, min_semitones=-7.0, max_semitones=7.0, p=0.6, method="wsola"),
            Reverb(sample_rate, min_rt60_s=0.1, max_rt60_s=1.0, min_drr_db=0.0, max_drr_db=10.0, p=0.6),
        ]
    )


def clar(sample_rate: int, p: float = 0.5) -> Compose:
    """CLAR's augmentations (Al-Tahan & Mohsenzadeh, "CLAR: Contrastive Learning of Auditory
    Representations", AISTATS 2021, section "Augmentations"), each applied with probability ``p``.

    Ranges from the paper:

    - Pitch shift: -15..15 semitones ("the range that maintained the overall coherency").
    - Noise injection: white, brown or pink noise, one drawn per example. The paper sets the level
      by SNR without giving the range; 3-30 dB is our choice.
    - Fade in/out: linear, logarithmic or exponential (1/3 each), each side up to half the signal.
    - Time masking: a segment of up to 1/8 of the signal set to noise or a constant (zeros here).
    - Time shift: forwards or backwards by up to half the signal, with rollover.
    - Time stretch: rate 0.5-1.5 (phase vocoder), cropped or padded back to the input length.

    The paper studies these singly and in pairs; applying all six, each with ``p`` (default 0.5), in
    the paper's order is our choice.

    >>> import torch
    >>> aug = clar(16000)
    >>> aug(torch.randn(2, 16000), torch.Generator().manual_seed(0)).shape  # doctest: +SKIP
    torch.Size([2, 16000])
    """
    return Compose(
        [
            PitchShift(sample_rate, min_semitones=-15.0, max_semitones=15.0, p=p),
            AddNoise(min_snr_db=3.0, max_snr_db=30.0, colors=("white", "pink", "brown"), p=p),
            Fade(0.5, 0.5, shapes=("linear", "logarithmic", "exponential"), p=p),
            TimeMask(min_fraction=0.0, max_fraction=0.125, fill="zeros", p=p),
            TimeShift(min_fraction=-0.5, max_fraction=0.5, rollover=True, p=p),
            TimeStretch(sample_rate, min_rate=0.5, max_rate=1.5, p=p),
        ]
    )


def cola() -> Compose:
    """COLA's augmentation chain: empty (Saeed, Grangier & Zeghidour, "Contrastive Learning of General-Purpose
    Audio Representations", ICASSP 2021).

    COLA's positives are two random 1 s segments of the same L2-normalised clip, and the positive gets
    Gaussian noise of std 0.001 (google-research/google-research ``cola/contrastive.py``, flag ``--noise``
    of ``main.py``). Those belong to the views, not to a per-row chain: ``views.normalize_clip`` and
    ``views.positive_noise_std`` in ``recipes/cola_audioset.yaml``. The code applies nothing else.

    >>> import torch
    >>> cola()(torch.ones(1, 4)).tolist()
    [[1.0, 1.0, 1.0, 1.0]]
    """
    return Compose([])


def none() -> Compose:
    """No augmentation (identity), e.g. for ablations.

    >>> import torch
    >>> none()(torch.ones(1, 2)).tolist()
    [[1.0, 1.0]]
    """
    return Compose([])


def create_augment(name: str, sample_rate: int, **kwargs) -> nn.Module:
    """The preset called ``name`` ("clmr", "clar", "cola" or "none") at ``sample_rate``.

    ``kwargs`` go to the preset (e.g. ``p`` for "clar").

    >>> create_augment("clmr", 22050)  # doctest: +ELLIPSIS
    Compose(...)
    """
    if name in ("clmr", "clar"):
        return PRESETS[name](sample_rate, **kwargs)
    if name in PRESETS:
        return PRESETS[name](**kwargs)
    raise ValueError(f"unknown augmentation preset {name!r}; choose one of {sorted(PRESETS)}")


PRESETS = {"clmr": clmr, "clar": clar, "cola": cola, "none": none}
