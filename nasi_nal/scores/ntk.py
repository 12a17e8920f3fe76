"""NTK scores at initialization: the exact empirical NTK trace, NASI's estimator and penalty, TE-NAS's condition number.

For a network f(theta, x) with K logits and a batch x_1..x_N, the empirical NTK is
Theta(x_i, x_j) = J_i J_j^T with J_i = d f(x_i) / d theta (K x P). Its trace is
``sum_i ||J_i||_F^2 = sum_i sum_k ||d f_k(x_i) / d theta||^2``.

Normalisation. ``ntk_trace`` returns that raw sum by default. The registered score ``ntk_trace`` divides it by
N * K (``normalize="sample_output"``): the mean squared gradient norm of one logit of one example, so numbers
are comparable across batch sizes and class counts. NASI's estimator (``nasi_trace``) is already a per-sample
quantity (the gradient of the *mean* loss).

Batch norm is evaluated in eval mode with its initial statistics (see ``nasi_nal.scores.common``); the
neural-tangents backend uses the very same function, so the two agree to float32 rounding.

References:
  Shu, Cai, Dai, Ooi, Low. "NASI: Label- and Data-agnostic Neural Architecture Search at Initialization",
  ICLR 2022 (Eq. 4-6: trace norm of the NTK, its gradient-norm estimator and the penalised objective).
  Chen, Gong, Wang. "Neural Architecture Search on ImageNet in Four GPU Hours: A Theoretically Inspired
  Perspective" (TE-NAS), ICLR 2021, and VITA-Group/TENAS ``get_ntk_n`` (condition number of the NTK).
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.scores.common import (
    Variables,
    apply_fn,
    check_batch,
    check_finite,
    compiled,
    cross_entropy,
    tree_sq_norm,
)
from nasi_nal.scores.data import Batch

NORMALIZATIONS = ("none", "sample", "sample_output")
BACKENDS = ("jax", "neural_tangents")


def _chunked(x: jax.Array, chunk_size: int) -> tuple[jax.Array, int]:
    """(N, ...) -> (ceil(N / c), c, ...), zero-padded; the caller drops the padded rows after the map."""
    n = x.shape[0]
    c = max(1, min(int(chunk_size), n))
    pad = (-n) % c
    if pad:
        x = jnp.concatenate([x, jnp.zeros((pad, *x.shape[1:]), x.dtype)])
    return x.reshape(-1, c, *x.shape[1:]), n


def _per_example_sq_norms(model: nn.Module, output: int | None, chunk_size: int) -> Callable:
    """(variables, x) -> ||J_i||_F^2 per example (N,), ``chunk_size`` examples at a time (~ chunk * K * P floats)."""

    def run(variables: Variables, x: jax.Array) -> jax.Array:
        f = apply_fn(model, variables)
        params = variables["params"]

        def one(xi: jax.Array) -> jax.Array:
            if output is None:
                jac = jax.jacrev(lambda p: f(p, xi[None])[0])(params)  # leaves (K, *leaf.shape)
            else:
                jac = jax.grad(lambda p: f(p, xi[None])[0, output])(params)
            return tree_sq_norm(jac)

        chunks, n = _chunked(x, chunk_size)
        norms = jax.lax.map(jax.vmap(one), chunks)  # (num_chunks, chunk)
        return norms.reshape(-1)[:n]

    return run


def ntk_trace(
    model: nn.Module,
    variables: Variables,
    inputs: jax.Array,
    *,
    output: int | None = None,
    chunk_size: int = 8,
    normalize: str = "none",
    backend: str = "jax",
    name: str | None = None,
) -> float:
    """Exact trace of the empirical NTK of ``model`` at ``variables`` on ``inputs``.

    Args:
      model, variables: a Flax module ``__call__(x, train)`` and its variables (``params`` are differentiated).
      inputs: (N, H, W, C) batch.
      output: ``None`` sums over all K logits; an int uses that logit only (K = 1).
      chunk_size: examples whose Jacobians are held at once (``jax.lax.map`` over chunks); bounds memory for
        DARTS-size networks. Bitwise reproducible for a fixed value; other values agree to float32 rounding.
      normalize: ``"none"`` (the raw sum), ``"sample"`` (/N) or ``"sample_output"`` (/(N K)).
      backend: ``"jax"`` (this module) or ``"neural_tangents"`` (``nt.empirical_ntk_fn``; pinned lane only).
      name: the cell, named in the error raised when the trace is inf or NaN.

    Returns:
      The trace as a Python float.

    Example:
      >>> t = ntk_trace(model, variables, batch.inputs, normalize="sample_output", name="|nor_conv_3x3~0|...")
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize={normalize!r} is not one of {NORMALIZATIONS}")
    if backend == "jax":
        norms = compiled(_per_example_sq_norms, model, output, int(chunk_size))(variables, jnp.asarray(inputs))
        total = jnp.sum(norms)
    elif backend == "neural_tangents":
        from nasi_nal.scores.nt_backend import nt_ntk_trace

        total = nt_ntk_trace(apply_fn(model, variables), variables["params"], jnp.asarray(inputs), output=output)
    else:
        raise ValueError(f"backend={backend!r} is not one of {BACKENDS}")
    total = float(total)
    n = inputs.shape[0]
    if normalize == "sample":
        total /= n
    elif normalize == "sample_output":
        k = 1 if output is not None else _num_outputs(model, variables, inputs)
        total /= n * k
    return check_finite(total, "ntk_trace", name)


