"""Zero-phase filters with per-example cutoffs, applied as Butterworth magnitude responses via the FFT.

One ``rfft`` of the whole batch, one multiply by a ``(batch, freq)`` response, one ``irfft``: the cost
does not depend on the cutoffs, and every example gets its own. The response is Butterworth's
``|H(f)| = 1 / sqrt(1 + (f / f_c)**(2 * order))`` (low-pass; high-pass mirrors it), so the stop band falls
at ``6 * order`` dB per octave and the pass band is flat (-3 dB at the cutoff). Zero phase: no delay.
Each row is zero-padded before the FFT, by a few time constants of its own lowest edge, so that the
circular convolution does not wrap its end onto its start; rows whose padded lengths round up to the same
fast FFT size share one FFT (usually the whole batch), so that a row's result does not depend on the others.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable

import torch
from torch import Tensor

from audiocl.augment.base import Transform, check_range, check_step, uniform


def fast_len(n: int) -> int:
    """Smallest integer >= n whose only prime factors are 2, 3 and 5 (fast FFT sizes)."""
    sizes = _fast_sizes()
    if n <= sizes[-1]:
        return int(sizes[bisect.bisect_left(sizes, n)])
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def fast_lens(n: Tensor) -> Tensor:
    """``fast_len`` of each element of the int64 CPU tensor ``n``."""
    if len(n) and int(n.max()) > _fast_sizes()[-1]:
        return torch.tensor([fast_len(int(v)) for v in n.tolist()], dtype=torch.int64)
    sizes = torch.tensor(_fast_sizes(), dtype=torch.int64)
    return sizes[torch.searchsorted(sizes, n)]


@functools.cache
def _fast_sizes(limit: int = 1 << 31) -> list[int]:
    """Every integer up to ``limit`` whose only prime factors are 2, 3 and 5, in increasing order."""
    sizes, p2 = [], 1
    while p2 <= limit:
        p3 = p2
        while p3 <= limit:
            p5 = p3
            while p5 <= limit:
                sizes.append(p5)
                p5 *= 5
            p3 *= 3
        p2 *= 2
    return sorted(sizes)


def butterworth(freqs_hz: Tensor, cutoff_hz: Tensor, order: int, kind: str) -> Tensor:
    """Butterworth magnitude response per example.

    Shape:
        - freqs_hz: ``(freq,)``; cutoff_hz: ``(batch,)``; output: ``(batch, freq)``.
    """
    ratio2 = (freqs_hz[None, :] / cutoff_hz[:, None]).square_()
    r2n = ratio2 if order == 1 else ratio2.pow_(order)  # (f / f_c)**(2n)
    if kind == "lowpass":
        return r2n.add_(1).rsqrt_()
    # high-pass: 1 / sqrt(1 + (f_c / f)**(2n)) = sqrt(r / (1 + r)) with r = (f / f_c)**(2n), exact (0) at f = 0
    return r2n.div_(r2n + 1).sqrt_()


def filter_fft(x: Tensor, responses: Tensor, pad: int) -> Tensor:
    """Apply zero-phase magnitude ``responses`` (on the grid of ``fast_len(samples + pad)``) to ``x``."""
    samples = x.shape[-1]
    n = fast_len(samples + pad)
    spectrum = torch.fft.rfft(x, n=n)
    torch.view_as_real(spectrum).mul_(responses.unsqueeze(-1))  # in place: no complex copy of the responses
    return torch.fft.irfft(spectrum, n=n)[..., :samples]


def filter_rows(
    x: Tensor, pad: Tensor, response: Callable[[Tensor, Tensor | None], Tensor], sample_rate: float = 1.0
) -> Tensor:
    """Filter each row of ``x`` by its zero-phase magnitude response, on the FFT grid of its own length.

    Row ``i`` is zero-padded to ``fast_len(samples + pad[i])``; rows of one length share one FFT (a loop
    over the few lengths, not over rows). ``response(freqs, rows)`` gives the responses of the rows
    ``rows`` (an index on ``x``'s device; None: all of them) on ``freqs``, in Hz at ``sample_rate`` (default:
    cycles per sample).

    Shape:
        - x: ``(batch, samples)``; pad: ``(batch,)`` int64; output: same as x.
    """
    samples = x.shape[-1]
    sizes = fast_lens(pad.cpu() + samples)

    def run(part: Tensor, n: int, rows: Tensor | None) -> Tensor:
        freqs = torch.fft.rfftfreq(n, d=1.0 / sample_rate, device=x.device, dtype=x.dtype)
        return filter_fft(part, response(freqs, rows), n - samples)

    lengths = sizes.unique()
    if len(lengths) == 1:
        return run(x, int(lengths), None)
    out = torch.empty_like(x)
    for n in lengths.tolist():
        rows = (sizes == n).nonzero().squeeze(1).to(x.device)
        out.index_copy_(0, rows, run(x.index_select(0, rows), n, rows))
    return out


class _Filter(Transform):
    """Shared machinery: the FFT grid, the padding and the cutoff validation."""

    def __init__(self, sample_rate: int, order: int, p: float) -> None:
        super().__init__(p)
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate={sample_rate} must be a positive integer in Hz")
        if int(order) < 1:
            raise ValueError(f"order={order} must be a positive integer (6 dB/octave each)")
        self.sample_rate, self.order = int(sample_rate), int(order)

    def _check_hz(self, name: str, low: float, high: float) -> None:
        check_range(name, low, high)
        if low <= 0 or high >= self.sample_rate / 2:
            raise ValueError(
                f"{name} range [{low}, {high}] must lie inside (0, {self.sample_rate / 2}) Hz "
                f"(the Nyquist frequency at sample_rate={self.sample_rate})"
            )

    def _filter(self, x: Tensor, response: Callable[[Tensor, Tensor | None], Tensor], lowest_hz: Tensor) -> Tensor:
        """``filter_rows`` with ``response(freqs_hz, rows)``, each row padded by a few time constants of its
        lowest edge ``lowest_hz`` so that its response does not wrap around."""
        pad = torch.ceil(self.order * self.sample_rate / lowest_hz.double()).long().clamp(max=x.shape[-1])
        return filter_rows(x, pad, response, self.sample_rate)


class _CutoffFilter(_Filter):
    """A low- or high-pass (``kind``) with a cutoff drawn per example, uniform in Hz (on a grid of ``step_hz``
    when given: CLMR's code draws whole Hz)."""

    kind: str

    def __init__(
        self,
        sample_rate: int,
        min_cutoff_hz: float,
        max_cutoff_hz: float,
        order: int,
        p: float,
        step_hz: float | None = None,
    ) -> None:
        super().__init__(sample_rate, order, p)
        self._check_hz("cutoff_hz", min_cutoff_hz, max_cutoff_hz)
        self.min_cutoff_hz, self.max_cutoff_hz = float(min_cutoff_hz), float(max_cutoff_hz)
        self.step_hz = check_step("step_hz", step_hz)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        return {"cutoff_hz": uniform(batch, self.min_cutoff_hz, self.max_cutoff_hz, generator, self.step_hz)}

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        cutoff = params["cutoff_hz"]
        return self._filter(x, lambda f, rows: butterworth(f, take_rows(cutoff, rows), self.order, self.kind), cutoff)

    def extra_repr(self) -> str:
        return f"cutoff_hz=[{self.min_cutoff_hz}, {self.max_cutoff_hz}], order={self.order}, p={self.p}"


class LowPass(_CutoffFilter):
    """Low-pass with a cutoff drawn per example, uniform in Hz over ``[min_cutoff_hz, max_cutoff_hz]``.

    Defaults (150-7500 Hz) follow audiomentations' ``LowPassFilter``; ``order=2`` is a 12 dB/octave
    slope, that of a biquad.

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> lp = LowPass(16000, min_cutoff_hz=1000.0, max_cutoff_hz=1000.0)
    >>> lp(torch.randn(2, 1600), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 1600])
    """

    kind = "lowpass"

    def __init__(
        self,
        sample_rate: int,
        min_cutoff_hz: float = 150.0,
        max_cutoff_hz: float = 7500.0,
        order: int = 2,
        p: float = 1.0,
        step_hz: float | None = None,
    ) -> None:
        super().__init__(sample_rate, min_cutoff_hz, max_cutoff_hz, order, p, step_hz)


class HighPass(_CutoffFilter):
    """High-pass with a cutoff drawn per example, uniform in Hz over ``[min_cutoff_hz, max_cutoff_hz]``.

    Defaults (20-2400 Hz) follow audiomentations' ``HighPassFilter``; ``order=2`` is 12 dB/octave.

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> hp = HighPass(16000, min_cutoff_hz=500.0, max_cutoff_hz=500.0)
    >>> hp(torch.randn(2, 1600), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 1600])
    """

    kind = "highpass"

    def __init__(
        self,
        sample_rate: int,
        min_cutoff_hz: float = 20.0,
        max_cutoff_hz: float = 2400.0,
        order: int = 2,
        p: float = 1.0,
        step_hz: float | None = None,
    ) -> None:
        super().__init__(sample_rate, min_cutoff_hz, max_cutoff_hz, order, p, step_hz)


class BandPass(_Filter):
    """Band-pass: a high-pass and a low-pass around a centre drawn per example.

    The centre is uniform in Hz over ``[min_center_hz, max_center_hz]``; the bandwidth is a fraction of
    the centre, uniform over ``[min_bandwidth_fraction, max_bandwidth_fraction]`` (audiomentations'
    ``BandPassFilter`` conventions and defaults). The edges are ``center -/+ bandwidth / 2``.

    Shape:
        - x: ``(batch, samples)``; output: same.

    >>> bp = BandPass(16000, min_center_hz=1000.0, max_center_hz=1000.0)
    >>> bp(torch.randn(2, 1600), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 1600])
    """

    def __init__(
        self,
        sample_rate: int,
        min_center_hz: float = 200.0,
        max_center_hz: float = 4000.0,
        min_bandwidth_fraction: float = 0.5,
        max_bandwidth_fraction: float = 1.99,
        order: int = 2,
        p: float = 1.0,
    ) -> None:
        super().__init__(sample_rate, order, p)
        self._check_hz("center_hz", min_center_hz, max_center_hz)
        check_range("bandwidth_fraction", min_bandwidth_fraction, max_bandwidth_fraction)
        if min_bandwidth_fraction <= 0 or max_bandwidth_fraction >= 2:
            raise ValueError("bandwidth fractions must lie in (0, 2) so that the lower edge stays above 0 Hz")
        if max_center_hz * (1 + max_bandwidth_fraction / 2) >= sample_rate / 2:
            raise ValueError(
                f"the upper band edge can reach {max_center_hz * (1 + max_bandwidth_fraction / 2)} Hz, "
                f"above the Nyquist frequency {sample_rate / 2} Hz; lower max_center_hz or the bandwidth"
            )
        self.min_center_hz, self.max_center_hz = float(min_center_hz), float(max_center_hz)
        self.min_bandwidth_fraction = float(min_bandwidth_fraction)
        self.max_bandwidth_fraction = float(max_bandwidth_fraction)

    def randomize_parameters(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        return {
            "center_hz": uniform(batch, self.min_center_hz, self.max_center_hz, generator),
            "bandwidth_fraction": uniform(batch, self.min_bandwidth_fraction, self.max_bandwidth_fraction, generator),
        }

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        half = params["center_hz"] * params["bandwidth_fraction"] / 2
        low, high = params["center_hz"] - half, params["center_hz"] + half

        def response(f: Tensor, rows: Tensor | None) -> Tensor:
            return butterworth(f, take_rows(low, rows), self.order, "highpass") * butterworth(
                f, take_rows(high, rows), self.order, "lowpass"
            )

        return self._filter(x, response, low)

    def extra_repr(self) -> str:
        return (
            f"center_hz=[{self.min_center_hz}, {self.max_center_hz}], bandwidth_fraction="
            f"[{self.min_bandwidth_fraction}, {self.max_bandwidth_fraction}], order={self.order}, p={self.p}"
        )


def take_rows(values: Tensor, rows: Tensor | None) -> Tensor:
    """``values`` of the rows ``rows`` (None: all)."""
    return values if rows is None else values.index_select(0, rows)
