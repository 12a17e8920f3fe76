"""Blockwise scoring: each distinct block of a space compiled once, every cell's network chained through them.

Compiling is the cost of scoring a candidate at initialization: one XLA program per full-size NAS-Bench-201
network takes ~2 s to compile on a 2-core CPU and 0.35 s to run (``DEVELOPERS.md``, "Scoring cost"). Yet the
networks of a space are made of a handful of distinct blocks -- for NAS-Bench-201 the stem, the three
parametric edge ops at each of three widths, two reduction blocks and the head -- and the cell only decides how
they are wired. Here a network is a :class:`Tape` of steps ``nodes[dst] += block(nodes[src])``; each block's
forward pass (which returns the residuals of its VJP) and backward pass are ``jax.jit``-compiled once per block
and input shape, and a Python loop runs the tape forward and backward, dispatching compiled blocks. Once the
first cells have compiled every block, a new cell compiles nothing.

The arithmetic is the network's own: the blocks are the Flax modules the network is built of, applied
to the sub-trees of the network's variables, so every score equals the one from the per-cell program up to
float32 rounding of differently fused programs (``tests/test_scores_blockwise.py``).

NAS-Bench-101 networks are taped the same way (projections, vertex ops, truncations; the output's channel
concatenation as zero-padded parts summed, which is exact); DARTS networks are not taped yet. Scores:
:data:`BLOCKWISE_SCORES`. The exact NTK trace and condition number need per-example parameter Jacobians and stay
on the per-cell joint program (``nasi_nal.scores.joint.score_cell`` routes them there).
"""
from __future__ import annotations

import functools
import zlib
from typing import Any, Callable, NamedTuple, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import NasiNalError, UnknownScoreError
from nasi_nal.networks.common import num_params
from nasi_nal.networks import nb101 as nb101_net
from nasi_nal.networks.nb201 import NB201Head, NB201Network, NB201Stem
from nasi_nal.networks.ops import ResNetBasicblock, nb201_op
from nasi_nal.scores import baselines
from nasi_nal.scores.common import (
    CellScores,
    Variables,
    check_batch,
    check_finite,
    cross_entropy,
    enable_x64,
    weight_leaves,
)
from nasi_nal.scores.data import Batch
from nasi_nal.spaces import nb101 as nb101_space
from nasi_nal.spaces import nb201 as nb201_space

#: Scores this module computes; the others of ``nasi_nal.scores.SCORES`` need the per-cell program.
BLOCKWISE_SCORES = ("params", "flops", "grad_norm", "snip", "nasi_trace", "jacob_cov", "nwot", "synflow")
_BACKWARD_SCORES = frozenset({"grad_norm", "snip", "nasi_trace", "jacob_cov"})

Block = Union[nn.Module, str]  # a Flax module ``(x, train) -> y``, or "identity" / "zero"


class Step(NamedTuple):
    """``nodes[dst] += block(nodes[src])``, the block's variables at ``scope`` in the network's tree.

    ``keys`` non-empty: the block's variables are those entries of the tree at ``scope`` (stem and head layers
    sit at the network's root); empty: the whole sub-tree at ``scope``.
    """

    block: Block
    scope: tuple[str, ...]
    src: int
    dst: int
    keys: tuple[str, ...] = ()


class Tape(NamedTuple):
    """A network as steps in topological order; node 0 is the input, the last node the logits."""

    steps: tuple[Step, ...]
    num_nodes: int


def supports(model: nn.Module) -> bool:
    """Whether :func:`tape` can lay out ``model`` (NAS-Bench-201 and NAS-Bench-101 networks; not DARTS yet)."""
    return isinstance(model, (NB201Network, nb101_net.NB101Network))


def tape(model: nn.Module) -> Tape:
    """The :class:`Tape` of ``model``; ``TypeError`` for networks this module cannot lay out."""
    if isinstance(model, NB201Network):
        return _nb201_tape(model)
    if isinstance(model, nb101_net.NB101Network):
        return _nb101_tape(model)
    raise TypeError(f"blockwise scoring lays out NB201Network and NB101Network, not {type(model).__name__}: score "
                    "it with nasi_nal.scores.joint.score_cell(..., method='joint')")


