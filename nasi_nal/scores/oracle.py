"""The oracle engine: the exact NTK trace through neural-tangents' ``empirical_ntk_fn``.

Our own engines are checked against it. neural-tangents 0.6.5 (its latest release) does not import with JAX >= 0.6,
so this engine only works in the pinned lane that ``.ci/ntk_lane`` builds (Python 3.11, jax 0.4.23, flax 0.8.0,
neural-tangents 0.6.5); anywhere else it raises ``BackendUnavailableError`` saying so.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from nasi_nal.errors import BackendUnavailableError, ScoringConfigError
from nasi_nal.scores.common import CellScores, check_bn, network_fn
from nasi_nal.scores.definitions import Context
from nasi_nal.scores.joint import finish, num_outputs

_LANE_HINT = (
    "neural-tangents 0.6.5 only imports with jax < 0.6: run the pinned lane `.ci/ntk_lane` (it builds a "
    "Python 3.11 venv with jax 0.4.23, flax 0.8.0, neural-tangents 0.6.5 and runs `pytest -m oracle`), "
    "or use backend='jax'"
)


def neural_tangents() -> Any:
    """Imports and returns the ``neural_tangents`` module, or raises ``BackendUnavailableError`` with the fix."""
    try:
        import neural_tangents as nt
    except Exception as err:  # ImportError, or the AttributeError newer JAX raises inside neural-tangents
        raise BackendUnavailableError(f"neural_tangents does not import here ({err!r}): {_LANE_HINT}") from err
    return nt


def ntk_trace_sum(f: Callable[[Any, jax.Array], jax.Array], params: Any, inputs: jax.Array, bn: str) -> float:
    """tr(J J^T) of ``f(params, X) -> (N, K)`` on ``inputs``, by neural-tangents.

    Eval mode: ``f`` is per example, so ``trace_axes=(-1,)`` over the K logits and ``diagonal_axes=(0,)`` give each
    example's own block. Train mode: the batch is one input (batch statistics couple the examples), so the kernel is
    taken of ``X -> f(params, X).reshape(1, N * K)`` on the one-element batch ``X[None]``. neural-tangents *averages*
    over trace axes (its kernels are per output), so the sum is multiplied by the number of traced outputs.
    """
    nt = neural_tangents()
    if bn == "train":
        n, k = jax.eval_shape(f, params, inputs).shape
        g = lambda p, xs: f(p, xs[0]).reshape(1, -1)  # noqa: E731
        kernel_fn = nt.empirical_ntk_fn(g, trace_axes=(-1,), diagonal_axes=(0,), vmap_axes=None)
        return float(jnp.sum(kernel_fn(inputs[None], None, params))) * n * k
    kernel_fn = nt.empirical_ntk_fn(f, trace_axes=(-1,), diagonal_axes=(0,), vmap_axes=0)
    diag = kernel_fn(inputs, None, params)  # (N,): Theta(x_i, x_i) averaged over the K logits
    return float(jnp.sum(diag)) * jax.eval_shape(f, params, inputs[:1]).shape[-1]


def score_cell(model: Any, variables: Any, batch: Any, names: Any, key: Any = None, name: str | None = None, *,
               bn: str, probes: int | str) -> tuple[Any, CellScores]:
    """The exact ``ntk_trace`` of one network by neural-tangents (the only score this engine computes)."""
    names = list(names)
    if names != ["ntk_trace"] or probes != "exact":
        raise ScoringConfigError(f"the oracle engine computes the exact ntk_trace only (probes='exact'), not {names} "
                                 f"with probes={probes!r}: use engine='joint' or 'blockwise'")
    check_bn(bn)
    if variables is None:
        variables = model.init(key, batch.inputs[:1], train=False)
    total = ntk_trace_sum(network_fn(model, variables, bn), variables["params"], jnp.asarray(batch.inputs), bn)
    ctx = Context(batch.inputs.shape[0], num_outputs(model, variables, batch), name)
    return variables, finish(names, {"ntk_trace": total}, ctx)
