"""The NTK trace through neural-tangents' ``empirical_ntk_fn``: the oracle our own NTK code is checked against.

neural-tangents 0.6.5 (its latest release) does not import with JAX >= 0.6, so this backend only works in the
pinned lane that ``.ci/ntk_lane`` builds (Python 3.11, jax 0.4.23, flax 0.8.0, neural-tangents 0.6.5). Anywhere
else ``ntk_trace(..., backend="neural_tangents")`` raises ``BackendUnavailableError`` saying so.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from nasi_nal.errors import BackendUnavailableError

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


def nt_ntk_trace(
    f: Callable[[Any, jax.Array], jax.Array], params: Any, inputs: jax.Array, *, output: int | None = None
) -> float:
    """Trace of the empirical NTK of ``f(params, x) -> (N, K)`` on ``inputs``, by neural-tangents.

    ``trace_axes=(-1,)`` traces the kernel over the K logits and ``diagonal_axes=(0,)`` keeps only each example's
    own block. neural-tangents *averages* over trace axes (its kernels are per output), so the sum is multiplied
    by K to give ``sum_i sum_k ||d f_k(x_i) / d params||^2``, the quantity of ``nasi_nal.scores.ntk.ntk_trace``.
    """
    nt = neural_tangents()
    if output is not None:
        g = f
        f = lambda p, x: g(p, x)[:, output : output + 1]  # noqa: E731
    kernel_fn = nt.empirical_ntk_fn(f, trace_axes=(-1,), diagonal_axes=(0,), vmap_axes=0)
    diag = kernel_fn(inputs, None, params)  # (N,): Theta(x_i, x_i) averaged over the K logits
    k = jax.eval_shape(f, params, inputs[:1]).shape[-1]
    return float(jnp.sum(diag)) * k
