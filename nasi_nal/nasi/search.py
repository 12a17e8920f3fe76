"""NASI's one-shot search: maximise the penalised NTK trace over a Gumbel-softmax relaxation of the cell, at init.

Shu, Cai, Dai, Ooi, Low. "NASI: Label- and Data-agnostic Neural Architecture Search at Initialization", ICLR 2022.
The steps below are our reading of the paper's Sec. 4.3 (its Algorithm 1); where the paper leaves a choice open,
the step says which choice is made here:

1. Initialise the supernet's weights theta_0 once (they are never trained) and the logits ``alpha_0 = 0``.
2. For t = 1..T: draw a mini-batch D_t (real or Gaussian inputs, real or random labels) and a Gumbel sample
   G_t (key ``fold_in(key, t)``); the hard straight-through sample ``w = onehot(argmax(alpha + G)) +
   soft - stop_gradient(soft)``, ``soft = softmax((alpha + G) / tau)``, picks one op per edge (forward) and
   passes the soft sample's gradient to alpha (backward), as GDAS (Dong & Yang, CVPR 2019) does.
3. Evaluate ``R = T - mu * max(0, T - nu)`` (Eq. 6) with T NASI's estimator of the NTK trace (Eq. 5): the squared
   norm of the gradient of the mini-batch mean cross-entropy w.r.t. theta (``nasi_nal.scores.definitions``, with
   batch norm in the config's mode, train by default: :mod:`nasi_nal.scores.common`). Its gradient w.r.t. alpha is
   a second-order derivative (of a gradient norm), taken by JAX through the straight-through sample.
4. Accumulate the normalised gradient: ``alpha_t = alpha_{t-1} + lr * g_t / ||g_t||`` (the global L2 norm over
   every alpha; a step with ``g_t = 0`` changes nothing). Normalising makes the step independent of the trace's
   scale, which varies by orders of magnitude across networks and data modes.
5. Return the cell maximising the final distribution ``p_alpha``: the argmax op per edge (NAS-Bench-201), or for
   DARTS the cell DARTS' ``genotype()`` derives (top-2 inputs per node by their strongest non-``none`` op).

nu is a number (NASI-FIX) or ``"adaptive"``: the ``nu_quantile`` quantile (:func:`nasi_nal.scores.adaptive_nu`)
of T over ``nu_samples`` architectures sampled uniformly from the same supernet, each on its own mini-batch.

The T steps run as one ``jax.lax.scan`` inside one compiled program, cached per (supernet, argument shapes): a
second search with the same settings and another key compiles nothing (see :func:`trace_counts`).

Example:
    >>> result = search("nb201", jax.random.PRNGKey(0), steps=20, batch_size=16)
    >>> result.cell_str, result.score, result.wall_seconds
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import time
from typing import Any, Callable, Mapping, Optional, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import ConfigError
from nasi_nal.nasi.configs import NasiConfig, get_config
from nasi_nal.networks.supernet import ARCH, DARTS_EDGES, DartsSuperNet, NB201SuperNet
from nasi_nal.scores import adaptive_nu, make_batch, nasi_penalized, nasi_trace
from nasi_nal.scores.common import check_finite, cross_entropy, network_fn, tree_sq_norm
from nasi_nal.scores.data import Batch
from nasi_nal.scores.definitions import nasi_trace_of
from nasi_nal.spaces import darts as darts_space
from nasi_nal.spaces import nb201 as nb201_space

Pytree = Any

# Python-side trace counters of the compiled programs (incremented only while JAX traces them).
_TRACES: collections.Counter = collections.Counter()


def trace_counts() -> dict[str, int]:
    """How many times the search program (``"search"``) and the adaptive-nu program (``"nu"``) were traced."""
    return dict(_TRACES)


# ----------------------------------------------------------------------------------------------- pure pieces


def straight_through_sample(key: jax.Array, alpha: Pytree, tau: float) -> Pytree:
    """Hard Gumbel-softmax samples of every logit array in ``alpha`` (last axis = ops), straight-through.

    Forward: ``onehot(argmax(alpha + G))``, one op per row. Backward: the gradient of
    ``softmax((alpha + G) / tau)``. Every op, including ``none`` and parameter-free ones, gets a gradient through
    the softmax.
    """
    leaves, treedef = jax.tree_util.tree_flatten(alpha)
    keys = jax.random.split(key, len(leaves))
    out = []
    for k, logits in zip(keys, leaves):
        perturbed = logits + jax.random.gumbel(k, logits.shape, logits.dtype)
        hard = jax.nn.one_hot(jnp.argmax(perturbed, axis=-1), logits.shape[-1], dtype=logits.dtype)
        soft = jax.nn.softmax(perturbed / tau, axis=-1)
        out.append(hard + soft - jax.lax.stop_gradient(soft))
    return jax.tree_util.tree_unflatten(treedef, out)


def penalized(trace: jax.Array, mu: jax.Array, nu: jax.Array) -> jax.Array:
    """``R = T - mu * max(0, T - nu)`` in JAX (differentiable twin of :func:`nasi_nal.scores.nasi_penalized`,
    which works on host arrays)."""
    return trace - mu * jnp.maximum(0.0, trace - nu)


def supernet_trace(model: nn.Module, variables: Mapping[str, Any], weights: Pytree, batch: Batch,
                   bn: str) -> jax.Array:
    """NASI's estimator T (``nasi_trace``'s definition) of the supernet with mixing weights ``weights`` in batch-norm
    mode ``bn``; differentiable w.r.t. ``weights``."""
    f = network_fn(model, {**variables, ARCH: weights}, bn)
    grads = jax.grad(lambda p: cross_entropy(f(p, batch.inputs), batch.labels))(variables["params"])
    return nasi_trace_of(variables["params"], grads)


def _search_program(model: nn.Module, bn: str) -> Callable:
    """(variables, alpha0, key, batches, mu, nu, tau, lr) -> (alpha_T, per-step (trace, R, ||g||))."""

    def run(variables, alpha0, key, batches, mu, nu, tau, lr):
        _TRACES["search"] += 1
        steps = jax.tree_util.tree_leaves(batches)[0].shape[0]

        def step(alpha, xs):
            t, batch = xs

            def objective(a):
                trace = supernet_trace(model, variables, straight_through_sample(jax.random.fold_in(key, t), a, tau),
                                       batch, bn)
                return penalized(trace, mu, nu), trace

            (reward, trace), grad = jax.value_and_grad(objective, has_aux=True)(alpha)
            norm = jnp.sqrt(tree_sq_norm(grad))
            scale = jnp.where(norm > 0, lr / jnp.where(norm > 0, norm, 1.0), 0.0)
            alpha = jax.tree_util.tree_map(lambda a, g: a + scale * g, alpha, grad)
            return alpha, (trace, reward, norm)

        return jax.lax.scan(step, alpha0, (jnp.arange(1, steps + 1), batches))

    return run


def _nu_program(model: nn.Module, bn: str) -> Callable:
    """(variables, alpha0, keys (n,), batches (n, ...)) -> T of n architectures sampled uniformly (one per key)."""

    def run(variables, alpha0, keys, batches):
        _TRACES["nu"] += 1

        def one(xs):
            k, batch = xs
            weights = jax.tree_util.tree_map(jax.lax.stop_gradient, straight_through_sample(k, alpha0, 1.0))
            return supernet_trace(model, variables, weights, batch, bn)

        return jax.lax.map(one, (keys, batches))

    return run


def _signature(args: tuple) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(args)
    return treedef, tuple((tuple(np.shape(x)), str(jnp.asarray(x).dtype)) for x in leaves)


@functools.lru_cache(maxsize=8)
def _compile(builder: Callable, model: nn.Module, bn: str, signature: tuple) -> tuple[Any, float]:
    """AOT-compiles ``builder(model, bn)`` for argument shapes ``signature``; returns (executable, compile seconds)."""
    treedef, specs = signature
    shapes = jax.tree_util.tree_unflatten(treedef, [jax.ShapeDtypeStruct(s, jnp.dtype(d)) for s, d in specs])
    start = time.perf_counter()
    executable = jax.jit(builder(model, bn)).lower(*shapes).compile()
    return executable, time.perf_counter() - start


def _call(builder: Callable, model: nn.Module, bn: str, *args: Any) -> tuple[Any, float, float]:
    """Runs the cached executable of ``builder(model, bn)`` on ``args``: (outputs, compile seconds, run seconds).

    Compile seconds are 0 when an executable compiled for the same supernet and argument shapes was reused.
    """
    hits = _compile.cache_info().hits
    executable, seconds = _compile(builder, model, bn, _signature(args))
    compile_seconds = 0.0 if _compile.cache_info().hits > hits else seconds
    start = time.perf_counter()
    outputs = jax.block_until_ready(executable(*args))
    return outputs, compile_seconds, time.perf_counter() - start


# ------------------------------------------------------------------------------------------------- the search


@dataclasses.dataclass(frozen=True)
class SearchRun:
    """What :func:`run_search` returns for any supernet: final logits, nu used and the per-step history."""

    alpha: dict[str, np.ndarray]  # final logits, by name in the ``arch`` collection
    nu: float
    traces: np.ndarray  # (T,) trace estimate of the architecture sampled at each step
    rewards: np.ndarray  # (T,) its R
    grad_norms: np.ndarray  # (T,) ||dR / d alpha|| before normalisation
    compile_seconds: float
    run_seconds: float


def _stack_batches(key: jax.Array, count: int, config: NasiConfig, images: Any, labels: Any) -> Batch:
    """``count`` mini-batches stacked on a leading axis, batch i drawn with ``fold_in(key, i + 1)``."""
    batches = [
        make_batch(jax.random.fold_in(key, i + 1), config.batch_size, images=images, labels=labels,
                   inputs=config.inputs, targets=config.targets, input_shape=config.input_shape,
                   num_classes=config.num_classes)
        for i in range(count)
    ]
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *batches)


def run_search(model: nn.Module, key: jax.Array, config: NasiConfig, *, images: Any = None,
               labels: Any = None) -> tuple[SearchRun, dict[str, Any]]:
    """NASI's algorithm (module docstring) on any supernet whose mixing weights live in the ``arch`` collection.

    Args:
      model: a Flax supernet ``__call__(x, train)`` reading its (edges, ops) weights from ``self.variable("arch",
        ...)`` (:mod:`nasi_nal.networks.supernet`, or a toy one in tests).
      key: ``jax.random`` key; split into init, data, Gumbel, nu and evaluation keys.
      config: the settings (``steps``, ``batch_size``, ``mu``, ``nu``, data mode, ...); its proxy-size fields are
        not used here (the model is given).
      images, labels: the pool for ``inputs="real"`` / ``targets="real"``.

    Returns:
      (the :class:`SearchRun`, the initialized variables with the ``arch`` collection).
    """
    k_init, k_data, k_gumbel, k_nu = jax.random.split(key, 4)
    x0 = make_batch(k_init, 1, images=images, labels=labels, inputs=config.inputs, targets=config.targets,
                    input_shape=config.input_shape, num_classes=config.num_classes).inputs
    variables = model.init(k_init, x0, train=False)
    if ARCH not in variables:
        raise ConfigError(
            f"{type(model).__name__} has no {ARCH!r} collection: a NASI supernet reads its mixing weights with "
            f"self.variable({ARCH!r}, name, init_fn) (see nasi_nal.networks.supernet)")
    variables = dict(variables)
    alpha0 = jax.tree_util.tree_map(jnp.zeros_like, dict(variables.pop(ARCH)))
    compile_seconds = 0.0

    if config.nu == "adaptive":
        batches = _stack_batches(k_nu, config.nu_samples, config, images, labels)
        keys = jax.random.split(jax.random.fold_in(k_nu, 0), config.nu_samples)
        traces, compile_seconds, _ = _call(_nu_program, model, config.bn, variables, alpha0, keys, batches)
        traces = np.asarray(traces, np.float64)
        if not np.all(np.isfinite(traces)):
            check_finite(np.nan, "nasi_trace", "an architecture sampled to set an adaptive nu")
        nu = adaptive_nu(traces, config.nu_quantile)
    else:
        nu = float(config.nu)

    batches = _stack_batches(k_data, config.steps, config, images, labels)
    (alpha, (traces, rewards, norms)), seconds, run_seconds = _call(
        _search_program, model, config.bn, variables, alpha0, k_gumbel, batches, jnp.float32(config.mu), jnp.float32(nu),
        jnp.float32(config.tau), jnp.float32(config.lr))
    compile_seconds += seconds
    alpha = {name: np.asarray(a, np.float64) for name, a in alpha.items()}
    traces = np.asarray(traces, np.float64)
    if not np.all(np.isfinite(traces)) or not all(np.all(np.isfinite(a)) for a in alpha.values()):
        check_finite(np.nan, "nasi_trace", "an architecture sampled during the NASI search")
    run = SearchRun(alpha=alpha, nu=float(nu), traces=traces, rewards=np.asarray(rewards, np.float64),
                    grad_norms=np.asarray(norms, np.float64), compile_seconds=compile_seconds,
                    run_seconds=run_seconds)
    return run, variables


def one_hot_weights(alpha: Mapping[str, np.ndarray], choice: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
    """The ``arch`` collection selecting op ``choice[name][e]`` on edge e (zero rows where ``choice`` is -1)."""
    out = {}
    for name, logits in alpha.items():
        idx = np.asarray(choice[name])
        w = np.zeros_like(np.asarray(logits, np.float32))
        rows = np.flatnonzero(idx >= 0)
        w[rows, idx[rows]] = 1.0
        out[name] = jnp.asarray(w)
    return out


def derive_nb201(alpha: Mapping[str, np.ndarray]) -> nb201_space.Arch:
    """The NAS-Bench-201 cell of largest ``p_alpha``: the argmax op of ``alpha["cell"]`` on each edge."""
    return nb201_space.Arch(tuple(nb201_space.OPS[int(k)] for k in np.argmax(alpha["cell"], axis=-1)))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _darts_cell(logits: np.ndarray) -> list[tuple[str, int]]:
    """quark0/darts ``Network.genotype()._parse`` on ``softmax(logits)`` (14, 8): for each node keep the 2 inputs
    whose strongest non-``none`` op weighs most, each with that op."""
    weights = _softmax(np.asarray(logits, np.float64))
    none = darts_space.PRIMITIVES.index("none")
    real = [k for k in range(len(darts_space.PRIMITIVES)) if k != none]
    gene: list[tuple[str, int]] = []
    start = 0
    for node in range(darts_space.NUM_INTERMEDIATE):
        n = node + darts_space.NUM_INPUTS
        rows = weights[start:start + n]
        # Stable sort by decreasing strength: ties keep the lower input first, as Python's sorted in DARTS.
        inputs = sorted(range(n), key=lambda j: -max(rows[j][k] for k in real))[:darts_space.EDGES_PER_NODE]
        for j in inputs:
            best = max(real, key=lambda k: (rows[j][k], -k))  # first maximum, as DARTS' strict '>' loop
            gene.append((darts_space.PRIMITIVES[best], int(j)))
        start += n
    return gene


def derive_darts(alpha: Mapping[str, np.ndarray]) -> darts_space.Genotype:
    """The DARTS genotype of ``alpha`` (normal and reduction cells, ``none`` excluded), validated."""
    genotype = darts_space.Genotype(normal=_darts_cell(alpha["normal"]), normal_concat=list(darts_space.CONCAT),
                                    reduce=_darts_cell(alpha["reduce"]), reduce_concat=list(darts_space.CONCAT))
    darts_space.validate(genotype)
    return genotype


def _darts_choice(genotype: darts_space.Genotype) -> dict[str, np.ndarray]:
    """Per supernet edge, the op index the genotype keeps there, -1 for edges it drops."""
    choice = {}
    for name, cell in (("normal", genotype.normal), ("reduce", genotype.reduce)):
        idx = np.full(len(DARTS_EDGES), -1)
        for position, (op, source) in enumerate(cell):
            node = position // darts_space.EDGES_PER_NODE
            idx[DARTS_EDGES.index((node, source))] = darts_space.PRIMITIVES.index(op)
        choice[name] = idx
    return choice


@dataclasses.dataclass(frozen=True)
class NasiResult:
    """One NASI search: the chosen cell, the final logits, its score, the search cost and the settings."""

    space: str
    cell: Union[nb201_space.Arch, darts_space.Genotype]
    cell_str: str  # NB201 arch string, or the genotype's JSON (darts.to_json)
    alpha: dict[str, np.ndarray]  # final logits: {"cell": (6, 5)} or {"normal": (14, 8), "reduce": (14, 8)}
    score: float  # R of the chosen cell on a fresh mini-batch (supernet weights, chosen ops only)
    trace: float  # its T
    nu: float  # the constraint used (fixed, or set adaptively)
    accuracy: Optional[float]  # NB201 with a table: the table's metric of the chosen cell
    wall_seconds: float  # the whole call: init, data, nu, compile, search, scoring
    compile_seconds: float  # of that, compiling (0 when a cached program served)
    run_seconds: float  # the T steps themselves
    device: str
    steps: int
    settings: dict[str, Any]
    traces: np.ndarray  # (T,) T of the architecture sampled at each step

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-step arrays but their mean)."""
        return {
            "space": self.space, "cell_str": self.cell_str, "score": self.score, "trace": self.trace, "nu": self.nu,
            "accuracy": self.accuracy, "alpha": {k: v.tolist() for k, v in self.alpha.items()},
            "wall_seconds": self.wall_seconds, "compile_seconds": self.compile_seconds,
            "run_seconds": self.run_seconds, "device": self.device, "steps": self.steps,
            "settings": self.settings, "mean_sampled_trace": float(np.mean(self.traces)),
        }


