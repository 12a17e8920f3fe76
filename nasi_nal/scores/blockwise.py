"""The blockwise engine: each distinct block of a space compiled once, every cell's network chained through them.

Compiling is the cost of scoring a candidate at initialization on a CPU, yet the networks of a space are made of a
handful of distinct blocks; the cell only decides how they are wired (``nasi_nal.networks.tape``). Here each block's
forward pass (which returns its ``jax.vjp`` pullback, a pytree) and backward pass are ``jax.jit``-compiled once per
block, input shape and batch-norm mode, and a Python loop runs the tape forward and backward, dispatching compiled
blocks. Once the first cells have compiled every block, a new cell compiles nothing.

The arithmetic is the network's own: the blocks are the Flax modules the network is built of, applied to the
sub-trees of the network's variables, so every quantity equals the joint engine's up to float32 rounding of
differently fused programs (``tests/test_scores_engines.py``). Each backward pass is a VJP of the whole batch
function with one cotangent (the loss's, a probe, a basis vector), and each score's additive reduction
(``nasi_nal.scores.definitions``) is applied block by block.
"""
from __future__ import annotations

import functools
import zlib
from typing import Any, Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.networks.common import jaxpr_macs, num_params
from nasi_nal.networks.tape import Tape, block_variables, place, tape
from nasi_nal.scores import definitions
from nasi_nal.scores.common import (
    DEFAULT_BN,
    DEFAULT_PROBES,
    CellScores,
    Variables,
    check_batch,
    check_bn,
    check_probes,
    enable_x64,
    forward,
    hamming_kernels,
    loss_cotangent,
    probe_vectors,
    stage_cotangent,
    tree_sq_norm,
)
from nasi_nal.scores.data import Batch
from nasi_nal.scores.definitions import Context, Quantity
from nasi_nal.scores.joint import finish


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
                place(variables.setdefault(collection, {}), step, dict(sub))
        nodes[step.dst] = y if nodes[step.dst] is None else nodes[step.dst] + y
    return variables


# --- forward and backward passes -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _forward_fn(block: nn.Module, pullback: bool, codes: bool, bn: str) -> Callable:
    """jit: (block variables, x) -> (y, VJP or None, summed ReLU-code kernel (N, N) or None)."""

    def f(params: Any, x: jax.Array, rest: dict) -> tuple[jax.Array, Any]:
        y, captured = forward(block, {**rest, "params": params}, x, bn, relu_codes=codes)
        kernels = hamming_kernels(captured, x.shape[0]) if codes else []
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
_loss_cotangent = jax.jit(loss_cotangent)
_sq_norm = jax.jit(tree_sq_norm)
_flat = jax.jit(lambda tree: jnp.concatenate([leaf.reshape(-1) for leaf in jax.tree_util.tree_leaves(tree)]))


@functools.lru_cache(maxsize=None)
def _reductions(names: tuple[str, ...]) -> Callable:
    """jit: (block params, block gradients) -> each score's reduction of that block, as 1-D arrays."""
    defs = [definitions.get(n) for n in names]
    return jax.jit(lambda p, g: tuple(jnp.atleast_1d(d.reduce(p, g)) for d in defs))


class _Forward(NamedTuple):
    logits: jax.Array
    pullbacks: list[Any]  # per step: its VJP, or None
    kernels: list[jax.Array]  # ReLU-code kernels per block that has ReLUs
    macs: int  # multiply-accumulates of the whole batch
    nodes: list[Any]  # every node's value


def _run_forward(t: Tape, variables: Variables, x: jax.Array, bn: str, *, pullback: bool, codes: bool,
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
            block_vars = block_variables(variables, step)
            y, pullbacks[i], kernel = _forward_fn(step.block, pullback, codes, bn)(block_vars, src)
            if kernel is not None:
                kernels.append(kernel)
            if macs:
                total_macs += _block_macs(step.block, block_vars, src)
        nodes[step.dst] = y if nodes[step.dst] is None else nodes[step.dst] + y
    return _Forward(nodes[-1], pullbacks, kernels, total_macs, nodes)


def _run_backward(t: Tape, pullbacks: list[Any], cotangent: jax.Array, *, params: bool, start: int | None = None,
                  stop: int = 0) -> tuple[jax.Array | None, dict[int, Any]]:
    """Chains the steps' VJPs from a cotangent of node ``start`` (default: the logits) back to node ``stop``
    (default: the input); (cotangent of node ``stop``, parameter cotangents by step).

    The returned cotangent is None when no path joins the two nodes (an all-``none`` cell)."""
    start = t.num_nodes - 1 if start is None else start
    cts: list[Any] = [None] * t.num_nodes
    cts[start] = cotangent
    grads: dict[int, Any] = {}
    for i in reversed(range(len(t.steps))):
        step = t.steps[i]
        if step.dst > start or step.src < stop:
            continue
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
    return cts[stop], grads


_MACS: dict[tuple, int] = {}


def _block_macs(block: nn.Module, block_vars: dict, x: jax.Array) -> int:
    """Multiply-accumulates of one block at ``x``'s shape, its jaxpr counted once per block and shape."""
    key = (block, x.shape, x.dtype)
    if key not in _MACS:
        shapes = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), (block_vars, x))
        closed = jax.make_jaxpr(lambda v, x: block.apply(v, x, train=False))(*shapes)
        _MACS[key] = jaxpr_macs(closed.jaxpr)
    return _MACS[key]


