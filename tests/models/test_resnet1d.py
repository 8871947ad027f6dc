"""The 1-D ResNet-18 on raw audio (CLAR's waveform encoder)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audiocl.models import ResNet1d, create_encoder
from audiocl.models.resnet import BasicBlock1d


def _clar_resnet18_1d() -> nn.Module:
    """CLAR's models.resnet18_1D, transcribed from its code: torchvision's ResNet in 1-D, 9-tap convolutions."""

    def conv9(c_in, c_out, stride=1):
        return nn.Conv1d(c_in, c_out, kernel_size=9, stride=stride, padding=4, bias=False)

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1, self.bn1 = conv9(c_in, c_out, stride), nn.BatchNorm1d(c_out)
            self.conv2, self.bn2 = conv9(c_out, c_out), nn.BatchNorm1d(c_out)
            self.down = None
            if stride != 1 or c_in != c_out:
                self.down = nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out))

        def forward(self, x):
            out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(out + (x if self.down is None else self.down(x)))

    layers = [nn.Conv1d(1, 64, kernel_size=7, stride=2, padding=3, bias=False), nn.BatchNorm1d(64), nn.ReLU(),
              nn.MaxPool1d(kernel_size=9, stride=2, padding=1)]  # fmt: skip
    c_in = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(c_in, width, stride), Block(width, width, 1)]
        c_in = width
    return nn.Sequential(*layers)


def test_resnet18_1d_is_clars_encoder():
    """resnet18_1d is CLAR's models.resnet18_1D: the same layers, parameter count and output length."""
    enc = create_encoder("resnet18_1d").eval()
    ref = _clar_resnet18_1d().eval()
    assert enc.embedding_dim == 512 and enc.in_channels == 1
    assert [len(stage) for stage in enc.stages] == [2, 2, 2, 2]
    assert [stage[0].conv1.stride[0] for stage in enc.stages] == [1, 2, 2, 2]
    assert sum(p.numel() for p in enc.parameters()) == sum(p.numel() for p in ref.parameters())
    convs = [(m.kernel_size, m.stride, m.padding) for m in enc.modules() if isinstance(m, nn.Conv1d)]
    assert convs == [(m.kernel_size, m.stride, m.padding) for m in ref.modules() if isinstance(m, nn.Conv1d)]
    ours_pool = next(m for m in enc.modules() if isinstance(m, nn.MaxPool1d))
    ref_pool = next(m for m in ref.modules() if isinstance(m, nn.MaxPool1d))
    assert (ours_pool.kernel_size, ours_pool.stride, ours_pool.padding) == (9, 2, 1) == (
        ref_pool.kernel_size, ref_pool.stride, ref_pool.padding,
    )  # fmt: skip
    # With the same weights, the same features.
    ours_params = [p for p in enc.parameters()]
    for mine, theirs in zip(ours_params, ref.parameters(), strict=True):
        mine.data.copy_(torch.randn_like(theirs) * 0.05)
        theirs.data.copy_(mine.data)
    x = torch.randn(2, 1, 16000)
    with torch.no_grad():
        feats = enc.forward_features(x)
        torch.testing.assert_close(feats, ref(x), rtol=1e-4, atol=1e-4)
    assert feats.shape == (2, 512, 500)  # 1 s at 16 kHz
    with torch.no_grad():
        enc(torch.randn(1, 1, enc.min_input_size[0]))


def test_dai_defaults_of_resnet1d():
    enc = ResNet1d().eval()
    assert sum(p.numel() for p in enc.parameters()) == 3_848_576
    assert enc.min_input_size == (80 + 3 * 4,)
    with torch.no_grad():
        assert enc.forward_features(torch.randn(1, 1, 16000)).shape == (1, 512, 125)


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
        ({"stem_pool": 3, "pool_padding": 2}, "pool_padding"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet1d(**kwargs)
