"""Batched feature front-ends: waveform, log-STFT, log-mel (COLA), MFCC and CLAR's 3-channel stack.

The math lives in functions (:func:`stft_power`, :func:`power_to_db`, ...). The modules are thin: they hold
their window, filter banks and DCT matrix as buffers and run one batched STFT per call, on whatever device
and dtype the input has (float16/bfloat16 input is computed in float32 and cast back).

Shape:
    input ``(batch, samples)`` mono audio at the front-end's ``sample_rate``;
    output ``(batch, channels, freq, frames)``, except :class:`Waveform`: ``(batch, 1, samples)``.

>>> frontend = create_frontend("logmel")               # COLA: 16 kHz, 25 ms / 10 ms, 64 mels 60-7800 Hz
>>> frontend(torch.zeros(8, 16000)).shape
torch.Size([8, 1, 64, 98])
>>> frontend.frames(16000), frontend.out_channels, frontend.freq_bins
(98, 1, 64)
"""

from __future__ import annotations

import math

import torch
import torchaudio.functional as AF
from torch import Tensor, nn

from audiocl.validation import positive_int

__all__ = [
    "CLARStack",
    "FRONTENDS",
    "apply_freq_matrix",
    "log_frequency_kernels",
    "LogMel",
    "MFCC",
    "Spectrogram",
    "Waveform",
    "create_frontend",
    "dct_matrix",
    "list_frontends",
    "mel_filterbank",
    "num_frames",
    "power_to_db",
    "stft_power",
]


# --- math ---------------------------------------------------------------------------------------------


def num_frames(num_samples: int, win_length: int, hop_length: int, center: bool) -> int:
    """Frames that :func:`stft_power` yields for ``num_samples`` samples.

    ``center=True`` (librosa/torchaudio): frame ``k`` is centred on sample ``k * hop_length``, the signal
    zero-padded by ``n_fft // 2`` at both ends: ``1 + num_samples // hop_length`` frames.
    ``center=False`` (``tf.signal.stft``, as in COLA): frame ``k`` covers samples
    ``[k * hop_length, k * hop_length + win_length)``: ``1 + (num_samples - win_length) // hop_length``.
    """
    if center:
        return 1 + num_samples // hop_length
    if num_samples < win_length:
        raise ValueError(f"{num_samples} samples are shorter than one window ({win_length} samples)")
    return 1 + (num_samples - win_length) // hop_length


def stft_power(
    x: Tensor, window: Tensor, n_fft: int, hop_length: int, *, center: bool = False, power: float = 2.0
) -> Tensor:
    """``|STFT(x)| ** power`` of a batch, in one call to ``torch.stft``.

    ``window`` (length ``win_length <= n_fft``) is zero-padded to ``n_fft`` in the middle, as librosa does;
    see :func:`num_frames` for where the frames lie.

    Shape:
        ``(..., samples)`` -> ``(..., n_fft // 2 + 1, frames)``
    """
    shape = x.shape
    x = x.reshape(-1, shape[-1])
    if not center:
        # torch.stft centres the short window inside each n_fft frame; pad so that window k starts at
        # sample k * hop_length, as tf.signal.stft's frames do.
        left = (n_fft - window.shape[-1]) // 2
        x = nn.functional.pad(x, (left, n_fft - window.shape[-1] - left))
    spec = torch.stft(
        x, n_fft, hop_length, window.shape[-1], window, center=center, pad_mode="constant", return_complex=True
    )
    out = spec.real.square() + spec.imag.square()  # |X|^2; complex abs (hypot) is slower on the CPU
    if power == 1.0:
        out = out.sqrt()
    elif power != 2.0:
        out = out.pow(power / 2.0)
    return out.reshape(*shape[:-1], *out.shape[-2:])


def apply_freq_matrix(matrix: Tensor, spec: Tensor) -> Tensor:
    """``matrix @ spec`` along the frequency axis (filter bank, DCT), as one GEMM over all frames.

    ``torch.stft`` lays frames out frequency-fastest, so the transposed product is a single large matrix
    product instead of one small one per example; the result keeps that layout.

    Shape:
        ``matrix (out, freq)``, ``spec (..., freq, frames)`` -> ``(..., out, frames)``
    """
    return (spec.transpose(-1, -2) @ matrix.T).transpose(-1, -2)


