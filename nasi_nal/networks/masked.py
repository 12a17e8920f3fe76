"""Fixed-shape masked forms of the space networks: one program, compiled once, computes the network of any cell.

On an accelerator arithmetic is cheap and compiling is not, so scoring many cells per compiled call (``vmap``
over cells, ``nasi_nal.scores.masked``) needs a network whose shapes do not depend on the cell. The cell
becomes data -- arrays in the variable collection :data:`CELL` -- and every possible layer is computed and
multiplied by 0 or 1:

* NAS-Bench-201: NASI's supernet (``nasi_nal.networks.supernet.NB201SuperNet``) with one-hot ``arch`` weights is
  exactly the cell's network (:func:`nb201_arch`).
* NAS-Bench-101: :class:`NB101MaskedNetwork`. A pruned cell is padded to 7 vertices (interior vertices keep their
  indices, the output moves to 6); every interior vertex computes its projection, conv3x3-BN-ReLU,
  conv1x1-BN-ReLU and max-pool at the stack's full width C, its channels beyond its nasbench width
  (``nb101.vertex_channels``) zeroed, and the one-hot op picks one. Truncations are the same channel masks;
  the output's channel concatenation places each part at its offset by an exact gather.

With the cell's own weights in the blocks that exist in the cell (the rest anywhere), the masked network's
logits equal the cell network's, and every unused weight gets gradient exactly 0, so every gradient score is
the cell's (``tests/test_scores_masked.py``). The conv kernels are initialized from each vertex's *actual* fan-in,
so a masked network's initial weights follow the cell network's distribution.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import NetworkConfigError
from nasi_nal.networks import nb101
from nasi_nal.spaces import nb101 as nb101_space
from nasi_nal.spaces import nb201 as nb201_space

#: The variable collection that holds a cell's encoding (NB101); NB201 uses the supernet's ``arch`` collection.
CELL = "cell"
#: NB101 vertex ops in the order of the one-hot ``ops`` encoding.
NB101_OPS = (nb101.CONV3X3, nb101.CONV1X1, nb101.MAXPOOL3X3)
_V = nb101_space.MAX_VERTICES
_OUT = _V - 1
_TRUNCNORM_STD = 0.87962566103423978  # stddev of a unit normal truncated to [-2, 2] (Flax's correction)


def nb201_arch(arch: nb201_space.Arch) -> np.ndarray:
    """The (6 edges x 5 ops) one-hot weights that make ``NB201SuperNet`` compute ``arch``'s network."""
    weights = np.zeros((nb201_space.NUM_EDGES, len(nb201_space.OPS)), np.float32)
    for e, op in enumerate(arch.ops):
        weights[e, nb201_space.OPS.index(op)] = 1.0
    return weights


def nb101_encoding(matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str], *, stem_channels: int,
                   num_stacks: int) -> dict[str, np.ndarray]:
    """A NAS-Bench-101 cell as the arrays :class:`NB101MaskedNetwork` reads from :data:`CELL`.

    ``adjacency`` (7, 7) and ``ops`` (7, 3 one-hot) of the pruned cell padded to 7 vertices (output at 6);
    ``widths`` and ``offsets`` (stacks, 7): each vertex's channels at that stack's width and where the output's
    concatenation places it.
    """
    pruned, pruned_ops = nb101_space.prune(matrix, ops)
    n = pruned.shape[0]
    index = list(range(n - 1)) + [_OUT]  # interior vertices keep their index; the output moves to the end
    adjacency = np.zeros((_V, _V), np.float32)
    adjacency[np.ix_(index, index)] = pruned
    one_hot = np.zeros((_V, len(NB101_OPS)), np.float32)
    for v in range(1, n - 1):
        one_hot[v, NB101_OPS.index(pruned_ops[v])] = 1.0
    widths = np.zeros((num_stacks, _V), np.int32)
    offsets = np.zeros((num_stacks, _V), np.int32)
    channels, in_channels = stem_channels, stem_channels
    for stack in range(num_stacks):
        if stack > 0:
            channels *= 2
        w = nb101.vertex_channels(in_channels, channels, pruned)
        offset = 0
        for v in range(1, n - 1):
            widths[stack, v] = w[v]
            if pruned[v, n - 1]:
                offsets[stack, v] = offset
                offset += w[v]
        in_channels = channels
    return {"adjacency": adjacency, "ops": one_hot, "widths": widths, "offsets": offsets}


def _missing_encoding(name: str):
    def init() -> jax.Array:
        raise NetworkConfigError(
            f"NB101MaskedNetwork reads the cell from the {CELL!r} collection but {name!r} is missing: pass "
            f"variables {{'{CELL}': nb101_encoding(...)}} (nasi_nal.scores.masked builds them)")
    return init


