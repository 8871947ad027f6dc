"""cached_step: gradients equal one backward over the whole batch, randomness replayed (DDP: tests/losses)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audiocl import gradcache
from audiocl.gradcache import average_gradients, cached_step
from audiocl.losses import BilinearLoss, nt_xent

B, V, IN_DIM, DIM = 12, 2, 10, 8


def encoder() -> nn.Module:
    torch.manual_seed(0)  # dropout, no BatchNorm: randomness that must be replayed exactly
    return nn.Sequential(nn.Linear(IN_DIM, 32), nn.GELU(), nn.Dropout(0.3), nn.Linear(32, DIM))


def batch() -> torch.Tensor:
    return torch.randn(B, V, IN_DIM, generator=torch.Generator().manual_seed(1))  # (clips, views, features)


def loss_fn(z: torch.Tensor) -> torch.Tensor:
    return nt_xent(z.transpose(0, 1), 0.2)  # (B, V, D) -> (V, B, D)


def full_batch(model, x, chunk_size, loss=loss_fn):
    """The reference: one graph over the whole batch (same chunked calls, so the same dropout masks)."""
    torch.manual_seed(5)
    z = torch.cat([model(c) for c in x.split(chunk_size)])
    value = loss(z)
    value.backward()
    return value.detach(), torch.rand(1)


def grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("chunk_size", [1, 5, 12])
def test_gradients_equal_full_batch_with_dropout(chunk_size):
    ref_model, model, x = encoder(), encoder(), batch()
    ref_loss, ref_next = full_batch(ref_model, x, chunk_size)
    torch.manual_seed(5)
    loss = cached_step(model, x, loss_fn, chunk_size)
    assert torch.rand(1).item() == ref_next.item()  # the global RNG advanced as after one pass
    torch.testing.assert_close(loss, ref_loss, rtol=0, atol=1e-6)
    for g, ref in zip(grads(model), grads(ref_model), strict=True):
        torch.testing.assert_close(g, ref, rtol=0, atol=1e-5)


def test_without_restoring_the_rng_gradients_differ(monkeypatch):
    # The control that shows the replay matters: dropout masks drawn afresh give other gradients.
    ref_model, model, x = encoder(), encoder(), batch()
    full_batch(ref_model, x, 4)
    monkeypatch.setattr(gradcache, "_set_rng", lambda state, generators: None)
    torch.manual_seed(5)
    cached_step(model, x, loss_fn, 4)
    assert not torch.allclose(grads(model)[0], grads(ref_model)[0], atol=1e-3)


def test_explicit_generators_are_replayed():
    g = torch.Generator().manual_seed(7)

    def noisy(model):
        return lambda c: model(c + torch.randn(c.shape, generator=g))  # an augmentation with its own generator

    ref_model, model, x = encoder(), encoder(), batch()
    full_batch(noisy(ref_model), x, 4)
    g.manual_seed(7)
    torch.manual_seed(5)
    cached_step(noisy(model), x, loss_fn, 4, generators=[g])
    for a, b in zip(grads(model), grads(ref_model), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_loss_parameters_and_custom_backward():
    # COLA's W lives in the loss: it gets its gradient from the loss backward, here with a loss scale of 8.
    ref_model, model, x = encoder(), encoder(), batch()
    torch.manual_seed(3)
    ref_head, head = BilinearLoss(DIM), BilinearLoss(DIM)
    head.load_state_dict(ref_head.state_dict())
    full_batch(ref_model, x, 4, lambda z: 8 * ref_head(z.transpose(0, 1)))
    torch.manual_seed(5)
    cached_step(model, x, lambda z: head(z.transpose(0, 1)), 4, backward=lambda t: (8 * t).backward())
    torch.testing.assert_close(head.weight.grad, ref_head.weight.grad, rtol=0, atol=1e-5)
    for a, b in zip(grads(model), grads(ref_model), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_average_gradients_is_a_no_op_in_one_process():
    model = encoder()
    cached_step(model, batch(), loss_fn, 5)
    before = grads(model)
    average_gradients(model.parameters())
    for a, b in zip(grads(model), before, strict=True):
        assert torch.equal(a, b)


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError, match="chunk_size"):
        cached_step(encoder(), batch(), loss_fn, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_rng_is_replayed():
    ref_model, model, x = encoder().cuda(), encoder().cuda(), batch().cuda()
    full_batch(ref_model, x, 4)
    torch.manual_seed(5)
    cached_step(model, x, loss_fn, 4)
    for a, b in zip(grads(model), grads(ref_model), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