def _num_outputs(model: nn.Module, variables: Variables, inputs: jax.Array) -> int:
    """K, the number of logits, from shapes only."""
    out = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, inputs[:1])
    return int(out.shape[-1])


def _mean_loss_grad_sq_norm(model: nn.Module) -> Callable:
    def run(variables: Variables, batch: Batch) -> jax.Array:
        f = apply_fn(model, variables)
        grads = jax.grad(lambda p: cross_entropy(f(p, batch.inputs), batch.labels))(variables["params"])
        return tree_sq_norm(grads)

    return run


def nasi_trace(
    model: nn.Module, variables: Variables, batch: Batch, key: jax.Array | None = None, name: str | None = None
) -> float:
    """NASI's NTK-trace estimator: ||d L / d theta||^2 with L the mini-batch *mean* cross-entropy.

    NASI (Shu et al. 2022, Sec. 4.1, Eq. 5) replaces the exact trace by the squared norm of the gradient of the
    mini-batch loss, one backward pass instead of N * K. With random labels and Gaussian inputs
    (``make_batch(..., inputs="gaussian", targets="random")``) it is label- and data-agnostic (Sec. 4.2).
    ``key`` is unused (the score is deterministic given the batch); it keeps the common signature.
    """
    check_batch(batch, "nasi_trace")
    return check_finite(compiled(_mean_loss_grad_sq_norm, model)(variables, batch), "nasi_trace", name)


def nasi_penalized(trace: float | np.ndarray, mu: float, nu: float) -> float | np.ndarray:
    """NASI's penalised objective ``R = T - mu * max(0, T - nu)`` (Shu et al. 2022, Eq. 6).

    Maximising R prefers large NTK traces (fast training, Eq. 4) but stops rewarding -- and for mu > 1 starts
    penalising -- traces above the constraint nu. Works elementwise on arrays of traces.
    """
    if mu < 0:
        raise ValueError(f"mu={mu} must be >= 0 (it weighs the penalty)")
    t = np.asarray(trace, np.float64)
    r = t - mu * np.maximum(0.0, t - nu)
    return float(r) if r.ndim == 0 else r