def mel_filterbank(
    n_freqs: int,
    sample_rate: int,
    n_mels: int,
    f_min_hz: float,
    f_max_hz: float,
    *,
    mel_scale: str = "htk",
    norm: str | None = None,
) -> Tensor:
    """Triangular mel filters as a ``(n_mels, n_freqs)`` matrix (torchaudio's, identical to librosa's)."""
    fb = AF.melscale_fbanks(n_freqs, f_min_hz, f_max_hz, n_mels, sample_rate, norm=norm, mel_scale=mel_scale)
    return fb.T.contiguous()


def dct_matrix(n_out: int, n_in: int) -> Tensor:
    """Orthonormal DCT-II as a ``(n_out, n_in)`` matrix: ``matrix @ x`` is ``scipy.fft.dct(x, norm="ortho")[:n_out]``.

    Built in float64 (torchaudio's ``create_dct`` rounds its cosine arguments in float32, which costs
    ~1e-3 dB on 128 coefficients).
    """
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    n = torch.arange(n_in, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi / n_in * (n + 0.5) * k) * math.sqrt(2.0 / n_in)
    matrix[0] /= math.sqrt(2.0)
    return matrix.float()


def power_to_db(x: Tensor, *, amin: float = 1e-10, top_db: float | None = None, batch_dims: int = 1) -> Tensor:
    """``10 * log10(max(x, amin))``, then (if ``top_db``) floored at ``top_db`` below each example's peak.

    Like ``librosa.power_to_db(x, ref=1.0)``, except that the peak is taken per example, over all but the
    first ``batch_dims`` axes, so an example's features do not depend on the rest of its batch.

    Shape:
        ``(batch, ...)`` -> same
    """
    db = 10.0 * torch.log10(x.clamp(min=amin))
    if top_db is not None:
        peak = db.amax(dim=tuple(range(batch_dims, db.dim())), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


def _compute_dtype(x: Tensor) -> torch.dtype:
    # torch.stft has no half-precision CPU kernel and loses too much precision in half anyway.
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def _ms_to_samples(ms: float, sample_rate: int, name: str) -> int:
    samples = int(round(ms * sample_rate / 1000.0))
    if samples < 1:
        raise ValueError(f"{name}={ms} ms is less than one sample at {sample_rate} Hz")
    return samples


# --- modules ------------------------------------------------------------------------------------------


class Waveform(nn.Module):
    """The raw waveform as a one-channel signal, for 1-D encoders (CLMR's SampleCNN).

    Args:
        sample_rate: recorded for callers that ask (None: any rate); the audio passes through unchanged.

    Shape:
        ``(batch, samples)`` -> ``(batch, 1, samples)``

    >>> Waveform()(torch.zeros(2, 59049)).shape
    torch.Size([2, 1, 59049])
    """

    out_channels = 1

    def __init__(self, sample_rate: int | None = None):
        super().__init__()
        self.sample_rate = sample_rate  # only recorded: works at any rate

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(1)

    def frames(self, num_samples: int) -> int:
        """Output length: the input length (one "frame" per sample)."""
        return num_samples


class _STFTFrontend(nn.Module):
    """Shared framing: a Hann window buffer, hop and centring, ``frames()`` and the power spectrogram."""

    def __init__(self, sample_rate: int, n_fft: int | None, win_length: int, hop_length: int, center: bool):
        super().__init__()
        sample_rate = positive_int("sample_rate", sample_rate)
        if n_fft is None:  # smallest power of two that holds the window
            n_fft = 1 << max(0, math.ceil(math.log2(win_length)))
        if not 0 < win_length <= n_fft:
            raise ValueError(f"need 0 < win_length <= n_fft, got win_length={win_length}, n_fft={n_fft}")
        if hop_length < 1:
            raise ValueError(f"hop_length must be >= 1 sample, got {hop_length}")
        self.sample_rate = int(sample_rate)
        self.n_fft, self.win_length, self.hop_length, self.center = int(n_fft), win_length, hop_length, center
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)  # periodic, as librosa

    def frames(self, num_samples: int) -> int:
        """Number of output frames for an input of ``num_samples`` samples."""
        return num_frames(num_samples, self.win_length, self.hop_length, self.center)

    def _power(self, x: Tensor, power: float) -> Tensor:
        window = self.window.to(device=x.device, dtype=x.dtype)
        return stft_power(x, window, self.n_fft, self.hop_length, center=self.center, power=power)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, win_length={self.win_length}, "
            f"hop_length={self.hop_length}, center={self.center}"
        )


