"""Parameter-count fidelity of the NAS-Bench-101 network: ours against the benchmark's ``trainable_parameters``.

    python benchmarks/nb101_param_fidelity.py --sample $NASI_NAL_DATA/nb101_cifar10_sample20001.npz

Expected: 0 mismatches. Every cell of the sample is decoded with ``nasi_nal.spaces.nb101.from_arrays`` and counted
twice over:

* ``closed_form``: ``nasi_nal.networks.nb101.param_count`` (the channel rules of nasbench's
  ``compute_vertex_channels`` in closed form, a few ms per cell) for ALL cells;
* ``traced``: ``nasi_nal.networks.common.count_params`` of the Flax ``NB101Network`` itself (``jax.eval_shape`` of
  ``init``, no allocation, about 0.5-1 s per cell on one CPU core) for ``--traced`` cells drawn with a seeded
  ``numpy.random.Generator`` (``--traced -1``: all 20,001, a few hours on one core).

Nothing is cached between cells: each is decoded, validated, pruned and counted from scratch. Writes the result to
``benchmarks/results/nb101_param_fidelity.json`` (``--out``).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
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


def check(sample: pathlib.Path, traced: int = 300, seed: int = 0) -> dict:
    """Counts every cell in closed form and ``traced`` random cells through ``eval_shape``; returns the report."""
    with np.load(sample, allow_pickle=False) as data:
        adjacency, ops, num_vertices = data["adjacency"], data["ops"], data["num_vertices"]
        expected, hashes = data["trainable_parameters"], data["hash"]
    n = len(expected)

    def cell(row: int) -> space.Cell:
        return space.from_arrays(adjacency[row], ops[row], num_vertices[row])

    def sweep(rows: Sequence[int], count) -> dict:
        start = time.perf_counter()
        wrong = []
        for row in rows:
            c = cell(int(row))
            got = int(count(c))
            if got != int(expected[row]):
                wrong.append({"row": int(row), "hash": str(hashes[row]), "expected": int(expected[row]),
                              "got": got})
        seconds = time.perf_counter() - start
        return {"cells": len(rows), "mismatches": len(wrong), "seconds": round(seconds, 2),
                "ms_per_cell": round(1e3 * seconds / max(len(rows), 1), 3), "first_mismatches": wrong[:10]}

    closed = sweep(range(n), lambda c: net101.param_count(c.matrix, c.ops))
    rows = np.arange(n) if traced < 0 or traced >= n else np.sort(
        np.random.default_rng(seed).choice(n, size=traced, replace=False))
    traced_report = sweep(rows, lambda c: count_params(net101.NB101Network(c.matrix, c.ops)))
    traced_report["rows"] = "all" if len(rows) == n else f"{len(rows)} drawn with numpy default_rng({seed})"
    return {
        "sample": sample.name,
        "cells": n,
        "mismatches": closed["mismatches"] + traced_report["mismatches"],
        "closed_form": closed,
        "traced": traced_report,
        "seconds": round(closed["seconds"] + traced_report["seconds"], 2),
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
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="JSON report path")
    args = parser.parse_args(argv)
    report = check(_sample_path(args.sample), traced=args.traced, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['mismatches']} mismatches: closed form {report['closed_form']['mismatches']} / "
          f"{report['closed_form']['cells']} cells, traced {report['traced']['mismatches']} / "
          f"{report['traced']['cells']} cells, {report['seconds']} s -> {args.out}")
    return report


if __name__ == "__main__":
    main()
