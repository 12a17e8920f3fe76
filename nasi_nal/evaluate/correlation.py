"""One correlation run: cells drawn from a benchmark table, each scored with every zero-cost score, the scores'
rank correlation with the table's accuracy.

``run(CorrelationRun(...), out_dir=...)`` draws its cells with ``nasi_nal.evaluate.drawn_rows``; each cell's network
(``nasi_nal.networks.build``, proxy size unless ``full``) draws its variables from ``nasi_nal.scores.cell_key(seed,
the cell's arch string or hash)`` and is scored on one fixed batch with every score, batch norm in ``bn`` mode, by
``nasi_nal.scores.iter_scores``: engine ``auto`` lets ``nasi_nal.scores.choose`` pick (the summary's config records
the plan), or one engine is forced. ``workers`` > 1 scores cells in that many processes side by side. Each cell's
record is appended as soon as it is computed (``nasi_nal.evaluate.records``) and a rerun with the same settings
reuses it. The summary (``nasi_nal.evaluate.summarize``'s correlations, number of cells, network size, device, time
per cell) goes to ``<out_dir>/<run>.json`` and ``.md``. A score that fails on a cell (``NonFiniteScoreError``) is
recorded with its message and left out of that score's correlation. With ``scores_file`` the drawn cells' scores
are looked up in a scores file (``python -m nasi_nal.score``) instead, after checking it was made with these settings;
its batch is the search's draw for them, not this run's.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import pathlib
import platform
import sys
import time
from typing import Any, Callable, Sequence

import jax
import numpy as np
from tqdm import tqdm

from nasi_nal.errors import ScoresFileError
from nasi_nal.evaluate.cells import ACCURACY, DEFAULT_TABLES, drawn_rows, load_table
from nasi_nal.evaluate.data import data_file, load_images
from nasi_nal.evaluate.records import append_record, read_records, records_path
from nasi_nal.evaluate.summary import summarize
from nasi_nal.networks.build import PROXY_CONFIGS, build
from nasi_nal.scores import (DEFAULT_BN, DEFAULT_PROBES, SCORES, Batch, cell_key, choose, iter_scores,
                             make_batch)
from nasi_nal.scores.common import check_bn, check_probes

MASKED_PER_CALL = 64  # cells per compiled call of the masked engine when several processes share a device
_PER_ROW = ("cells", "rows", "labels", "accuracy")  # the job fields split between worker processes


@dataclasses.dataclass(frozen=True)
class CorrelationRun:
    """What a correlation run scores and how; its summary's ``config`` and default name follow from these
    (:func:`run_config`, :func:`run_name`)."""

    space: str = "nb201"  # "nb201" or "nb101"
    table: str | os.PathLike | None = None  # path, or name inside $NASI_NAL_DATA; None: DEFAULT_TABLES[space]
    cells: int = 100  # cells drawn from the table
    seed: int = 0  # the draw, the cells' variables, the batch and the bootstrap
    scores: Sequence[str] = tuple(SCORES)
    batch_size: int = 32
    inputs: str = "gaussian"  # "gaussian" or "real" (images from ``images``)
    targets: str = "random"  # "random" or "real"
    images: str | os.PathLike | None = None  # exact-pixel npz or JPEG image-folder tarball (lossy)
    image_pool: int = 2048  # tarball images decoded to draw the batch from
    full: bool = False  # benchmark-size networks instead of the proxies
    overrides: dict[str, int] = dataclasses.field(default_factory=dict)  # network fields on top of the size
    input_size: int = 32  # side of Gaussian inputs
    engine: str = "auto"  # a name of ``nasi_nal.scores.ENGINES``
    bn: str = DEFAULT_BN  # batch-norm mode while scoring
    probes: int | str = DEFAULT_PROBES  # Rademacher probes of ntk_trace, or "exact"
    inits: int = 1  # draws of each cell's variables to average scores over
    scores_file: str | os.PathLike | None = None  # look the scores up here instead of computing them

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", tuple(self.scores))
        object.__setattr__(self, "overrides", dict(self.overrides or {}))


def run_config(settings: CorrelationRun, engines: dict[str, list[str]]) -> dict[str, Any]:
    """The settings as a run's summary records them (``config``), with the engine plan that computes its scores."""
    s = settings
    return dict(space=s.space, cells=s.cells, seed=s.seed, scores=list(s.scores), batch_size=s.batch_size,
                inputs=s.inputs, targets=s.targets, images=pathlib.Path(s.images).name if s.images else None,
                image_pool=s.image_pool, full=s.full, overrides=dict(s.overrides), input_size=s.input_size, bn=s.bn,
                probes=s.probes, inits=s.inits, engines=engines)


