"""The timm-built encoders: COLA's EfficientNet-B0 and CLAR's 2-D ResNet-18."""

from __future__ import annotations

import pytest
import timm
import torch

from audiocl.models import TimmEncoder, create_encoder

# Published totals (timm / torchvision model cards, 3 input channels, 1000-way classifier).
B0_TOTAL, B0_CLASSIFIER, B0_STEM_PER_INPUT_CHANNEL = 5_288_548, 1280 * 1000 + 1000, 3 * 3 * 32
RESNET18_TOTAL, RESNET18_FC = 11_689_512, 512 * 1000 + 1000


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def b0() -> TimmEncoder:
    torch.manual_seed(0)
    return create_encoder("efficientnet_b0")


def test_efficientnet_b0_feature_parameters_match_timm_for_one_channel(b0):
    # The published B0 count less its classifier and the two stem input channels we do not have.
    published = B0_TOTAL - B0_CLASSIFIER - 2 * B0_STEM_PER_INPUT_CHANNEL
    assert published == 4_006_972
    assert abs(count(b0) - published) / published < 0.01
    timm_figure = count(timm.create_model("efficientnet_b0", pretrained=False, in_chans=1, num_classes=0))
    assert abs(count(b0) - timm_figure) / timm_figure < 0.01


def test_efficientnet_b0_is_colas_encoder(b0):
    assert b0.in_channels == 1 and b0.embedding_dim == 1280 and b0.pooling == "max"
    b0.eval()
    x = torch.randn(2, 1, 64, 96)  # COLA's 960 ms segment: 64 mel bands x 96 frames
    with torch.no_grad():
        feats = b0.forward_features(x)
        out = b0(x)
    assert feats.shape == (2, 1280, 2, 3)
    torch.testing.assert_close(out, feats.amax(dim=(2, 3)))  # global max pooling


def test_resnet18_is_clars_2d_encoder():
    torch.manual_seed(0)
    enc = create_encoder("resnet18").eval()
    assert enc.in_channels == 3 and enc.embedding_dim == 512 and enc.pooling == "mean"
    assert count(enc) == RESNET18_TOTAL - RESNET18_FC == 11_176_512
    x = torch.randn(1, 3, 128, 63)  # CLAR's stack: 128 bins, 8 ms hop
    with torch.no_grad():
        feats = enc.forward_features(x)
        torch.testing.assert_close(enc(x), feats.mean(dim=(2, 3)))
    assert feats.shape == (1, 512, 4, 2)


def test_in_channels_and_pooling_are_configurable():
    enc = create_encoder("resnet18", in_channels=1, pooling="max").eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(enc(x), enc.forward_features(x).amax(dim=(2, 3)))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"pretrained": True}, "never downloads"),
        ({"pooling": "avg"}, "pooling must be one of"),
        ({"in_channels": 0}, "in_channels"),
    ],
)
def test_rejects_bad_arguments(kwargs, error):
    with pytest.raises(ValueError, match=error):
        create_encoder("resnet18", **kwargs)
