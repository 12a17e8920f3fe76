"""The joint engine: one compiled program per network computes the quantities of every requested score.

Works for every Flax network with ``__call__(x, train)`` (DARTS networks, test models, the benchmarks' cells). The
program is compiled once per network, score set, batch-norm mode, probe setting and batch shape
(:func:`nasi_nal.scores.common.compiled`): what the scores share (the forward pass, the loss gradient of
``grad_norm``, ``snip`` and ``nasi_trace``) is traced, compiled and run once, and each score's device reduction
(``nasi_nal.scores.definitions``) runs inside it. ``synflow`` has its own float64 program of the network without
batch norm; ``params`` and ``flops`` are read off shapes and the jaxpr.

The masked engine (``nasi_nal.scores.masked``) vmaps this engine's :func:`device_program` over cells.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import NasiNalError, ScoringConfigError
from nasi_nal.networks.common import count_macs, num_params
from nasi_nal.scores import definitions
from nasi_nal.scores.common import (
    DEFAULT_BN,
    DEFAULT_PROBES,
    CellScores,
    Variables,
    check_batch,
    check_bn,
    check_probes,
    compiled,
    enable_x64,
    forward,
    hamming_kernels,
    loss_cotangent,
    network_fn,
    probe_vectors,
    tree_sq_norm,
)
from nasi_nal.scores.data import Batch
from nasi_nal.scores.definitions import Context, Quantity

#: Quantities a device program computes; the others are computed beside it.
DEVICE_QUANTITIES = frozenset({Quantity.LOSS_GRAD, Quantity.NTK_TRACE, Quantity.NTK_GRAM, Quantity.INPUT_GRAD,
                               Quantity.RELU_CODES})


def _chunked(x: jax.Array, chunk_size: int) -> tuple[jax.Array, int]:
    """(M, ...) -> (ceil(M / c), c, ...), zero-padded; the caller drops the padded rows after the map."""
    n = x.shape[0]
    c = max(1, min(int(chunk_size), n))
    pad = (-n) % c
    if pad:
        x = jnp.concatenate([x, jnp.zeros((pad, *x.shape[1:]), x.dtype)])
    return x.reshape(-1, c, *x.shape[1:]), n


def _map_chunks(fn: Callable[[jax.Array], jax.Array], xs: jax.Array, chunk_size: int) -> jax.Array:
    """``vmap(fn)`` over the rows of ``xs``, ``chunk_size`` rows at a time (``lax.map`` over chunks)."""
    chunks, n = _chunked(xs, chunk_size)
    out = jax.lax.map(jax.vmap(fn), chunks)
    return out.reshape(-1, *out.shape[2:])[:n]


def _flat(tree: Any) -> jax.Array:
    return jnp.concatenate([leaf.reshape(-1) for leaf in jax.tree_util.tree_leaves(tree)])


def ntk_trace_sum(f: Callable, params: Any, x: jax.Array, bn: str, probes: int | str, key: jax.Array,
                  chunk_size: int) -> jax.Array:
    """tr(J J^T) of F(params, x) -> (N, K): exact, or the mean of ``probes`` Rademacher estimates ||J^T v||^2.

    Exact: in train mode J is the (N K, P) Jacobian of the whole batch's outputs (the batch is one input), summed
    over N K backward passes with one-hot cotangents; in eval mode the outputs are per example, so the same trace is
    the sum of each example's (K, P) Jacobian norm (N * K passes at batch 1).
    """
    outputs, pullback = jax.vjp(lambda p: f(p, x), params)
    if probes != "exact":
        vs = probe_vectors(key, int(probes), outputs.shape)
        return jnp.mean(_map_chunks(lambda v: tree_sq_norm(pullback(v)[0]), vs, chunk_size))
    if bn == "train":
        basis = jnp.eye(outputs.size, dtype=outputs.dtype).reshape(-1, *outputs.shape)
        return jnp.sum(_map_chunks(lambda e: tree_sq_norm(pullback(e)[0]), basis, chunk_size))

    def one(xi: jax.Array) -> jax.Array:
        return tree_sq_norm(jax.jacrev(lambda p: f(p, xi[None])[0])(params))

    return jnp.sum(_map_chunks(one, x, chunk_size))


def example_gradients(f: Callable, params: Any, x: jax.Array, bn: str, chunk_size: int) -> jax.Array:
    """(N, P): the gradient of each example's summed logits (TE-NAS's NTK features).

    Train mode: N backward passes of the whole batch, cotangent 1 on example i's logits; eval mode: per example.
    """
    if bn == "train":
        outputs, pullback = jax.vjp(lambda p: f(p, x), params)
        rows = jnp.eye(x.shape[0], dtype=outputs.dtype)[:, :, None] * jnp.ones_like(outputs)[None]
        return _map_chunks(lambda c: _flat(pullback(c)[0]), rows, chunk_size)
    return _map_chunks(lambda xi: _flat(jax.grad(lambda p: jnp.sum(f(p, xi[None])))(params)), x, chunk_size)


def device_program(model: nn.Module, names: tuple[str, ...], bn: str, probes: int | str,
                   chunk_size: int) -> Callable[[Variables, Batch, jax.Array], dict[str, jax.Array]]:
    """(variables, batch, key) -> {score: reduced array} for the device scores in ``names``, traced as one function.

    ``key`` is the draw's key; it seeds the NTK probe vectors.
    """
    defs = [definitions.get(n) for n in names]

    def run(variables: Variables, batch: Batch, key: jax.Array) -> dict[str, jax.Array]:
        f = network_fn(model, variables, bn)
        params, x = variables["params"], batch.inputs
        out: dict[str, jax.Array] = {}
        needs = {d.needs for d in defs}
        if Quantity.LOSS_GRAD in needs:
            logits, pullback = jax.vjp(lambda p: f(p, x), params)
            grads = pullback(loss_cotangent(logits, batch.labels))[0]
            out.update({d.name: d.reduce(params, grads) for d in defs if d.needs == Quantity.LOSS_GRAD})
        if Quantity.NTK_TRACE in needs:
            out["ntk_trace"] = ntk_trace_sum(f, params, x, bn, probes, key, chunk_size)
        if Quantity.NTK_GRAM in needs:
            g = example_gradients(f, params, x, bn, chunk_size)
            out["ntk_cond"] = jnp.dot(g, g.T, precision=jax.lax.Precision.HIGHEST)
        if Quantity.INPUT_GRAD in needs:
            out["jacob_cov"] = jax.grad(lambda x: jnp.sum(f(params, x)))(x).reshape(x.shape[0], -1)
        if Quantity.RELU_CODES in needs:
            _, codes = forward(model, variables, x, bn, relu_codes=True)
            kernels = hamming_kernels(codes, x.shape[0])
            if not kernels:
                raise ValueError(f"nwot: {type(model).__name__} applies no nasi_nal.networks.common.ReLU module; "
                                 "apply every ReLU through that module so its activation codes can be captured")
            out["nwot"] = jnp.stack(kernels)
        return out

    return run


def without_bn(model: nn.Module, variables: Variables, input_shape: tuple, key: jax.Array) -> tuple[nn.Module, Any]:
    """The same network with ``batch_norm=False`` and the given weights carried over by parameter path (synflow).

    A parameter that exists only without BN keeps the BN-free network's own initialization from ``key``; a
    parameter whose shape changed is an error.
    """
    if "batch_stats" not in variables and not getattr(model, "batch_norm", False):
        return model, variables["params"]
    if not hasattr(model, "batch_norm"):
        raise ValueError(
            f"synflow needs the network without batch norm, but {type(model).__name__} has no `batch_norm` "
            "field: give the module a field `batch_norm: bool = True` that drops every BN layer when False")
    plain = model.clone(batch_norm=False)
    fresh = plain.init(key, jnp.zeros(input_shape), train=False)["params"]
    given = {jax.tree_util.keystr(p): w for p, w in jax.tree_util.tree_flatten_with_path(variables["params"])[0]}
    flat, structure = jax.tree_util.tree_flatten_with_path(fresh)
    leaves = []
    for path, own in flat:
        leaf = given.get(jax.tree_util.keystr(path), own)
        if leaf.shape != own.shape:
            raise ValueError(
                f"synflow: parameter {jax.tree_util.keystr(path)} has shape {own.shape} in "
                f"{type(model).__name__}(batch_norm=False) but {leaf.shape} in the given variables: name the "
                "network's layers so they keep their names when batch norm is dropped")
        leaves.append(leaf)
    return plain, jax.tree_util.tree_unflatten(structure, leaves)


def synflow_program(plain: nn.Module) -> Callable[[Any, jax.Array], jax.Array]:
    """(params, ones input) -> synflow's reduction, float64: |W|, the gradient of the sum of the outputs."""
    reduce = definitions.get("synflow").reduce

    def run(params: Any, x: jax.Array) -> jax.Array:
        weights = jax.tree_util.tree_map(lambda w: jnp.abs(jnp.asarray(w, jnp.float64)), params)
        grads = jax.grad(lambda p: jnp.sum(plain.apply({"params": p}, x, train=False)))(weights)
        return reduce(weights, grads)

    return run


