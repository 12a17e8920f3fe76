"""What every score and engine shares: the network function (with the batch-norm mode), the loss, keys, checks.

Batch norm at initialization. ``bn="train"`` (the default, :data:`DEFAULT_BN`) normalises each layer with the
statistics of the scoring batch, as PyTorch's ``module.train()`` does and as every reference implementation of
these scores runs (the zero-cost proxies' code, NASWOT, TE-NAS). The network is then a function of the whole
batch, F(theta, X) -> (N, K): examples are coupled through the batch statistics, and every derivative below is
taken of F (e.g. the NTK is J J^T with J = dF/dtheta of all N * K outputs: the batch is one input).
``bn="eval"`` uses the initial running statistics (mean 0, variance 1): each BN layer is a fixed affine map, so
F is a per-example function and the NTK has the per-example blocks of the classic definition. Measured on
NAS-Bench-201, the gradient scores rank architectures only in train mode (``benchmarks/results/``).

:func:`forward` is the one place where the mode is applied; engines, blocks and the NASI supernet all go through it.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
from typing import Any, Callable, Iterator, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import NonFiniteScoreError, ScoringConfigError
from nasi_nal.networks.common import is_relu
from nasi_nal.scores.data import Batch

Variables = Any  # a Flax variables dict: {"params": ..., optionally "batch_stats": ...}

#: Batch-norm modes: batch statistics ("train", as the reference implementations) or initial statistics ("eval").
BN_MODES = ("train", "eval")
DEFAULT_BN = "train"
#: ``probes`` settings of the NTK trace: a number of Rademacher probes, or "exact".
DEFAULT_PROBES = 8
_PROBE_STREAM = 0x50524F42  # folded into a draw's key for its probe vectors
_STAGE_STREAM = 0x53544147  # ... and for its stage cotangents


class CellScores(NamedTuple):
    """The scores of one cell: ``values`` by score name, and ``errors`` (message by name) for scores that failed."""

    values: dict[str, float]
    errors: dict[str, str]


def check_bn(bn: str) -> str:
    """``bn`` if it is a batch-norm mode, else ``ScoringConfigError`` naming the modes."""
    if bn not in BN_MODES:
        raise ScoringConfigError(f"bn={bn!r} is not a batch-norm mode: use 'train' (batch statistics, the default) "
                                 "or 'eval' (initial statistics)")
    return bn


def check_probes(probes: int | str) -> int | str:
    """``probes`` if it is "exact" or a positive integer, else ``ScoringConfigError``."""
    if probes == "exact" or (isinstance(probes, (int, np.integer)) and not isinstance(probes, bool) and probes >= 1):
        return probes
    raise ScoringConfigError(f"probes={probes!r}: pass a positive number of Rademacher probes (e.g. 8) or 'exact'")


def forward(model: nn.Module, variables: Variables, x: jax.Array, bn: str, *,
            relu_codes: bool = False) -> tuple[jax.Array, dict]:
    """``model``'s output on the batch ``x`` with batch norm in mode ``bn``; (output, captured ReLU outputs or {}).

    Train mode computes batch statistics and drops the running-statistics update Flax returns (nothing is trained).
    """
    train = bn == "train"
    mutable = (["batch_stats"] if train else []) + (["intermediates"] if relu_codes else [])
    if not mutable:
        return model.apply(variables, x, train=False), {}
    kwargs = {"capture_intermediates": is_relu} if relu_codes else {}
    y, state = model.apply(variables, x, train=train, mutable=mutable, **kwargs)
    return y, dict(state.get("intermediates", {}))


def network_fn(model: nn.Module, variables: Variables, bn: str) -> Callable[[Any, jax.Array], jax.Array]:
    """F(params, X) -> logits (N, K) in mode ``bn``; only ``params`` vary, the other collections are held fixed."""
    rest = {k: v for k, v in dict(variables).items() if k != "params"}
    return lambda params, x: forward(model, {**rest, "params": params}, x, bn)[0]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy over the batch (integer labels), as the zero-cost papers' ``F.cross_entropy``."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None].astype(jnp.int32), axis=-1))


def loss_cotangent(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """d (mean cross-entropy) / d logits: the cotangent whose VJP is the loss gradient."""
    return jax.grad(cross_entropy)(logits, labels)


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


def hamming_kernels(intermediates: Any, n: int) -> list[jax.Array]:
    """NASWOT's kernel c c^T + (1 - c)(1 - c)^T of every captured ReLU output (c its (n, units) binary code).

    Entries count units, so they are exact in float32 up to 2^24 units per layer.
    """
    kernels = []
    for out in jax.tree_util.tree_leaves(intermediates):
        c = (out > 0).reshape(n, -1).astype(jnp.float32)
        kernels.append(c @ c.T + (1.0 - c) @ (1.0 - c).T)
    return kernels


def cell_key(seed: int, canonical: str) -> jax.Array:
    """The key a cell's variables are drawn from: a function of the seed and the cell's canonical key only.

    ``canonical`` is the NB101 hash, the NB201 arch string or the DARTS genotype JSON, so a cell scores the same
    wherever it appears in a list of candidates. Two 31-bit words of its SHA-256 are folded into ``PRNGKey(seed)``.
    """
    digest = hashlib.sha256(canonical.encode()).digest()
    key = jax.random.PRNGKey(seed)
    for i in (0, 4):
        key = jax.random.fold_in(key, int.from_bytes(digest[i:i + 4], "little") & 0x7FFFFFFF)
    return key


def draw_keys(key: jax.Array, inits: int) -> list[jax.Array]:
    """The keys of ``inits`` draws of a cell's variables: ``key`` itself, then ``fold_in(key, r)`` for r >= 1."""
    if isinstance(inits, bool) or not isinstance(inits, (int, np.integer)) or inits < 1:
        raise ScoringConfigError(f"inits={inits!r}: pass a positive number of initializations to average over")
    return [key] + [jax.random.fold_in(key, r) for r in range(1, int(inits))]


def probe_vectors(key: jax.Array, probes: int, shape: tuple[int, ...]) -> jax.Array:
    """``probes`` Rademacher vectors (+-1) of ``shape`` (the batch's outputs), drawn from the draw's ``key``."""
    return jax.random.rademacher(jax.random.fold_in(key, _PROBE_STREAM), (probes, *shape), jnp.float32)


def stage_cotangent(key: jax.Array, stage: int, shape: tuple[int, ...]) -> jax.Array:
    """The Rademacher cotangent of stage ``stage``'s output (AZ-NAS's trainability), drawn from the draw's ``key``."""
    return jax.random.rademacher(jax.random.fold_in(jax.random.fold_in(key, _STAGE_STREAM), stage), shape,
                                 jnp.float32)


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