def _with_grads(grads: dict[int, Any]) -> list[tuple[int, Any]]:
    return [(i, g) for i, g in sorted(grads.items()) if g]


def loss_gradients(model: nn.Module, variables: Variables, batch: Batch, bn: str = DEFAULT_BN) -> dict:
    """d (mean cross-entropy) / d params, blockwise: the tree of ``variables["params"]`` (zeros where unused)."""
    t = tape(model)
    fwd = _run_forward(t, variables, batch.inputs, check_bn(bn), pullback=True, codes=False)
    _, grads = _run_backward(t, fwd.pullbacks, _loss_cotangent(fwd.logits, batch.labels), params=True)
    tree = _nested_dict(jax.tree_util.tree_map(jnp.zeros_like, variables["params"]))
    for i, g in _with_grads(grads):
        place(tree, t.steps[i], _nested_dict(g))
    return tree


def _nested_dict(tree: Any) -> Any:
    return {k: _nested_dict(v) for k, v in tree.items()} if hasattr(tree, "items") else tree


# --- quantities --------------------------------------------------------------------------------------------------


def _reduce_blocks(t: Tape, variables: Variables, grads: dict[int, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Each score's reduction applied block by block and concatenated (reductions are additive)."""
    parts: list[list[jax.Array]] = [[] for _ in names]
    for i, g in _with_grads(grads):
        params = block_variables(variables, t.steps[i]).get("params", {})
        for part, value in zip(parts, _reductions(names)(params, g)):
            part.append(np.asarray(value))
    return {n: np.concatenate(p) if p else np.zeros(1) for n, p in zip(names, parts)}


def _trace_over(t: Tape, fwd: _Forward, cotangents: jax.Array) -> float:
    """sum over the cotangents c of ||J^T c||^2, one backward pass each."""
    total = 0.0
    for c in cotangents:
        _, grads = _run_backward(t, fwd.pullbacks, c, params=True)
        total += sum(float(_sq_norm(g)) for _, g in _with_grads(grads))
    return total


def _ntk_trace_sum(t: Tape, variables: Variables, x: jax.Array, fwd: _Forward, bn: str, probes: int | str,
                   key: jax.Array) -> float:
    """tr(J J^T) as :func:`nasi_nal.scores.joint.ntk_trace_sum` computes it, by backward passes of the tape."""
    if probes != "exact":
        return _trace_over(t, fwd, probe_vectors(key, int(probes), fwd.logits.shape)) / int(probes)
    if bn == "train":
        return _trace_over(t, fwd, jnp.eye(fwd.logits.size, dtype=fwd.logits.dtype).reshape(-1, *fwd.logits.shape))
    total = 0.0
    for i in range(x.shape[0]):  # eval mode: per example, each a batch of one
        one = _run_forward(t, variables, x[i:i + 1], bn, pullback=True, codes=False)
        total += _trace_over(t, one, jnp.eye(one.logits.size, dtype=one.logits.dtype).reshape(-1, *one.logits.shape))
    return total


def _example_gradients(t: Tape, variables: Variables, x: jax.Array, fwd: _Forward, bn: str) -> np.ndarray:
    """(N, P) gradients of each example's summed logits, as :func:`nasi_nal.scores.joint.example_gradients`."""
    rows = []
    for i in range(x.shape[0]):
        if bn == "train":
            one, ct = fwd, jnp.zeros_like(fwd.logits).at[i].set(1.0)
        else:
            one = _run_forward(t, variables, x[i:i + 1], bn, pullback=True, codes=False)
            ct = jnp.ones_like(one.logits)
        _, grads = _run_backward(t, one.pullbacks, ct, params=True)
        rows.append(np.concatenate([np.asarray(_flat(g)) for _, g in _with_grads(grads)]))
    return np.stack(rows)


def _stage_jacobian_scores(t: Tape, fwd: _Forward, key: jax.Array) -> np.ndarray:
    """AZ-NAS's trainability per pair of consecutive stages, last pair first (as its reference code loops)."""
    values = []
    for j in reversed(range(1, len(t.features))):
        out, into = t.features[j], t.features[j - 1]
        g_out = stage_cotangent(key, j, fwd.nodes[out].shape)
        g_in, _ = _run_backward(t, fwd.pullbacks, g_out, params=False, start=out, stop=into)
        values.append(definitions.stage_jacobian_score(g_in, g_out))
    return np.asarray(values, np.float64)


def _input_gradient(t: Tape, fwd: _Forward, x: jax.Array) -> jax.Array:
    """d (sum of logits) / d x; zeros when no path joins the input to the logits (an all-``none`` cell)."""
    dx, _ = _run_backward(t, fwd.pullbacks, jnp.ones_like(fwd.logits), params=False)
    return jnp.zeros_like(x) if dx is None else dx


def synflow_reduced(model: nn.Module, variables: Variables, input_shape: Sequence[int]) -> np.ndarray:
    """synflow's reduction, blockwise: float64, no batch norm, |W|, an all-ones input.

    The BN-free network's blocks take their weights from ``variables`` (Flax ignores the BN entries): NB201 and NB101
    networks have no weight that exists only without BN, so nothing needs a fresh initialization here.
    """
    t = tape(model.clone(batch_norm=False, dtype=jnp.float64))
    with enable_x64():
        plain = {"params": jax.tree_util.tree_map(lambda w: jnp.abs(jnp.asarray(w, jnp.float64)),
                                                  variables["params"])}
        fwd = _run_forward(t, plain, jnp.ones((1, *input_shape), jnp.float64), "eval", pullback=True, codes=False)
        _, grads = _run_backward(t, fwd.pullbacks, jnp.ones_like(fwd.logits), params=True)
        return _reduce_blocks(t, plain, grads, ("synflow",))["synflow"]


def score_cell(
    model: nn.Module,
    variables: Variables | None,
    batch: Batch,
    names: Sequence[str],
    key: jax.Array | None = None,
    name: str | None = None,
    *,
    bn: str = DEFAULT_BN,
    probes: int | str = DEFAULT_PROBES,
) -> tuple[Variables, CellScores]:
    """Scores ``names`` of one NB201/NB101 network blockwise; returns (variables, CellScores).

    One forward pass serves every score (with pullbacks when a gradient is needed, ReLU codes for ``nwot``, the
    stage features for ``expressivity`` and ``progressivity``), then one backward pass per cotangent: the loss's
    (``grad_norm``, ``snip``, ``nasi_trace``), the summed logits' to the input (``jacob_cov``), one per NTK probe
    (``ntk_trace``; N * K with ``probes="exact"``), one per example (``ntk_cond``), one through each stage
    (``trainability``). ``variables=None`` draws them with :func:`init_variables` from ``key``, which also seeds the NTK
    probes. Arguments and failures as ``nasi_nal.scores.joint.score_cell``.
    """
    names = definitions.check_names(names)
    check_bn(bn)
    check_probes(probes)
    check_batch(batch, "score_cell")
    t = tape(model)
    key = jax.random.PRNGKey(0) if key is None else key
    if variables is None:
        variables = init_variables(model, key, batch.inputs.shape[1:])
    needs = {definitions.get(n).needs for n in names}
    x, n = batch.inputs, batch.inputs.shape[0]
    backward = {Quantity.LOSS_GRAD, Quantity.NTK_TRACE, Quantity.NTK_GRAM, Quantity.INPUT_GRAD,
                Quantity.STAGE_JACOBIANS}
    fwd = None
    if needs & (backward | {Quantity.RELU_CODES, Quantity.FLOPS, Quantity.STAGE_FEATURES}):
        fwd = _run_forward(t, variables, x, bn, pullback=bool(needs & backward), codes=Quantity.RELU_CODES in needs,
                           macs=Quantity.FLOPS in needs)
    reduced: dict[str, Any] = {}
    loss_scores = tuple(s for s in names if definitions.get(s).needs == Quantity.LOSS_GRAD)
    if loss_scores:
        _, grads = _run_backward(t, fwd.pullbacks, _loss_cotangent(fwd.logits, batch.labels), params=True)
        reduced.update(_reduce_blocks(t, variables, grads, loss_scores))
    for s in names:
        quantity = definitions.get(s).needs
        if quantity == Quantity.NTK_TRACE:
            reduced[s] = _ntk_trace_sum(t, variables, x, fwd, bn, probes, key)
        elif quantity == Quantity.NTK_GRAM:
            g = _example_gradients(t, variables, x, fwd, bn).astype(np.float64)
            reduced[s] = g @ g.T
        elif quantity == Quantity.INPUT_GRAD:
            reduced[s] = _input_gradient(t, fwd, x).reshape(n, -1)
        elif quantity == Quantity.RELU_CODES:
            reduced[s] = np.stack([np.asarray(k) for k in fwd.kernels])
        elif quantity == Quantity.SYNFLOW:
            reduced[s] = synflow_reduced(model, variables, x.shape[1:])
        elif quantity == Quantity.STAGE_FEATURES:
            reduced[s] = np.asarray([definitions.feature_entropy(fwd.nodes[f]) for f in t.features])
        elif quantity == Quantity.STAGE_JACOBIANS:
            reduced[s] = _stage_jacobian_scores(t, fwd, key)
        elif quantity == Quantity.PARAMS:
            reduced[s] = num_params(variables["params"])
        elif quantity == Quantity.FLOPS:
            reduced[s] = fwd.macs // n
    ctx = Context(n, int(fwd.logits.shape[-1]) if fwd is not None else 1, name)
    return variables, finish(names, reduced, ctx)


__all__ = ["init_variables", "loss_gradients", "score_cell", "synflow_reduced"]
