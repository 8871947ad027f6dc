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
from audiocl.augment.time import CLAR_FADE_SHAPES, Fade, TimeMask, TimeShift


def clmr(sample_rate: int) -> Compose:
    """CLMR's chain (Spijkervet & Burgoyne, "Contrastive Learning of Musical Representations", ISMIR 2021).

    Probabilities: github.com/spijkervet/CLMR ``config/config.yaml`` (``transforms_polarity: 0.8``,
    ``transforms_noise: 0.01``, ``transforms_gain: 0.3``, ``transforms_filters: 0.8``,
    ``transforms_delay: 0.3``, ``transforms_pitch: 0.6``, ``transforms_reverb: 0.6``), applied in this
    order by CLMR's ``main.py``, each wrapped in ``RandomApply`` (here: each transform's ``p``).
    Ranges: the defaults of the transforms it calls, in torchaudio-augmentations 0.2.2, the release of CLMR's
    last commit (423414d; CLMR pins no version, and 0.2.3 changed the noise defaults):

    - ``PolarityInversion``.
    - ``Noise(min_snr=0.001, max_snr=1.0)``: white noise whose standard deviation is the signal's times a
      ratio uniform in [0.001, 1], i.e. an SNR of 0-60 dB drawn uniformly in amplitude (``snr_scale``).
    - ``Gain(min_gain=-20, max_gain=-1)``: ``torch.randint(-20, -1)``, whole dB from -20 to -2.
    - ``HighLowPass``: high-pass 200-1200 Hz or low-pass 2200-4000 Hz (whole Hz), one of the two with equal
      chance. Those are julius' windowed-sinc FIR filters; here order-2 Butterworth magnitude responses,
      zero phase as julius' are (docs/fidelity.md compares the two).
    - ``Delay``: 200-450 ms in 50 ms steps, ``(x + 0.5 * delayed) / 2``.
    - ``PitchShift``: whole cents in -700..700 (WavAugment/sox ``pitch``). sox's ``pitch`` is a time-domain
      WSOLA (its ``tempo`` effect plus resampling), and so is ours here (``method="wsola"``, our choice for
      speed: docs/benchmarks.md). Trade-off: WSOLA keeps tones and voices clean but can double sharp
      transients and blur dense polyphony, where the vocoder is smoother (and phasier); pass your own
      ``PitchShift(..., method="phase_vocoder")`` for that.
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
            AddNoise(min_snr_db=0.0, max_snr_db=60.0, snr_scale="amplitude", colors=("white",), p=0.01),
            Gain(min_gain_db=-20.0, max_gain_db=-2.0, step_db=1.0, p=0.3),
            OneOf(
                [
                    HighPass(sample_rate, min_cutoff_hz=200.0, max_cutoff_hz=1200.0, order=2, step_hz=1.0),
                    LowPass(sample_rate, min_cutoff_hz=2200.0, max_cutoff_hz=4000.0, order=2, step_hz=1.0),
                ],
                p=0.8,
            ),
            Delay(sample_rate, min_delay_ms=200.0, max_delay_ms=450.0, step_ms=50.0, p=0.3),
            PitchShift(sample_rate, min_semitones=-7.0, max_semitones=7.0, step_semitones=0.01, p=0.6, method="wsola"),
            Reverb(sample_rate, min_rt60_s=0.1, max_rt60_s=1.0, min_drr_db=0.0, max_drr_db=10.0, p=0.6),
        ]
    )


def clar(sample_rate: int, p: float = 0.5) -> Compose:
    """CLAR's augmentations as its training code applies them (Al-Tahan & Mohsenzadeh, "CLAR: Contrastive
    Learning of Auditory Representations", AISTATS 2021; github.com/haideraltahan/CLAR at 3b5a782).

    The set its README names as the best, ``--fd=True --tm=True``, in ``main_unsupervised.py``'s order, each
    in a torchvision ``RandomApply`` (its default ``p`` of 0.5):

    - ``add_fade``: one of five curves (linear, ``2**(f - 1) * f``, ``log10(0.1 + f) + 1``, quarter sine,
      half sine) for both ends; each fade lasts ``randint(0.5 * len)`` samples.
    - ``time_masking``: on its own coin flip (1/2), ``int(0.125 * len)`` samples from a random start replaced by
      N(0, 0.01**2) noise; inside the ``RandomApply``, applied with probability ``p / 2`` in all.

    ``sample_rate`` is unused (the transforms work in samples) and kept for a uniform preset signature. The six
    transforms the paper studies are ``clar_six``.

    >>> import torch
    >>> aug = clar(16000)
    >>> aug(torch.randn(2, 16000), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 16000])
    """
    return Compose(
        [
            Fade(0.5, 0.5, shapes=CLAR_FADE_SHAPES, p=p),
            TimeMask(min_fraction=0.125, max_fraction=0.125, fill="noise", noise_std=0.01, p=p * 0.5),
        ]
    )


def clar_six(sample_rate: int, p: float = 0.5) -> Compose:
    """The six transforms the CLAR paper studies, each applied with probability ``p`` (our choice: the paper
    studies them singly and in pairs), in the order of CLAR's ``main_unsupervised.py`` (``order=True``).

    Ranges follow CLAR's ``utils.py`` where ours can express them, and differ where stated:

    - fade in/out and time masking: as ``clar``;
    - time stretch: rate 0.5-1.5 (``time_stret``: librosa's phase vocoder), cropped or padded back;
    - pitch shift: -15..15 semitones (the code draws whole semitones in -15..14 with librosa); continuous here;
    - time shift: up to half the segment either way, with rollover (the code: up to 8000 samples, half of
      its 1 s clips);
    - noise: white, pink or brown at 3-30 dB SNR (our choice; the code's ``add_white_noise`` draws 0-19 dB,
      and its ``Mixed_Noise`` mixes recorded noise files, which we do not ship).

    >>> import torch
    >>> aug = clar_six(16000)
    >>> aug(torch.randn(2, 16000), torch.Generator().manual_seed(0)).shape  # doctest: +SKIP
    torch.Size([2, 16000])
    """
    return Compose(
        [
            Fade(0.5, 0.5, shapes=CLAR_FADE_SHAPES, p=p),
            TimeMask(min_fraction=0.125, max_fraction=0.125, fill="noise", noise_std=0.01, p=p * 0.5),
            TimeStretch(sample_rate, min_rate=0.5, max_rate=1.5, p=p),
            PitchShift(sample_rate, min_semitones=-15.0, max_semitones=15.0, p=p),
            TimeShift(min_fraction=-0.5, max_fraction=0.5, rollover=True, p=p),
            AddNoise(min_snr_db=3.0, max_snr_db=30.0, colors=("white", "pink", "brown"), p=p),
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
    """The preset called ``name`` ("clmr", "clar", "clar_six", "cola" or "none") at ``sample_rate``.

    ``kwargs`` go to the preset (e.g. ``p`` for "clar").

    >>> create_augment("clmr", 22050)  # doctest: +ELLIPSIS
    Compose(...)
    """
    if name in ("clmr", "clar", "clar_six"):
        return PRESETS[name](sample_rate, **kwargs)
    if name in PRESETS:
        return PRESETS[name](**kwargs)
    raise ValueError(f"unknown augmentation preset {name!r}; choose one of {sorted(PRESETS)}")


PRESETS = {"clmr": clmr, "clar": clar, "clar_six": clar_six, "cola": cola, "none": none}
