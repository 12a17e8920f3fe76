"""NASI's supernets in Flax (NHWC): every edge mixes all candidate ops with weights read from the ``arch`` collection.

NASI (Shu et al., "NASI: Label- and Data-agnostic Neural Architecture Search at Initialization", ICLR 2022,
Sec. 4.3) relaxes the choice of one op per edge into a supernet whose edge ``e`` outputs
``sum_k w[e, k] * op_k(x)``. The search (:mod:`nasi_nal.nasi.search`) feeds hard straight-through Gumbel-softmax
samples as ``w`` (one-hot forward, soft gradient), so each forward pass is one discrete architecture whose NTK-trace
estimate is differentiable w.r.t. the architecture logits.

The mixing weights are not parameters: they live in the variable collection :data:`ARCH` (``"arch"``), so the
network keeps the package's ``__call__(x, train)`` interface and every score of :mod:`nasi_nal.scores` (which
differentiates only ``params`` and holds the other collections fixed) can evaluate the supernet at a fixed one-hot
cell. ``init`` fills the collection with the uniform mixture (DARTS' continuous relaxation at ``alpha = 0``); pass
the weights to use at ``apply`` time as ``{"params": ..., "batch_stats": ..., "arch": {...}}``.

With one-hot weights the supernet computes exactly the chosen cell's network with the supernet's weights: the
unchosen ops are multiplied by 0, so their parameters get zero gradient and add nothing to the trace.

Skeletons:

* :class:`NB201SuperNet`: the NAS-Bench-201 ``TinyNetwork`` (as :class:`nasi_nal.networks.nb201.NB201Network`), one
  (6 edges x 5 ops) weight matrix ``arch/cell`` shared by every cell, as in AutoDL-Projects'
  ``TinyNetworkGDAS`` / ``NAS201SearchCell`` (``lib/models/cell_searchs/``).
* :class:`DartsSuperNet`: DARTS' search network (quark0/darts ``cnn/model_search.py``, ``Network`` and ``MixedOp``):
  3C stem, ``layers`` cells with reductions at ``layers // 3`` and ``2 * layers // 3``, 4 intermediate nodes each
  summing a mixed op over every earlier state (14 edges), non-affine BN in the cells and after pools, weights
  ``arch/normal`` and ``arch/reduce`` (14 x 8, ops in :data:`nasi_nal.spaces.darts.PRIMITIVES` order).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasi_nal.networks.darts import preprocess
from nasi_nal.networks.nb201 import tiny_network
from nasi_nal.networks.ops import batch_norm_layer, darts_op, nb201_op
from nasi_nal.spaces import darts as darts_space
from nasi_nal.spaces import nb201 as nb201_space

Dtype = Any

#: The variable collection that holds the mixing weights of every edge.
ARCH = "arch"
#: DARTS' 14 edges: intermediate node i (0..3) reads states 0..i+1, listed node by node (``model_search.Cell``).
DARTS_EDGES: tuple[tuple[int, int], ...] = tuple(
    (node, source) for node in range(darts_space.NUM_INTERMEDIATE) for source in range(node + darts_space.NUM_INPUTS)
)


def _uniform(shape: Sequence[int]) -> jax.Array:
    return jnp.full(tuple(shape), 1.0 / shape[-1], jnp.float32)


def mix(weights: jax.Array, outputs: Sequence[jax.Array]) -> jax.Array:
    """``sum_k weights[k] * outputs[k]``: one edge of the supernet (DARTS ``MixedOp.forward``)."""
    total = weights[0].astype(outputs[0].dtype) * outputs[0]
    for k in range(1, len(outputs)):
        total = total + weights[k].astype(outputs[k].dtype) * outputs[k]
    return total


class NB201SearchCell(nn.Module):
    """One NAS-Bench-201 search cell: node i sums, over its edges j -> i, the mixture of the 5 ops on node j."""

    features: int
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, weights: jax.Array, train: bool = False) -> jax.Array:
        nodes = [x]
        for to_node in range(1, nb201_space.NUM_NODES):
            total = None
            for e, (to, source) in enumerate(nb201_space.EDGES):
                if to != to_node:
                    continue
                outputs = [
                    nb201_op(op, self.features, dtype=self.dtype, batch_norm=self.batch_norm,
                             name=f"edge_{source}_{to}_{op}")(nodes[source], train)
                    for op in nb201_space.OPS
                ]
                y = mix(weights[e], outputs)
                total = y if total is None else total + y
            nodes.append(total)
        return nodes[-1]


class NB201SuperNet(nn.Module):
    """The NAS-Bench-201 supernet: ``TinyNetwork`` with every cell a :class:`NB201SearchCell` sharing ``arch/cell``.

    Attributes:
        channels, cells_per_stage, num_classes: as :class:`nasi_nal.networks.nb201.NB201Network` (16, 5, 10 in the
            benchmark; the search uses a proxy, see :mod:`nasi_nal.nasi.configs`).
        dtype: computation dtype; parameters are float32.
        batch_norm: False drops every BN layer.
    """

    channels: int = 16
    cells_per_stage: int = 5
    num_classes: int = 10
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        # (6 edges, 5 ops), rows in nb201.EDGES order, columns in nb201.OPS order.
        weights = self.variable(ARCH, "cell", _uniform, (nb201_space.NUM_EDGES, len(nb201_space.OPS))).value
        kw = dict(dtype=self.dtype, batch_norm=self.batch_norm)

        def cell(features: int, name: str) -> Callable:
            search_cell = NB201SearchCell(features, name=name, **kw)
            return lambda x, train: search_cell(x, weights, train)

        return tiny_network(self, x, train, cell)


class DartsSearchCell(nn.Module):
    """quark0/darts ``model_search.Cell``: 4 nodes, each the sum of mixed ops over all earlier states; concat 4."""

    features: int
    reduction: bool
    reduction_prev: bool
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, s0: jax.Array, s1: jax.Array, weights: jax.Array, train: bool = False) -> jax.Array:
        # The search network's BNs are non-affine (``affine=False`` in model_search.Network).
        kw = dict(affine=False, dtype=self.dtype, batch_norm=self.batch_norm)
        states = list(preprocess(s0, s1, self.features, self.reduction_prev, train, **kw))
        for node in range(darts_space.NUM_INTERMEDIATE):
            total = None
            for e, (to, source) in enumerate(DARTS_EDGES):
                if to != node:
                    continue
                strides = 2 if self.reduction and source < darts_space.NUM_INPUTS else 1
                outputs = [
                    darts_op(op, self.features, strides, pool_bn=True, name=f"edge{e}_{op}", **kw)(states[source], train)
                    for op in darts_space.PRIMITIVES
                ]
                y = mix(weights[e], outputs)
                total = y if total is None else total + y
            states.append(total)
        return jnp.concatenate(states[-darts_space.NUM_INTERMEDIATE:], axis=-1)


class DartsSuperNet(nn.Module):
    """DARTS' search network (quark0/darts ``model_search.Network``) with weights ``arch/normal``, ``arch/reduce``.

    Attributes:
        channels: C (16 in DARTS' search).
        layers: cells (8 in DARTS' search); reductions at ``layers // 3`` and ``2 * layers // 3``.
        num_classes: logits.
        stem_multiplier: the stem has ``stem_multiplier * C`` channels (3 in DARTS).
        dtype, batch_norm: as the other networks.
    """

    channels: int = 16
    layers: int = 8
    num_classes: int = 10
    stem_multiplier: int = 3
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        shape = (len(DARTS_EDGES), len(darts_space.PRIMITIVES))  # (14, 8)
        normal = self.variable(ARCH, "normal", _uniform, shape).value
        reduce = self.variable(ARCH, "reduce", _uniform, shape).value
        x = nn.Conv(self.stem_multiplier * self.channels, (3, 3), padding=((1, 1), (1, 1)), use_bias=False,
                    dtype=self.dtype, name="stem_conv")(x)
        s0 = s1 = batch_norm_layer(x, train, enabled=self.batch_norm, dtype=self.dtype, name="stem_bn")
        features = self.channels
        reduction_prev = False
        for i in range(self.layers):
            reduction = i in (self.layers // 3, 2 * self.layers // 3)
            if reduction:
                features *= 2
            cell = DartsSearchCell(features, reduction, reduction_prev, dtype=self.dtype,
                                   batch_norm=self.batch_norm, name=f"cell{i}")
            s0, s1 = s1, cell(s0, s1, reduce if reduction else normal, train)
            reduction_prev = reduction
        x = jnp.mean(s1, axis=(1, 2))
        x = nn.Dense(self.num_classes, dtype=self.dtype, name="classifier")(x)
        return jnp.asarray(x, jnp.float32)