def build_supernet(config: NasiConfig) -> nn.Module:
    """The proxy supernet ``config`` describes."""
    if config.space == "nb201":
        return NB201SuperNet(channels=config.channels, cells_per_stage=config.cells_per_stage,
                             num_classes=config.num_classes, batch_norm=config.batch_norm)
    return DartsSuperNet(channels=config.channels, layers=config.layers, num_classes=config.num_classes,
                         batch_norm=config.batch_norm)


def _device() -> str:
    d = jax.devices()[0]
    return f"{d.platform}:{d.device_kind}"


def search(space: str, key: jax.Array, *, steps: Optional[int] = None, batch_size: Optional[int] = None,
           mu: Optional[float] = None, nu: Union[float, str, None] = None, inputs: Optional[str] = None,
           targets: Optional[str] = None, bn: Optional[str] = None, images: Any = None, labels: Any = None,
           config: Optional[NasiConfig] = None, table: Any = None,
           metric: str = "cifar10_test_acc_200ep") -> NasiResult:
    """Runs NASI on ``space`` ("nb201" or "darts") and returns the chosen cell.

    Args:
      space: "nb201" or "darts".
      key: ``jax.random`` key (the whole search is a function of it and the settings).
      steps, batch_size, mu, nu, inputs, targets, bn: override the config (paper defaults: 100, 64, 2, "adaptive",
        "gaussian", "random"; batch norm "train"); ``nu`` a number is NASI-FIX.
      images, labels: pool for ``inputs="real"`` (uint8 NHWC CIFAR-10 images are normalised) / ``targets="real"``.
      config: a :class:`NasiConfig` (default ``get_config(space)``: proxy supernet, see :mod:`.configs`).
      table: an ``NB201Table`` (NB201 only) to look the chosen cell's ``metric`` up in.

    Returns:
      A :class:`NasiResult`.
    """
    start = time.perf_counter()
    overrides = {name: value for name, value in (("steps", steps), ("batch_size", batch_size), ("mu", mu),
                                                 ("nu", nu), ("inputs", inputs), ("targets", targets), ("bn", bn))
                 if value is not None}
    if config is None:
        config = get_config(space, **overrides)
    else:
        if config.space != space:
            raise ConfigError(f"config is for space {config.space!r} but search was asked for {space!r}")
        config = dataclasses.replace(config, **overrides)
    if images is not None and config.inputs == "real":
        config = dataclasses.replace(config, input_shape=tuple(int(v) for v in np.shape(images)[1:]))
    if table is not None and space != "nb201":
        raise ConfigError("table= looks up NAS-Bench-201 cells: pass it only with space='nb201'")

    model = build_supernet(config)
    run, variables = run_search(model, key, config, images=images, labels=labels)

    if space == "nb201":
        cell = derive_nb201(run.alpha)
        cell_str = nb201_space.format(cell)
        choice = {"cell": np.asarray([nb201_space.OPS.index(op) for op in cell.ops])}
    else:
        cell = derive_darts(run.alpha)
        cell_str = darts_space.to_json(cell)
        choice = _darts_choice(cell)

    # Score the chosen cell on a fresh batch with the package's own estimator and penalty.
    k_eval = jax.random.fold_in(key, config.steps + 1)
    batch = make_batch(k_eval, config.batch_size, images=images, labels=labels, inputs=config.inputs,
                       targets=config.targets, input_shape=config.input_shape, num_classes=config.num_classes)
    trace = nasi_trace(model, {**variables, ARCH: one_hot_weights(run.alpha, choice)}, batch, name=cell_str,
                       bn=config.bn)
    score = float(nasi_penalized(trace, config.mu, run.nu))
    accuracy = float(table.query(cell).metrics[metric]) if table is not None else None
    return NasiResult(space=space, cell=cell, cell_str=cell_str, alpha=run.alpha, score=score, trace=trace,
                      nu=run.nu, accuracy=accuracy, wall_seconds=time.perf_counter() - start,
                      compile_seconds=run.compile_seconds, run_seconds=run.run_seconds, device=_device(),
                      steps=config.steps, settings=config.to_dict(), traces=run.traces)
