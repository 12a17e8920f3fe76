"""Which network size keeps the ranking: Spearman with accuracy against seconds per cell, per scoring size.

    NASI_NAL_DATA=../shared/data python benchmarks/proxy_sizes.py --space nb201 --cells 300
    NASI_NAL_DATA=../shared/data python benchmarks/proxy_sizes.py --space nb101 --cells 300

For each size of ``SIZES[space]`` (the benchmark's full network, width-reduced networks at full depth, and
depth-reduced ones) the same ``--cells`` cells are scored by ``nasi_nal.evaluate.run`` (resumable per cell, one
run per size under ``benchmarks/results/proxy_sizes/``) with every cheap score, batch norm in train mode, a batch of
64 exact CIFAR-10 images with real labels (``--inputs gaussian --targets random`` for NASI's data-agnostic mode).
The table (``benchmarks/results/proxy_sizes_<space>_<inputs>.{json,md}``) puts each score's Spearman with accuracy
beside the mean seconds per cell of the whole score set at that size, and names the cheapest size whose Spearman for
``--ranking`` is within ``--tolerance`` of the largest size run's (the full size, unless ``--size`` leaves it out).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import sys
from typing import Any, Sequence

from nasi_nal.evaluate import CorrelationRun
from nasi_nal.evaluate import run as correlate

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
SCORES = ("grad_norm", "snip", "nasi_trace", "ntk_trace", "jacob_cov", "synflow", "nwot", "params")
FULL = {"nb201": dict(channels=16, cells_per_stage=5), "nb101": dict(stem_channels=128, cells_per_stack=3)}
SIZES: dict[str, dict[str, dict[str, int]]] = {
    "nb201": {"full (C16, N5)": FULL["nb201"], "C8, N5": dict(channels=8, cells_per_stage=5),
              "C16, N2": dict(channels=16, cells_per_stage=2), "C16, N1": dict(channels=16, cells_per_stage=1),
              "C8, N1": dict(channels=8, cells_per_stage=1)},
    "nb101": {"full (stem 128, 3 cells)": FULL["nb101"], "stem 32, 3 cells": dict(stem_channels=32, cells_per_stack=3),
              "stem 16, 3 cells": dict(stem_channels=16, cells_per_stack=3),
              "stem 16, 1 cell": dict(stem_channels=16, cells_per_stack=1)},
}


def run(space: str, cells: int, inputs: str, targets: str, ranking: str, tolerance: float, seed: int = 0,
        sizes: Sequence[str] | None = None, scores: Sequence[str] = SCORES) -> dict[str, Any]:
    """Scores ``cells`` cells at every size and writes the table; returns it."""
    images = "cifar10_exact_first1017.npz" if inputs == "real" or targets == "real" else None
    rows = []
    for label, fields in SIZES[space].items():
        if sizes and label not in sizes:
            continue
        tag = f"{space}_{inputs}-{targets}_{_slug(label)}_n{cells}_s{seed}"
        if tuple(scores) != SCORES:
            tag += "_" + hashlib.sha1(",".join(scores).encode()).hexdigest()[:8]
        settings = CorrelationRun(space=space, cells=cells, seed=seed, scores=scores, batch_size=64, inputs=inputs,
                                  targets=targets, images=images, overrides=fields)
        summary = correlate(settings, out_dir=RESULTS / "proxy_sizes", tag=tag)
        rows.append({"size": label, "fields": fields, "seconds_per_cell": summary["seconds_per_cell"],
                     "params": summary["params"],
                     "spearman": {n: summary["correlations"][n]["spearman"] for n in scores},
                     "spearman_ci95": {n: summary["correlations"][n].get("spearman_ci95") for n in scores}})
    largest = rows[0] if rows else None  # sizes are listed largest first
    full = largest["spearman"][ranking] if largest else None
    keep = [r for r in rows if full is not None and r["spearman"][ranking] is not None
            and r["spearman"][ranking] >= full - tolerance]
    cheapest = min(keep, key=lambda r: r["seconds_per_cell"]["mean"])["size"] if keep else None
    result = {"command": "python " + " ".join(sys.argv), "space": space, "cells": cells, "seed": seed,
              "inputs": inputs, "targets": targets, "batch_size": 64, "bn": "train", "ranking": ranking,
              "scores": list(scores), "reference_size": largest["size"] if largest else None,
              "tolerance": tolerance, "cheapest_within_tolerance": cheapest, "sizes": rows,
              "device": summary["device"] if rows else None, "host": summary["host"] if rows else None}
    stem = RESULTS / f"proxy_sizes_{space}_{inputs}-{targets}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    return result


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label).strip("-").replace("--", "-")


def markdown(result: dict[str, Any]) -> str:
    """The table, built only from the JSON above."""
    names = result.get("scores", SCORES)
    lines = [f"# Scoring size against ranking: {result['space']}, {result['cells']} cells",
             "",
             f"- Spearman with accuracy; batch {result['batch_size']}, inputs {result['inputs']}, labels "
             f"{result['targets']}, batch norm {result['bn']}, seed {result['seed']}",
             f"- seconds per cell: all {len(names)} scores together, mean over the cells (first cells include "
             f"block compiles); {result['device']} ({result['host']})",
             f"- cheapest size within {result['tolerance']} of the {result['reference_size']} size's "
             f"{result['ranking']} Spearman: **{result['cheapest_within_tolerance']}**",
             f"- command: `{result['command']}`",
             *(f"- note: {note}" for note in result.get("notes", [])),
             "",
             "| size | s / cell | " + " | ".join(names) + " |",
             "| --- | ---: | " + " | ".join("---:" for _ in names) + " |"]
    for r in result["sizes"]:
        cells = [f"{r['spearman'][n]:.3f}" if r["spearman"][n] is not None else "-" for n in names]
        lines.append(f"| {r['size']} | {r['seconds_per_cell']['mean']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", choices=tuple(SIZES), default="nb201")
    p.add_argument("--cells", type=int, default=300)
    p.add_argument("--inputs", choices=("real", "gaussian"), default="real")
    p.add_argument("--targets", choices=("real", "random"), default="real")
    p.add_argument("--ranking", default="nasi_trace", help="the score whose Spearman picks the size")
    p.add_argument("--tolerance", type=float, default=0.03)
    p.add_argument("--size", action="append", help="only these sizes (labels of SIZES); default all")
    p.add_argument("--scores", default=",".join(SCORES), help="comma-separated scores (default: the set above)")
    args = p.parse_args(argv)
    result = run(args.space, args.cells, args.inputs, args.targets, args.ranking, args.tolerance, sizes=args.size,
                 scores=tuple(s for s in args.scores.split(",") if s))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
