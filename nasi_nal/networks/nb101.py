"""The NAS-Bench-101 network in Flax: the benchmark's own model, layer for layer.

Follows google-research/nasbench ``nasbench/lib/model_builder.py`` (``build_model_fn``, ``build_module``,
``compute_vertex_channels``, ``projection``, ``truncate``) and ``nasbench/lib/base_ops.py`` (``conv_bn_relu``,
the op classes), Ying et al., "NAS-Bench-101: Towards Reproducible Neural Architecture Search", ICML 2019:

* stem: 3x3 conv-BN-ReLU with ``stem_channels`` (128) channels;
* ``num_stacks`` (3) stacks of ``cells_per_stack`` (3) cells; before every stack but the first a 2x2 max-pool
  (stride 2) halves the resolution and the cell channel count doubles;
* global average pool and a dense layer to the logits.

Inside a cell (the spec is pruned first, as ``ModelSpec`` does): every interior vertex sums its inputs, interior
ones truncated to its channel count and the cell input through a 1x1 conv-BN-ReLU projection; the output vertex
concatenates the vertices feeding it and adds a projection of the cell input when the input feeds it directly.
Channel counts come from ``vertex_channels`` (nasbench's ``compute_vertex_channels``). Convolutions have no bias and
use TF1's ``variance_scaling_initializer()`` (fan-in, truncated normal); batch norm uses momentum 0.997 and epsilon
1e-5 with trainable scale and offset (``tf.layers.batch_normalization`` defaults ``center=scale=True``); the dense
layer uses TF's default Glorot-uniform kernel and zero bias.

One known, negligible difference: TF1's fused batch norm feeds the Bessel-corrected (unbiased) batch variance into
the moving average, Flax the biased one (a factor n/(n-1) with n = batch * height * width >= 16,384 in the
benchmark's setting). Training-mode outputs and all parameters are unaffected.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import InvalidCellError
from nasi_nal.networks.common import ReLU
from nasi_nal.spaces import nb101 as space

BN_MOMENTUM = 0.997  # nasbench base_ops.BN_MOMENTUM (TF's convention: running = m * running + (1 - m) * batch)
BN_EPSILON = 1e-5  # nasbench base_ops.BN_EPSILON

CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
OP_KERNEL = {CONV3X3: 3, CONV1X1: 1}  # conv ops and their kernel size; max-pool has no parameters

# tf.variance_scaling_initializer() in TF1: scale 1, fan_in, truncated normal (with the same 0.8796 stddev
# correction Flax applies).
_conv_init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")


def _as_matrix(matrix: Sequence[Sequence[int]] | np.ndarray) -> tuple[tuple[int, ...], ...]:
    """A validated matrix as a hashable tuple of tuples (Flax module fields must hash to be static under jit)."""
    return tuple(tuple(int(v) for v in row) for row in np.asarray(matrix).tolist())


def vertex_channels(input_channels: int, output_channels: int, matrix: np.ndarray) -> tuple[int, ...]:
    """Channels at every vertex of a pruned cell, exactly as nasbench ``compute_vertex_channels``.

    The output channels are split evenly over the vertices feeding the output (the first ``remainder`` of them get
    one extra channel); every other interior vertex takes the maximum over the interior vertices it feeds. The
    input vertex keeps ``input_channels`` (it is always projected, never truncated).
    """
    matrix = np.asarray(matrix)
    num_vertices = matrix.shape[0]
    channels = [0] * num_vertices
    channels[0] = input_channels
    channels[-1] = output_channels
    if num_vertices == 2:  # input wired straight to output
        return tuple(channels)

    out = num_vertices - 1
    fan_in = int(matrix[1:, out].sum())
    if fan_in == 0:
        raise InvalidCellError(
            f"cell matrix {matrix.tolist()} has interior vertices but none feeds the output: prune the cell first "
            "(nasi_nal.spaces.nb101.prune)")
    interior, correction = divmod(output_channels, fan_in)
    for v in range(1, out):  # vertices feeding the output split its channels; the first ones get the remainder
        if matrix[v, out]:
            extra = 1 if correction > 0 else 0
            channels[v] = interior + extra
            correction -= extra
    for v in range(num_vertices - 3, 0, -1):  # backwards; vertex V-2 can only feed the output
        if not matrix[v, out]:
            for dst in range(v + 1, out):
                if matrix[v, dst]:
                    channels[v] = max(channels[v], channels[dst])
    if min(channels[1:out]) <= 0:
        raise InvalidCellError(
            f"cell matrix {matrix.tolist()} has an interior vertex with no path to the output: prune the cell "
            "first (nasi_nal.spaces.nb101.prune)")
    return tuple(channels)


class ConvBNReLU(nn.Module):
    """nasbench ``base_ops.conv_bn_relu``: stride-1 'same' conv without bias, batch norm, ReLU."""

    features: int
    kernel_size: int
    batch_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        k = self.kernel_size
        x = nn.Conv(self.features, (k, k), padding="SAME", use_bias=False, kernel_init=_conv_init,
                    dtype=self.dtype, param_dtype=jnp.float32, name="conv")(x)
        if self.batch_norm:
            x = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                             dtype=self.dtype, param_dtype=jnp.float32, name="bn")(x)
        return ReLU(name="relu")(x)


class MaxPool3x3(nn.Module):
    """nasbench ``base_ops.MaxPool3x3``: 3x3 max pool, stride 1, 'same' padding (padding never wins the max).

    A module (not a bare function) so ``capture_intermediates`` records its output like every other vertex op.
    """

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:  # train: unused, the conv ops' signature
        return nn.max_pool(x, (3, 3), strides=(1, 1), padding="SAME")


class NB101Cell(nn.Module):
    """One NAS-Bench-101 module (nasbench ``build_module``) on an already pruned and validated spec."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]
    channels: int
    batch_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        matrix = np.asarray(self.matrix)
        num_vertices = matrix.shape[0]
        out = num_vertices - 1
        widths = vertex_channels(x.shape[-1], self.channels, matrix)

        def projection(width: int, name: str) -> jax.Array:
            # model_builder.projection: 1x1 conv-BN-ReLU of the cell input.
            return ConvBNReLU(width, 1, self.batch_norm, self.dtype, name=name)(x, train)

        tensors = [x]
        concat_in = []
        for t in range(1, out):
            # Interior inputs truncated to this vertex's width (they exceed it by at most one channel), then the
            # projected cell input last, in model_builder's order.
            add_in = [tensors[src][..., :widths[t]] for src in range(1, t) if matrix[src, t]]
            if matrix[0, t]:
                add_in.append(projection(widths[t], f"vertex_{t}_projection"))
            vertex_input = add_in[0]
            for term in add_in[1:]:
                vertex_input = vertex_input + term
            op = self.ops[t]
            if op == MAXPOOL3X3:
                value = MaxPool3x3(name=f"vertex_{t}")(vertex_input)
            else:
                value = ConvBNReLU(widths[t], OP_KERNEL[op], self.batch_norm, self.dtype,
                                   name=f"vertex_{t}")(vertex_input, train)
            tensors.append(value)
            if matrix[t, out]:
                concat_in.append(value)

        if not concat_in:  # only input -> output: the cell is one projection
            return projection(self.channels, "output_projection")
        outputs = concat_in[0] if len(concat_in) == 1 else jnp.concatenate(concat_in, axis=-1)
        if matrix[0, out]:
            outputs = outputs + projection(self.channels, "output_projection")
        return outputs


