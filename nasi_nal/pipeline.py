"""The end-to-end search: propose -> de-duplicate -> score at initialization -> rank -> top-k -> train -> report.

``search(...)`` is the Python API; ``python -m nasi_nal.search`` is a thin command line over it. A method
(``nasi_nal.methods``) names a proposer (``nasi_nal.proposers``) and a ranker (``nasi_nal.ranking``); what a space
contributes (keys, sampling, tables, pictures) is its adapter (``nasi_nal.adapters``).

Scoring builds each candidate's network at its proxy size (``nasi_nal.networks.build(..., proxy=True)``), draws
its variables from ``nasi_nal.scores.cell_key(seed, the cell's canonical key)`` (so a cell's score never depends on
the other candidates), and scores it on one batch shared by all candidates (Gaussian inputs and random labels by
default: NASI's data- and label-agnostic mode) with batch norm in ``config.bn`` mode. ``nasi_nal.scores.choose``
picks the engines (``engine="auto"``: blockwise on a CPU, the masked engine on a GPU/TPU for the scores it
computes); the report's ``details.engines`` says which ran. The masked engine draws a cell's variables with its own
network, so an accelerator's ranking is not a CPU's draw for draw (each is deterministic).
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import platform
import sys
import time
from typing import Any, Sequence

import jax
import numpy as np

from nasi_nal import adapters, methods, proposers, ranking, report
from nasi_nal.networks import build, count_params
from nasi_nal.schema import Candidate, SearchConfig, SearchResult
from nasi_nal.validate import train_config, validate

DEFAULT_TOP_K = 5


def search(config: SearchConfig | None = None, *, quiet: bool = True, **overrides: Any) -> SearchResult:
    """Runs one search and returns its result; writes the JSON and PNGs when ``config.output`` is set.

    Example:
        >>> result = nasi_nal.search(space="nb201", method="nal+nasi", candidates=10, top_k=3)
        >>> print(result.table())
    """
    config = dataclasses.replace(config or SearchConfig(), **overrides)
    if config.top_k is None:
        config = dataclasses.replace(config, top_k=min(DEFAULT_TOP_K, config.candidates))
    validate(config)
    method, adapter = methods.get(config.method), adapters.get(config.space)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    table = adapter.load_table(config.table)
    lookup, metric = table if table is not None else (None, None)
    timings["load_table_s"] = time.perf_counter() - t0

    key = jax.random.PRNGKey(config.seed)
    k_propose, k_score = jax.random.split(key)
    rng = np.random.default_rng([config.seed, 101])  # host-side proposals: its own stream of the same seed
    t = time.perf_counter()
    if methods.one_shot(config.method, config.space):
        _status("NASI supernet search: compiling once, then all steps in one call", quiet)
        cands, details = proposers.PROPOSERS[method.proposer](config, rng, k_propose, quiet)
        score, higher_better = "nasi_penalized", True
    else:
        _status(f"proposing {config.candidates} {config.space} cells ({config.method})", quiet)
        cands, details = proposers.propose(config, method.proposer, rng, k_propose, quiet)
        timings["propose_s"] = time.perf_counter() - t
        t = time.perf_counter()
        score, higher_better = (None, True) if method.ranker is None else ranking.get(method.ranker).rank(
            config, cands, k_score, quiet, details)
        timings["score_s"] = time.perf_counter() - t
    order = ranking.order(cands, score, higher_better)
    for r, c in enumerate(order, 1):
        c.rank = r
    winners = order[: config.top_k]
    for c in winners:
        c.params = count_params(build(config.space, c.cell))
    if lookup is not None:
        for c in order:
            c.table_accuracy = lookup(c.cell)
    result = SearchResult(config, score, order, winners, timings, _environment(), metric, details)
    if config.train:
        t = time.perf_counter()
        result.training = _train(config, winners, quiet)
        timings["train_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    if config.output:
        _write(result)
    return result


def _status(message: str, quiet: bool) -> None:
    """One line on stderr for a stage that has no finer progress to show."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _train(config: SearchConfig, winners: Sequence[Candidate], quiet: bool) -> list[dict[str, Any]]:
    """Hands each winner to the Flax trainer; one workdir per rank under ``train_workdir``."""
    from nasi_nal import train

    base = train_config(config)
    root = pathlib.Path(config.train_workdir or "runs")
    to_json = adapters.get(config.space).to_json
    out = []
    for w in winners:
        cell = to_json(w.cell)
        workdir = root / f"rank{w.rank}"
        summary = train.train_and_evaluate(
            dataclasses.replace(base, cell=cell if isinstance(cell, str) else json.dumps(cell)), workdir, quiet=quiet)
        out.append({"rank": w.rank, "key": w.key, "workdir": str(workdir), "summary": summary})
    return out


def _environment() -> dict[str, Any]:
    import flax
    import optax

    from nasi_nal import __version__

    return {
        "nasi_nal": __version__, "python": platform.python_version(), "jax": jax.__version__,
        "flax": flax.__version__, "optax": optax.__version__, "numpy": np.__version__,
        "device": str(jax.devices()[0].device_kind), "platform": jax.default_backend(),
    }


def _write(result: SearchResult) -> None:
    """The JSON report and a picture of each winner, moved into place as one set (``report.output_set``)."""
    out = pathlib.Path(result.config.output)
    with report.output_set(out) as folder:
        for c in result.winners:
            adapters.draw_cell(result.config.space, c.cell, folder / report.picture_name(out, c.rank),
                               title=f"rank {c.rank}: {c.summary}")
        report.write_json(folder / out.name, result.to_json())


__all__ = ["SearchConfig", "SearchResult", "search"]
