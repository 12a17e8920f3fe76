"""The NAS-Bench-201 network in Flax: the benchmark's ``TinyNetwork``, layer for layer.

Follows D-X-Y/AutoDL-Projects ``lib/models/cell_infers/tiny_network.py`` (``TinyNetwork``) and ``cells.py``
(``InferCell``), Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search",
ICLR 2020:

* stem: 3x3 conv (no bias) -> BN with ``channels`` (16) channels;
* 3 stages of ``cells_per_stage`` (N = 5) cells at ``channels``, 2x and 4x; between stages a stride-2
  ``ResNetBasicblock`` doubles the width and halves the resolution;
* BN -> ReLU, global average pool, a linear classifier.

In a cell, node 0 is the cell input and node i (1..3) sums ``op(node j)`` over its edges j -> i
(:data:`nasi_nal.spaces.nb201.EDGES`); node 3 is the output. ``none`` is the zero op, as in the benchmark.

Parameter check (``tests/test_networks_nb201.py``): for CIFAR-10 the official API's "params" field ranges from
0.073306 M (every edge parameter-free, e.g. all ``skip_connect``) to 1.531546 M (all ``nor_conv_3x3``); this network
has exactly 73,306 and 1,531,546 trainable parameters (BN scale and offset counted, running statistics not, as
PyTorch's ``parameters()``). CIFAR-100 (100 classes) adds 5,850, matching the published 0.079156 M minimum.

The classifier returns float32 logits whatever ``dtype`` the network computes in.
"""
from __future__ import annotations

from typing import Any, Callable, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasi_nal.errors import InvalidCellError
from nasi_nal.networks.common import ReLU
from nasi_nal.networks.ops import ResNetBasicblock, batch_norm_layer, nb201_op
from nasi_nal.spaces import nb201 as space

Dtype = Any


def as_arch(arch: Union[str, space.Arch]) -> space.Arch:
    """A NAS-Bench-201 :class:`~nasi_nal.spaces.nb201.Arch` from an Arch or an official arch string."""
    if isinstance(arch, space.Arch):
        return arch
    if isinstance(arch, str):
        return space.parse(arch)
    raise InvalidCellError(
        f"NB201Network needs a nasi_nal.spaces.nb201.Arch or an arch string like '|nor_conv_3x3~0|+|...|', got "
        f"{type(arch).__name__}")


class NB201Cell(nn.Module):
    """One NAS-Bench-201 cell (AutoDL-Projects ``InferCell`` at stride 1): node i sums its edges' ops."""

    arch: space.Arch
    features: int
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        nodes = [x]
        for to_node in range(1, space.NUM_NODES):
            total = None
            for (to, source), op in zip(space.EDGES, self.arch.ops):
                if to != to_node:
                    continue
                y = nb201_op(op, self.features, dtype=self.dtype, batch_norm=self.batch_norm,
                             name=f"edge_{source}_{to}")(nodes[source], train)
                total = y if total is None else total + y
            nodes.append(total)
        return nodes[-1]


class NB201Network(nn.Module):
    """The NAS-Bench-201 network (``TinyNetwork``) for one cell; ``__call__(x, train) -> logits``.

    Attributes:
        arch: the cell, an :class:`~nasi_nal.spaces.nb201.Arch` or an official arch string.
        channels: stem / first-stage width C (16 in the benchmark).
        cells_per_stage: cells N per stage (5 in the benchmark).
        num_classes: 10 for CIFAR-10, 100 for CIFAR-100, 120 for ImageNet16-120.
        dtype: computation dtype (float32 or bfloat16); parameters are float32.
        batch_norm: False drops every BN layer.

    ``train=True`` normalises with batch statistics and updates ``batch_stats`` (pass ``mutable=["batch_stats"]``).

    Example:
        >>> net = NB201Network("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
        ...                    "skip_connect~2|", channels=8, cells_per_stage=1)
        >>> x = jnp.zeros((2, 32, 32, 3))
        >>> variables = net.init(jax.random.PRNGKey(0), x)
        >>> logits, updates = net.apply(variables, x, train=True, mutable=["batch_stats"])
        >>> logits.shape
        (2, 10)
    """

    arch: Union[str, space.Arch]
    channels: int = 16
    cells_per_stage: int = 5
    num_classes: int = 10
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    def __post_init__(self) -> None:
        # Fail at construction, not deep inside init; store the (hashable) Arch.
        object.__setattr__(self, "arch", as_arch(self.arch))
        for name in ("channels", "cells_per_stage", "num_classes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"NB201Network.{name} must be a positive integer, got {getattr(self, name)!r}")
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        kw = dict(dtype=self.dtype, batch_norm=self.batch_norm)
        return tiny_network(self, x, train, lambda features, name: NB201Cell(self.arch, features, name=name, **kw))


def tiny_network(module: nn.Module, x: jax.Array, train: bool, cell: Callable[[int, str], Callable]) -> jax.Array:
    """The ``TinyNetwork`` skeleton around ``cell(features, name)(x, train)``: stem, 3 stages, head; logits.

    ``module`` (an :class:`NB201Network` or the NASI search supernet) gives ``channels``, ``cells_per_stage``,
    ``num_classes``, ``dtype`` and ``batch_norm``. Called from its compact ``__call__``, so every layer becomes its
    submodule under the benchmark's names.
    """
    kw = dict(dtype=module.dtype, batch_norm=module.batch_norm)
    x = stem(module, x, train)
    for stage in range(3):
        features = module.channels * 2 ** stage
        if stage > 0:
            x = ResNetBasicblock(features, name=f"reduction_{stage}", **kw)(x, train)
        for i in range(module.cells_per_stage):
            x = cell(features, f"stage{stage}_cell{i}")(x, train)
    return head(module, x, train)


def stem(module: nn.Module, x: jax.Array, train: bool) -> jax.Array:
    """3x3 conv -> BN to ``module.channels`` (layers ``stem_conv``, ``stem_bn``), inside a compact method."""
    x = nn.Conv(module.channels, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, dtype=module.dtype,
                name="stem_conv")(x)
    return batch_norm_layer(x, train, enabled=module.batch_norm, dtype=module.dtype, name="stem_bn")


def head(module: nn.Module, x: jax.Array, train: bool) -> jax.Array:
    """BN -> ReLU -> global average pool -> linear (``last_bn``, ``classifier``); float32 logits."""
    x = batch_norm_layer(x, train, enabled=module.batch_norm, dtype=module.dtype, name="last_bn")
    x = ReLU()(x)
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dense(module.num_classes, dtype=module.dtype, name="classifier")(x)
    return jnp.asarray(x, jnp.float32)


class NB201Stem(nn.Module):
    """The network's stem alone, its variables under the network's names (for blockwise scoring)."""

    channels: int = 16
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return stem(self, x, train)


class NB201Head(nn.Module):
    """The network's head alone, its variables under the network's names (for blockwise scoring)."""

    num_classes: int = 10
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return head(self, x, train)
