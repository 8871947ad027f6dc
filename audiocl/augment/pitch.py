"""Pitch and time: pitch shift (keeps the duration), time stretch (keeps the pitch), speed (changes both).

All three are batched with per-example amounts, without a loop over examples and without quantising
the amounts:

- ``phase_vocoder`` reads one STFT of the whole batch at per-example fractional frame positions
  (``torch.gather``), interpolating magnitudes and accumulating phase advances (Flanagan & Golden
  1966; the scheme of ``librosa.phase_vocoder``), plus identity phase locking (Laroche & Dolson 1999)
  so that partials keep their level.
- ``wsola`` (waveform similarity overlap-add; Verhelst & Roelands 1993) is the time-domain
  alternative, laid out like sox's ``tempo``/``pitch`` (CLMR's pitch shift, through WavAugment):
  82 ms segments cross-faded over 12 ms, each read near its nominal input position and moved within
  a 14.68 ms search window to where it best continues the previous one (normalised cross-correlation,
  coarse on decimated signals, then refined to the sample). The loop runs over output segments
  (about 33 per 2.7 s clip), each step batched over the examples (one multiply-and-sum over all candidates;
  the coarse candidates of all segments are read at once, as they do not depend on earlier choices). It
  is several times faster than the vocoder (docs/benchmarks.md). It keeps periodic sounds (tones,
  voices) clean but can double sharp transients and stutter on dense polyphony, which the vocoder
  renders smoothly (if phasier).
- ``interpolate`` resamples each row at its own rate by linear interpolation.
- Speed = resample (low-passed first when speeding up, so that it does not alias); time stretch =
  phase vocoder (or WSOLA) at ``rate``; pitch shift by ``s`` semitones = resample by ``f = 2**(s / 12)`` then
  stretch by ``1 / f`` (librosa's recipe in the other order, so the vocoder's output, its costly part,
  is never longer than the input).

Everything returns the input length: longer results are cropped at the end, shorter ones zero-padded.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from audiocl.augment.base import Transform, check_range, check_step, uniform
from audiocl.augment.filters import filter_rows, take_rows


def phase_vocoder(
    spec: Tensor, rate: Tensor, hop_length: int, frames: int, phase_lock: bool = True, n_frames: Tensor | None = None
) -> Tensor:
    """Resample an STFT in time, output frame ``j`` reading input frame ``j * rate`` (per example).

    Magnitudes are interpolated between the two nearest frames; phases accumulate the measured phase
    advance of each bin. Frames read past the input's end are silent: for row ``i``, the frames from
    ``n_frames[i]`` on (default: every frame of ``spec`` is the row's), so that rows of different lengths can
    share one STFT and each get what it gets alone. ``phase_lock`` applies identity phase locking (Laroche &
    Dolson, 1999): each bin keeps its input phase offset from the loudest bin near it (its partial's peak),
    so the bins of one partial stay coherent (without it, a partial that starts after noise or silence can
    come out 10-20 dB too quiet as its bins cancel). ``phase_lock=False`` is librosa's ``phase_vocoder``.

    Shape:
        - spec: ``(batch, freq, stored_frames)`` complex; rate, n_frames: ``(batch,)``; output:
          ``(batch, freq, frames)``.
    """
    batch, n_freq, stored = spec.shape
    real = spec.real.dtype
    # |X| as sqrt(re^2 + im^2) and the output from cos/sin: faster on the CPU than abs() and polar().
    magnitude = torch.nn.functional.pad((spec.real.square() + spec.imag.square()).sqrt(), (0, 2))  # 2 silent frames
    # Measured advance between frames m and m+1, once per input frame (not per output frame), wrapped to
    # [0, 2 pi) so that the running sum below stays small. A difference of angles, not the angle of
    # X[m+1] conj(X[m]): after digital silence that product is 0 and the onset's phases would be lost
    # (the bins of one partial then cancel each other).
    phase = spec.angle()
    advance = torch.nn.functional.pad(torch.remainder(phase[:, :, 1:] - phase[:, :, :-1], 2 * math.pi), (0, 2))
    position = torch.arange(frames, device=spec.device, dtype=real)[None, :] * rate[:, None].to(real)
    first = position.floor().long().clamp(max=stored)  # (B, J); `stored` indexes a silent frame
    valid = torch.full((batch, 1), stored, device=spec.device) if n_frames is None else n_frames[:, None]
    # Past a row's `valid` frames, read the silent padding instead: the next frame's magnitude, and the advance
    # into it (the padding's advance is 0).
    inside = first + 1 < valid
    after = torch.where(inside, first + 1, stored)  # (B, J) the frame after `first`
    advancing = torch.where(inside, first, stored)  # (B, J) the frame whose advance is taken
    alpha = (position - first).clamp(0, 1)[:, None, :]  # (B, 1, J)
    shape = (batch, n_freq, frames)
    index = first[:, None, :].expand(shape)  # (B, F, J)
    mag = torch.lerp(magnitude.gather(2, index), magnitude.gather(2, after[:, None, :].expand(shape)), alpha)
    mag = mag * (position < valid)[:, None, :]
    step = advance.gather(2, advancing[:, None, :].expand(shape))
    accumulated = phase[:, :, :1] + torch.cumsum(step, dim=2) - step  # frame j: the steps before it
    if phase_lock:
        last = torch.minimum(first, valid - 1)[:, None, :].expand(shape)  # the last frame of each row
        accumulated = _lock_to_peaks(accumulated, mag, phase.gather(2, last))
    return torch.complex(mag * torch.cos(accumulated), mag * torch.sin(accumulated))


def _lock_to_peaks(accumulated: Tensor, mag: Tensor, phase_in: Tensor, reach: int = 2) -> Tensor:
    """Identity phase locking: ``out[k] = accumulated[p] + phase_in[k] - phase_in[p]``.

    ``p`` is the loudest bin within ``reach`` bins of ``k`` (a Hann window's main lobe is 2 bins either
    side of a partial's peak), found by one max-pool over frequency.

    Shape:
        - all: ``(batch, freq, frames)``; output: same.
    """
    batch, n_freq, frames = mag.shape
    rows = mag.transpose(1, 2).reshape(batch * frames, 1, n_freq)  # (B*J, 1, F)
    _, peak = torch.nn.functional.max_pool1d(
        rows, 2 * reach + 1, stride=1, padding=reach, return_indices=True
    )  # (B*J, 1, F): index of the loudest bin around each bin
    peak = peak.view(batch, frames, n_freq).transpose(1, 2)  # (B, F, J)
    return accumulated.gather(1, peak) + phase_in - phase_in.gather(1, peak)


def wsola(x: Tensor, rate: Tensor, length: int, segment: int, overlap: int, search: int) -> Tensor:
    """Play each row ``rate`` times faster without changing its pitch, by waveform similarity overlap-add.

    The output is made of segments of ``segment`` samples, each cross-faded into the next over
    ``overlap`` samples (raised-cosine fades that sum to one). Segment ``k`` is read from the input
    near ``k * segment * rate``, shifted by up to ``search // 2`` samples either way to where its fade-in
    correlates best (normalised) with the natural continuation of the previous segment's fade-out:
    so that the two cross-fade in phase. The search is coarse on the signals decimated by
    ``overlap // 64`` (sums of that many samples), then refined to the sample. Reads past the input's
    end are silent. sox's ``tempo``/``pitch`` effects work the same way (segment 82 ms, search 14.68 ms,
    overlap 12 ms by default).

    Shape:
        - x: ``(batch, samples)``; rate: ``(batch,)``; output: ``(batch, length)``.
    """
    plan = _WsolaPlan(rate, length, segment, overlap, search)
    xp = torch.nn.functional.pad(x, (plan.left, max(0, plan.end - x.shape[1])))
    return _wsola_padded(xp, plan)


class _WsolaPlan:
    """Where WSOLA reads: the nominal segment starts, and the zeros it needs before and after the input.

    ``starts``: ``(batch, segments)`` nominal starts in the padded input (``left`` zeros, then the
    input); every read lies before ``left + end``.
    """

    def __init__(self, rate: Tensor, length: int, segment: int, overlap: int, search: int) -> None:
        self.hop, self.fade, self.length = segment, overlap, length
        self.d = max(1, overlap // 64)  # coarse step
        self.reach = max(1, search // 2 // self.d)  # coarse candidates either side
        grains = (length + overlap) // segment + 2
        grid = torch.arange(grains, device=rate.device, dtype=torch.float64)[None, :] * segment
        # Output sample k * hop (where segment k's fade-in ends) reads x at k * hop * rate.
        nominal = torch.round(grid * rate.double()[:, None]).long() - overlap  # (B, K) nominal starts in x
        margin = self.reach * self.d + 2 * self.d
        self.left = overlap + margin
        self.end = int(nominal.max()) + segment + overlap + margin
        self.starts = nominal + self.left


def _wsola_padded(xp: Tensor, plan: _WsolaPlan) -> Tensor:
    """``wsola`` on input already padded as ``plan`` says; output ``(batch, plan.length)``."""
    batch = xp.shape[0]
    hop, fade, d, reach, starts = plan.hop, plan.fade, plan.d, plan.reach, plan.starts
    # Sums of d samples (xp decimated by d): the coarse search runs on them, d samples apart.
    boxes = _box_sums(xp, d)  # (B, len / d)
    width = fade // d  # of the coarse windows, in boxes
    coarse, fine = torch.arange(width, device=xp.device), torch.arange(fade, device=xp.device)
    coarse_span = torch.arange(2 * reach + width, device=xp.device)
    fine_span = torch.arange(2 * d + fade, device=xp.device)
    lows = torch.div(starts - reach * d + d // 2, d, rounding_mode="floor")  # (B, K) first coarse candidates
    # The coarse candidates of every segment sit where its nominal start says, whatever the segments before
    # chose: their reads and their norms (sliding sums of squares) are taken once, for all segments.
    reads = boxes.gather(1, (lows[:, :, None] + coarse_span).view(batch, -1)).view(*lows.shape, -1)  # (B, K, S)
    energy = torch.nn.functional.pad(reads.square().cumsum(2), (1, 0))
    inv_norms = torch.rsqrt((energy[..., width:] - energy[..., :-width]).clamp_min(0) + 1e-12)  # (B, K, candidates)
    coarse_windows = reads.unfold(2, width, 1)  # (B, K, candidates, width), a view

    def best_fine(first: Tensor, target: Tensor) -> Tensor:
        """Which window of ``xp`` from ``first`` on matches ``target`` best (normalised)."""
        # (B, candidates, width), a view. Multiply-and-sum: faster on the CPU than a grouped conv1d.
        windows = xp.gather(1, first[:, None] + fine_span).unfold(1, fade, 1)
        score = (windows * target[:, None, :]).sum(2)  # (B, candidates)
        return score.div_(torch.linalg.vector_norm(windows, dim=2).add_(1e-6)).argmax(1)

    # The loop below runs once per output segment, each step batched over the examples; it is bound by the
    # number of tensor operations per step, hence the in-place and fused ones.
    lows_before = lows - 1
    chosen = [starts[:, 0]]
    for k in range(1, starts.shape[1]):
        follow = chosen[-1] + hop  # the natural continuation of the previous segment
        box = torch.div(follow + d // 2, d, rounding_mode="floor")  # the box nearest to it
        target = boxes.gather(1, box[:, None] + coarse)  # (B, width)
        score = (coarse_windows[:, k] * target[:, None, :]).sum(2).mul_(inv_norms[:, k])
        # The best coarse candidate in samples, d before it (undoing the target's rounding to the box grid).
        near = torch.add(follow, (lows_before[:, k] - box).add_(score.argmax(1)), alpha=d)
        chosen.append(near + best_fine(near, xp.gather(1, follow[:, None] + fine)))
    # (B, K) segment starts in the flattened xp. Windows of the flattened signal picked by index_select:
    # faster on the CPU than indexing xp.unfold(...) with (row, start) pairs.
    at = torch.stack(chosen, 1) + torch.arange(0, xp.numel(), xp.shape[1], device=xp.device)[:, None]
    grains = at.shape[1]
    flat = xp.view(-1)
    ramp = torch.sin((torch.arange(fade, device=xp.device, dtype=xp.dtype) + 0.5) * (torch.pi / (2 * fade))) ** 2
    # Output block k (hop samples, from k * hop - fade): segment k faded in, plus segment k - 1's fade-out.
    y = flat.unfold(0, hop, 1).index_select(0, at.view(-1)).view(batch, grains, hop)
    y[:, :, :fade] *= ramp
    fade_outs = flat.unfold(0, fade, 1).index_select(0, (at[:, :-1] + hop).reshape(-1))
    y[:, 1:, :fade].addcmul_(fade_outs.view(batch, grains - 1, fade), 1 - ramp)
    return y.view(batch, -1)[:, fade : fade + plan.length]


def _box_sums(x: Tensor, d: int) -> Tensor:
    """Sums of ``d`` consecutive samples of each row (a trailing remainder is dropped).

    Halving by pairs while ``d`` is even, then strided slices added up: faster on the CPU than
    ``.view(batch, -1, d).sum(2)``, whose reduction over a last dimension of a few elements is slow.
    """
    x = x[:, : x.shape[1] // d * d]
    while d % 2 == 0:
        x, d = x[:, 0::2] + x[:, 1::2], d // 2
    return sum(x[:, i::d] for i in range(1, d)) + x[:, 0::d] if d > 1 else x


def interpolate(x: Tensor, step: Tensor, length: int) -> Tensor:
    """Read each row at positions ``0, step, 2 step, ...`` (linear interpolation), zero past its end.

    The last sample fades linearly into the zero padding over one step; reads at or past ``samples`` are
    exactly zero (output sample ``k`` for ``k >= samples / step``), so that a row is the same however long
    the output.

    ``step > 1`` speeds a row up (higher, shorter), ``step < 1`` slows it down. One ``grid_sample``
    (a fused floor/gather/lerp, faster on the CPU than the same steps one tensor op at a time).
    Its float32 grid places reads within ~1/200 sample for rows of 60 000 samples (well inside the error
    of linear interpolation itself).

    Shape:
        - x: ``(batch, samples)``; step: ``(batch,)``; output: ``(batch, length)``.
    """
    if x.dtype not in (torch.float32, torch.float64):  # a half-precision grid would misplace reads
        return interpolate(x.float(), step, length).to(x.dtype)
    batch, samples = x.shape
    # Normalised coordinates: -1 is sample 0 and +1 sample `samples - 1` (align_corners=True).
    scale = (2 * step.double() / max(samples - 1, 1)).to(x.dtype)  # (B,)
    minus_one = torch.full((1, 1), -1.0, device=x.device, dtype=x.dtype)
    where = torch.addcmul(minus_one, torch.arange(length, device=x.device, dtype=x.dtype), scale[:, None])  # (B, L)
    # (B, H=1, W=length, (x, y)); with a single input row, any finite y reads it: reuse x as y.
    grid = where[:, None, :, None].expand(batch, 1, length, 2)
    y = torch.nn.functional.grid_sample(
        x[:, None, None, :], grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )[:, 0, 0]  # (B, length)
    # In float32 the grid can place a read meant for the end (or just past it) a hair before it, leaving a
    # trace of the last sample: the output samples reading within 2 samples past each row's end are zeroed.
    ends = torch.ceil(samples / step.double()).long()[:, None]  # (B, 1) the first output sample past the end
    reach = torch.arange(math.ceil(2 / float(step.min())) + 1, device=x.device)
    index = (ends + reach).clamp(max=max(length - 1, 0))  # (B, reach); where clamped, rewritten as it is if inside
    if length:
        y.scatter_(1, index, y.gather(1, index).masked_fill_(index >= ends, 0.0))
    return y


def _stft(x: Tensor, n_fft: int, hop_length: int) -> Tensor:
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    # Zero padding, not reflection: the vocoder keeps the first frame's phases between bins for the
    # whole output, and a reflected first frame has inconsistent ones (the output then cancels itself).
    return torch.stft(x, n_fft, hop_length, window=window, pad_mode="constant", return_complex=True)


def _istft(spec: Tensor, n_fft: int, hop_length: int, length: int) -> Tensor:
    window = torch.hann_window(n_fft, device=spec.device, dtype=spec.real.dtype)
    return torch.istft(spec, n_fft, hop_length, window=window, length=length)


def time_stretch(x: Tensor, rate: Tensor, n_fft: int = 1024, hop_length: int = 256) -> Tensor:
    """Play each row ``rate`` times faster without changing its pitch; output keeps the input length.

    Shape:
        - x: ``(batch, samples)``; rate: ``(batch,)``; output: ``(batch, samples)``.
    """
    samples = x.shape[-1]
    spec = _stft(x, n_fft, hop_length)
    return _istft(phase_vocoder(spec, rate, hop_length, spec.shape[-1]), n_fft, hop_length, samples)


def anti_alias(x: Tensor, rate: Tensor) -> Tensor:
    """Low-pass each row before it is played ``rate`` (> 1) times faster, so that it does not alias.

    Everything above the new Nyquist frequency (``0.5 / rate`` cycles per sample, where it would fold
    over) is removed, with a raised-cosine transition over its last 10 %.

    Shape:
        - x: ``(batch, samples)``; rate: ``(batch,)``; output: same as x.
    """
    # The taper's impulse response has died out (sidelobes fall as 1/t^3) 20 periods of its transition
    # width (5 % of the sample rate over the rate) after its peak: that much zero padding stops the wrap.
    pad = torch.ceil(20 * rate.double() / 0.05).long()

    def response(freqs: Tensor, rows: Tensor | None) -> Tensor:  # freqs in cycles per sample
        nyquist = 0.5 / take_rows(rate, rows).to(x.dtype)[:, None]  # (B, 1)
        taper = ((nyquist - freqs[None, :]) / (0.1 * nyquist)).clamp(0, 1)  # 1 in the pass band, 0 above
        return torch.sin(taper * (torch.pi / 2)) ** 2

    return filter_rows(x, pad, response)


def resample_rows(x: Tensor, rate: Tensor, length: int) -> Tensor:
    """Play each row ``rate`` times faster (``length`` output samples), low-passing the rows that speed up
    (``anti_alias``); rows with ``rate <= 1`` are only interpolated.

    Shape:
        - x: ``(batch, samples)``; rate: ``(batch,)``; output: ``(batch, length)``.
    """
    up = (rate > 1).nonzero().squeeze(1)
    if len(up):  # only the rows that speed up pay for the FFTs
        filtered = anti_alias(x[up], rate[up])
        x = filtered if len(up) == len(rate) else x.index_copy(0, up, filtered)
    return interpolate(x, rate, length)


def pitch_shift(x: Tensor, semitones: Tensor, n_fft: int = 1024, hop_length: int = 256) -> Tensor:
    """Shift each row by its ``semitones`` (fractional allowed), keeping its duration.

    Resample by ``f = 2**(semitones / 12)`` first (pitch and tempo times f), then time-stretch back to
    the input length: the vocoder then always writes ``samples / hop_length`` frames, whatever ``f``.
    Each row is resampled to its own length ``ceil(samples / f)``; the rows share one STFT, as long as the
    longest, whose frames past a row's own end the vocoder reads as silence (as a row alone would).

    Shape:
        - x: ``(batch, samples)``; semitones: ``(batch,)``; output: ``(batch, samples)``.
    """
    samples = x.shape[-1]
    factor = 2.0 ** (semitones.double() / 12)  # (B,)
    lengths = torch.ceil(samples / factor).long()  # (B,) each row's resampled length
    longest = int(lengths.max())
    spec = _stft(resample_rows(x, factor, longest), n_fft, hop_length)  # zeros past each row's length
    frames = samples // hop_length + 1  # the STFT frame count of `samples` samples
    stretched = phase_vocoder(spec, 1 / factor, hop_length, frames, n_frames=lengths // hop_length + 1)
    return _istft(stretched, n_fft, hop_length, samples)


def pitch_shift_wsola(x: Tensor, semitones: Tensor, segment: int, overlap: int, search: int) -> Tensor:
    """``pitch_shift`` with ``wsola`` in place of the phase vocoder (resample by ``f``, then stretch by ``1/f``).

    Shape:
        - x: ``(batch, samples)``; semitones: ``(batch,)``; output: ``(batch, samples)``.
    """
    batch, samples = x.shape
    factor = 2.0 ** (semitones.double() / 12)  # (B,)
    plan = _WsolaPlan(1 / factor, samples, segment, overlap, search)
    # The resampled rows go straight into WSOLA's padded input, each group only as long as it reads: the
    # rows that go up (low-passed first, shorter once resampled) apart from the others.
    xp = x.new_zeros(batch, plan.left + plan.end)
    up = factor > 1
    for rows, going_up in ((up.nonzero().squeeze(1), True), ((~up).nonzero().squeeze(1), False)):
        if not len(rows):
            continue
        part, f = (x, factor) if len(rows) == batch else (x.index_select(0, rows), factor[rows])
        if going_up:
            part = anti_alias(part, f)
        n = min(math.ceil(samples / float(f.min())), plan.end)  # later samples are never read
        xp.narrow(1, plan.left, n).index_copy_(0, rows, interpolate(part, f, n))
    return _wsola_padded(xp, plan)


def wsola_sizes(sample_rate: int) -> tuple[int, int, int]:
    """sox's ``tempo``/``pitch`` defaults in samples: segment 82 ms, overlap 12 ms, search 14.68 ms."""
    return round(0.082 * sample_rate), max(1, round(0.012 * sample_rate)), round(0.01468 * sample_rate)


def speed(x: Tensor, rate: Tensor) -> Tensor:
    """Play each row ``rate`` times faster (pitch up by ``rate``), cropped or zero-padded to its length.

    Shape:
        - x: ``(batch, samples)``; rate: ``(batch,)``; output: ``(batch, samples)``.
    """
    return resample_rows(x, rate, x.shape[-1])


def _default_n_fft(sample_rate: int) -> int:
    """About 46 ms of audio rounded to a power of two (1024 at 16 and 22.05 kHz, 2048 at 44.1 kHz)."""
    return 1 << max(6, round(math.log2(0.046 * sample_rate)))


METHODS = ("phase_vocoder", "wsola")
STFT_CHUNK = 8  # the phase vocoder's rows per call on the CPU


class _Stretcher(Transform):
    """Shared by PitchShift and TimeStretch: the method, its frame sizes and their validation."""

    def __init__(self, sample_rate: int, n_fft: int | None, hop_length: int | None, p: float, method: str) -> None:
        super().__init__(p)
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate={sample_rate} must be a positive integer in Hz")
        if method not in METHODS:
            raise ValueError(f"method={method!r} is unknown; choose one of {METHODS}")
        if method == "wsola" and (n_fft, hop_length) != (None, None):
            raise ValueError("method='wsola' has no STFT: leave n_fft and hop_length at None")
        self.sample_rate, self.method = int(sample_rate), method
        self.n_fft = int(n_fft) if n_fft is not None else _default_n_fft(self.sample_rate)
        self.hop_length = int(hop_length) if hop_length is not None else self.n_fft // 4
        self.wsola_sizes = wsola_sizes(self.sample_rate)  # (segment, overlap, search) in samples
        if self.n_fft < 16 or not 0 < self.hop_length <= self.n_fft // 2:
            raise ValueError(f"need n_fft >= 16 and 0 < hop_length <= n_fft / 2, got {n_fft}, {hop_length}")
        # The vocoder's large STFT intermediates: a few examples at a time on the CPU (PitchShift sorts them
        # by shift: ``chunk_order``), measured 1.8x faster than the whole batch. WSOLA's steps are small and
        # many (their cost is per call): one call.
        self.cpu_chunk = STFT_CHUNK if method == "phase_vocoder" else None


class PitchShift(_Stretcher):
    """Shift the pitch by a per-example amount uniform in ``[min_semitones, max_semitones]``; keep the length.

    Amounts are continuous, or on the grid ``min_semitones, min_semitones + step_semitones, ...`` with a
    ``step_semitones`` (CLMR's code draws whole cents: ``0.01``). ``method="phase_vocoder"`` (default)
    resamples, then
    stretches with an STFT of ``n_fft`` (default: ~46 ms, 1024 at 22.05 kHz) and ``hop_length``
    (default ``n_fft // 4``); ``method="wsola"`` stretches in the time domain instead (sox's sizes, no
    ``n_fft``/``hop_length``): several times faster, cleaner on tones, rougher on transients and dense mixes (see
    the module docstring). Defaults -4..4 follow audiomentations.

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> ps = PitchShift(16000, min_semitones=12.0, max_semitones=12.0)
    >>> ps(torch.randn(2, 16000), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 16000])
    """

    def __init__(
        self,
        sample_rate: int,
        min_semitones: float = -4.0,
        max_semitones: float = 4.0,
        n_fft: int | None = None,
        hop_length: int | None = None,
        p: float = 1.0,
        method: str = "phase_vocoder",
        step_semitones: float | None = None,
    ) -> None:
        super().__init__(sample_rate, n_fft, hop_length, p, method)
        check_range("semitones", min_semitones, max_semitones)
        if max(abs(min_semitones), abs(max_semitones)) > 48:
            raise ValueError("semitones must lie within [-48, 48] (four octaves)")
        self.min_semitones, self.max_semitones = float(min_semitones), float(max_semitones)
        self.step_semitones = check_step("step_semitones", step_semitones)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        return {"semitones": uniform(batch, self.min_semitones, self.max_semitones, generator, self.step_semitones)}

    def chunk_order(self, params: dict[str, Tensor]) -> Tensor:
        return params["semitones"].argsort()  # the resampled length follows the lowest shift of a chunk

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        if self.method == "wsola":
            return pitch_shift_wsola(x, params["semitones"], *self.wsola_sizes)
        return pitch_shift(x, params["semitones"], self.n_fft, self.hop_length)

    def extra_repr(self) -> str:
        return (
            f"semitones=[{self.min_semitones}, {self.max_semitones}], method={self.method}, "
            f"n_fft={self.n_fft}, p={self.p}"
        )


class TimeStretch(_Stretcher):
    """Speed up (``rate > 1``) or slow down without changing the pitch; crop or zero-pad to the length.

    The rate is drawn per example, uniform in ``[min_rate, max_rate]`` (defaults 0.8-1.25 follow
    audiomentations; CLAR used 0.5-1.5). ``method`` picks the phase vocoder (default; ``n_fft``,
    ``hop_length`` as in ``PitchShift``) or the faster time-domain ``"wsola"`` (docs/benchmarks.md).

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> ts = TimeStretch(16000, min_rate=1.25, max_rate=1.25)
    >>> ts(torch.randn(2, 16000), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 16000])
    """

    def __init__(
        self,
        sample_rate: int,
        min_rate: float = 0.8,
        max_rate: float = 1.25,
        n_fft: int | None = None,
        hop_length: int | None = None,
        p: float = 1.0,
        method: str = "phase_vocoder",
    ) -> None:
        super().__init__(sample_rate, n_fft, hop_length, p, method)
        check_range("rate", min_rate, max_rate)
        if min_rate < 0.1 or max_rate > 10:
            raise ValueError(f"rates must lie in [0.1, 10], got [{min_rate}, {max_rate}]")
        self.min_rate, self.max_rate = float(min_rate), float(max_rate)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        return {"rate": uniform(batch, self.min_rate, self.max_rate, generator)}

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        if self.method == "wsola":
            return wsola(x, params["rate"], x.shape[-1], *self.wsola_sizes)
        return time_stretch(x, params["rate"], self.n_fft, self.hop_length)

    def extra_repr(self) -> str:
        return f"rate=[{self.min_rate}, {self.max_rate}], method={self.method}, n_fft={self.n_fft}, p={self.p}"


class Speed(Transform):
    """Play faster or slower like a tape (pitch and tempo change together); crop or zero-pad to the length.

    The rate is drawn per example, uniform in ``[min_rate, max_rate]`` (defaults 0.9-1.1, Kaldi's
    speed perturbation range). Speeding up is low-passed first so that it does not alias. The rate is
    relative, so ``sample_rate`` only keeps the signature uniform with the other transforms.

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> sp = Speed(16000, min_rate=1.25, max_rate=1.25)
    >>> sp(torch.randn(2, 1600), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 1600])
    """

    def __init__(self, sample_rate: int, min_rate: float = 0.9, max_rate: float = 1.1, p: float = 1.0) -> None:
        super().__init__(p)
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate={sample_rate} must be a positive integer in Hz")
        check_range("rate", min_rate, max_rate)
        if min_rate < 0.1 or max_rate > 10:
            raise ValueError(f"rates must lie in [0.1, 10], got [{min_rate}, {max_rate}]")
        self.sample_rate, self.min_rate, self.max_rate = int(sample_rate), float(min_rate), float(max_rate)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        return {"rate": uniform(batch, self.min_rate, self.max_rate, generator)}

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        return speed(x, params["rate"])

    def extra_repr(self) -> str:
        return f"rate=[{self.min_rate}, {self.max_rate}], p={self.p}"
