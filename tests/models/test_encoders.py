"""Properties every registered encoder must have; a new encoder is tested here once it is in INPUTS."""

from __future__ import annotations

import pytest
import torch

from audiocl.models import create_encoder, global_pool, list_encoders, register_encoder

# A small input per encoder: (channels, *trailing size); SampleCNNs at their minimum (one output frame).
INPUTS = {
    "efficientnet_b0": (1, 32, 48),
    "resnet18": (3, 32, 48),
    "resnet18_1d": (1, 4000),
    "samplecnn": (1, 59049),
    "samplecnn_16k": (1, 15309),
    "samplecnn_8k": (1, 6561),
    "tiny_cnn": (1, 32, 48),
    "tiny_cnn_1d": (1, 4000),
}
NAMES = list_encoders()


def make_input(name: str, batch: int = 2, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *INPUTS[name], generator=g, dtype=dtype)


@pytest.fixture(scope="module")
def encoders() -> dict[str, torch.nn.Module]:
    """One encoder per name, built once (EfficientNet takes a second); tests that change one rebuild it."""
    torch.manual_seed(0)
    return {name: create_encoder(name) for name in NAMES}


def test_every_registered_encoder_has_a_test_input():
    assert sorted(INPUTS) == NAMES


def test_the_contract_names_are_registered():
    expected = {"samplecnn", "samplecnn_16k", "samplecnn_8k", "efficientnet_b0", "resnet18", "resnet18_1d"}
    assert expected | {"tiny_cnn", "tiny_cnn_1d"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_attributes_match_the_input_kind(name, encoders):
    enc = encoders[name]
    channels, *size = INPUTS[name]
    assert enc.in_channels == channels
    assert isinstance(enc.embedding_dim, int) and enc.embedding_dim > 0
    assert len(enc.min_input_size) == len(size)


@pytest.mark.parametrize("name", NAMES)
def test_forward_shape_finite_and_pooled_features(name, encoders):
    enc = encoders[name].train()
    x = make_input(name)
    with torch.no_grad():
        feats = enc.forward_features(x)
        out = enc(x)
    assert out.shape == (2, enc.embedding_dim)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert feats.ndim == x.ndim and feats.shape[:2] == (2, enc.embedding_dim)
    # forward is global pooling of forward_features (train-mode BN: same batch, same statistics)
    torch.testing.assert_close(out, global_pool(feats, enc.pooling))


@pytest.mark.parametrize("name", NAMES)
def test_batch_consistency_in_eval_mode(name, encoders):
    enc = encoders[name].eval()
    x = make_input(name, batch=2)
    with torch.no_grad():
        batched = enc(x)
        one_by_one = torch.cat([enc(x[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(batched, one_by_one, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_float64_follows_the_input_and_matches_float32(name, encoders):
    enc = encoders[name].eval()
    x = make_input(name, batch=1)
    with torch.no_grad():
        out32 = enc(x)
        out64 = enc.double()(x.double())
    enc.float()
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), out32, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_backward_reaches_every_parameter(name, encoders):
    enc = encoders[name].train()
    enc.zero_grad(set_to_none=True)
    enc(make_input(name)).square().mean().backward()
    for pname, p in enc.named_parameters():
        assert p.grad is not None, f"{name}: no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient for {pname}"
    enc.zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", NAMES)
def test_works_at_the_documented_minimum_size(name, encoders):
    enc = encoders[name].eval()
    x = torch.randn(1, enc.in_channels, *enc.min_input_size)
    with torch.no_grad():
        out = enc(x)
    assert out.shape == (1, enc.embedding_dim)


@pytest.mark.parametrize("name", [n for n in NAMES if len(INPUTS[n]) == 2])
def test_1d_encoders_reject_inputs_below_the_minimum_with_a_clear_error(name, encoders):
    enc = encoders[name].eval()
    x = torch.randn(1, enc.in_channels, enc.min_input_size[0] - 1)
    with pytest.raises(ValueError, match=f"at least {enc.min_input_size[0]} samples"):
        enc(x)


@pytest.mark.parametrize("name", [n for n in NAMES if len(INPUTS[n]) == 2])
def test_1d_encoders_accept_longer_inputs(name, encoders):
    enc = encoders[name].eval()
    length = 2 * INPUTS[name][1] + 7  # not a multiple of any stride
    with torch.no_grad():
        out = enc(torch.randn(1, enc.in_channels, length))
    assert out.shape == (1, enc.embedding_dim)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_gives_identical_embeddings(name, encoders):
    enc = encoders[name].eval()
    torch.manual_seed(123)
    fresh = create_encoder(name).eval()
    fresh.load_state_dict(enc.state_dict())
    x = make_input(name, batch=1)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), enc(x), rtol=0, atol=0)


def test_unknown_name_lists_the_available_encoders():
    with pytest.raises(ValueError, match="unknown encoder 'samplecnnn'.*samplecnn"):
        create_encoder("samplecnnn")


def test_registering_a_different_builder_under_a_taken_name_fails():
    def samplecnn(**kwargs):  # same name as the real builder
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="already registered"):
        register_encoder(samplecnn)
    assert create_encoder("samplecnn").embedding_dim == 512


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_follows_the_input_to_cuda(name):
    enc = create_encoder(name).eval().cuda()
    x = make_input(name).cuda()
    with torch.no_grad():
        out = enc(x)
    assert out.device == x.device
    torch.testing.assert_close(out.cpu(), enc.cpu()(x.cpu()), rtol=1e-3, atol=1e-3)
