"""Every score of one cell from one compiled program: what the scores share is traced, compiled and run once.

``score_cell`` is the entry point for scoring a cell; by default it hands the scores that
``nasi_nal.scores.blockwise`` covers (NAS-Bench-201 and -101 networks) to that module, which compiles nothing per cell,
and computes the rest here.

Compilation, not arithmetic, is the cost of scoring a candidate at initialization (on a 2-core CPU a full-size
NAS-Bench-201 network compiles in ~2 s per score and runs in 0.35 s). ``score_cell`` therefore compiles ONE XLA
program per network, score set and batch shape, which computes the device-side arrays of every requested score:
the mean-loss gradient shared by ``grad_norm``, ``snip`` and ``nasi_trace``, the per-example Jacobian norms of
``ntk_trace``, the NTK Gram matrix of ``ntk_cond``, the input Jacobians of ``jacob_cov`` and the ReLU-code kernels
of ``nwot``. The host then finishes each score exactly as
the per-score function does (``eigvalsh``/``slogdet`` in float64, the same normalisations). ``synflow`` needs its
own float64 program of the network without batch norm; ``params`` and ``flops`` are read off shapes and the jaxpr.

Each score from ``score_cell`` equals the per-score function of ``nasi_nal.scores`` on the same variables and
batch up to float32 rounding of the differently fused program (``tests/test_scores_joint.py``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import NasiNalError, UnknownScoreError
from nasi_nal.networks.common import num_params
from nasi_nal.scores import baselines, blockwise, ntk
from nasi_nal.scores.common import (
    CellScores,
    Variables,
    check_batch,
    check_finite,
    compiled,
    tree_sq_norm,
    weight_leaves,
)
from nasi_nal.scores.data import Batch

#: Scores whose arrays the joint program computes on the device.
DEVICE_SCORES = ("ntk_trace", "nasi_trace", "ntk_cond", "grad_norm", "snip", "jacob_cov", "nwot")
#: Scores computed beside it: from shapes (``params``), the jaxpr (``flops``), a float64 program (``synflow``).
HOST_SCORES = ("params", "flops", "synflow")
_LOSS_GRAD_SCORES = frozenset({"grad_norm", "snip", "nasi_trace"})


def _device_arrays(model: nn.Module, names: tuple[str, ...], chunk_size: int) -> Callable:
    """(variables, batch) -> {score: array} for the device scores in ``names``, traced as one function."""

    def run(variables: Variables, batch: Batch) -> dict[str, jax.Array]:
        out: dict[str, jax.Array] = {}
        if _LOSS_GRAD_SCORES & set(names):
            grads = baselines._loss_grads(model)(variables, batch)
            kernels, grad_kernels = weight_leaves(variables["params"]), weight_leaves(grads)
            if "grad_norm" in names:
                out["grad_norm"] = jnp.stack([jnp.linalg.norm(g.reshape(-1)) for g in grad_kernels])
            if "snip" in names:
                out["snip"] = jnp.stack([jnp.sum(jnp.abs(w * g)) for w, g in zip(kernels, grad_kernels)])
            if "nasi_trace" in names:
                out["nasi_trace"] = tree_sq_norm(grads)
        if "ntk_trace" in names:
            norms = ntk._per_example_sq_norms(model, None, chunk_size)(variables, batch.inputs)
            out["ntk_trace"] = jnp.sum(norms)
        if "ntk_cond" in names:
            out["ntk_cond"] = ntk._gram(model, chunk_size)(variables, batch.inputs)
        if "jacob_cov" in names:
            out["jacob_cov"] = baselines._input_jacobian(model)(variables, batch.inputs)
        if "nwot" in names:
            out["nwot"] = baselines._relu_kernels(model)(variables, batch.inputs)
        return out

    return run


def _finish(name: str, value: jax.Array, batch: Batch, num_outputs: int, cell: str | None) -> float:
    """The host-side end of one device score, as the per-score function computes it."""
    if name in ("grad_norm", "snip"):
        return check_finite(float(np.sum(np.asarray(value, np.float64))), name, cell)
    if name == "nasi_trace":
        return check_finite(value, name, cell)
    if name == "ntk_trace":  # normalised per sample and per output, as the registered ``ntk_trace`` score
        return check_finite(float(value) / (batch.inputs.shape[0] * num_outputs), name, cell)
    if name == "ntk_cond":
        return ntk.ntk_cond_value(value, cell)
    if name == "jacob_cov":
        return baselines.jacob_cov_value(value, cell)
    return baselines.nwot_value(value, cell)


METHODS = ("auto", "joint", "blockwise")


def score_cell(
    model: nn.Module,
    variables: Variables | None,
    batch: Batch,
    names: Sequence[str],
    key: jax.Array | None = None,
    name: str | None = None,
    *,
    chunk_size: int = 8,
    method: str = "auto",
) -> tuple[Variables, CellScores]:
    """Scores ``names`` of one network; returns (variables, CellScores).

    Args:
      model: a Flax module ``__call__(x, train)`` (``nasi_nal.networks.build``).
      variables: its variables, or ``None`` to initialize them with ``key``.
      batch: the scoring batch (``make_batch``).
      names: score names from ``nasi_nal.scores.SCORES``.
      key: the init key (when ``variables`` is None); also seeds parameters that exist only without batch norm
        (``synflow``).
      name: the cell, named in error messages.
      chunk_size: examples per Jacobian chunk (``ntk_trace``, ``ntk_cond``).
      method: ``"joint"`` compiles one program for this network (every score, every space); ``"blockwise"``
        runs the network through blocks compiled once per space (``nasi_nal.scores.blockwise``: NAS-Bench-201
        and -101 networks, the scores of ``BLOCKWISE_SCORES``); ``"auto"`` (default) takes blockwise for what it covers
        and the joint program for the rest (the exact NTK scores), on the same variables.

    ``variables=None`` initializes blockwise (``blockwise.init_variables``) when the blockwise path is used, else
    with ``model.init`` run eagerly (its initializers compile once per shape; a jitted ``init`` recompiles them
    for every network). A score that cannot be computed for this cell (``NonFiniteScoreError`` and the other
    ``NasiNalError``s) is reported in ``errors`` instead of ``values``; an unknown score name or method raises
    before any work.
    """
    unknown = sorted(set(names) - set(DEVICE_SCORES) - set(HOST_SCORES))
    if unknown:
        raise UnknownScoreError(f"unknown score(s) {unknown}: choose from {', '.join(DEVICE_SCORES + HOST_SCORES)}")
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {METHODS}")
    check_batch(batch, "score_cell")
    key = jax.random.PRNGKey(0) if key is None else key
    fast: list[str] = []
    if method == "blockwise" or (method == "auto" and blockwise.supports(model)):
        fast = [n for n in names if n in blockwise.BLOCKWISE_SCORES]
        if method == "blockwise" and (len(fast) < len(names) or not blockwise.supports(model)):
            raise ValueError(f"method='blockwise' scores {', '.join(blockwise.BLOCKWISE_SCORES)} of NB201 and "
                             f"NB101 networks; {type(model).__name__} and {sorted(set(names) - set(fast))} need "
                             "method='joint'")
    if variables is None:
        variables = (blockwise.init_variables(model, key, batch.inputs.shape[1:]) if fast
                     else model.init(key, batch.inputs[:1], train=False))
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    if fast:
        _, result = blockwise.score_cell(model, variables, batch, fast, key, name)
        values.update(result.values)
        errors.update(result.errors)
    rest = [n for n in names if n not in fast]
    device = tuple(n for n in DEVICE_SCORES if n in rest)
    arrays = compiled(_device_arrays, model, device, int(chunk_size))(variables, batch) if device else {}
    num_outputs = int(jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables,
                                     batch.inputs[:1]).shape[-1]) if "ntk_trace" in rest else 1
    for score in rest:
        try:
            if score in arrays:
                values[score] = _finish(score, arrays[score], batch, num_outputs, name)
            elif score == "params":
                values[score] = float(num_params(variables["params"]))
            elif score == "flops":
                values[score] = baselines.flops(model, variables, batch, key, name)
            else:
                values[score] = baselines.synflow(model, variables, batch, key, name)
        except NasiNalError as err:
            errors[score] = str(err)
    return variables, CellScores({n: values[n] for n in names if n in values}, errors)


__all__ = ["CellScores", "DEVICE_SCORES", "HOST_SCORES", "METHODS", "score_cell"]
