"""The masked engine: many cells per compiled call, the masked networks of ``nasi_nal.networks.masked`` under ``vmap``.

The form for accelerators, where arithmetic is cheap and compiling is not. Every cell of a space at one network
size shares one fixed-shape masked network, so ONE program -- initialization and the joint engine's
:func:`~nasi_nal.scores.joint.device_program`, vmapped over ``per_call`` cells -- is compiled per space, size, score
set, batch-norm mode, probe setting, batch shape and ``per_call``, then called for every group of cells. The price
is arithmetic: every op of every edge/vertex is computed (NB201 5 ops per edge, NB101 three ops and a projection per
vertex at full width); ``benchmarks/scoring_speed.py`` measures it against the blockwise engine.

Scores: :data:`MASKED_SCORES`, each finished on the host by its definition. ``nwot`` (whose ReLU codes would
include the unused ops') and the shape scores ``params``/``flops`` are not computed here. A cell's variables are
drawn by the masked network (``init_variables``) from the cell's own key: the same key gives the same scores, but
not the same values as the blockwise or joint engine, which draw the cell network's variables differently.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import ScoringConfigError, UnknownScoreError
from nasi_nal.networks import masked as masked_net
from nasi_nal.networks.nb101 import NB101Network
from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.networks.supernet import ARCH, NB201SuperNet
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
)
from nasi_nal.scores.data import Batch
from nasi_nal.scores.definitions import Context
from nasi_nal.scores.joint import device_program, finish

#: Scores this engine computes.
MASKED_SCORES = ("grad_norm", "snip", "nasi_trace", "jacob_cov", "ntk_trace", "ntk_cond", "synflow")
#: Spaces with a masked network.
MASKED_SPACES = ("nb201", "nb101")
#: Cells per call where the device reports no memory statistics (XLA:CPU): the constant used before calls were
#: sized from memory (64 proxy NB101 cells at batch 16 hold ~9 GB of temporaries on the host, DEVELOPERS.md).
FALLBACK_PER_CALL = 64
#: The most cells per call chosen from memory: a call's cells share no work, so larger calls only amortize the
#: per-call overhead further, and a resumable run loses less when a call is cut short.
MAX_PER_CALL = 1024
#: The fraction of the device's free memory that one call is sized to use (XLA keeps other buffers besides).
MEMORY_HEADROOM = 0.7
#: Cells of the small call whose compiled program's memory analysis gives the bytes per cell.
PROBE_CELLS = 8


def masked_form(model: nn.Module) -> tuple[nn.Module, dict[str, Any]]:
    """(the masked network shared by every cell of ``model``'s space and size, ``model``'s cell as its variables).

    ``NB201Network`` -> NASI's ``NB201SuperNet`` and one-hot ``arch`` weights; ``NB101Network`` ->
    ``NB101MaskedNetwork`` and the cell's encoding. Other networks (DARTS) have no masked form: ``TypeError``.
    """
    if isinstance(model, NB201Network):
        net = NB201SuperNet(model.channels, model.cells_per_stage, model.num_classes, model.dtype, model.batch_norm)
        return net, {ARCH: {"cell": masked_net.nb201_arch(model.arch)}}
    if isinstance(model, NB101Network):
        net = masked_net.NB101MaskedNetwork(model.stem_channels, model.num_stacks, model.cells_per_stack,
                                            model.num_classes, model.batch_norm, model.dtype)
        encoding = masked_net.nb101_encoding(model.matrix, model.ops, stem_channels=model.stem_channels,
                                             num_stacks=model.num_stacks)
        return net, {masked_net.CELL: encoding}
    raise TypeError(f"masked scoring has forms for NB201Network and NB101Network, not {type(model).__name__}: "
                    "score it with engine='joint'")


def init_variables(net: nn.Module, cell: dict[str, Any], key: jax.Array,
                   input_shape: Sequence[int] = (32, 32, 3)) -> Variables:
    """The masked network's variables for one cell (``params``, ``batch_stats`` and the cell's arrays).

    Drawn with JAX's default (threefry) generator, whose bits do not change under ``vmap``: a cell's variables
    are the same whichever call and position it is scored in (``rbg`` bits would change under ``vmap``).
    """
    _, state = net.apply(cell, jnp.zeros((1, *input_shape), jnp.float32), train=False, rngs={"params": key},
                         mutable=["params", "batch_stats"])
    return {**cell, **state}


@functools.lru_cache(maxsize=8)
def _program(net: nn.Module, device: tuple[str, ...], params: bool, bn: str, probes: int | str,
             chunk_size: int) -> Callable:
    """jit(vmap over cells): (keys, cells, batch) -> ({score: reduced array}, params or None)."""
    arrays = device_program(net, device, bn, probes, chunk_size)

    def one(key: jax.Array, cell: dict, batch: Batch) -> tuple[dict[str, jax.Array], Any]:
        variables = init_variables(net, cell, key, batch.inputs.shape[1:])
        return arrays(variables, batch, key), (variables["params"] if params else None)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None)))


def _program_for(net: nn.Module, names: Sequence[str], bn: str, probes: int | str, chunk_size: int) -> Callable:
    """The (cached) program for ``names``: their device scores, and the params when ``synflow`` needs them."""
    device = tuple(n for n in names if n != "synflow")
    return _program(net, device, "synflow" in names, bn, probes, chunk_size)


@functools.lru_cache(maxsize=8)
def _synflow_program(net: nn.Module) -> Callable:
    """jit(vmap over cells): (params, cells, ones input) -> synflow's reduction, float64, no batch norm."""
    plain = net.clone(batch_norm=False, dtype=jnp.float64)
    reduce = definitions.get("synflow").reduce

    def one(params: Any, cell: dict, x: jax.Array) -> jax.Array:
        weights = jax.tree_util.tree_map(lambda w: jnp.abs(jnp.asarray(w, jnp.float64)), params)
        grads = jax.grad(lambda p: jnp.sum(plain.apply({**cell, "params": p}, x, train=False)))(weights)
        return reduce(weights, grads)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None)))


