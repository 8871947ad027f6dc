"""SampleCNN against CLMR's layout (re-typed here from Spijkervet/CLMR clmr/models/sample_cnn.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audiocl.models import SampleCNN, create_encoder
from audiocl.models.samplecnn import STRIDES_8K, STRIDES_16K, STRIDES_22K, min_samples, output_frames


def clmr_reference(strides) -> nn.Sequential:
    """CLMR's ``encoder.sequential`` as written in the CLMR repository (its fc is replaced by Identity)."""
    hidden = [[128, 128], [128, 128], [128, 256], [256, 256], [256, 256], [256, 256], [256, 256], [256, 256],
              [256, 512]]  # fmt: skip
    seq = [nn.Sequential(nn.Conv1d(1, 128, kernel_size=3, stride=3, padding=0), nn.BatchNorm1d(128), nn.ReLU())]
    for stride, (h_in, h_out) in zip(strides, hidden, strict=True):
        seq.append(
            nn.Sequential(
                nn.Conv1d(h_in, h_out, kernel_size=stride, stride=1, padding=1),
                nn.BatchNorm1d(h_out),
                nn.ReLU(),
                nn.MaxPool1d(stride, stride=stride),
            )
        )
    seq.append(nn.Sequential(nn.Conv1d(512, 512, kernel_size=3, stride=1, padding=1), nn.BatchNorm1d(512), nn.ReLU()))
    return nn.Sequential(*seq)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_count_is_exactly_clmrs():
    enc = create_encoder("samplecnn")
    assert count(enc) == 2_368_512
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv1d)]
    bns = [m for m in enc.modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(convs) == len(bns) == 11  # stem + 9 blocks + final
    assert sum(m.weight.numel() for m in convs) == 2_359_680
    assert sum(m.bias.numel() for m in convs) == 2_944
    assert sum(m.weight.numel() + m.bias.numel() for m in bns) == 5_888
    assert not any(isinstance(m, nn.Linear) for m in enc.modules())  # CLMR's fc is not part of the encoder


@pytest.mark.parametrize(
    ("name", "strides", "samples"),
    [("samplecnn", STRIDES_22K, 59049), ("samplecnn_16k", STRIDES_16K, 42848), ("samplecnn_8k", STRIDES_8K, 20736)],
)
def test_matches_clmr_layer_for_layer(name, strides, samples):
    """CLMR's state dict loads strictly and CLMR's flattened single frame equals our embedding."""
    torch.manual_seed(0)
    ref = clmr_reference(strides)
    for m in ref.modules():  # non-trivial BN statistics, so eval mode is really tested
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    enc = create_encoder(name).eval()
    enc.sequential.load_state_dict(ref.state_dict(), strict=True)
    assert count(enc) == count(ref)
    x = torch.randn(2, 1, samples)
    with torch.no_grad():
        expected = ref.eval()(x)
        assert expected.shape == (2, 512, 1)  # CLMR's inputs reduce to exactly one frame
        torch.testing.assert_close(enc(x), expected.reshape(2, 512))


@pytest.mark.parametrize("strides", [STRIDES_22K, STRIDES_16K, STRIDES_8K, (2, 2, 3)])
def test_output_frames_formula_matches_the_network(strides):
    enc = SampleCNN(strides=strides, channels=(8,) * len(strides), stem_channels=4).eval()
    for n in (min_samples(strides), min_samples(strides) + 5, 3 * min_samples(strides) + 1):
        with torch.no_grad():
            frames = enc.forward_features(torch.randn(1, 1, n)).shape[-1]
        assert frames == output_frames(n, strides) >= 1


@pytest.mark.parametrize("strides", [STRIDES_22K, STRIDES_16K, STRIDES_8K])
def test_min_samples_is_the_shortest_input_with_one_frame(strides):
    n = min_samples(strides)
    assert output_frames(n, strides) == 1
    assert output_frames(n - 1, strides) == 0


def test_min_input_sizes():
    assert create_encoder("samplecnn").min_input_size == (59049,)
    assert create_encoder("samplecnn_16k").min_input_size == (15309,)
    assert create_encoder("samplecnn_8k").min_input_size == (6561,)


def test_longer_input_averages_the_frames():
    enc = create_encoder("samplecnn").eval()
    x = torch.randn(1, 1, 2 * 59049)
    with torch.no_grad():
        feats = enc.forward_features(x)
        assert feats.shape == (1, 512, 2)
        torch.testing.assert_close(enc(x), feats.mean(-1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"strides": (3, 3), "channels": (8,)}, "same non-zero length"),
        ({"strides": (), "channels": ()}, "same non-zero length"),
        ({"strides": (3, 1), "channels": (8, 8)}, "int >= 2"),
        ({"strides": (3, 2.5), "channels": (8, 8)}, "int >= 2"),
        ({"strides": (3,), "channels": (0,)}, "channels"),
        ({"in_channels": 0}, "in_channels"),
        ({"stem_channels": -1}, "stem_channels"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SampleCNN(**kwargs)