class _MelFrontend(_STFTFrontend):
    """Framing in milliseconds plus a mel filter bank buffer ``fb`` of shape ``(n_mels, n_fft // 2 + 1)``."""

    def __init__(self, sample_rate, win_ms, hop_ms, n_fft, center, n_mels, f_min_hz, f_max_hz, mel_scale, norm):
        win_length = _ms_to_samples(win_ms, sample_rate, "win_ms")
        super().__init__(sample_rate, n_fft, win_length, _ms_to_samples(hop_ms, sample_rate, "hop_ms"), center)
        f_max_hz = sample_rate / 2 if f_max_hz is None else f_max_hz
        if not 0.0 <= f_min_hz < f_max_hz <= sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min_hz < f_max_hz <= sample_rate / 2 = {sample_rate / 2}, got f_min_hz={f_min_hz}, "
                f"f_max_hz={f_max_hz}; lower f_max_hz (or pass None for the Nyquist frequency)"
            )
        if not 0 < n_mels < self.n_fft // 2 + 1:
            raise ValueError(f"n_mels={n_mels} must be in [1, {self.n_fft // 2}] for n_fft={self.n_fft}; raise n_fft")
        self.n_mels, self.f_min_hz, self.f_max_hz = n_mels, float(f_min_hz), float(f_max_hz)
        fb = mel_filterbank(
            self.n_fft // 2 + 1, sample_rate, n_mels, f_min_hz, f_max_hz, mel_scale=mel_scale, norm=norm
        )
        self.register_buffer("fb", fb, persistent=False)


class Spectrogram(_STFTFrontend):
    """Log-magnitude STFT: ``log(|STFT(x)| ** power + log_offset)`` on ``n_fft // 2 + 1`` linear bins.

    Args:
        sample_rate: input rate in Hz (only recorded; the bins are in FFT units).
        n_fft: FFT size; the frequency axis has ``n_fft // 2 + 1`` bins.
        win_length: Hann window length in samples (default 400 = 25 ms at 16 kHz).
        hop_length: hop in samples (default 160 = 10 ms at 16 kHz).
        log_offset: added before the natural log, so that silence stays finite.
        power: 1 for magnitude, 2 for power.
        center: frame placement, see :func:`num_frames` (default False: frames start at ``k * hop``).

    Shape:
        ``(batch, samples)`` -> ``(batch, 1, n_fft // 2 + 1, frames)``

    >>> Spectrogram()(torch.zeros(2, 16000)).shape
    torch.Size([2, 1, 257, 98])
    """

    out_channels = 1

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        log_offset: float = 1e-6,
        *,
        power: float = 1.0,
        center: bool = False,
    ):
        super().__init__(sample_rate, n_fft, win_length, hop_length, center)
        if power <= 0 or log_offset <= 0:
            raise ValueError(f"power and log_offset must be > 0, got power={power}, log_offset={log_offset}")
        self.power, self.log_offset = float(power), float(log_offset)
        self.freq_bins = self.n_fft // 2 + 1

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        spec = self._power(x.to(_compute_dtype(x)), self.power)  # (B, F, T)
        return torch.log(spec + self.log_offset).unsqueeze(1).to(dtype)


