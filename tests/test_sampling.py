"""sample_views: crops inside the valid part, padding, disjoint views, silence rejection, seeding."""

from __future__ import annotations

import pytest
import torch

from audiocl.sampling import sample_views


def ramp_batch(batch: int, samples: int) -> torch.Tensor:
    """Row b holds b * 1e5 + (1, 2, ..., samples): every crop tells where it came from."""
    return torch.arange(batch, dtype=torch.float64)[:, None] * 1e5 + torch.arange(1, samples + 1)


def starts_of(views: torch.Tensor, batch_audio: torch.Tensor) -> torch.Tensor:
    """Start index of each crop of ``ramp_batch`` audio, checking it is a contiguous slice."""
    row_base = torch.arange(views.shape[1])[None, :, None] * 1e5
    local = views.double() - row_base  # 1-based sample numbers
    steps = local.diff(dim=-1)
    valid = local[..., 1:] > 0
    assert torch.all(steps[valid & (local[..., :-1] > 0)] == 1)
    return (local[..., 0] - 1).long()


def test_shape_and_crops_are_slices_of_their_clip():
    audio = ramp_batch(6, 1000)
    views = sample_views(audio, 200, 3, generator=torch.Generator().manual_seed(0))
    assert views.shape == (3, 6, 200) and views.dtype == audio.dtype == torch.float64
    starts = starts_of(views, audio)
    assert starts.min() >= 0 and starts.max() <= 800


def test_starts_are_uniform_over_the_clip():
    audio = ramp_batch(2000, 1000)
    starts = starts_of(sample_views(audio, 200, 2, generator=torch.Generator().manual_seed(0)), audio)
    assert starts.float().mean().item() == pytest.approx(400, abs=10)
    assert starts.min() == 0 and starts.max() == 800


def test_lengths_keep_crops_in_the_valid_part():
    audio = ramp_batch(4, 1000)
    lengths = torch.tensor([1000, 600, 300, 250])
    audio[torch.arange(1000)[None, :] >= lengths[:, None]] = 0  # a zero-padded loader batch
    views = sample_views(audio, 250, 2, lengths=lengths, generator=torch.Generator().manual_seed(0))
    starts = starts_of(views, audio)
    assert torch.all(starts + 250 <= lengths[None, :])
    assert torch.all(starts[:, 3] == 0)


def test_short_clips_are_zero_padded_at_the_end():
    audio = ramp_batch(2, 100)
    views = sample_views(audio, 150, 2, lengths=torch.tensor([100, 60]), generator=torch.Generator().manual_seed(0))
    assert views.shape == (2, 2, 150)
    for v in range(2):
        torch.testing.assert_close(views[v, 0, :100], audio[0])
        assert torch.all(views[v, 0, 100:] == 0)
        torch.testing.assert_close(views[v, 1, :60], audio[1, :60])


def test_disjoint_views_do_not_overlap():
    audio = ramp_batch(500, 1000)
    starts = starts_of(
        sample_views(audio, 300, 3, allow_overlap=False, generator=torch.Generator().manual_seed(0)), audio
    )
    ordered = starts.sort(dim=0).values
    assert torch.all(ordered.diff(dim=0) >= 300)
    # the view order is shuffled, so the first view is not always the earliest
    assert (starts[0] == ordered[0]).float().mean() < 0.6


def test_overlapping_views_do_overlap_sometimes():
    audio = ramp_batch(500, 1000)
    starts = starts_of(sample_views(audio, 300, 2, generator=torch.Generator().manual_seed(0)), audio)
    assert ((starts[0] - starts[1]).abs() < 300).any()


def test_clips_too_short_for_disjoint_views_spread_them():
    audio = ramp_batch(1, 500)
    starts = starts_of(sample_views(audio, 300, 2, allow_overlap=False, generator=torch.Generator()), audio)
    assert sorted(starts[:, 0].tolist()) == [0, 200]


def test_silent_crops_are_redrawn():
    audio = torch.zeros(64, 2000)
    audio[:, 1000:] = 0.5 * torch.randn(64, 1000, generator=torch.Generator().manual_seed(0))
    loose = sample_views(audio, 200, 2, generator=torch.Generator().manual_seed(1))
    strict = sample_views(audio, 200, 2, generator=torch.Generator().manual_seed(1), min_rms_db=-30, max_retries=20)

    def quiet(views):
        return (20 * torch.log10(views.pow(2).mean(dim=-1).sqrt() + 1e-12) < -30).sum().item()

    assert quiet(loose) > 20 and quiet(strict) == 0


def test_silent_disjoint_views_are_redrawn_together():
    audio = torch.zeros(64, 3000)
    audio[:, 1500:] = 0.5 * torch.randn(64, 1500, generator=torch.Generator().manual_seed(0))
    views = sample_views(
        audio, 200, 2, allow_overlap=False, min_rms_db=-30, max_retries=30, generator=torch.Generator().manual_seed(1)
    )
    assert (20 * torch.log10(views.pow(2).mean(dim=-1).sqrt() + 1e-12) >= -30).all()


def test_all_silent_clip_gives_up_after_max_retries():
    views = sample_views(torch.zeros(2, 1000), 100, 2, min_rms_db=-60, max_retries=3, generator=torch.Generator())
    assert views.shape == (2, 2, 100) and torch.all(views == 0)


def test_seeded():
    audio = torch.randn(8, 5000)
    a = sample_views(audio, 1000, 2, generator=torch.Generator().manual_seed(5))
    b = sample_views(audio, 1000, 2, generator=torch.Generator().manual_seed(5))
    c = sample_views(audio, 1000, 2, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="batch, samples"):
        sample_views(torch.zeros(10), 5)
    with pytest.raises(ValueError, match="lengths"):
        sample_views(torch.zeros(2, 10), 5, lengths=torch.tensor([3, 11]))
    with pytest.raises(ValueError, match="crop_samples"):
        sample_views(torch.zeros(2, 10), 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_same_crops():
    audio = torch.randn(8, 5000)
    cpu = sample_views(audio, 1000, 2, generator=torch.Generator().manual_seed(5), min_rms_db=-80)
    cuda = sample_views(audio.cuda(), 1000, 2, generator=torch.Generator().manual_seed(5), min_rms_db=-80)
    assert cuda.device.type == "cuda" and torch.equal(cuda.cpu(), cpu)
