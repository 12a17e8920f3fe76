"""Which engine scores what, and the one driver every caller uses: :func:`choose`, :func:`score_cell`,
:func:`iter_scores`.

The engines execute the score definitions (``nasi_nal.scores.definitions``) in different ways:

* ``joint``: one compiled program per network (every space, any Flax network);
* ``blockwise``: NB201/NB101 networks run through blocks compiled once per space (nothing compiles per cell);
* ``masked``: NB201/NB101 cells as data of one fixed-shape network, many cells per compiled call (accelerators);
* ``oracle``: neural-tangents, the exact ``ntk_trace`` only (the pinned lane).

:func:`choose` maps (space, backend, score names) to engines: on a CPU the per-cell engine (blockwise where the
space has tapes, joint otherwise), on a GPU/TPU the masked engine for the scores it computes and the per-cell engine
for the rest. The search, the correlation benchmark, the speed benchmark and whole-space scoring all go through it.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import ScoringConfigError
from nasi_nal.networks.nb101 import NB101Network
from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.scores import blockwise, definitions, joint, masked, oracle
from nasi_nal.scores.common import (
    DEFAULT_BN,
    DEFAULT_PROBES,
    CellScores,
    Variables,
    check_bn,
    check_probes,
    draw_keys,
)
from nasi_nal.scores.data import Batch

ENGINES = ("auto", "joint", "blockwise", "masked", "oracle")
_PER_CELL = {"joint": joint.score_cell, "blockwise": blockwise.score_cell, "oracle": oracle.score_cell}


def platform() -> str:
    """The platform JAX computes on ("cpu", "gpu", "tpu"): what ``choose`` decides by."""
    return jax.default_backend()


def space_of(model: nn.Module) -> str | None:
    """"nb201" / "nb101" for the benchmark networks that have tapes and masked forms, else None."""
    if isinstance(model, NB201Network):
        return "nb201"
    if isinstance(model, NB101Network):
        return "nb101"
    return None


def choose(space: str | None, names: Sequence[str], *, backend: str | None = None,
           engine: str = "auto", many: bool = True) -> dict[str, list[str]]:
    """Engine name -> the scores of ``names`` it computes, for cells of ``space`` on ``backend``.

    Args:
      space: "nb201", "nb101", "darts", or None for any other network.
      names: score names.
      backend: JAX's platform name (default: the default backend).
      engine: "auto" chooses; any other engine is checked to compute every name for this space.
      many: whether the cells come many at a time (the masked engine needs groups of cells with fresh variables).
    """
    names = definitions.check_names(names)
    if engine not in ENGINES:
        raise ScoringConfigError(f"engine={engine!r}: choose one of {', '.join(ENGINES)}")
    tapes = space in ("nb201", "nb101")
    per_cell = "blockwise" if tapes else "joint"
    staged = sorted(set(names) & definitions.STAGE_SCORES)
    if staged and (not tapes or engine in ("joint", "masked", "oracle")):
        raise ScoringConfigError(f"{staged} need the network laid out as stages, which the blockwise engine runs for "
                                 f"NB201 and NB101 networks: not {space or 'this network'} with engine={engine!r}")
    if engine == "auto":
        if many and tapes and (backend or platform()) != "cpu":
            plan = {"masked": [n for n in names if n in masked.MASKED_SCORES],
                    per_cell: [n for n in names if n not in masked.MASKED_SCORES]}
            return {e: ns for e, ns in plan.items() if ns}
        return {per_cell: names} if names else {}
    if engine in ("blockwise", "masked") and not tapes:
        raise ScoringConfigError(f"engine={engine!r} scores NB201 and NB101 networks, not {space or 'this network'}: "
                                 "use engine='joint'")
    if engine == "masked":
        if not many:
            raise ScoringConfigError("engine='masked' draws each cell's variables itself and scores groups of cells: "
                                     "score single networks with given variables with engine='joint' or 'blockwise'")
        missing = [n for n in names if n not in masked.MASKED_SCORES]
        if missing:
            raise ScoringConfigError(f"engine='masked' computes {', '.join(masked.MASKED_SCORES)}, not {missing}: "
                                     "use engine='auto', which scores those per cell")
    return {engine: names} if names else {}


def score_cell(model: nn.Module, variables: Variables | None, batch: Batch, names: Sequence[str],
               key: jax.Array | None = None, name: str | None = None, *, bn: str = DEFAULT_BN,
               probes: int | str = DEFAULT_PROBES, engine: str = "auto",
               chunk_size: int = 8) -> tuple[Variables, CellScores]:
    """Scores one network (given or drawn ``variables``) with the per-cell engine(s) :func:`choose` picks.

    Arguments as ``nasi_nal.scores.joint.score_cell``; ``engine`` "auto", "joint", "blockwise" or "oracle". Every
    engine of the plan scores the same variables.
    """
    plan = choose(space_of(model), names, engine=engine, many=False)
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name_of_engine, subset in plan.items():
        kwargs = dict(bn=bn, probes=probes) | ({"chunk_size": chunk_size} if name_of_engine == "joint" else {})
        variables, result = _PER_CELL[name_of_engine](model, variables, batch, subset, key, name, **kwargs)
        values.update(result.values)
        errors.update(result.errors)
    return variables, CellScores({n: values[n] for n in names if n in values}, errors)


def iter_scores(models: Sequence[nn.Module], batch: Batch, names: Sequence[str], keys: Sequence[jax.Array], *,
                bn: str = DEFAULT_BN, probes: int | str = DEFAULT_PROBES, inits: int = 1, engine: str = "auto",
                per_call: int | str = "auto", chunk_size: int = 8, cell_names: Sequence[str] | None = None,
                space: str | None = None) -> Iterator[CellScores]:
    """Scores ``names`` of every network in ``models`` (one space and size), yielding one CellScores per model in
    order, as soon as its group is done.

    Args:
      models: the cells' networks (``nasi_nal.networks.build``).
      batch: the scoring batch shared by every cell.
      names: score names.
      keys: one key per cell, from ``nasi_nal.scores.cell_key(seed, canonical key)``: a cell's variables and probes
        depend on the cell and the seed only, never on its position or its neighbours.
      bn, probes: as ``nasi_nal.scores.joint.score_cell``.
      inits: draws of each cell's variables (keys ``draw_keys(key, inits)``); a score is the mean over the draws,
        and fails when any draw fails.
      engine: "auto" (:func:`choose`) or one engine for every score.
      per_call: cells per compiled call of the masked engine (a last, smaller group is padded to it); "auto":
        as many as the device's free memory holds (``masked.cells_per_call``), at most ``len(models)``.
      chunk_size: probes / examples per Jacobian chunk.
      cell_names: names for error messages.
      space: the cells' space, which ``choose`` decides by (default: read off the first network).
    """
    names = definitions.check_names(names)
    check_bn(bn)
    check_probes(probes)
    if len(keys) != len(models):
        raise ValueError(f"iter_scores needs one key per model: got {len(keys)} keys for {len(models)} models")
    if not models:
        return
    draws = [draw_keys(k, inits) for k in keys]
    plan = choose(space or space_of(models[0]), names, engine=engine)
    group = 1
    if "masked" in plan:
        group = int(per_call) if per_call != "auto" else min(len(models), masked.cells_per_call(
            models[0], batch, plan["masked"], bn=bn, probes=probes, chunk_size=chunk_size))
    for start in range(0, len(models), group):
        idx = range(start, min(start + group, len(models)))
        per_draw: list[list[CellScores]] = []
        for r in range(int(inits)):
            results = [CellScores({}, {}) for _ in idx]
            if "masked" in plan:
                found = masked.score_cells([models[i] for i in idx], batch, plan["masked"],
                                           jnp.stack([draws[i][r] for i in idx]), bn=bn, probes=probes,
                                           per_call=group, chunk_size=chunk_size,
                                           cell_names=[cell_names[i] for i in idx] if cell_names else None)
                results = [_merge(a, b) for a, b in zip(results, found)]
            rest = [n for e, ns in plan.items() if e != "masked" for n in ns]
            if rest:
                for j, i in enumerate(idx):
                    _, found = score_cell(models[i], None, batch, rest, draws[i][r],
                                          cell_names[i] if cell_names else None, bn=bn, probes=probes,
                                          engine="auto" if engine in ("auto", "masked") else engine,
                                          chunk_size=chunk_size)
                    results[j] = _merge(results[j], found)
            per_draw.append(results)
        for j in range(len(idx)):
            yield _mean_over_draws([d[j] for d in per_draw], names)


def _merge(a: CellScores, b: CellScores) -> CellScores:
    return CellScores({**a.values, **b.values}, {**a.errors, **b.errors})


def _mean_over_draws(draws: list[CellScores], names: Sequence[str]) -> CellScores:
    """Each score's mean over the draws of a cell's variables; the first draw's error where any draw failed."""
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    for n in names:
        failed = [d.errors[n] for d in draws if n in d.errors]
        if failed:
            errors[n] = failed[0]
        else:
            values[n] = float(np.mean([d.values[n] for d in draws]))
    return CellScores(values, errors)


__all__ = ["ENGINES", "choose", "iter_scores", "score_cell", "space_of"]