def _check_names(names: Sequence[str]) -> None:
    unknown = sorted(set(names) - set(MASKED_SCORES))
    if unknown:
        raise UnknownScoreError(f"masked scoring computes {', '.join(MASKED_SCORES)}, not {unknown}: score those "
                                "with a per-cell engine (engine='blockwise' or 'joint')")


def score_cells(
    models: Sequence[nn.Module],
    batch: Batch,
    names: Sequence[str],
    keys: jax.Array,
    *,
    bn: str = DEFAULT_BN,
    probes: int | str = DEFAULT_PROBES,
    per_call: int = 64,
    chunk_size: int = 8,
    cell_names: Sequence[str] | None = None,
) -> list[CellScores]:
    """Scores ``names`` of many cells' networks, ``per_call`` cells per compiled call; one CellScores per model.

    Args:
      models: cell networks of one space and size (``nasi_nal.networks.build``), NB201 or NB101.
      batch: the scoring batch, shared by every cell.
      names: scores from :data:`MASKED_SCORES`.
      keys: (len(models), 2) PRNG keys, one per cell: cell i's variables are ``init_variables(..., keys[i])``
        and its NTK probes are drawn from it.
      bn, probes, chunk_size: as ``nasi_nal.scores.joint.score_cell``.
      per_call: cells per compiled call (the last call is padded with copies of the last cell, results dropped).
      cell_names: names for error messages.

    A score that cannot be computed for a cell (``NasiNalError``) is reported in that cell's ``errors``.
    """
    _check_names(names)
    check_bn(bn)
    check_probes(probes)
    check_batch(batch, "score_cells")
    if not models:
        return []
    if int(per_call) < 1:
        raise ValueError(f"per_call must be a positive integer, got {per_call!r}")
    keys = jnp.asarray(keys)
    if keys.shape[0] != len(models):
        raise ValueError(f"score_cells needs one key per model: got {keys.shape[0]} keys for {len(models)} models")
    forms = [masked_form(m) for m in models]
    net = forms[0][0]
    if any(f[0] != net for f in forms):
        raise ValueError("score_cells scores cells of ONE space and network size per call (one masked network); "
                         f"got {sorted({repr(f[0]) for f in forms})}")
    program = _program_for(net, names, bn, probes, int(chunk_size))
    results: list[CellScores] = []
    for start in range(0, len(models), per_call):
        idx = list(range(start, min(start + per_call, len(models))))
        padded = idx + [idx[-1]] * (per_call - len(idx))
        cells = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[forms[i][1] for i in padded])
        arrays, params = program(keys[np.asarray(padded)], cells, batch)
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        if "synflow" in names:
            with enable_x64():
                arrays["synflow"] = np.asarray(_synflow_program(net)(
                    params, cells, jnp.ones((1, *batch.inputs.shape[1:]), jnp.float64)))
        for j, i in enumerate(idx):
            ctx = Context(batch.inputs.shape[0], int(net.num_classes), cell_names[i] if cell_names else None)
            results.append(finish(names, {k: v[j] for k, v in arrays.items()}, ctx))
    return results


