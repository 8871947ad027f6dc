"""Where the paper recipes' views come from: CLMR crops anywhere in the track, multi-format contrasts the
waveform of one crop with the spectrogram of another. Behaviour through the recipes' own objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiocl.config import RecipeError, load_recipe
from audiocl.data import ClipDataset
from audiocl.data.cache import CachedClipDataset, prepare
from audiocl.data.datamodule import build_pretrain_dataset

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture(scope="module")
def ramp_track(tmp_path_factory) -> Path:
    """A 29 s track whose every sample tells its own position (a ramp), so a crop's start can be read back."""
    d = tmp_path_factory.mktemp("track")
    rate = 8000
    ramp = (np.arange(29 * rate) / (29 * rate) * 1.8 - 0.9).astype(np.float32)
    path = d / "song.wav"
    sf.write(path, ramp, rate, subtype="FLOAT")
    return path


def _start_s(crop: torch.Tensor, rate: int = 8000, seconds: int = 29) -> float:
    return float((crop[0] + 0.9) / 1.8 * seconds * rate) / rate


def test_clmr_views_of_one_track_can_lie_more_than_6_s_apart(ramp_track, tmp_path):
    """CLMR's two views are independent crops of the whole ~29 s track (RandomResizedCrop), not of one 6 s window."""
    recipe = load_recipe(
        RECIPES / "clmr_magnatagatune.yaml",
        [f"data.root={ramp_track.parent}", "data.dataset=folder", "data.sample_rate=8000", f"output_dir={tmp_path}"],
    )
    assert recipe.views.span == "file"
    dataset = build_pretrain_dataset(recipe)
    gaps = []
    for seed in range(40):
        item = dataset[(0, seed)]
        assert item["audio"].shape == (2, recipe.views.crop_samples)
        first, second = (_start_s(v) for v in item["audio"])
        gaps.append(abs(first - second))
    assert max(gaps) > 6.0
    # the crops are slices of the file, at their own offsets
    audio, _ = sf.read(ramp_track, dtype="float32")
    crop = dataset[(0, 0)]["audio"][1]
    start = round(_start_s(crop) * 8000)
    assert torch.allclose(crop, torch.from_numpy(audio[start : start + len(crop)]), atol=1e-6)


def test_cache_reads_views_anywhere_in_the_clip(ramp_track, tmp_path):
    """From an `audiocl prepare` cache the views are slices of the memory map, anywhere in the clip."""
    prepare("folder", ramp_track.parent, tmp_path / "cache", 8000, dtype="float16", progress=False)
    ds = CachedClipDataset(tmp_path / "cache", 8000, crops=2)
    starts = np.array([[_start_s(v) for v in ds[(0, s)]["audio"]] for s in range(40)])
    assert ds[(0, 0)]["audio"].shape == (2, 8000) and ds[(0, 0)]["length"].tolist() == [8000, 8000]
    assert np.abs(starts[:, 0] - starts[:, 1]).max() > 6.0
    assert starts.min() < 3.0 and starts.max() > 25.0


def test_mp3_views_are_cut_from_one_decode(tmp_path):
    """An MP3 (no seeking in libsndfile) gives its crops from one decode of the span that holds them."""
    rate = 16000
    audio = (0.3 * np.sin(np.arange(10 * rate) * 0.05)).astype(np.float32)
    path = tmp_path / "song.mp3"
    sf.write(path, audio, rate, format="MP3", subtype="MPEG_LAYER_III")
    ds = ClipDataset([path], rate, 4000, crops=3)
    item = ds[(0, 1)]
    assert item["audio"].shape == (3, 4000) and item["length"].tolist() == [4000] * 3
    assert not torch.equal(item["audio"][0], item["audio"][1])
    with pytest.raises(ValueError, match="crops"):
        ClipDataset([path], rate, 4000, crops=0)