def run_name(config: dict[str, Any]) -> str:
    """The default name of the run with summary ``config``: its main settings and a digest of all of them (the same
    settings find the same records again)."""
    digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
    return (f"correlation_{config['space']}_{config['inputs']}-{config['targets']}_{config['bn']}_n{config['cells']}"
            f"_s{config['seed']}_{digest}")


def run(settings: CorrelationRun, *, out_dir: str | os.PathLike, tag: str | None = None, progress: bool = True,
        workers: int = 1) -> dict[str, Any]:
    """Scores the cells of ``settings`` (those already recorded under this run's name are reused), writes the
    summary to ``<out_dir>/<name>.json`` and ``.md`` and returns it; ``tag`` names the run instead of
    :func:`run_name`. Bad settings fail before any work."""
    s = settings
    plan = choose(s.space, s.scores, engine=s.engine)
    check_bn(s.bn)
    check_probes(s.probes)
    if workers > 1:  # several processes share one accelerator: none may grab most of its memory up front
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    found = _open_scores_file(s) if s.scores_file is not None else None
    config = run_config(s, plan)
    if found is not None:  # the run's name and summary say where its scores come from
        config.update(scores_file=found.path.name, engines=found.meta["engine_plan"])
    name = tag or run_name(config)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    table_path = data_file(s.table, DEFAULT_TABLES.get(s.space))
    all_cells, accuracy, labels = load_table(s.space, table_path)
    rows = drawn_rows(len(all_cells), s.cells, s.seed)

    start = time.time()
    if found is not None:
        records = _file_records(found, rows, labels, accuracy, s.scores)
        todo: list[int] = []
        data_note = (f"the batch of {found.path.name} (drawn as the search draws it: data {found.meta['batch']['data']}"
                     f", labels {found.meta['batch']['labels']}), scored on {found.meta['device']}")
    else:
        records, todo, data_note = _score_drawn(s, rows, all_cells, labels, accuracy, out_dir, name, progress,
                                                workers, plan)
    seconds = np.array([r["seconds"] for r in records if r["seconds"] is not None])
    params = np.array([r["params"] for r in records if r.get("params") is not None])
    network = dict(PROXY_CONFIGS[s.space]) if not s.full else {"size": "full (benchmark) networks"}
    network.update(s.overrides)
    summary = {
        "command": "python " + " ".join(sys.argv),  # that of the script calling run
        "config": config,
        "cells": len(records),
        "table": table_path.name,
        "accuracy": ACCURACY[s.space],
        "data": data_note,
        "network": network,
        "params": ({"mean": float(params.mean()), "min": int(params.min()), "max": int(params.max())}
                   if len(params) else None),
        "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}",
        "host": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "jax": jax.__version__,
        "seconds_per_cell": ({"mean": float(seconds.mean()), "median": float(np.median(seconds))}
                             if len(seconds) else None),
        "wall_seconds_this_run": time.time() - start,
        "workers": workers,
        "cells_reused": len(rows) - len(todo),
        "correlations": summarize(records, s.scores, s.seed),
    }
    (out_dir / f"{name}.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    (out_dir / f"{name}.md").write_text(markdown(summary))
    return summary


def _score_drawn(s: CorrelationRun, rows: np.ndarray, all_cells: list[Any], labels: list[str], accuracy: np.ndarray,
                 out_dir: pathlib.Path, name: str, progress: bool, workers: int,
                 plan: dict[str, list[str]]) -> tuple[list[dict], list[int], str]:
    """Scores the drawn rows run ``name`` has no record of yet: (every drawn row's record, the rows scored now, what
    the batch is)."""
    k_batch = jax.random.split(jax.random.PRNGKey(s.seed))[0]
    data_note = "i.i.d. N(0, 1) inputs (no dataset)"
    pool_x = pool_y = None
    input_size = s.input_size
    if s.inputs == "real" or s.targets == "real":
        pool_x, pool_y, data_note = load_images(data_file(s.images), s.image_pool, np.random.default_rng(s.seed))
        input_size = pool_x.shape[1]
    batch = make_batch(k_batch, s.batch_size, images=pool_x, labels=pool_y, inputs=s.inputs, targets=s.targets,
                       input_shape=(input_size, input_size, 3), num_classes=10)

    done = read_records(out_dir, name)
    todo = [int(r) for r in rows if int(r) not in done]
    masked = "masked" in plan
    job = dict(space=s.space, cells=[all_cells[r] for r in todo], rows=todo, labels=[labels[r] for r in todo],
               accuracy=[float(accuracy[r]) for r in todo], full=s.full, overrides=dict(s.overrides),
               scores=list(s.scores), batch=(np.asarray(batch.inputs), np.asarray(batch.labels)), seed=s.seed,
               engine=s.engine, bn=s.bn, probes=s.probes, inits=s.inits,
               per_call="auto" if workers <= 1 else max(1, min(MASKED_PER_CALL, len(todo))))
    bar = tqdm(desc=f"{s.space} cells", disable=not progress, initial=len(rows) - len(todo), total=len(rows))
    if workers <= 1:
        _score_rows(job, out_dir, name, on_record=lambda _: bar.update())
    else:  # chunks of 4 cells (a call's worth when masked); each worker appends to its own records file
        size = job["per_call"] if masked else 4
        pieces = [{k: (v[i:i + size] if k in _PER_ROW else v) for k, v in job.items()}
                  for i in range(0, len(todo), size)]
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_score_rows, piece, out_dir, name, per_process=True) for piece in pieces]
            for future in concurrent.futures.as_completed(futures):
                bar.update(future.result())
    bar.close()
    done.update(read_records(out_dir, name))
    return [done[int(r)] for r in rows], todo, data_note