class LogMel(_MelFrontend):
    """Log mel filter bank energies; the defaults are COLA's (Saeed et al., ICASSP 2021).

    ``log(mel(|STFT(x)| ** power) + log_offset)``. COLA's code (``cola/data.py``, ``tf.signal``) frames 25 ms
    Hann windows every 10 ms without centring, zero-pads them to a 1024-point FFT, takes the magnitude,
    applies 64 HTK-scale unnormalised triangles from 60 to 7800 Hz, clips at 1e-5 and takes the natural log:
    ``log_floor=1e-5`` does the same (the COLA recipe sets it). By default we add ``log_offset`` instead, which is
    smooth and keeps the gradient of quiet bands.

    Args:
        sample_rate: input rate in Hz.
        win_ms: Hann window length in milliseconds.
        hop_ms: hop in milliseconds.
        n_mels: mel bands.
        f_min_hz: lower edge of the lowest band.
        f_max_hz: upper edge of the highest band (<= sample_rate / 2); None means the Nyquist frequency.
        log_offset: added before the natural log (when ``log_floor`` is None).
        log_floor: when set, ``log(max(mel, log_floor))`` instead (COLA's code: 1e-5), with no offset.
        n_fft: FFT size (>= window); None picks the smallest power of two that holds the window.
        power: 1 (magnitude, COLA) or 2 (power).
        mel_scale: "htk" (COLA, TensorFlow) or "slaney" (librosa's default).
        norm: None (COLA) or "slaney" (area-normalised triangles, librosa's default).
        center: frame placement, see :func:`num_frames`.

    Shape:
        ``(batch, samples)`` -> ``(batch, 1, n_mels, frames)``

    >>> LogMel()(torch.zeros(2, 16000)).shape
    torch.Size([2, 1, 64, 98])
    """

    out_channels = 1

    def __init__(
        self,
        sample_rate: int = 16000,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        n_mels: int = 64,
        f_min_hz: float = 60.0,
        f_max_hz: float | None = 7800.0,
        log_offset: float = 1e-6,
        *,
        log_floor: float | None = None,
        n_fft: int | None = 1024,
        power: float = 1.0,
        mel_scale: str = "htk",
        norm: str | None = None,
        center: bool = False,
    ):
        super().__init__(sample_rate, win_ms, hop_ms, n_fft, center, n_mels, f_min_hz, f_max_hz, mel_scale, norm)
        if power <= 0 or log_offset <= 0:
            raise ValueError(f"power and log_offset must be > 0, got power={power}, log_offset={log_offset}")
        if log_floor is not None and not log_floor > 0:
            raise ValueError(f"log_floor={log_floor} must be > 0 (or None: add log_offset instead)")
        self.freq_bins, self.power, self.log_offset = n_mels, float(power), float(log_offset)
        self.log_floor = None if log_floor is None else float(log_floor)

    def forward(self, x: Tensor) -> Tensor:
        dtype, x = x.dtype, x.to(_compute_dtype(x))
        mel = apply_freq_matrix(self.fb.to(x), self._power(x, self.power))  # (B, n_mels, T)
        mel = mel + self.log_offset if self.log_floor is None else mel.clamp_min(self.log_floor)
        return torch.log(mel).unsqueeze(1).to(dtype).contiguous()


