"""How much a cell's scores move with the initialization key, in both batch-norm modes.

    NASI_NAL_DATA=../shared/data python benchmarks/init_spread.py --out benchmarks/results/init_spread.json

One NAS-Bench-201 cell (``--cell``, by default the benchmark's best CIFAR-10 cell), ``--keys`` draws of its variables
(``draw_keys(cell_key(seed, cell), keys)``), every cheap score on one fixed batch (64 Gaussian inputs with random
labels, or ``--inputs real`` with exact CIFAR-10 images and labels), at the network size the search scores
(``nasi_nal.networks.build(..., proxy=True)``), batch norm in train and in eval mode. Reported per score and mode:
min, max, max/min and the coefficient of variation over the keys. ``--inits R`` of the search averages R draws, which
divides the standard deviation by about sqrt(R).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
from typing import Any, Sequence

import jax
import numpy as np

from nasi_nal.evaluate import data_file
from nasi_nal.networks.build import PROXY_CONFIGS, build
from nasi_nal.scores import cell_key, draw_keys, iter_scores, make_batch

BEST_NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SCORES = ("grad_norm", "snip", "nasi_trace", "ntk_trace", "jacob_cov", "synflow", "nwot")


def run(cell: str, keys: int, inputs: str, seed: int = 0) -> dict[str, Any]:
    """Scores ``cell`` with ``keys`` initializations in each batch-norm mode; the spread per score and mode."""
    model = build("nb201", cell, proxy=True)
    if inputs == "real":
        with np.load(data_file(None, "cifar10_exact_first1017.npz"), allow_pickle=False) as f:
            images, labels = f["x_train"], f["y_train"]
        batch = make_batch(jax.random.PRNGKey(seed), 64, images=images, labels=labels)
    else:
        batch = make_batch(jax.random.PRNGKey(seed), 64, inputs="gaussian", targets="random")
    draws = draw_keys(cell_key(seed, cell), keys)
    modes = {}
    for bn in ("train", "eval"):
        results = list(iter_scores([model] * keys, batch, SCORES, draws, bn=bn))
        modes[bn] = {}
        for name in SCORES:
            v = np.array([r.values.get(name, np.nan) for r in results], np.float64)
            modes[bn][name] = {"values": v.tolist(), "min": float(np.nanmin(v)), "max": float(np.nanmax(v)),
                               "max_over_min": float(np.nanmax(v) / np.nanmin(v)) if np.nanmin(v) > 0 else None,
                               "cv": float(np.nanstd(v) / abs(np.nanmean(v)))}
    return {"command": "python " + " ".join(sys.argv), "cell": cell, "keys": keys, "seed": seed,
            "network": PROXY_CONFIGS["nb201"], "batch": f"64, inputs {inputs}",
            "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}",
            "host": f"{platform.machine()}, {os.cpu_count()} CPU cores", "modes": modes}


def markdown(result: dict[str, Any]) -> str:
    """The spread table, built only from the JSON above."""
    lines = [f"# Init spread: one NB201 cell, {result['keys']} keys",
             "",
             f"- cell `{result['cell']}`; network {json.dumps(result['network'])}; batch {result['batch']}",
             f"- {result['device']} ({result['host']}); command: `{result['command']}`",
             "",
             "| score | bn | min | max | max/min | CV |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for bn, scores in result["modes"].items():
        for name, e in scores.items():
            ratio = "-" if e["max_over_min"] is None else f"{e['max_over_min']:.2f}"
            lines.append(f"| {name} | {bn} | {e['min']:.4g} | {e['max']:.4g} | {ratio} | {e['cv']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cell", default=BEST_NB201)
    p.add_argument("--keys", type=int, default=10)
    p.add_argument("--inputs", choices=("gaussian", "real"), default="gaussian")
    p.add_argument("--out", type=pathlib.Path)
    args = p.parse_args(argv)
    result = run(args.cell, args.keys, args.inputs)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