class NB101Network(nn.Module):
    """The NAS-Bench-101 network for one cell (nasbench ``build_model_fn``), NHWC.

    Attributes:
      matrix: the cell's V x V upper-triangular 0/1 adjacency (any array-like; stored as a tuple of tuples).
      ops: the V vertex labels, ``('input', ..., 'output')`` with inner labels from
        ``nasi_nal.spaces.nb101.INNER_OPS`` (aliases ``conv1x1``/``conv3x3`` accepted, stored canonical). The
        cell is validated on construction (``InvalidCellError``) and pruned before building, as nasbench's
        ``ModelSpec`` does, so an unpruned matrix builds the same network as its pruned form.
      stem_channels: channels of the stem and of the first stack (128 in the benchmark).
      num_stacks, cells_per_stack: 3 and 3 in the benchmark.
      num_classes: logits produced by the dense head.
      batch_norm: False drops every batch-norm layer (synflow, Abdelfattah et al. 2021, scores BN-free networks).
      dtype: compute dtype (float32 or bfloat16); parameters and batch statistics are always float32.

    ``__call__(x, train)`` returns logits in ``dtype``. With ``train=True`` batch norm normalizes with batch
    statistics and updates ``batch_stats`` (call ``apply(..., mutable=['batch_stats'])``); with ``train=False`` it
    uses the running averages.

    Example:
      >>> net = NB101Network(matrix=[[0, 1, 1], [0, 0, 1], [0, 0, 0]],
      ...                    ops=("input", "conv3x3-bn-relu", "output"), stem_channels=16, num_stacks=1)
      >>> variables = net.init(jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 3)))
      >>> net.apply(variables, jnp.zeros((2, 32, 32, 3))).shape
      (2, 10)
    """

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]
    stem_channels: int = 128
    num_stacks: int = 3
    cells_per_stack: int = 3
    num_classes: int = 10
    batch_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self) -> None:
        # Fail at construction, not deep inside init; then store hashable tuples and canonical op names.
        space.validate(self.matrix, self.ops)
        object.__setattr__(self, "matrix", _as_matrix(self.matrix))
        object.__setattr__(self, "ops", tuple(space.canonical_op(op) for op in self.ops))
        for name in ("stem_channels", "num_stacks", "cells_per_stack", "num_classes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"NB101Network.{name} must be a positive integer, got {getattr(self, name)!r}")
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"NB101Network expects NHWC images (batch, height, width, channels), got {x.shape}")
        pruned, ops = space.prune(self.matrix, self.ops)
        matrix = _as_matrix(pruned)
        return network(self, x, train, lambda channels, stack, name: NB101Cell(
            matrix, ops, channels, self.batch_norm, self.dtype, name=name))