class MFCC(_MelFrontend):
    """Mel-frequency cepstral coefficients as librosa computes them, on LogMel's 25 ms / 10 ms framing.

    ``DCT-II (orthonormal) of power_to_db(mel(|STFT(x)|^2), top_db)``, the first ``n_mfcc`` coefficients;
    the mel defaults are librosa's (Slaney scale and area normalisation, 0 Hz to Nyquist, dB with an 80 dB
    floor below each example's peak).

    Args:
        sample_rate: input rate in Hz.
        n_mfcc: coefficients kept (<= n_mels).
        n_mels: mel bands before the DCT.
        win_ms, hop_ms: Hann window and hop in milliseconds.
        f_min_hz, f_max_hz: band edges; f_max_hz None means the Nyquist frequency.
        top_db: floor below each example's peak in dB; None disables it.
        n_fft: FFT size; None picks the smallest power of two that holds the window.
        mel_scale, norm: mel filter design, as in :class:`LogMel`.
        center: frame placement, see :func:`num_frames`.

    Shape:
        ``(batch, samples)`` -> ``(batch, 1, n_mfcc, frames)``

    >>> MFCC()(torch.zeros(2, 16000)).shape
    torch.Size([2, 1, 20, 98])
    """

    out_channels = 1

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mfcc: int = 20,
        n_mels: int = 64,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        f_min_hz: float = 0.0,
        f_max_hz: float | None = None,
        top_db: float | None = 80.0,
        *,
        n_fft: int | None = None,
        mel_scale: str = "slaney",
        norm: str | None = "slaney",
        center: bool = False,
    ):
        super().__init__(sample_rate, win_ms, hop_ms, n_fft, center, n_mels, f_min_hz, f_max_hz, mel_scale, norm)
        if not 0 < n_mfcc <= n_mels:
            raise ValueError(f"need 0 < n_mfcc <= n_mels, got n_mfcc={n_mfcc}, n_mels={n_mels}")
        self.n_mfcc, self.freq_bins, self.top_db = n_mfcc, n_mfcc, top_db
        self.register_buffer("dct", dct_matrix(n_mfcc, n_mels), persistent=False)  # (n_mfcc, n_mels)

    def forward(self, x: Tensor) -> Tensor:
        dtype, x = x.dtype, x.to(_compute_dtype(x))
        mel_db = power_to_db(apply_freq_matrix(self.fb.to(x), self._power(x, 2.0)), top_db=self.top_db)
        return apply_freq_matrix(self.dct.to(x), mel_db).unsqueeze(1).to(dtype).contiguous()  # (B, 1, n_mfcc, T)


def log_frequency_kernels(
    n_fft: int, sample_rate: int, n_bins: int, f_min_hz: float, f_max_hz: float, window: Tensor
) -> Tensor:
    """Windowed DFT kernels at ``n_bins`` log-spaced frequencies ``f_k = f_min * (f_max / f_min) ** (k / n_bins)``
    (nnAudio's ``STFT(freq_scale="log")``, which CLAR's training code calls): ``(n_fft, 2 * n_bins)``, the cosine
    kernels then the sine kernels, in float64."""
    k = torch.arange(n_bins, dtype=torch.float64)
    freqs = f_min_hz * torch.exp(k * math.log(f_max_hz / f_min_hz) / n_bins)  # Hz; the top bin stays below f_max
    t = torch.arange(n_fft, dtype=torch.float64)
    phase = 2 * math.pi * freqs[None, :] * t[:, None] / sample_rate  # (n_fft, n_bins)
    w = window.double()[:, None]
    return torch.cat([torch.cos(phase) * w, torch.sin(phase) * w], dim=1)