def test_span_file_refuses_what_it_cannot_do():
    base = ["views.span=file"]
    with pytest.raises(RecipeError, match="views.allow_overlap"):
        load_recipe(RECIPES / "clmr_tiny.yaml", [*base, "views.allow_overlap=false"])
    with pytest.raises(RecipeError, match="views.min_rms_db"):
        load_recipe(RECIPES / "clmr_tiny.yaml", [*base, "views.min_rms_db=-60"])
    with pytest.raises(RecipeError, match="views.span"):
        load_recipe(RECIPES / "clmr_tiny.yaml", ["views.span=track"])


def test_multiformat_pairs_the_waveform_of_one_crop_with_the_spectrogram_of_another():
    """views.to_branches=split: view 0 through the waveform branch, view 1 through the log-mel branch, and
    the loss contrasts the two formats (no waveform-waveform or spectrogram-spectrogram positive)."""
    from audiocl.methods import ContrastiveMethod

    recipe = load_recipe(RECIPES / "multiformat_tiny.yaml")
    assert recipe.views.to_branches == "split"
    method = ContrastiveMethod(recipe).eval()
    B, T = 3, recipe.views.crop_samples
    audio = torch.randn(2 * B, T, generator=torch.Generator().manual_seed(0))  # view-major (V * B, T)
    hs, z = method.project(audio)
    wave, mel = method.branches["waveform"], method.branches["logmel"]
    with torch.no_grad():
        assert torch.allclose(z[:B], wave(audio[:B])[1], atol=1e-6)
        assert torch.allclose(z[B:], mel(audio[B:])[1], atol=1e-6)
        loss = method.contrastive_loss(z, torch.full((B,), -1))
        from audiocl.losses import nt_xent

        assert torch.allclose(loss, nt_xent(z.view(2, B, -1), temperature=recipe.loss.temperature), atol=1e-6)


def test_split_needs_whole_views_per_branch():
    with pytest.raises(RecipeError, match="views.num_views"):
        load_recipe(RECIPES / "multiformat_tiny.yaml", ["views.num_views=3"])
    with pytest.raises(RecipeError, match="trainer.chunk_size"):
        load_recipe(RECIPES / "multiformat_tiny.yaml", ["trainer.chunk_size=4"])


def test_multiformat_esc50_never_reads_its_test_fold(tmp_path):
    """The ESC-50 variant pretrains on folds 1-4: the files its loader opens are never fold 5, the fold its
    probe scores (`--test-folds 5`)."""
    import layouts

    from audiocl.data import pretrain_files

    root = layouts.make_esc50(tmp_path / "esc")
    recipe = load_recipe(RECIPES / "multiformat_esc50.yaml", [f"data.root={root}", f"output_dir={tmp_path}/run"])
    dataset = build_pretrain_dataset(recipe)
    opened = []
    original = dataset._crop
    dataset._crop = lambda path, g: opened.append(path) or original(path, g)
    for seed in range(3 * len(dataset)):
        dataset[(seed % len(dataset), seed)]
    folds = {int(p.name.split("-")[0]) for p in opened}
    assert folds == {1, 2, 3, 4}
    everything = pretrain_files("esc50", root)
    assert {int(p.name.split("-")[0]) for p in everything} == {1, 2, 3, 4, 5}


def test_clmr_head_preset_is_the_recipes_head():
    """HEAD_PRESETS["clmr"] and the CLMR recipe build the same projector (CLMR's projection_dim 64)."""
    from audiocl.methods import ContrastiveMethod
    from audiocl.models import create_head

    method = ContrastiveMethod(load_recipe(RECIPES / "clmr_magnatagatune.yaml"))
    ours = method.branches["waveform"].head
    preset = create_head(ours.in_dim, preset="clmr")
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in preset.parameters()]
    assert ours.out_dim == 64


