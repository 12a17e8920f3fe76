"""One function per score, ``score(model, variables, batch, key, name=None) -> float``: thin wrappers over the
engines (:func:`nasi_nal.scores.engines.score_cell`, which picks blockwise for NB201/NB101 networks and the joint
program otherwise), plus the NTK trace and Gram matrix of a batch of inputs.

A score that cannot be computed raises ``NonFiniteScoreError`` naming the score and the cell.
"""
from __future__ import annotations

from typing import Callable, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import NonFiniteScoreError, ScoringConfigError
from nasi_nal.scores import definitions, engines, oracle
from nasi_nal.scores.common import (
    DEFAULT_BN,
    DEFAULT_PROBES,
    Variables,
    check_bn,
    check_finite,
    check_probes,
    compiled,
    network_fn,
)
from nasi_nal.scores.data import Batch
from nasi_nal.scores.joint import example_gradients, ntk_trace_sum, num_outputs

NORMALIZATIONS = ("none", "sample", "sample_output")
BACKENDS = ("jax", "neural_tangents")


class ScoreFn(Protocol):
    """The one calling convention of every score: ``score(model, variables, batch, key, name=None) -> float``.

    ``key`` is the draw's key (it seeds the NTK probes); ``name`` describes the cell (arch string, hash) and only
    appears in error messages; ``bn`` and ``probes`` are as ``nasi_nal.scores.joint.score_cell``.
    """

    def __call__(self, model: nn.Module, variables: Variables, batch: Batch, key: jax.Array | None = None,
                 name: str | None = None, *, bn: str = DEFAULT_BN, probes: int | str = DEFAULT_PROBES) -> float: ...


def score_function(score: str) -> ScoreFn:
    """The function of the registered score ``score`` (``UnknownScoreError`` for an unknown name)."""
    definition = definitions.get(score)

    def fn(model: nn.Module, variables: Variables, batch: Batch, key: jax.Array | None = None,
           name: str | None = None, *, bn: str = DEFAULT_BN, probes: int | str = DEFAULT_PROBES) -> float:
        _, result = engines.score_cell(model, variables, batch, [score], key, name, bn=bn, probes=probes)
        if score in result.errors:
            raise NonFiniteScoreError(result.errors[score])
        return result.values[score]

    fn.__name__ = fn.__qualname__ = score
    fn.__doc__ = f"The ``{score}`` score: {definition.reference}."
    return fn


ntk_trace_score = score_function("ntk_trace")
nasi_trace = score_function("nasi_trace")
ntk_condition_number = score_function("ntk_cond")
params = score_function("params")
flops = score_function("flops")
grad_norm = score_function("grad_norm")
snip = score_function("snip")
synflow = score_function("synflow")
jacob_cov = score_function("jacob_cov")
nwot = score_function("nwot")


def _restricted(model: nn.Module, variables: Variables, bn: str, output: int | None) -> Callable:
    f = network_fn(model, variables, bn)
    return f if output is None else (lambda p, x: f(p, x)[:, output:output + 1])


def _trace_program(model: nn.Module, bn: str, probes: int | str, chunk_size: int, output: int | None) -> Callable:
    def run(variables: Variables, x: jax.Array, key: jax.Array) -> jax.Array:
        f = _restricted(model, variables, bn, output)
        return ntk_trace_sum(f, variables["params"], x, bn, probes, key, chunk_size)

    return run


def ntk_trace(
    model: nn.Module,
    variables: Variables,
    inputs: jax.Array,
    *,
    probes: int | str = DEFAULT_PROBES,
    key: jax.Array | None = None,
    output: int | None = None,
    chunk_size: int = 8,
    normalize: str = "none",
    bn: str = DEFAULT_BN,
    backend: str = "jax",
    name: str | None = None,
) -> float:
    """The trace of the empirical NTK, tr(J J^T) with J = dF/dtheta of the batch's outputs.

    Args:
      model, variables: a Flax module ``__call__(x, train)`` and its variables (``params`` are differentiated).
      inputs: (N, H, W, C) batch.
      probes: ``k`` Rademacher probes v over the N x K outputs give the unbiased estimate mean ||J^T v||^2 at the cost
        of k backward passes (relative error ~ 1/sqrt(k)); ``"exact"`` sums N * K backward passes.
      key: the key the probes are drawn from (needed when ``probes`` is a number).
      output: ``None`` uses all K logits; an int that logit only (K = 1).
      chunk_size: probes / examples whose gradients are held at once.
      normalize: ``"none"`` (the raw trace), ``"sample"`` (/N) or ``"sample_output"`` (/(N K)).
      bn: batch-norm mode (``nasi_nal.scores.common``): in train mode the batch is one input.
      backend: ``"jax"`` or ``"neural_tangents"`` (the oracle, exact only; pinned lane only).
      name: the cell, named in the error raised when the trace is inf or NaN.

    Example:
      >>> t = ntk_trace(model, variables, batch.inputs, probes=8, key=jax.random.PRNGKey(0), normalize="sample_output")
    """
    check_bn(bn)
    check_probes(probes)
    if normalize not in NORMALIZATIONS:
        raise ScoringConfigError(f"normalize={normalize!r} is not one of {NORMALIZATIONS}")
    if probes != "exact" and key is None:
        raise ScoringConfigError(f"ntk_trace with probes={probes} draws Rademacher probes: pass key=, or "
                                 "probes='exact'")
    x = jnp.asarray(inputs)
    if backend == "jax":
        key = jax.random.PRNGKey(0) if key is None else key
        total = compiled(_trace_program, model, bn, probes, int(chunk_size), output)(variables, x, key)
    elif backend == "neural_tangents":
        if probes != "exact":
            raise ScoringConfigError("backend='neural_tangents' computes the exact trace: pass probes='exact'")
        total = oracle.ntk_trace_sum(_restricted(model, variables, bn, output), variables["params"], x, bn)
    else:
        raise ScoringConfigError(f"backend={backend!r} is not one of {BACKENDS}")
    total = float(total)
    n = x.shape[0]
    if normalize == "sample":
        total /= n
    elif normalize == "sample_output":
        k = 1 if output is not None else num_outputs(model, variables, Batch(x, jnp.zeros(n, jnp.int32)))
        total /= n * k
    return check_finite(total, "ntk_trace", name)


def _gram_program(model: nn.Module, bn: str, chunk_size: int) -> Callable:
    def run(variables: Variables, x: jax.Array) -> jax.Array:
        g = example_gradients(network_fn(model, variables, bn), variables["params"], x, bn, chunk_size)
        return jnp.dot(g, g.T, precision=jax.lax.Precision.HIGHEST)

    return run


def ntk_gram(model: nn.Module, variables: Variables, inputs: jax.Array, *, bn: str = DEFAULT_BN,
             chunk_size: int = 8) -> np.ndarray:
    """The (N, N) Gram matrix of the gradients of each example's summed logits (TE-NAS's kernel), float64 on host.

    The products are formed on the device in float32 at ``Precision.HIGHEST`` (never TF32 on a GPU).
    """
    check_bn(bn)
    return np.asarray(compiled(_gram_program, model, bn, int(chunk_size))(variables, jnp.asarray(inputs)), np.float64)


__all__ = ["BACKENDS", "NORMALIZATIONS", "ScoreFn", "flops", "grad_norm", "jacob_cov", "nasi_trace",
           "ntk_condition_number", "ntk_gram", "ntk_trace", "ntk_trace_score", "nwot", "params", "score_function",
           "snip", "synflow"]
