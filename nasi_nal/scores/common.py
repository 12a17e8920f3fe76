"""What every score shares: the per-example network function, the loss, finiteness checks, weight selection.

Batch norm at initialization. Every score here evaluates the network in eval mode (``train=False``) with the
batch-norm statistics it was initialized with (running mean 0, variance 1). At init each BN layer is then a
fixed per-channel affine map, so the network is a per-example function f(theta, x_i), which the NTK needs
(an example's Jacobian must not depend on the other examples of the batch), the result does not depend on
batch size or composition, and the neural-tangents oracle, given the same ``apply`` function, computes exactly
the same kernel. Train-mode batch statistics (as PyTorch code such as TE-NAS or the zero-cost proxies uses)
would couple the examples of a batch; we do not use them.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator, NamedTuple, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import NonFiniteScoreError
from nasi_nal.scores.data import Batch

Variables = Any  # a Flax variables dict: {"params": ..., optionally "batch_stats": ...}


class CellScores(NamedTuple):
    """The scores of one cell: ``values`` by score name, and ``errors`` (message by name) for scores that failed."""

    values: dict[str, float]
    errors: dict[str, str]


class ScoreFn(Protocol):
    """The one calling convention of every score: ``score(model, variables, batch, key, name=None) -> float``.

    ``name`` describes the cell (arch string, hash) and only appears in error messages.
    """

    def __call__(
        self, model: nn.Module, variables: Variables, batch: Batch, key: jax.Array, name: str | None = None
    ) -> float: ...


def apply_fn(model: nn.Module, variables: Variables) -> Callable[[Any, jax.Array], jax.Array]:
    """f(params, x) -> logits (N, K), eval-mode BN with the initial statistics (see the module docstring).

    Only the ``params`` collection is differentiated; every other collection (``batch_stats``) is held fixed.
    """
    rest = {k: v for k, v in dict(variables).items() if k != "params"}

    def f(params: Any, x: jax.Array) -> jax.Array:
        return model.apply({**rest, "params": params}, x, train=False)

    return f


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy over the batch (integer labels), as the zero-cost papers' ``F.cross_entropy``."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None].astype(jnp.int32), axis=-1))


def tree_sq_norm(tree: Any) -> jax.Array:
    """Sum of squares of every leaf of a pytree."""
    return sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree_util.tree_leaves(tree))


def weight_leaves(tree: Any) -> list[jax.Array]:
    """The conv and dense weight tensors (Flax leaves named ``kernel``), in a fixed order.

    The zero-cost proxies of Abdelfattah et al. (2021, mohsaied/zero-cost-nas) sum over the ``weight`` of every
    ``nn.Conv2d`` and ``nn.Linear`` layer; Flax calls those ``kernel`` (biases and BN scales are left out).
    """
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [leaf for path, leaf in flat if getattr(path[-1], "key", None) == "kernel"]


def check_finite(value: float | np.ndarray, score: str, name: str | None) -> float:
    """Returns ``float(value)``, or raises ``NonFiniteScoreError`` naming the score and the cell."""
    value = float(value)
    if not np.isfinite(value):
        cell = f" for cell {name}" if name else ""
        raise NonFiniteScoreError(
            f"score {score!r} is {value}{cell}: the network's outputs or gradients overflowed or degenerated "
            "(very deep or wide cell, or a constant network). Score it with a smaller batch or proxy network, "
            "or drop this cell from the ranking explicitly."
        )
    return value


def check_batch(batch: Batch, score: str) -> None:
    """Raises a clear error when the batch is not an NHWC float batch with one integer label per example."""
    if not isinstance(batch, Batch):
        raise TypeError(f"score {score!r} takes a nasi_nal.scores.Batch, got {type(batch).__name__}")
    if batch.inputs.ndim < 2 or batch.labels.shape != batch.inputs.shape[:1]:
        raise ValueError(
            f"score {score!r}: inputs {batch.inputs.shape} and labels {batch.labels.shape} do not match: "
            "pass inputs (N, H, W, C) and labels (N,)"
        )


@contextlib.contextmanager
def enable_x64() -> Iterator[None]:
    """float64 inside the block only, on every JAX the project supports (0.4.23 ... current)."""
    try:
        from jax.experimental import enable_x64 as ctx  # jax < 0.5
    except ImportError:
        ctx = jax.enable_x64
    with ctx(True):
        yield


def compiled(builder: Callable[..., Callable], model: nn.Module, *static: Any) -> Callable:
    """``jax.jit(builder(model, *static))``, cached for the 16 most recent (builder, model, static) triples.

    Scoring one architecture again (another seed, another batch of the same shape) reuses the compiled
    function; the bounded cache lets thousands of candidates pass without keeping every executable alive.
    A module that cannot be hashed (a field holding a NumPy array) is compiled for this call only.
    """
    try:
        hash((builder, model, static))
    except TypeError:
        return jax.jit(builder(model, *static))
    return _compiled(builder, model, *static)


@functools.lru_cache(maxsize=16)
def _compiled(builder: Callable[..., Callable], model: nn.Module, *static: Any) -> Callable:
    return jax.jit(builder(model, *static))