def _score_rows(job: dict[str, Any], out_dir: pathlib.Path, name: str,
                on_record: Callable[[dict[str, Any]], Any] | None = None, per_process: bool = False) -> int:
    """Scores ``job``'s cells, appending one record per cell to run ``name``'s records file (this process's own
    when ``per_process``); returns the count. Runs in the main process or in a worker process."""
    batch = Batch(*(jax.numpy.asarray(a) for a in job["batch"]))
    path = records_path(out_dir, name, os.getpid() if per_process else None)
    models = [build(job["space"], cell, proxy=not job["full"], **job["overrides"]) for cell in job["cells"]]
    results = iter_scores(models, batch, job["scores"], [cell_key(job["seed"], label) for label in job["labels"]],
                          bn=job["bn"], probes=job["probes"], inits=job["inits"], engine=job["engine"],
                          per_call=job["per_call"], cell_names=job["labels"], space=job["space"])
    with open(path, "a") as log:
        t0 = time.time()
        for row, label, acc, result in zip(job["rows"], job["labels"], job["accuracy"], results):
            record = {"row": row, "cell": label, "accuracy": acc,
                      "scores": {n: result.values.get(n) for n in job["scores"]}, "errors": result.errors,
                      "params": result.values.get("params"), "seconds": time.time() - t0}
            append_record(log, record)
            t0 = time.time()
            if on_record is not None:
                on_record(record)
    return len(job["rows"])