@functools.lru_cache(maxsize=64)
def _nb201_tape(model: NB201Network) -> Tape:
    """``tiny_network``'s layers in order: stem, 3 stages of cells (one step per edge) with reductions, head."""
    kw = dict(dtype=model.dtype, batch_norm=model.batch_norm)
    steps = [Step(NB201Stem(model.channels, **kw), (), 0, 1, ("stem_conv", "stem_bn"))]
    node = 1
    for stage in range(3):
        features = model.channels * 2 ** stage
        if stage > 0:
            steps.append(Step(ResNetBasicblock(features, **kw), (f"reduction_{stage}",), node, node + 1))
            node += 1
        for i in range(model.cells_per_stage):
            for (to, source), op in zip(nb201_space.EDGES, model.arch.ops):
                block = {"none": "zero", "skip_connect": "identity"}.get(op) or nb201_op(op, features, **kw)
                steps.append(Step(block, (f"stage{stage}_cell{i}", f"edge_{source}_{to}"), node + source, node + to))
            node += nb201_space.NUM_NODES - 1
    steps.append(Step(NB201Head(model.num_classes, **kw), (), node, node + 1, ("last_bn", "classifier")))
    return Tape(tuple(steps), node + 2)


class _Truncate(nn.Module):
    """NB101's truncation of an interior vertex's output to the width of the vertex it feeds."""

    width: int

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return x[..., :self.width]


class _Place(nn.Module):
    """One part of a channel concatenation: ``x`` zero-padded into channels ``[offset, offset + C)`` of ``total``.

    Summing the parts of a concatenation gives it exactly (each sum adds zeros), so a concatenation is a set of
    ``nodes[dst] += block(nodes[src])`` steps like every other join.
    """

    offset: int
    total: int

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(self.offset, self.total - self.offset - x.shape[-1])])


class _MaxPool2x2(nn.Module):
    """NB101's down-sampling between stacks."""

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")


@functools.lru_cache(maxsize=64)
def _nb101_tape(model: nb101_net.NB101Network) -> Tape:
    """``NB101Network``'s layers in order: stem, stacks of cells (projections, vertex ops, truncations, the output
    concatenation as placed parts, in ``NB101Cell``'s order of summation), down-samplings, head.

    Parameter-free steps get a scope no variable lives at, so they receive no variables.
    """
    matrix, ops = nb101_space.prune(np.asarray(model.matrix), model.ops)
    out = matrix.shape[0] - 1
    kw = dict(batch_norm=model.batch_norm, dtype=model.dtype)
    steps = [Step(nb101_net.ConvBNReLU(model.stem_channels, 3, **kw), ("stem",), 0, 1)]
    node, in_channels, channels = 1, model.stem_channels, model.stem_channels
    for stack in range(model.num_stacks):
        if stack > 0:
            steps.append(Step(_MaxPool2x2(), (f"downsample_{stack}",), node, node + 1))
            node += 1
            channels *= 2
        for cell in range(model.cells_per_stack):
            scope = f"stack{stack}_module{cell}"
            widths = nb101_net.vertex_channels(in_channels, channels, matrix)
            cell_in, value = node, {}
            for t in range(1, out):
                vertex_in, node = node + 1, node + 2
                value[t] = node
                for src in range(1, t):
                    if matrix[src, t]:
                        block = "identity" if widths[src] == widths[t] else _Truncate(widths[t])
                        steps.append(Step(block, (scope, f"truncate_{src}_{t}"), value[src], vertex_in))
                if matrix[0, t]:
                    steps.append(Step(nb101_net.ConvBNReLU(widths[t], 1, **kw), (scope, f"vertex_{t}_projection"),
                                      cell_in, vertex_in))
                op = (nb101_net.MaxPool3x3() if ops[t] == nb101_net.MAXPOOL3X3
                      else nb101_net.ConvBNReLU(widths[t], nb101_net._OP_KERNEL[ops[t]], **kw))
                steps.append(Step(op, (scope, f"vertex_{t}"), vertex_in, value[t]))
            node += 1
            feeding = [t for t in range(1, out) if matrix[t, out]]
            offset = 0
            for t in feeding:
                block = "identity" if len(feeding) == 1 else _Place(offset, channels)
                steps.append(Step(block, (scope, f"concat_{t}"), value[t], node))
                offset += widths[t]
            if matrix[0, out] or not feeding:
                steps.append(Step(nb101_net.ConvBNReLU(channels, 1, **kw), (scope, "output_projection"), cell_in,
                                  node))
            in_channels = channels
    steps.append(Step(nb101_net.NB101Head(model.num_classes, model.dtype), (), node, node + 1, ("logits",)))
    return Tape(tuple(steps), node + 2)


