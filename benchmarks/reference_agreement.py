"""Cell-by-cell agreement with the PyTorch reference implementations of the zero-cost scores, on NAS-Bench-201.

    NASI_NAL_DATA=../shared/data python benchmarks/reference_agreement.py \
        --out benchmarks/results/reference_agreement_nb201.json

The reference file (``naslib_zc_nb201_cifar10_725.json`` in ``$NASI_NAL_DATA``) holds the scores that NASLib's
zero-cost predictors -- the code of the zero-cost proxies paper -- computed for 725 NB201 cells: one batch of real
CIFAR-10 training images (batch 32), batch norm in PyTorch train mode, PyTorch's default initialization. Every one
of those cells is scored here the same way as far as the two frameworks allow: the benchmark's full-size network,
a batch of 32 exact CIFAR-10 training images (``cifar10_exact_first1017.npz``) with their labels, batch norm in
``--bn`` mode (train by default), variables from ``cell_key(seed, arch)``. Reported per score: the Spearman
correlation between the two implementations over the cells both scored, and each implementation's Spearman with
the reference file's CIFAR-10 validation accuracy. The images and the initial weights differ, so values are not
expected to be equal; ranks are. Resumable per cell (``<out>.jsonl.partial``).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time
from typing import Any, Sequence

import jax
import numpy as np
from scipy import stats
from tqdm import tqdm

from nasi_nal.evaluate import data_file
from nasi_nal.networks.build import build
from nasi_nal.scores import cell_key, iter_scores, make_batch

#: our score -> its name in the reference file
REFERENCE_NAMES = {"grad_norm": "grad_norm", "snip": "snip", "synflow": "synflow", "jacob_cov": "jacov",
                   "nwot": "nwot", "params": "params", "flops": "flops"}


def run(out: pathlib.Path, bn: str = "train", batch_size: int = 32, seed: int = 0) -> dict[str, Any]:
    """Scores every reference cell (resumable) and writes the agreement report."""
    reference = json.loads(data_file(None, "naslib_zc_nb201_cifar10_725.json").read_text())
    with np.load(data_file(None, "cifar10_exact_first1017.npz"), allow_pickle=False) as f:
        images, labels = f["x_train"], f["y_train"].astype(np.int32)
    batch = make_batch(jax.random.PRNGKey(seed), batch_size, images=images, labels=labels)
    partial = out.with_suffix(".jsonl.partial")
    done = {}
    if partial.exists():
        for line in partial.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                done[record["cell"]] = record
    archs = sorted(reference)
    todo = [a for a in archs if a not in done]
    names = list(REFERENCE_NAMES)
    start = time.time()
    with open(partial, "a") as log:
        results = iter_scores([build("nb201", a) for a in todo], batch, names, [cell_key(seed, a) for a in todo],
                              bn=bn, cell_names=todo)
        for arch, result in zip(tqdm(todo, desc="reference cells"), results):
            record = {"cell": arch, "scores": {n: result.values.get(n) for n in names}, "errors": result.errors}
            log.write(json.dumps(record) + "\n")
            log.flush()
            done[arch] = record
    accuracy = np.array([reference[a]["val_accuracy"] for a in archs], np.float64)
    rows = {}
    for ours, theirs in REFERENCE_NAMES.items():
        a = np.array([np.nan if done[c]["scores"][ours] is None else done[c]["scores"][ours] for c in archs])
        b = np.array([np.nan if reference[c].get(theirs) is None else reference[c][theirs] for c in archs])
        both = np.isfinite(a) & np.isfinite(b) & (np.abs(b) < 1e7)  # the reference writes -1e8 for its failures
        rows[ours] = {"cells": int(both.sum()), "reference_name": theirs,
                      "spearman_between_implementations": float(stats.spearmanr(a[both], b[both]).statistic),
                      "ours_vs_accuracy": float(stats.spearmanr(a[both], accuracy[both]).statistic),
                      "reference_vs_accuracy": float(stats.spearmanr(b[both], accuracy[both]).statistic)}
    report = {"command": "python " + " ".join(sys.argv), "cells": len(archs), "bn": bn, "batch_size": batch_size,
              "seed": seed, "network": "full-size NB201 (C = 16, N = 5)",
              "data": "exact CIFAR-10 training images with labels (cifar10_exact_first1017.npz); the reference used "
                      "its own batch of CIFAR-10 training images",
              "accuracy": "the reference file's CIFAR-10 validation accuracy",
              "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}",
              "host": f"{platform.machine()}, {os.cpu_count()} CPU cores",
              "wall_seconds_this_run": time.time() - start, "scores": rows}
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    """The agreement table, built only from the JSON above."""
    lines = [f"# Agreement with the PyTorch reference: {report['cells']} NAS-Bench-201 cells", "",
             f"- ours: {report['network']}, batch {report['batch_size']}, batch norm {report['bn']} mode, seed "
             f"{report['seed']}; {report['data']}",
             f"- reference: NASLib's zero-cost predictors (the zero-cost proxies paper's code), PyTorch train-mode BN",
             f"- accuracy: {report['accuracy']}; {report['device']} ({report['host']})",
             f"- command: `{report['command']}`", "",
             "| score | cells | Spearman ours vs reference | ours vs accuracy | reference vs accuracy |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, r in report["scores"].items():
        lines.append(f"| {name} | {r['cells']} | {r['spearman_between_implementations']:.3f} | "
                     f"{r['ours_vs_accuracy']:.3f} | {r['reference_vs_accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=pathlib.Path, required=True, help="report path (.json; .md beside it)")
    p.add_argument("--bn", choices=("train", "eval"), default="train")
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args(argv)
    report = run(args.out, args.bn, args.batch_size)
    print(markdown(report))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
