"""The 1-D ResNet-18 on raw audio (CLAR's waveform encoder)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audiocl.models import ResNet1d, create_encoder
from audiocl.models.resnet import BasicBlock1d


def test_resnet18_layout():
    enc = create_encoder("resnet18_1d")
    assert enc.embedding_dim == 512 and enc.in_channels == 1
    assert [len(stage) for stage in enc.stages] == [2, 2, 2, 2]
    assert [stage[0].conv1.out_channels for stage in enc.stages] == [64, 128, 256, 512]
    assert [stage[0].conv1.stride[0] for stage in enc.stages] == [1, 2, 2, 2]
    # 2-D ResNet-18 without fc has 11,176,512 parameters; in 1-D the 3x3 kernels become 3-tap ones.
    assert sum(p.numel() for p in enc.parameters()) == 3_848_576
    assert enc.min_input_size == (80 + 3 * 4,)


def test_frame_rate():
    enc = create_encoder("resnet18_1d").eval()
    with torch.no_grad():
        feats = enc.forward_features(torch.randn(1, 1, 16000))
    assert feats.shape == (1, 512, 125)  # 1 s at 16 kHz: /4 stem, /4 pool, /8 stages


def test_basic_block_matches_its_definition():
    torch.manual_seed(0)
    block = BasicBlock1d(4, 8, stride=2).eval()
    x = torch.randn(2, 4, 11)
    relu = nn.functional.relu
    expected = relu(
        block.bn2(block.conv2(relu(block.bn1(block.conv1(x))))) + block.downsample(x)  # projection shortcut
    )
    torch.testing.assert_close(block(x), expected)
    assert block(x).shape == (2, 8, 6)
    identity = BasicBlock1d(8, 8).eval()
    assert identity.downsample is None
    y = torch.randn(2, 8, 5)
    inner = identity.bn2(identity.conv2(relu(identity.bn1(identity.conv1(y)))))
    torch.testing.assert_close(identity(y), relu(inner + y))  # identity shortcut


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layers": (2, 2), "widths": (64,)}, "same non-zero length"),
        ({"layers": (0,), "widths": (8,)}, "layers"),
        ({"kernel_size": 4}, "odd"),
        ({"stem_stride": 0}, "stem_stride"),
        ({"pooling": "sum"}, "pooling"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet1d(**kwargs)