# --- variables ---------------------------------------------------------------------------------------------


def _block_variables(variables: Variables, step: Step) -> dict[str, Any]:
    out = {}
    for collection, tree in variables.items():
        try:
            for k in step.scope:
                tree = tree[k]
        except KeyError:
            continue
        tree = {k: tree[k] for k in step.keys if k in tree} if step.keys else tree
        if tree:
            out[collection] = tree
    return out


def _place(tree: dict, step: Step, sub: Any) -> None:
    """Writes a block's sub-tree into a nested dict at the step's scope (merging for root-level keys)."""
    for k in step.scope[:-1]:
        tree = tree.setdefault(k, {})
    if step.keys:
        tree = tree.setdefault(step.scope[-1], {}) if step.scope else tree
        tree.update(sub)
    else:
        tree[step.scope[-1]] = sub


@functools.lru_cache(maxsize=None)
def _init_fn(block: nn.Module) -> Callable:
    return jax.jit(lambda key, x: block.init_with_output(key, x, train=False))


def init_variables(model: nn.Module, key: jax.Array, input_shape: Sequence[int] = (32, 32, 3)) -> Variables:
    """The network's variables (same tree and initializers as ``model.init``), one compiled init per block.

    Each block is initialized with ``fold_in(key, crc32(its path))``, so the values differ from
    ``model.init(key, ...)`` (which derives keys inside Flax) but follow the same distributions, and the same
    key always gives the same variables. ``model.init`` would trace the whole network for every cell.
    """
    t = tape(model)
    nodes: list[Any] = [None] * t.num_nodes
    nodes[0] = jnp.zeros((1, *input_shape), jnp.float32)
    variables: dict[str, dict] = {}
    for step in t.steps:
        x = nodes[step.src]
        if isinstance(step.block, str):  # identity or zero: the values here only carry shapes to the next block
            y = x
        else:
            path = "/".join(step.scope + step.keys)
            y, block_vars = _init_fn(step.block)(jax.random.fold_in(key, zlib.crc32(path.encode())), x)
            for collection, sub in block_vars.items():
                _place(variables.setdefault(collection, {}), step, dict(sub))
        nodes[step.dst] = y if nodes[step.dst] is None else nodes[step.dst] + y
    return variables


# --- forward and backward passes -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _forward_fn(block: nn.Module, pullback: bool, codes: bool) -> Callable:
    """jit: (block variables, x) -> (y, VJP or None, summed ReLU-code kernel (N, N) or None)."""

    def f(params: Any, x: jax.Array, rest: dict) -> tuple[jax.Array, Any]:
        if not codes:
            return block.apply({**rest, "params": params}, x, train=False), None
        y, state = block.apply({**rest, "params": params}, x, train=False, capture_intermediates=baselines._is_relu,
                               mutable=["intermediates"])
        kernels = baselines.hamming_kernels(state, x.shape[0])
        return y, (sum(kernels) if kernels else None)

    def run(variables: dict, x: jax.Array) -> tuple[jax.Array, Any, Any]:
        rest = {c: v for c, v in variables.items() if c != "params"}
        params = variables.get("params", {})
        if not pullback:
            y, kernel = f(params, x, rest)
            return y, None, kernel
        y, vjp, kernel = jax.vjp(lambda p, x: f(p, x, rest), params, x, has_aux=True)
        return y, vjp, kernel

    return jax.jit(run)


_pull_all = jax.jit(lambda vjp, ct: vjp(ct))
_pull_input = jax.jit(lambda vjp, ct: vjp(ct)[1])
_loss_cotangent = jax.jit(jax.grad(cross_entropy))


class _Forward(NamedTuple):
    logits: jax.Array
    pullbacks: list[Any]  # per step: its VJP, or None
    kernels: list[jax.Array]  # ReLU-code kernels per block that has ReLUs
    macs: int  # multiply-accumulates of the whole batch