def synflow_reduced(model: nn.Module, variables: Variables, input_shape: tuple, key: jax.Array) -> np.ndarray:
    """synflow's reduced array for one network (a network with a compute ``dtype`` field computes in float64)."""
    plain, params = without_bn(model, variables, (1, *input_shape), key)
    if hasattr(plain, "dtype"):
        plain = plain.clone(dtype=jnp.float64)
    with enable_x64():
        return np.asarray(compiled(synflow_program, plain)(params, jnp.ones((1, *input_shape), jnp.float64)))


def num_outputs(model: nn.Module, variables: Variables, batch: Batch) -> int:
    """K, the number of logits (the network's ``num_classes``, else from shapes)."""
    k = getattr(model, "num_classes", None)
    if isinstance(k, int):
        return k
    return int(jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, batch.inputs[:1]).shape[-1])


def finish(names: Sequence[str], reduced: dict[str, Any], ctx: Context) -> CellScores:
    """Every score's host finish; a score that cannot be computed (a ``NasiNalError``) goes to ``errors``."""
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name in names:
        try:
            values[name] = definitions.get(name).finish(np.asarray(reduced[name]), ctx)
        except NasiNalError as err:
            errors[name] = str(err)
    return CellScores(values, errors)


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
    chunk_size: int = 8,
) -> tuple[Variables, CellScores]:
    """Scores ``names`` of one network with one compiled program; returns (variables, CellScores).

    Args:
      model: a Flax module ``__call__(x, train)`` (``nasi_nal.networks.build``).
      variables: its variables, or ``None`` to draw them with ``model.init(key, ...)`` (run eagerly: its
        initializers compile once per shape, where a jitted ``init`` would recompile them for every network).
      batch: the scoring batch (``make_batch``).
      names: score names (``nasi_nal.scores.SCORES``).
      key: the draw's key: initializes ``variables`` when None, seeds the NTK probes and the parameters that exist
        only without batch norm (``synflow``).
      name: the cell, named in error messages.
      bn: batch-norm mode, ``"train"`` or ``"eval"`` (``nasi_nal.scores.common``).
      probes: Rademacher probes of the NTK trace, or ``"exact"``.
      chunk_size: probes / examples whose gradients are held at once.
    """
    names = definitions.check_names(names)
    staged = sorted(set(names) & definitions.STAGE_SCORES)
    if staged:
        raise ScoringConfigError(f"{staged} need the network laid out as stages: score them with engine='blockwise' "
                                 "(NB201 and NB101 networks)")
    check_bn(bn)
    check_probes(probes)
    check_batch(batch, "score_cell")
    key = jax.random.PRNGKey(0) if key is None else key
    if variables is None:
        variables = model.init(key, batch.inputs[:1], train=False)
    needs = {n: definitions.get(n).needs for n in names}
    device = tuple(n for n in names if needs[n] in DEVICE_QUANTITIES)
    reduced: dict[str, Any] = {}
    if device:
        program = compiled(device_program, model, device, bn, probes, int(chunk_size))
        reduced.update(program(variables, batch, key))
    for n in names:
        if needs[n] == Quantity.SYNFLOW:
            reduced[n] = synflow_reduced(model, variables, batch.inputs.shape[1:], key)
        elif needs[n] == Quantity.PARAMS:
            reduced[n] = num_params(variables["params"])
        elif needs[n] == Quantity.FLOPS:
            reduced[n] = count_macs(model, variables, batch.inputs.shape[1:])
    ctx = Context(batch.inputs.shape[0], num_outputs(model, variables, batch) if "ntk_trace" in names else 1, name)
    return variables, finish(names, reduced, ctx)


__all__ = ["DEVICE_QUANTITIES", "device_program", "example_gradients", "finish", "ntk_trace_sum", "score_cell",
           "synflow_program", "synflow_reduced", "without_bn"]