def cells_per_call(model: nn.Module, batch: Batch, names: Sequence[str], *, bn: str = DEFAULT_BN,
                   probes: int | str = DEFAULT_PROBES, chunk_size: int = 8, device: Any = None,
                   limit: int = MAX_PER_CALL) -> int:
    """Cells per call of :func:`score_cells` for ``model``'s space and size that fit ``device``'s free memory.

    The free memory is ``bytes_limit - bytes_in_use`` of ``device.memory_stats()`` (default: the first local
    device); the bytes per cell come from XLA's memory analysis of the program compiled for a call of
    :data:`PROBE_CELLS` cells (:func:`bytes_per_cell`, one extra compilation, cached). :data:`MEMORY_HEADROOM` of
    the free memory is divided by it, between 1 and ``limit``. A device that reports no memory statistics (XLA:CPU)
    gets :data:`FALLBACK_PER_CALL`.
    """
    device = device if device is not None else jax.local_devices()[0]
    stats = device.memory_stats()
    if not stats or "bytes_limit" not in stats:
        return max(1, min(FALLBACK_PER_CALL, int(limit)))
    free = int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    per_cell = bytes_per_cell(model, batch, names, bn=bn, probes=probes, chunk_size=chunk_size)
    return int(max(1, min(int(limit), MEMORY_HEADROOM * free // per_cell)))


def bytes_per_cell(model: nn.Module, batch: Batch, names: Sequence[str], *, bn: str = DEFAULT_BN,
                   probes: int | str = DEFAULT_PROBES, chunk_size: int = 8, cells: int = PROBE_CELLS) -> float:
    """Device bytes per cell of a :func:`score_cells` call, from XLA's memory analysis of its program compiled for
    ``cells`` cells on the default device: arguments, outputs and temporaries (less aliased buffers) over
    ``cells``. The fixed part (the batch, the program's own buffers) is counted per cell too, so the figure errs high
    and the calls it sizes err small. ``synflow``'s float64 program runs after it on one all-ones input, holding far
    less, and is not compiled here."""
    _check_names(names)
    check_batch(batch, "bytes_per_cell")
    net, cell = masked_form(model)
    shapes = tuple((tuple(a.shape), str(a.dtype)) for a in batch)
    return _bytes_per_cell(net, tuple(names), bn, probes, int(chunk_size), shapes, int(cells),
                           jax.tree_util.tree_map(lambda a: (np.shape(a), str(jnp.asarray(a).dtype)), cell))


def _bytes_per_cell(net: nn.Module, names: tuple[str, ...], bn: str, probes: int | str, chunk_size: int,
                    batch_shapes: tuple, cells: int, cell_shapes: Any) -> float:
    key = (net, names, bn, probes, chunk_size, batch_shapes, cells, jax.default_backend())
    if key not in _BYTES_PER_CELL:
        program = _program_for(net, names, bn, probes, chunk_size)
        is_shape = lambda x: isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], str)  # noqa: E731
        cell = jax.tree_util.tree_map(lambda s: jax.ShapeDtypeStruct((cells, *s[0]), s[1]), cell_shapes,
                                      is_leaf=is_shape)
        keys = jax.ShapeDtypeStruct((cells, 2), jnp.uint32)
        batch = Batch(*(jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in batch_shapes))
        _BYTES_PER_CELL[key] = _footprint(program.lower(keys, cell, batch).compile()) / cells
    return _BYTES_PER_CELL[key]


_BYTES_PER_CELL: dict[tuple, float] = {}


def _footprint(compiled: Any) -> int:
    m = compiled.memory_analysis()
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)


