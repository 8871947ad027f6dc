"""nt_xent: exactness against pytorch-metric-learning and analytic values, gradients, precision, memory."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest
import torch
from pytorch_metric_learning.losses import NTXentLoss, SelfSupervisedLoss, SupConLoss

from audiocl.losses import NTXent, _core, nt_xent


def reference_per_anchor(z: torch.Tensor, temperature: float, similarity: str = "cosine") -> torch.Tensor:
    """Slow float64 multi-positive NT-Xent, anchor by anchor: (V*B,) losses."""
    V, B, D = z.shape
    x = z.double().reshape(V * B, D)
    if similarity == "cosine":
        x = x / x.norm(dim=1, keepdim=True)
    clip = torch.arange(B).repeat(V)
    losses = []
    for i in range(V * B):
        logits = x @ x[i] / temperature
        others = torch.arange(V * B) != i
        log_den = torch.logsumexp(logits[others], 0)
        positives = others & (clip == clip[i])
        losses.append((log_den - logits[positives]).mean())
    return torch.stack(losses)


def two_views(batch: int = 12, dim: int = 16, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(batch, dim, generator=g, dtype=dtype)
    return torch.stack([z1, z1 + 0.5 * torch.randn(batch, dim, generator=g, dtype=dtype)])


# exactness -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
def test_two_views_equal_pytorch_metric_learning(temperature):
    z = two_views()
    peer = SelfSupervisedLoss(NTXentLoss(temperature=temperature))(z[0], z[1])
    assert nt_xent(z, temperature).item() == pytest.approx(peer.item(), abs=1e-6)


def test_many_views_equal_supcon_with_clip_labels():
    # Multi-positive NT-Xent is SupCon's L_out with one class per clip.
    g = torch.Generator().manual_seed(1)
    z = torch.randn(4, 6, 8, generator=g, dtype=torch.float64)
    peer = SupConLoss(temperature=0.2)(z.reshape(24, 8), torch.arange(6).repeat(4))
    assert nt_xent(z, 0.2).item() == pytest.approx(peer.item(), abs=1e-6)


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
@pytest.mark.parametrize("views", [2, 3])
def test_equals_slow_reference(similarity, views):
    g = torch.Generator().manual_seed(2)
    z = 0.3 * torch.randn(views, 5, 7, generator=g, dtype=torch.float64)
    expected = reference_per_anchor(z, 0.3, similarity).mean()
    assert nt_xent(z, 0.3, similarity=similarity).item() == pytest.approx(expected.item(), abs=1e-10)


@pytest.mark.parametrize("views", [2, 3])
@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_identical_embeddings_give_log_n_minus_one(views, similarity):
    # Every similarity equal: the softmax is uniform over the N - 1 candidates, loss = -log(1 / (N - 1)),
    # -log(1 / (2n - 1)) for two views of n clips.
    z = torch.ones(views, 5, 4, dtype=torch.float64)
    assert nt_xent(z, 0.5, similarity=similarity).item() == pytest.approx(math.log(views * 5 - 1), abs=1e-12)


def test_orthonormal_clips_analytic():
    # Identical views, clips on orthonormal axes: s_pos = 1/t, the 2B - 2 negatives 0.
    B, t = 6, 0.2
    z = torch.eye(B, dtype=torch.float64).expand(2, B, B)
    expected = math.log(1 + (2 * B - 2) * math.exp(-1 / t))
    assert nt_xent(z, t).item() == pytest.approx(expected, abs=1e-12)


def test_list_of_views_equals_stacked_tensor():
    z = two_views(dtype=torch.float32)
    assert torch.equal(nt_xent([z[0], z[1]], 0.5), nt_xent(z, 0.5))


def test_blocked_computation_equals_one_block(monkeypatch):
    # Big batches are computed in row blocks, forward and backward; tiny blocks must give the same numbers.
    z = two_views(batch=10).requires_grad_()
    loss = nt_xent(z, 0.1)
    (grad,) = torch.autograd.grad(loss, z)
    monkeypatch.setattr(_core, "_BLOCK_ELEMENTS", 7)  # one row per block
    z2 = z.detach().clone().requires_grad_()
    loss2 = nt_xent(z2, 0.1)
    (grad2,) = torch.autograd.grad(loss2, z2)
    torch.testing.assert_close(loss2, loss, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad2, grad, rtol=0, atol=1e-12)


# gradients -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
@pytest.mark.parametrize("views", [2, 3])
def test_gradcheck(similarity, views):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(views, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: nt_xent(x, 0.3, similarity=similarity), (z,))


# precision -------------------------------------------------------------------------------------------------


def hard_batch(batch: int = 64, dim: int = 32) -> torch.Tensor:
    """Two views where a quarter of the clips have opposite views: their pair loss exceeds 10 at t = 0.07."""
    z = two_views(batch, dim, seed=4, dtype=torch.float64)
    z[1, : batch // 4] = -z[0, : batch // 4] + 0.1 * z[1, : batch // 4]
    return z


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_within_one_percent(dtype):
    z = hard_batch()
    assert reference_per_anchor(z, 0.07).max() > 10  # the regime where float16 log-softmaxes saturate
    exact = nt_xent(z, 0.07).item()
    half = z.to(dtype).requires_grad_()
    loss = nt_xent(half, 0.07)
    loss.backward()
    assert loss.dtype == torch.float32 and half.grad.dtype == dtype and half.grad.isfinite().all()
    assert loss.item() == pytest.approx(exact, rel=0.01)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_is_turned_off_inside(dtype):
    # Under autocast the loss math must stay float32: same value as without autocast.
    z = hard_batch().float()
    with torch.autocast("cpu", dtype=dtype):
        inside = nt_xent(z, 0.07)
    assert inside.dtype == torch.float32
    assert inside.item() == pytest.approx(nt_xent(z, 0.07).item(), rel=1e-6)


def test_autocast_encoder_within_one_percent():
    z = hard_batch()
    encoder = torch.nn.Linear(32, 32, dtype=torch.float64)
    exact = nt_xent(encoder(z), 0.07).item()
    encoder.float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = nt_xent(encoder(z.float()), 0.07)
    assert loss.item() == pytest.approx(exact, rel=0.01)


# memory ----------------------------------------------------------------------------------------------------


MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, torch
    from audiocl.losses import nt_xent
    torch.manual_seed(0)
    z = torch.randn(2, 4096, 128, requires_grad=True)
    nt_xent(z[:, :8], 0.5).backward()   # warm up kernels and allocator outside the measurement
    z.grad = None
    with open("/proc/self/statm") as f:
        rss_before = int(f.read().split()[1]) * resource.getpagesize()
    nt_xent(z, 0.5).backward()
    # This process's own peak (VmHWM). Not ru_maxrss: Linux carries the parent's peak into a spawned child's
    # ru_maxrss, so under a large pytest process it measured pytest.
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    print(peak - rss_before)
    """
)


@pytest.mark.slow
def test_memory_b4096_under_1_5_gb():
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, check=True)
    growth = int(out.stdout.split()[-1])
    assert growth <= 1.5e9, f"peak RSS grew by {growth / 1e9:.2f} GB"


# module and validation -------------------------------------------------------------------------------------


def test_module_matches_function_and_ignores_labels():
    z = two_views(dtype=torch.float32)
    module = NTXent(temperature=0.2, similarity="dot")
    assert torch.equal(module(z, labels=torch.zeros(12)), nt_xent(z, 0.2, similarity="dot"))


@pytest.mark.parametrize(
    "call",
    [
        lambda: nt_xent(torch.randn(1, 4, 8)),
        lambda: nt_xent(torch.randn(4, 8)),
        lambda: nt_xent([torch.randn(4, 8), torch.randn(3, 8)]),
        lambda: nt_xent(torch.randn(2, 4, 8), temperature=0.0),
        lambda: NTXent(similarity="euclidean"),
        lambda: NTXent(temperature=-1.0),
    ],
)
def test_invalid_arguments_raise(call):
    with pytest.raises(ValueError):
        call()