class CLARStack(_STFTFrontend):
    """CLAR's three input channels, as its training code computes them (Al-Tahan & Mohsenzadeh, AISTATS 2021;
    ``get_features`` in ``main_unsupervised.py``, ``main_supervised.py`` and ``semi_supervised.py`` of
    github.com/haideraltahan/CLAR, with nnAudio's ``STFT`` and ``MelSpectrogram`` from its ``Spectrograms.py``):

    0. magnitude, dB: ``20 log10 max(|S|, 1e-5) - 20`` of a 2048-point, hop-128 STFT on ``n_bins`` log-spaced
       frequencies from ``f_min_hz`` to ``f_max_hz`` (``freq_scale="log"``; ``|S| = sqrt(re^2 + im^2 + 1e-8)``),
    1. phase of that STFT: ``atan2(-im, re)`` in radians, with ``re``/``im`` the cosine/sine kernel outputs,
    2. mel, dB: ``10 log10 max(mel, 1e-5) - 10`` of ``n_bins`` Slaney mel bands (area-normalised, ``f_min_hz`` to
       ``f_max_hz``) of the power spectrum of the same frames.

    All with a periodic Hann window of ``n_fft`` samples, frames centred with reflect padding (``1 + samples //
    hop_length`` frames), and no normalisation, as the code does.

    Args:
        sample_rate: input rate in Hz (CLAR: 16000).
        n_bins: frequency rows of every channel (CLAR: 128).
        n_fft: window and FFT length in samples (CLAR: 2048).
        hop_length: hop in samples (CLAR: 128, 8 ms at 16 kHz).
        f_min_hz, f_max_hz: range of the log-spaced bins and of the mel bands (CLAR: 40 and 8000 Hz).

    Shape:
        ``(batch, samples)`` -> ``(batch, 3, n_bins, 1 + samples // hop_length)``

    >>> CLARStack()(torch.zeros(2, 16000)).shape
    torch.Size([2, 3, 128, 126])
    """

    out_channels = 3

    def __init__(
        self,
        sample_rate: int = 16000,
        n_bins: int = 128,
        *,
        n_fft: int = 2048,
        hop_length: int = 128,
        f_min_hz: float = 40.0,
        f_max_hz: float = 8000.0,
    ):
        super().__init__(sample_rate, n_fft, n_fft, hop_length, center=True)
        if not 0.0 < f_min_hz < f_max_hz <= sample_rate / 2:
            raise ValueError(
                f"need 0 < f_min_hz < f_max_hz <= sample_rate / 2 = {sample_rate / 2}, got f_min_hz={f_min_hz}, "
                f"f_max_hz={f_max_hz}"
            )
        if not 0 < n_bins < n_fft // 2 + 1:
            raise ValueError(f"n_bins={n_bins} must be in [1, {n_fft // 2}] for n_fft={n_fft}; raise n_fft")
        self.n_bins, self.freq_bins = n_bins, n_bins
        self.f_min_hz, self.f_max_hz = float(f_min_hz), float(f_max_hz)
        kernels = log_frequency_kernels(n_fft, sample_rate, n_bins, f_min_hz, f_max_hz, self.window)
        self.register_buffer("kernels", kernels.float(), persistent=False)  # (n_fft, 2 * n_bins)
        fb = mel_filterbank(n_fft // 2 + 1, sample_rate, n_bins, f_min_hz, f_max_hz, mel_scale="slaney", norm="slaney")
        self.register_buffer("fb", fb, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        dtype, x = x.dtype, x.to(_compute_dtype(x))
        half = self.n_fft // 2
        padded = nn.functional.pad(x[:, None], (half, half), mode="reflect")[:, 0]
        frames = padded.unfold(-1, self.n_fft, self.hop_length)  # (B, T, n_fft)
        re, im = (frames @ self.kernels.to(x)).split(self.n_bins, dim=-1)  # (B, T, n_bins) each
        magnitude = torch.sqrt(re.square() + im.square() + 1e-8)
        magnitude_db = 20.0 * torch.log10(magnitude.clamp(min=1e-5)) - 20.0
        phase = torch.atan2(-im, re)
        spectrum = frames * self.window.to(x)  # the mel channel's linear STFT of the same frames
        power = torch.fft.rfft(spectrum, dim=-1).abs().square()  # (B, T, n_fft // 2 + 1)
        mel_db = 10.0 * torch.log10((power @ self.fb.to(x).T).clamp(min=1e-5)) - 10.0
        return torch.stack([magnitude_db, phase, mel_db], dim=1).transpose(-1, -2).to(dtype)  # (B, 3, n_bins, T)


# --- registry -----------------------------------------------------------------------------------------

FRONTENDS: dict[str, type[nn.Module]] = {
    "waveform": Waveform,
    "spectrogram": Spectrogram,
    "logmel": LogMel,
    "mfcc": MFCC,
    "clar_stack": CLARStack,
}


def list_frontends() -> list[str]:
    """Names accepted by :func:`create_frontend`."""
    return sorted(FRONTENDS)


def create_frontend(name: str, **kwargs) -> nn.Module:
    """Build a front-end by name with constructor keyword arguments.

    >>> create_frontend("mfcc", sample_rate=22050, n_mfcc=13).freq_bins
    13
    """
    try:
        cls = FRONTENDS[name]
    except KeyError:
        raise ValueError(f"unknown front-end {name!r}; choose one of {list_frontends()}") from None
    return cls(**kwargs)
