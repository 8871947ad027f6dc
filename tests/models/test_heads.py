"""Projection heads: the papers' layouts, against hand-written functional forms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from audiocl.models import HEAD_PRESETS, ProjectionHead, create_head


def layer_types(head: ProjectionHead) -> list[type]:
    return [type(m) for m in head.mlp]


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_default_is_linear_batchnorm_relu_linear():
    head = ProjectionHead(512)
    assert layer_types(head) == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert (head.mlp[0].in_features, head.mlp[0].out_features, head.mlp[3].out_features) == (512, 512, 128)


def test_cola_head_is_linear_layernorm_tanh():
    torch.manual_seed(0)
    head = ProjectionHead(1280, hidden_dims=(), out_dim=512, final_norm="layer", final_activation="tanh")
    assert layer_types(head) == [nn.Linear, nn.LayerNorm, nn.Tanh]
    assert count(head) == 1280 * 512 + 512 + 2 * 512
    lin, ln = head.mlp[0], head.mlp[1]
    nn.init.normal_(ln.weight)  # non-trivial affine, so the reference really checks it
    nn.init.normal_(ln.bias)
    h = torch.randn(4, 1280)
    expected = torch.tanh(F.layer_norm(h @ lin.weight.T + lin.bias, (512,), ln.weight, ln.bias, eps=ln.eps))
    torch.testing.assert_close(head(h), expected)
    assert head(h).abs().max() < 1
    preset = create_head(1280, preset="cola")
    assert layer_types(preset) == layer_types(head) and count(preset) == count(head)


def test_clmr_head_is_simclrs_bias_free_mlp():
    torch.manual_seed(0)
    head = create_head(512, preset="clmr")
    assert layer_types(head) == [nn.Linear, nn.ReLU, nn.Linear]
    assert count(head) == 512 * 512 + 512 * 64  # no biases, no normalisation; CLMR's projection_dim 64
    w1, w2 = head.mlp[0].weight, head.mlp[2].weight
    h = torch.randn(3, 512)
    torch.testing.assert_close(head(h), F.relu(h @ w1.T) @ w2.T)


def test_clar_head_is_three_fc_layers_with_relu_to_128():
    head = create_head(512, preset="clar")
    assert layer_types(head) == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [m.out_features for m in head.mlp if isinstance(m, nn.Linear)] == [256, 256, 128]
    assert head(torch.randn(2, 512)).shape == (2, 128)


def test_batchnorm_hidden_layer_matches_the_functional_form():
    torch.manual_seed(0)
    head = ProjectionHead(16, hidden_dims=(8,), out_dim=4, norm="batch", activation="gelu").train()
    lin1, bn, _, lin2 = head.mlp
    h = torch.randn(10, 16)
    a = h @ lin1.weight.T + lin1.bias
    normed = (a - a.mean(0)) / torch.sqrt(a.var(0, unbiased=False) + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(head(h), F.gelu(normed) @ lin2.weight.T + lin2.bias)


def test_preset_values_can_be_overridden():
    head = create_head(512, preset="clar", out_dim=64, norm="layer")
    assert head.out_dim == 64
    assert layer_types(head).count(nn.LayerNorm) == 2
    assert HEAD_PRESETS["clar"]["out_dim"] == 128  # the preset itself is untouched


def test_float64_and_backward():
    head = create_head(32, hidden_dims=(16, 16), out_dim=8).double()
    h = torch.randn(5, 32, dtype=torch.float64, requires_grad=True)
    out = head(h)
    assert out.dtype == torch.float64
    out.sum().backward()
    assert all(p.grad is not None for p in head.parameters()) and h.grad is not None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"norm": "group"}, "norm must be one of"),
        ({"final_norm": "batchnorm"}, "final_norm must be one of"),
        ({"activation": "leaky"}, "activation must be one of"),
        ({"final_activation": "softmax"}, "final_activation must be one of"),
        ({"hidden_dims": 512}, "sequence of ints"),
        ({"hidden_dims": (512, 0)}, "hidden_dims"),
        ({"out_dim": 0}, "out_dim"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ProjectionHead(512, **kwargs)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ValueError, match="unknown head preset 'byol'.*clar, clmr, cola"):
        create_head(512, preset="byol")