def _run_forward(t: Tape, variables: Variables, x: jax.Array, *, pullback: bool, codes: bool,
                 macs: bool = False) -> _Forward:
    nodes: list[Any] = [None] * t.num_nodes
    nodes[0] = x
    pullbacks: list[Any] = [None] * len(t.steps)
    kernels, total_macs = [], 0
    for i, step in enumerate(t.steps):
        src = nodes[step.src]
        if step.block == "zero":  # contributes x * 0: only shapes a node nothing else feeds
            if nodes[step.dst] is None:
                nodes[step.dst] = jnp.zeros_like(src)
            continue
        if step.block == "identity":
            y = src
        else:
            block_vars = _block_variables(variables, step)
            y, pullbacks[i], kernel = _forward_fn(step.block, pullback, codes)(block_vars, src)
            if kernel is not None:
                kernels.append(kernel)
            if macs:
                total_macs += _block_macs(step.block, block_vars, src)
        nodes[step.dst] = y if nodes[step.dst] is None else nodes[step.dst] + y
    return _Forward(nodes[-1], pullbacks, kernels, total_macs)


def _run_backward(t: Tape, pullbacks: list[Any], cotangent: jax.Array, *,
                  params: bool) -> tuple[jax.Array | None, dict[int, Any]]:
    """Chains the steps' VJPs from the logits' cotangent; (input cotangent, parameter cotangents by step).

    The input cotangent is None when no path joins the input to the logits (an all-``none`` cell)."""
    cts: list[Any] = [None] * t.num_nodes
    cts[-1] = cotangent
    grads: dict[int, Any] = {}
    for i in reversed(range(len(t.steps))):
        step = t.steps[i]
        ct = cts[step.dst]
        if ct is None or step.block == "zero":
            continue
        if step.block == "identity":
            dx = ct
        elif params:
            grads[i], dx = _pull_all(pullbacks[i], ct)
        else:
            dx = _pull_input(pullbacks[i], ct)
        cts[step.src] = dx if cts[step.src] is None else cts[step.src] + dx
    return cts[0], grads


_MACS: dict[tuple, int] = {}


def _block_macs(block: nn.Module, block_vars: dict, x: jax.Array) -> int:
    """Multiply-accumulates of one block at ``x``'s shape, its jaxpr counted once per block and shape."""
    key = (block, x.shape, x.dtype)
    if key not in _MACS:
        shapes = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), (block_vars, x))
        closed = jax.make_jaxpr(lambda v, x: block.apply(v, x, train=False))(*shapes)
        _MACS[key] = baselines._jaxpr_macs(closed.jaxpr)
    return _MACS[key]


def loss_gradients(model: nn.Module, variables: Variables, batch: Batch) -> dict:
    """d (mean cross-entropy) / d params, blockwise: the tree of ``variables["params"]`` (zeros where unused)."""
    t = tape(model)
    fwd = _run_forward(t, variables, batch.inputs, pullback=True, codes=False)
    _, grads = _run_backward(t, fwd.pullbacks, _loss_cotangent(fwd.logits, batch.labels), params=True)
    tree = _nested_dict(jax.tree_util.tree_map(jnp.zeros_like, variables["params"]))
    for i, g in grads.items():
        if g:
            _place(tree, t.steps[i], _nested_dict(g))
    return tree


def _nested_dict(tree: Any) -> Any:
    return {k: _nested_dict(v) for k, v in tree.items()} if hasattr(tree, "items") else tree