class _MaskedConvBNReLU(nn.Module):
    """``nb101.ConvBNReLU`` at padded width C for a vertex of ``width`` channels: inputs beyond it are zero,
    outputs beyond it are zeroed, the kernel is initialized from the actual fan-in ``k * k * width`` and is zero
    outside its (width x width) block."""

    features: int
    kernel_size: int
    batch_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, width: jax.Array, train: bool = False) -> jax.Array:
        k, c = self.kernel_size, self.features
        lanes = jnp.arange(c) < width
        block = (lanes[:, None] & lanes[None, :]).astype(jnp.float32)

        def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
            std = jnp.sqrt(1.0 / (k * k * jnp.maximum(width, 1).astype(jnp.float32))) / _TRUNCNORM_STD
            return jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) * std * block

        kernel = self.param("kernel", init, (k, k, x.shape[-1], c))
        y = jax.lax.conv_general_dilated(jnp.asarray(x, self.dtype), jnp.asarray(kernel, self.dtype), (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        if self.batch_norm:
            y = nn.BatchNorm(use_running_average=not train, momentum=nb101.BN_MOMENTUM, epsilon=nb101.BN_EPSILON,
                             dtype=self.dtype, param_dtype=jnp.float32, name="bn")(y)
        return nn.relu(y) * lanes.astype(y.dtype)


class NB101MaskedCell(nn.Module):
    """One NB101 module for any cell: every vertex computes every op at width ``channels``, masked by the encoding."""

    channels: int
    batch_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, adjacency: jax.Array, ops: jax.Array, widths: jax.Array, offsets: jax.Array,
                 train: bool = False) -> jax.Array:
        c = self.channels
        lanes = jnp.arange(c)
        kw = dict(batch_norm=self.batch_norm, dtype=self.dtype)

        def keep(v: jax.Array, width: jax.Array) -> jax.Array:  # the first ``width`` channels (a truncation)
            return v * (lanes < width).astype(v.dtype)

        values: list[jax.Array] = [x]
        for t in range(1, _OUT):
            w = widths[t]
            # nb101.NB101Cell's order of summation: truncated interior inputs by source, the projection last.
            total = jnp.zeros((*x.shape[:-1], c), self.dtype)
            for src in range(1, t):
                total = total + adjacency[src, t].astype(self.dtype) * keep(values[src], w)
            projection = nb101.ConvBNReLU(c, 1, name=f"vertex_{t}_projection", **kw)(x, train)
            total = total + adjacency[0, t].astype(self.dtype) * keep(projection, w)
            outputs = (_MaskedConvBNReLU(c, 3, name=f"vertex_{t}_conv3x3", **kw)(total, w, train),
                       _MaskedConvBNReLU(c, 1, name=f"vertex_{t}_conv1x1", **kw)(total, w, train),
                       nn.max_pool(total, (3, 3), strides=(1, 1), padding="SAME"))
            value = ops[t, 0].astype(self.dtype) * outputs[0]
            for k in (1, 2):
                value = value + ops[t, k].astype(self.dtype) * outputs[k]
            values.append(value)
        out = jnp.zeros((*x.shape[:-1], c), self.dtype)
        for t in range(1, _OUT):  # the channel concatenation: part t at [offset, offset + width), exact gather
            source = lanes - offsets[t]
            inside = (source >= 0) & (source < widths[t])
            placed = jnp.where(inside, jnp.take(values[t], jnp.clip(source, 0, c - 1), axis=-1), 0)
            out = out + adjacency[t, _OUT].astype(self.dtype) * placed
        projection = nb101.ConvBNReLU(c, 1, name="output_projection", **kw)(x, train)
        return out + adjacency[0, _OUT].astype(self.dtype) * projection


class NB101MaskedNetwork(nn.Module):
    """``nb101.NB101Network`` for the cell in the :data:`CELL` collection (:func:`nb101_encoding`); same fields.

    Layer names follow the cell network's (``stem``, ``stack{s}_module{i}/vertex_{t}_projection``,
    ``output_projection``, ``logits``); a vertex's op is ``vertex_{t}_conv3x3`` / ``vertex_{t}_conv1x1``.
    """

    stem_channels: int = 128
    num_stacks: int = 3
    cells_per_stack: int = 3
    num_classes: int = 10
    batch_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        cell = {name: self.variable(CELL, name, _missing_encoding(name)).value
                for name in ("adjacency", "ops", "widths", "offsets")}

        def masked_cell(channels: int, stack: int, name: str) -> Callable:
            module = NB101MaskedCell(channels, self.batch_norm, self.dtype, name=name)
            return lambda x, train: module(x, cell["adjacency"], cell["ops"], cell["widths"][stack],
                                           cell["offsets"][stack], train)

        return nb101.network(self, x, train, masked_cell)


__all__ = ["CELL", "NB101MaskedCell", "NB101MaskedNetwork", "NB101_OPS", "nb101_encoding", "nb201_arch"]