def network(module: nn.Module, x: jax.Array, train: bool, cell: Callable[[int, int, str], Callable]) -> jax.Array:
    """The NB101 skeleton around ``cell(channels, stack, name)(x, train)``: stem, stacks with down-samplings, head.

    ``module`` (an :class:`NB101Network` or ``nasi_nal.networks.masked.NB101MaskedNetwork``) gives the sizes,
    ``batch_norm`` and ``dtype``; called from its compact ``__call__``, so the layers get the benchmark's names.
    """
    x = jnp.asarray(x, module.dtype)
    x = ConvBNReLU(module.stem_channels, 3, module.batch_norm, module.dtype, name="stem")(x, train)
    channels = module.stem_channels
    for stack in range(module.num_stacks):
        if stack > 0:
            x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
            channels *= 2
        for i in range(module.cells_per_stack):
            x = cell(channels, stack, f"stack{stack}_module{i}")(x, train)
    return head(module, x)


def head(module: nn.Module, x: jax.Array) -> jax.Array:
    """Global average pool -> dense to ``module.num_classes`` logits (layer ``logits``), inside a compact method."""
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(module.num_classes, kernel_init=nn.initializers.xavier_uniform(), bias_init=nn.initializers.zeros,
                    dtype=module.dtype, param_dtype=jnp.float32, name="logits")(x)


class NB101Head(nn.Module):
    """The network's head alone, its variables under the network's names (for blockwise scoring)."""

    num_classes: int = 10
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return head(self, x)


def param_count(matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str], *, stem_channels: int = 128,
                num_stacks: int = 3, cells_per_stack: int = 3, num_classes: int = 10, batch_norm: bool = True,
                in_channels: int = 3) -> int:
    """Trainable parameters of ``NB101Network``, in closed form from the same channel rules (no tracing).

    Counts what TF counts as trainable in nasbench: conv kernels, batch-norm scale and offset (2 per channel) and
    the dense kernel and bias. Some 100x faster than ``count_params`` (which traces ``init`` under
    ``jax.eval_shape``), and checked against it in the tests.
    """
    space.validate(matrix, ops)
    matrix, pruned_ops = space.prune(matrix, ops)
    out = matrix.shape[0] - 1
    bn = 2 if batch_norm else 0

    def conv_bn(cin: int, k: int, cout: int) -> int:
        return k * k * cin * cout + bn * cout

    total = conv_bn(in_channels, 3, stem_channels)
    cin = channels = stem_channels
    for stack in range(num_stacks):
        if stack > 0:
            channels *= 2
        for _ in range(cells_per_stack):
            widths = vertex_channels(cin, channels, matrix)
            for t in range(1, out):
                if matrix[0, t]:
                    total += conv_bn(cin, 1, widths[t])
                if pruned_ops[t] in OP_KERNEL:
                    total += conv_bn(widths[t], OP_KERNEL[pruned_ops[t]], widths[t])
            if matrix[0, out]:
                total += conv_bn(cin, 1, channels)
            cin = channels
    return total + channels * num_classes + num_classes