def _weight_pairs(t: Tape, variables: Variables, grads: dict[int, Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, dW) in float64 for every conv/dense kernel a gradient reached (the others contribute 0 to scores)."""
    pairs = []
    for i, g in grads.items():
        weights = weight_leaves(_block_variables(variables, t.steps[i]).get("params", {}))
        pairs += [(np.asarray(w, np.float64), np.asarray(d, np.float64)) for w, d in zip(weights, weight_leaves(g))]
    return pairs


# --- scores ----------------------------------------------------------------------------------------------------


def synflow(model: nn.Module, variables: Variables, batch: Batch, name: str | None = None) -> float:
    """``nasi_nal.scores.synflow`` blockwise: float64, no batch norm, |W|, an all-ones input; sum |W * dR/dW|.

    The BN-free network's blocks take their weights from ``variables`` (Flax ignores the BN entries): an NB201
    network has no weight that exists only without BN, so nothing needs a fresh initialization here.
    """
    t = tape(model.clone(batch_norm=False, dtype=jnp.float64))
    with enable_x64():
        plain = {"params": jax.tree_util.tree_map(lambda w: jnp.abs(jnp.asarray(w, jnp.float64)),
                                                  variables["params"])}
        fwd = _run_forward(t, plain, jnp.ones((1, *batch.inputs.shape[1:]), jnp.float64), pullback=True,
                           codes=False)
        _, grads = _run_backward(t, fwd.pullbacks, jnp.ones_like(fwd.logits), params=True)
        value = sum(float(np.sum(np.abs(w * g))) for w, g in _weight_pairs(t, plain, grads))
    return check_finite(value, "synflow", name)


def _input_gradient(t: Tape, fwd: _Forward, x: jax.Array) -> jax.Array:
    """d (sum of logits) / d x; zeros when no path joins the input to the logits (an all-``none`` cell)."""
    dx, _ = _run_backward(t, fwd.pullbacks, jnp.ones_like(fwd.logits), params=False)
    return jnp.zeros_like(x) if dx is None else dx


def score_cell(
    model: nn.Module,
    variables: Variables | None,
    batch: Batch,
    names: Sequence[str],
    key: jax.Array | None = None,
    name: str | None = None,
) -> tuple[Variables, CellScores]:
    """Scores ``names`` (from :data:`BLOCKWISE_SCORES`) of one network blockwise; returns (variables, CellScores).

    One forward pass serves every score (with VJP residuals when a gradient score is asked, ReLU codes for
    ``nwot``), then one backward pass from the loss (``grad_norm``, ``snip``, ``nasi_trace``) and one from the
    summed logits to the input (``jacob_cov``). ``variables=None`` initializes them with :func:`init_variables`
    from ``key``. Failures are reported per score in ``errors``, as ``nasi_nal.scores.joint.score_cell`` does.
    """
    unknown = sorted(set(names) - set(BLOCKWISE_SCORES))
    if unknown:
        raise UnknownScoreError(f"blockwise scoring computes {', '.join(BLOCKWISE_SCORES)}, not {unknown}: "
                                "use nasi_nal.scores.joint.score_cell, which routes each score")
    check_batch(batch, "score_cell")
    t = tape(model)
    key = jax.random.PRNGKey(0) if key is None else key
    if variables is None:
        variables = init_variables(model, key, batch.inputs.shape[1:])
    wanted = set(names)
    n = batch.inputs.shape[0]
    if wanted & (_BACKWARD_SCORES | {"nwot", "flops"}):
        fwd = _run_forward(t, variables, batch.inputs, pullback=bool(wanted & _BACKWARD_SCORES),
                           codes="nwot" in wanted, macs="flops" in wanted)
    lazy: dict[str, Callable[[], float]] = {
        "params": lambda: float(num_params(variables["params"])),
        "flops": lambda: float(fwd.macs // n),
        "nwot": lambda: baselines.nwot_value(np.stack([np.asarray(k) for k in fwd.kernels]), name),
        "jacob_cov": lambda: baselines.jacob_cov_value(_input_gradient(t, fwd, batch.inputs).reshape(n, -1), name),
        "synflow": lambda: synflow(model, variables, batch, name),
    }
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    if wanted & {"grad_norm", "snip", "nasi_trace"}:
        _, grads = _run_backward(t, fwd.pullbacks, _loss_cotangent(fwd.logits, batch.labels), params=True)
        pairs = _weight_pairs(t, variables, grads)
        lazy["grad_norm"] = lambda: check_finite(sum(float(np.linalg.norm(g)) for _, g in pairs), "grad_norm", name)
        lazy["snip"] = lambda: check_finite(sum(float(np.sum(np.abs(w * g))) for w, g in pairs), "snip", name)
        lazy["nasi_trace"] = lambda: check_finite(
            sum(float(np.sum(np.square(np.asarray(g, np.float64)))) for g in jax.tree_util.tree_leaves(grads)),
            "nasi_trace", name)
    for score in names:
        try:
            values[score] = lazy[score]()
        except NasiNalError as err:
            errors[score] = str(err)
    return variables, CellScores(values, errors)


__all__ = ["BLOCKWISE_SCORES", "Step", "Tape", "init_variables", "loss_gradients", "score_cell", "supports",
           "synflow", "tape"]