def _open_scores_file(s: CorrelationRun) -> Any:
    """The scores file of ``s``, read after checking (before any work) that it holds ``s.scores`` of ``s.space`` made
    with these settings: the file's batch is the search's draw for the seed, size and data
    (``nasi_nal.space_scoring``), not this run's own draw, and the summary says so."""
    from nasi_nal import scores_file

    path = s.scores_file
    data = "gaussian" if s.inputs == "gaussian" else scores_file.data_name(str(s.images or ""))
    meta = scores_file.read_meta(path)
    scores_file.check_fits(path, meta, {
        "space": s.space, "bn": s.bn, "probes": s.probes, "inits": s.inits, "seed": s.seed,
        "batch.size": s.batch_size, "batch.data": data, "batch.labels": s.targets, "network.proxy": not s.full,
        "network.overrides": dict(s.overrides)}, "this run")
    missing = [n for n in s.scores if n not in meta["scores"]]
    if missing:
        raise ScoresFileError(f"scores file {path} has no {', '.join(missing)} (it holds {', '.join(meta['scores'])})")
    if s.inputs == "gaussian" and s.input_size != 32:
        raise ScoresFileError(f"--input-size {s.input_size}: a scores file's Gaussian inputs are 32x32")
    return scores_file.read(path)


def _file_records(found: Any, rows: np.ndarray, labels: list[str], accuracy: np.ndarray,
                  scores: Sequence[str]) -> list[dict]:
    """The drawn rows' records with their scores looked up in the scores file ``found`` (no time per cell: nothing
    was computed here); a drawn cell the file lacks is an error."""
    results = found.lookup([labels[r] for r in rows], list(scores))
    return [{"row": int(r), "cell": labels[r], "accuracy": float(accuracy[r]),
             "scores": {n: result.values.get(n) for n in scores}, "errors": result.errors,
             "params": result.values.get("params"), "seconds": None} for r, result in zip(rows, results)]


def markdown(summary: dict[str, Any]) -> str:
    """A run's summary as a markdown table, built only from the summary."""
    c = summary["config"]
    lines = [
        f"# Zero-cost score correlation: {c['space']}, {summary['cells']} cells",
        "",
        f"- accuracy: {summary['accuracy']} from `{summary['table']}`",
        f"- batch: {c['batch_size']} examples, inputs {c['inputs']}, labels {c['targets']}; {summary['data']}",
        f"- networks: {json.dumps(summary['network'])}"
        + (f"; parameters mean {summary['params']['mean']:.0f} (min {summary['params']['min']}, max "
           f"{summary['params']['max']})" if summary["params"] else ""),
        f"- device: {summary['device']} ({summary['host']}), jax {summary['jax']}; "
        + (f"{summary['seconds_per_cell']['mean']:.2f} s per cell "
           f"(median {summary['seconds_per_cell']['median']:.2f} s, all scores)" if summary["seconds_per_cell"]
           else f"scores read from {c['scores_file']}, not computed here"),
        f"- batch norm in {c['bn']} mode; ntk_trace probes: {c['probes']}; initializations averaged: {c['inits']}; "
        f"engines: {json.dumps(c['engines'])}",
        f"- seed {c['seed']}; intervals: percentile bootstrap over cells, 1,000 resamples",
        *([f"- command: `{summary['command']}`"] if summary.get("command") else []),
        "",
        "| score | cells | failed | Spearman | 95% CI | Kendall | 95% CI |",
        "| --- | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for score, e in summary["correlations"].items():
        label = f"{score} (lower is better)" if e["lower_is_better"] else score
        if e["spearman"] is not None:
            sp, kt = e["spearman_ci95"], e["kendall_ci95"]
            lines.append(f"| {label} | {e['cells']} | {e['failed']} | {e['spearman']:.3f} | [{sp[0]:.3f}, {sp[1]:.3f}]"
                         f" | {e['kendall']:.3f} | [{kt[0]:.3f}, {kt[1]:.3f}] |")
        else:
            lines.append(f"| {label} | {e['cells']} | {e['failed']} | - ({e['note']}) | - | - | - |")
    return "\n".join(lines) + "\n"