def adaptive_nu(traces: Sequence[float] | np.ndarray, quantile: float = 0.9) -> float:
    """The constraint nu set from a sample of candidates: the ``quantile`` of their traces.

    NASI treats nu as a hyper-parameter. Here it is chosen relative to the population actually searched, so
    the penalty only bites on the ``1 - quantile`` fraction of candidates with the largest traces whatever the
    network scale or normalisation. Score the sample with the same estimator, batch size and normalisation as
    the candidates the penalty is applied to.
    """
    t = np.asarray(traces, np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ValueError("adaptive_nu needs a non-empty 1-D sample of finite traces")
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile={quantile} must lie in [0, 1]")
    return float(np.quantile(t, quantile))


def _per_example_grads(model: nn.Module, chunk_size: int) -> Callable:
    """(variables, x) -> (N, P) flattened gradients of each example's summed logits (TE-NAS's NTK features)."""

    def run(variables: Variables, x: jax.Array) -> jax.Array:
        f = apply_fn(model, variables)

        def one(xi: jax.Array) -> jax.Array:
            g = jax.grad(lambda p: jnp.sum(f(p, xi[None])))(variables["params"])
            return jnp.concatenate([leaf.reshape(-1) for leaf in jax.tree_util.tree_leaves(g)])

        chunks, n = _chunked(x, chunk_size)
        grads = jax.lax.map(jax.vmap(one), chunks)
        return grads.reshape(-1, grads.shape[-1])[:n]

    return run


def ntk_gram(model: nn.Module, variables: Variables, inputs: jax.Array, *, chunk_size: int = 8) -> np.ndarray:
    """The (N, N) empirical NTK Gram matrix of the summed logits, float64 on host (TE-NAS's kernel).

    TE-NAS (``get_ntk_n``) back-propagates each example's summed logits and takes inner products of the
    per-example gradients. Memory: N * P floats for the gradients; the (N, N) products are formed on the device
    in float32 at ``Precision.HIGHEST`` (never TF32 on a GPU) and only they travel to the host.
    """
    return np.asarray(compiled(_gram, model, int(chunk_size))(variables, jnp.asarray(inputs)), np.float64)


def _gram(model: nn.Module, chunk_size: int) -> Callable:
    """(variables, x) -> (N, N) Gram matrix of the per-example gradients, float32 at full matmul precision."""

    def run(variables: Variables, x: jax.Array) -> jax.Array:
        g = _per_example_grads(model, chunk_size)(variables, x)
        return jnp.dot(g, g.T, precision=jax.lax.Precision.HIGHEST)

    return run


def ntk_condition_number(
    model: nn.Module,
    variables: Variables,
    batch: Batch,
    key: jax.Array | None = None,
    name: str | None = None,
    *,
    chunk_size: int = 8,
) -> float:
    """Condition number lambda_max / lambda_min of the NTK Gram matrix (TE-NAS, Chen et al. 2021). Lower is better.

    Eigenvalues come from ``numpy.linalg.eigvalsh`` in float64 on host. A Gram matrix with a non-positive
    smallest eigenvalue (below N * float32 eps * lambda_max: rank-deficient, e.g. duplicate inputs or a batch larger
    than the parameter count) has no finite condition number and raises ``NonFiniteScoreError`` naming the cell.
    """
    check_batch(batch, "ntk_cond")
    return ntk_cond_value(ntk_gram(model, variables, batch.inputs, chunk_size=chunk_size), name)


def ntk_cond_value(gram: jax.Array | np.ndarray, name: str | None = None) -> float:
    """``ntk_cond`` from the (N, N) NTK Gram matrix: ``eigvalsh`` in float64 on host."""
    eig = np.linalg.eigvalsh(np.asarray(gram, np.float64))
    # the gradients are float32: an eigenvalue below N * eps32 * lambda_max is zero within their precision
    singular = eig[0] <= eig[-1] * len(eig) * np.finfo(np.float32).eps
    cond = np.inf if singular else eig[-1] / eig[0]
    return check_finite(cond, "ntk_cond", name)


def ntk_trace_score(
    model: nn.Module,
    variables: Variables,
    batch: Batch,
    key: jax.Array | None = None,
    name: str | None = None,
    *,
    output: int | None = None,
    chunk_size: int = 8,
    backend: str = "jax",
) -> float:
    """The registered ``ntk_trace`` score: the exact NTK trace normalised per sample and per output."""
    check_batch(batch, "ntk_trace")
    return ntk_trace(
        model, variables, batch.inputs, output=output, chunk_size=chunk_size,
        normalize="sample_output", backend=backend, name=name,
    )