def test_clar_loss_is_nt_xent_plus_both_views_cross_entropies():
    """CLAR's semi-supervised loss: NT-Xent + CE(view 1) + CE(view 2), each CE a mean over labelled clips."""
    import torch.nn.functional as F

    from audiocl.losses import nt_xent
    from audiocl.methods import ContrastiveMethod

    method = ContrastiveMethod(load_recipe(RECIPES / "clar_tiny.yaml"))
    labels = torch.tensor([0, -1, 2, 1])
    B, V = len(labels), 2
    z = torch.randn(V * B, method.recipe.branches[0].head.out_dim, generator=torch.Generator().manual_seed(1))
    logits = method.classifier(z).view(V, B, -1)
    known = labels >= 0
    by_hand = F.cross_entropy(logits[0][known], labels[known]) + F.cross_entropy(logits[1][known], labels[known])
    torch.testing.assert_close(method.supervised_loss(z, labels), by_hand)
    total = method.contrastive_loss(z, labels) + method.recipe.supervised.weight * method.supervised_loss(z, labels)
    torch.testing.assert_close(total, nt_xent(z.view(V, B, -1), temperature=0.5) + by_hand)


def test_cola_positive_carries_noise_at_the_upstream_level():
    """COLA: the clip is L2-normalised, both segments are cut from it, and only the positive gets N(0, 0.001^2)."""
    from audiocl.methods import ContrastiveMethod

    recipe = load_recipe(RECIPES / "cola_audioset.yaml", ["data.batch_size=4"])
    method = ContrastiveMethod(recipe)
    clips = 0.3 * torch.randn(4, 10 * 16000, generator=torch.Generator().manual_seed(0))
    views = method.make_views({"audio": clips}, torch.Generator().manual_seed(1)).view(2, 4, -1)
    unit = torch.nn.functional.normalize(clips, dim=-1)

    g = torch.Generator().manual_seed(1)
    from audiocl.sampling import sample_views

    clean = sample_views(unit, 16000, 2, generator=g)  # the same draws, before the noise
    noise = views[1] - clean[1]
    torch.testing.assert_close(views[0], clean[0])
    assert 0.00095 < float(noise.std()) < 0.00105 and abs(float(noise.mean())) < 5e-5
    assert float(unit.pow(2).sum(dim=1).sqrt().sub(1).abs().max()) < 1e-5


def test_clar_heads_are_the_authors_semi_supervised_heads():
    """semi_supervised.py: Projection Linear 512-512 (bias), BN, ReLU, Linear 512-128 (bias); class_out
    BN(128), ReLU, Linear(128, classes, no bias) on the projection before its normalisation."""
    from torch import nn

    from audiocl.methods import ContrastiveMethod

    method = ContrastiveMethod(load_recipe(RECIPES / "clar_speech_commands.yaml"))
    head = method.branches["tf"].head.mlp
    assert [type(m) for m in head] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert (head[0].in_features, head[0].out_features, head[3].out_features) == (512, 512, 128)
    assert head[0].bias is not None and head[3].bias is not None
    classifier = method.classifier
    assert [type(m) for m in classifier] == [nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert classifier[2].bias is None and (classifier[2].in_features, classifier[2].out_features) == (128, 35)
    z = torch.randn(6, 128)
    classifier.eval()
    torch.testing.assert_close(classifier(z), classifier[2](torch.relu(classifier[0](z))))


def test_cola_log_mel_clips_at_the_upstream_floor():
    """COLA's data.py: ``log(clip_by_value(mel, 1e-5, 1e8))``: silence is log(1e-5) exactly, and bands above the
    floor are the plain log of the mel energies (no offset added)."""
    import copy

    from audiocl.methods import ContrastiveMethod

    frontend = ContrastiveMethod(load_recipe(RECIPES / "cola_audioset.yaml")).branches["logmel"].frontend
    silent = frontend(torch.zeros(1, 16000))
    assert torch.equal(silent, torch.full_like(silent, float(np.log(np.float32(1e-5)))))
    t = torch.arange(16000) / 16000
    tone = (0.1 * torch.sin(2 * torch.pi * 1000 * t))[None]
    unfloored = copy.deepcopy(frontend)
    unfloored.log_floor = 1e-30  # the same bands, no floor in the way
    plain = unfloored(tone)
    got = frontend(tone)
    above = plain > np.log(1e-5)
    torch.testing.assert_close(got[above], plain[above])
    assert torch.equal(got[~above], torch.full_like(got[~above], float(np.log(np.float32(1e-5)))))
