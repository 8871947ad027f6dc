"""Projection heads: the MLP between the embedding ``h`` and the loss input ``z``.

The embedding for downstream use is the encoder output, before the head (SimCLR, Chen et al. 2020).
The papers' heads, as ``HEAD_PRESETS`` (``create_head(in_dim, preset=...)``):

- ``"clmr"``: SimCLR's head as CLMR uses it (Spijkervet/SimCLR ``simclr.py``, the ``projector``):
  Linear(512, 512, no bias) - ReLU - Linear(512, 64, no bias), no normalisation (``projection_dim: 64`` in
  CLMR's ``config/config.yaml``, as ``recipes/clmr_magnatagatune.yaml``).
- ``"cola"``: COLA (Saeed et al. 2021, Sec. 2): one 512-unit linear layer, then LayerNorm, then tanh.
- ``"clar"``: CLAR (Al-Tahan & Mohsenzadeh 2021): three fully connected layers with ReLU, 512 -> 128.
  The paper does not state the hidden widths; 256, 256 follows the public re-implementation
  github.com/HondamunigePrasannaSilva/CLAR (``net.py``).

A classifier head (CLAR's semi-supervised mode, linear probes) is a plain ``nn.Linear``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import check_choice, check_positive_int

NORMS = ("batch", "layer", "none")
ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "none")

HEAD_PRESETS: dict[str, dict] = {
    "clmr": {"hidden_dims": (512,), "out_dim": 64, "norm": "none", "bias": False},
    "cola": {"hidden_dims": (), "out_dim": 512, "final_norm": "layer", "final_activation": "tanh"},
    "clar": {"hidden_dims": (256, 256), "out_dim": 128, "norm": "none"},
}


def _norm(kind: str, dim: int) -> nn.Module:
    return {"batch": lambda: nn.BatchNorm1d(dim), "layer": lambda: nn.LayerNorm(dim), "none": nn.Identity}[kind]()


def _activation(kind: str) -> nn.Module:
    return {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh, "none": nn.Identity}[kind]()


class ProjectionHead(nn.Module):
    """An MLP: ``[Linear - norm - activation] * len(hidden_dims)``, then ``Linear - final_norm -
    final_activation``.

    Args:
        in_dim: embedding size of the encoder.
        hidden_dims: widths of the hidden layers; ``()`` gives a single linear layer.
        out_dim: size of ``z``, the loss input.
        norm: ``"batch"``, ``"layer"`` or ``"none"`` after each hidden linear layer.
        activation: ``"relu"``, ``"gelu"``, ``"silu"``, ``"tanh"`` or ``"none"`` after each hidden norm.
        final_norm, final_activation: the same choices, after the output layer.
        bias: whether the linear layers have a bias (SimCLR's head has none).

    Shape:
        h: ``(B, in_dim)``; returns ``(B, out_dim)``.

    >>> head = ProjectionHead(1280, hidden_dims=(), out_dim=512, final_norm="layer", final_activation="tanh")
    >>> head(torch.randn(4, 1280)).shape
    torch.Size([4, 512])
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int] = (512,),
        out_dim: int = 128,
        norm: str = "batch",
        activation: str = "relu",
        final_norm: str = "none",
        final_activation: str = "none",
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int("in_dim", in_dim)
        check_positive_int("out_dim", out_dim)
        if isinstance(hidden_dims, (int, str)):
            raise ValueError(f"hidden_dims must be a sequence of ints such as (512,), got {hidden_dims!r}")
        hidden_dims = tuple(hidden_dims)
        for d in hidden_dims:
            check_positive_int("every entry of hidden_dims", d)
        check_choice("norm", norm, NORMS)
        check_choice("final_norm", final_norm, NORMS)
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("final_activation", final_activation, ACTIVATIONS)

        layers: list[nn.Module] = []
        dims = (in_dim, *hidden_dims)
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Linear(d_in, d_out, bias=bias), _norm(norm, d_out), _activation(activation)]
        layers += [nn.Linear(dims[-1], out_dim, bias=bias), _norm(final_norm, out_dim)]
        layers.append(_activation(final_activation))
        # Identity placeholders keep the layer list readable; drop them so printing shows only real layers.
        self.mlp = nn.Sequential(*[m for m in layers if not isinstance(m, nn.Identity)])
        self.in_dim = in_dim
        self.out_dim = out_dim

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Shape: ``(B, in_dim) -> (B, out_dim)``."""
        return self.mlp(h)


def create_head(in_dim: int, preset: str | None = None, **kwargs) -> ProjectionHead:
    """Build a :class:`ProjectionHead`; ``preset`` ("clmr", "cola", "clar") fills in a paper's head and
    ``kwargs`` override single values of it.

    >>> create_head(1280, preset="cola")(torch.randn(2, 1280)).shape
    torch.Size([2, 512])
    """
    if preset is not None:
        if preset not in HEAD_PRESETS:
            raise ValueError(f"unknown head preset {preset!r}; available: {', '.join(sorted(HEAD_PRESETS))}")
        kwargs = {**HEAD_PRESETS[preset], **kwargs}
    return ProjectionHead(in_dim, **kwargs)