def cost_analysis(model: nn.Module, batch: Batch, names: Sequence[str], *, bn: str = DEFAULT_BN,
                  probes: int | str = DEFAULT_PROBES, per_call: int = 64) -> dict[str, float]:
    """XLA's counts for the programs ``score_cells`` runs on one call of ``per_call`` cells of ``model``'s space
    and size: ``flops``, ``transcendentals`` and ``bytes accessed``, summed over the scores' program and (for
    ``synflow``) its float64 program.

    The programs are lowered, not compiled, so this is cheap and needs no accelerator; the counts are of the
    unoptimized HLO: operations are what any backend computes, bytes are before fusion (each operation reading its
    inputs and writing its output), so they overstate a fused program's memory traffic. The NTK scores are
    lowered with all their backward passes in one chunk (XLA counts a loop's body once; chunking changes memory,
    not arithmetic). For projecting the time of ``score_cells`` on an accelerator
    (``benchmarks/masked_projection.py``).
    """
    _check_names(names)
    check_bn(bn)
    check_probes(probes)
    check_batch(batch, "cost_analysis")
    if int(per_call) < 1:
        raise ValueError(f"per_call must be a positive integer, got {per_call!r}")
    net, cell = masked_form(model)
    passes = int(batch.inputs.shape[0]) * int(net.num_classes)  # the most backward passes any score chunks
    program = _program_for(net, names, bn, probes, max(passes, 1 if probes == "exact" else int(probes)))
    cells = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct((per_call, *np.shape(a)), jnp.asarray(a).dtype),
                                   cell)
    keys = jax.ShapeDtypeStruct((per_call, 2), jnp.uint32)
    counts = [program.lower(keys, cells, batch).cost_analysis()]
    if "synflow" in names:
        params = jax.eval_shape(program, keys, cells, batch)[1]
        with enable_x64():
            ones = jax.ShapeDtypeStruct((1, *batch.inputs.shape[1:]), jnp.float64)
            counts.append(_synflow_program(net).lower(params, cells, ones).cost_analysis())
    if any(c is None for c in counts):  # XLA:GPU (jax 0.11 on an H200) counts no unoptimized program
        raise ScoringConfigError(f"XLA on {jax.default_backend()} gives no cost analysis of the lowered program: "
                                 "count on the CPU (JAX_PLATFORMS=cpu), where the counts are the same operations")
    return {k: float(sum(c.get(k, 0.0) for c in counts)) for k in ("flops", "transcendentals", "bytes accessed")}


__all__ = ["FALLBACK_PER_CALL", "MASKED_SCORES", "MASKED_SPACES", "MAX_PER_CALL", "bytes_per_cell", "cells_per_call",
           "cost_analysis", "init_variables", "masked_form", "score_cells"]
