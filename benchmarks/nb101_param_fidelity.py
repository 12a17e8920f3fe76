"""Parameter-count fidelity of the NAS-Bench-101 network: ours against the benchmark's ``trainable_parameters``.

    python benchmarks/nb101_param_fidelity.py --sample $NASI_NAL_DATA/nb101_cifar10_sample20001.npz

Expected: 0 mismatches. Every cell of the sample is decoded with ``nasi_nal.spaces.nb101.from_arrays`` and counted
twice over:

* ``closed_form``: ``nasi_nal.networks.nb101.param_count`` (the channel rules of nasbench's
  ``compute_vertex_channels`` in closed form, a few ms per cell) for ALL cells;
* ``traced``: ``nasi_nal.networks.common.count_params`` of the Flax ``NB101Network`` itself (``jax.eval_shape`` of
  ``init``, no allocation, about 0.4-1 s per cell on one CPU core) for ``--traced`` cells drawn with a seeded
  ``numpy.random.Generator`` (``--traced -1``: all 20,001, about 2 h on one core; ``--workers N`` splits the
  cells over N processes).

Nothing is cached between cells: each is decoded, validated, pruned and counted from scratch. Writes the result to
``benchmarks/results/nb101_param_fidelity.json`` (``--out``). The traced counts are appended, 100 cells at a time,
to ``<out>.traced<N>_seed<S>.jsonl.partial`` beside it, and a rerun with the same ``--traced``/``--seed`` counts
only the cells missing there (resumable; delete the file to count again from scratch).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import pathlib
import platform
import sys
import time
from typing import Sequence

import flax
import jax
import numpy as np

from nasi_nal.networks import nb101 as net101
from nasi_nal.networks.common import count_params
from nasi_nal.spaces import nb101 as space

SAMPLE_NAME = "nb101_cifar10_sample20001.npz"
DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "results" / "nb101_param_fidelity.json"


def _sample_path(sample: str | None) -> pathlib.Path:
    if sample is None:
        folder = os.environ.get("NASI_NAL_DATA")
        if not folder:
            raise SystemExit(f"no sample given: pass --sample PATH/{SAMPLE_NAME} or set NASI_NAL_DATA to its folder")
        sample = os.path.join(folder, SAMPLE_NAME)
    path = pathlib.Path(sample)
    if not path.is_file():
        raise SystemExit(f"sample file {path} not found: pass --sample PATH/{SAMPLE_NAME}")
    return path


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]  # (adjacency, ops, num_vertices) of some rows


def _cells(arrays: Arrays) -> list[space.Cell]:
    return [space.from_arrays(a, o, v) for a, o, v in zip(*arrays)]


def _traced_counts(arrays: Arrays) -> tuple[list[int], float]:
    """``count_params`` (``jax.eval_shape`` of the Flax network's ``init``) of each cell, and the seconds it took.

    Runs in a worker process.
    """
    start = time.perf_counter()
    counts = [count_params(net101.NB101Network(c.matrix, c.ops)) for c in _cells(arrays)]
    return counts, time.perf_counter() - start


def _closed_counts(arrays: Arrays) -> tuple[list[int], float]:
    start = time.perf_counter()
    return [net101.param_count(c.matrix, c.ops) for c in _cells(arrays)], time.perf_counter() - start


def _sweep(arrays: Arrays, rows: np.ndarray, count, expected: np.ndarray, hashes: np.ndarray, workers: int,
           log: pathlib.Path | None = None) -> dict:
    """Counts ``rows`` with ``count`` (in ``workers`` processes, chunks of 100 rows) and compares with ``expected``.

    With ``log``, each finished chunk is appended to it as one JSON line and a rerun counts only the rows not
    found there (resumable); ``seconds_per_cell`` sums the counting time of every chunk, whichever run made it.
    """
    done: dict[int, int] = {}
    worker_seconds = 0.0
    if log is not None and log.exists():
        for line in log.read_text().splitlines():
            try:
                chunk = json.loads(line)
            except json.JSONDecodeError:  # the last line of a killed run: its rows are counted again
                continue
            done.update(zip(chunk["rows"], chunk["counts"]))
            worker_seconds += chunk["seconds"]
    todo = np.array([r for r in rows if int(r) not in done], dtype=np.int64)
    chunks = [todo[i:i + 100] for i in range(0, len(todo), 100)]

    def record(chunk_rows: np.ndarray, result: tuple[list[int], float]) -> None:
        nonlocal worker_seconds
        done.update(zip(map(int, chunk_rows), result[0]))
        worker_seconds += result[1]
        if log is not None:
            with open(log, "a") as f:
                f.write(json.dumps({"rows": [int(r) for r in chunk_rows], "counts": result[0],
                                    "seconds": result[1]}) + "\n")

    start = time.perf_counter()
    if workers > 1:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(count, tuple(a[c] for a in arrays)): i for i, c in enumerate(chunks)}
            for future in concurrent.futures.as_completed(futures):
                record(chunks[futures[future]], future.result())
    else:
        for c in chunks:
            record(c, count(tuple(a[c] for a in arrays)))
    wrong = [{"row": int(r), "hash": str(hashes[r]), "expected": int(expected[r]), "got": int(done[int(r)])}
             for r in rows if int(done[int(r)]) != int(expected[r])]
    return {"cells": len(rows), "mismatches": len(wrong), "reused_from_log": len(rows) - len(todo),
            "wall_seconds_this_run": round(time.perf_counter() - start, 2), "workers": workers,
            "seconds_per_cell": round(worker_seconds / max(len(rows), 1), 4), "first_mismatches": wrong[:10]}


def check(sample: pathlib.Path, traced: int = 300, seed: int = 0, workers: int = 1,
          log: pathlib.Path | None = None) -> dict:
    """Counts every cell in closed form and ``traced`` random cells through ``eval_shape``; returns the report."""
    with np.load(sample, allow_pickle=False) as data:
        expected, hashes = data["trainable_parameters"], data["hash"]
        arrays = (data["adjacency"], data["ops"], data["num_vertices"])
    n = len(expected)
    closed = _sweep(arrays, np.arange(n), _closed_counts, expected, hashes, 1)
    rows = np.arange(n) if traced < 0 or traced >= n else np.sort(
        np.random.default_rng(seed).choice(n, size=traced, replace=False))
    traced_report = _sweep(arrays, rows, _traced_counts, expected, hashes, workers, log)
    traced_report["rows"] = "all" if len(rows) == n else f"{len(rows)} drawn with numpy default_rng({seed})"
    return {
        "sample": sample.name,
        "cells": n,
        "mismatches": closed["mismatches"] + traced_report["mismatches"],
        "closed_form": closed,
        "traced": traced_report,
        "versions": {"python": platform.python_version(), "jax": jax.__version__, "flax": flax.__version__,
                     "numpy": np.__version__},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
    }


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", help=f"path of {SAMPLE_NAME} (default: $NASI_NAL_DATA/{SAMPLE_NAME})")
    parser.add_argument("--traced", type=int, default=300,
                        help="cells also counted through eval_shape of the Flax network (-1: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the traced subset")
    parser.add_argument("--workers", type=int, default=1, help="processes for the traced count")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="JSON report path")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log = args.out.with_name(f"{args.out.stem}.traced{args.traced}_seed{args.seed}.jsonl.partial")
    report = check(_sample_path(args.sample), traced=args.traced, seed=args.seed, workers=args.workers, log=log)
    report["command"] = " ".join(["python benchmarks/nb101_param_fidelity.py", *(argv if argv is not None
                                                                                 else sys.argv[1:])])
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['mismatches']} mismatches: closed form {report['closed_form']['mismatches']} / "
          f"{report['closed_form']['cells']} cells, traced {report['traced']['mismatches']} / "
          f"{report['traced']['cells']} cells ({report['traced']['seconds_per_cell']} s per cell and process) "
          f"-> {args.out}")
    return report


if __name__ == "__main__":
    main()
