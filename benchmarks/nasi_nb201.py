"""NASI on NAS-Bench-201: searches over several seeds in each data mode, scored by the table's CIFAR-10 accuracy.

    python benchmarks/nasi_nb201.py --table $NASI_NAL_DATA/nb201_cifar10.csv \
        --images $NASI_NAL_DATA/cifar10_exact_first1017.npz

Modes: ``real`` (CIFAR-10 images and labels from ``--images``: an npz with ``x_train`` uint8 NHWC and
``y_train``, e.g. the exact first 1,017 training images), ``random_labels`` (those images, uniform labels) and
``gaussian`` (N(0, 1) inputs, uniform labels; no data). Without ``--images`` only ``gaussian`` runs. For each mode
it reports the mean and std over seeds of the chosen cells' 200-epoch CIFAR-10 test accuracy (``--metric``) and the
search cost, beside published anchors, in ``benchmarks/results/nasi_nb201.{json,md}``. The table is built from the
JSON the run writes. The defaults are a CPU budget (proxy supernet C = 4, one cell per stage, T = 10, batch 8, 4 samples for the adaptive nu);
``--steps 100 --batch-size 64 --channels 16`` are the paper's search settings on a GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import jax
import numpy as np

from nasi_nal import nasi
from nasi_nal.tables.nb201 import load_nb201

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
MODES = {"real": ("real", "real"), "random_labels": ("real", "random"), "gaussian": ("gaussian", "random")}
ANCHORS = [
    ("NASI-FIX, DARTS space, CIFAR-10 (Shu et al. 2022)", "2.79% test error, 0.24 GPU-hours"),
    ("TE-NAS, NAS-Bench-201 CIFAR-10 (Chen et al. 2021)", "93.9 +- 0.47 test accuracy"),
    ("random choice, NAS-Bench-201 CIFAR-10", "about 87 test accuracy"),
]


def load_images(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``x_train`` (uint8 NHWC) and ``y_train`` from an npz (no pickle)."""
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in ("x_train", "y_train") if k not in data.files]
        if missing:
            raise SystemExit(f"{path}: an npz with x_train (uint8 NHWC) and y_train is needed; missing {missing}")
        return np.asarray(data["x_train"]), np.asarray(data["y_train"]).reshape(-1).astype(np.int32)


def markdown(report: dict) -> str:
    """The results table, from the JSON report only."""
    lines = [
        "# NASI on NAS-Bench-201 (CIFAR-10)", "",
        f"Command: `{report['command']}`", "",
        f"Device: {report['device']}. Data: {report['data_source']}. Table: {report['table']} "
        f"(metric `{report['metric']}`). Settings (inputs and targets are set per mode): {json.dumps(report['settings'])}.", "",
        "| mode | seeds | accuracy mean | accuracy std | best | wall s / search | compile s (all searches) | run s / search |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode, m in report["modes"].items():
        lines.append(
            f"| {mode} | {m['seeds']} | {m['accuracy_mean']:.2f} | {m['accuracy_std']:.2f} | "
            f"{m['accuracy_max']:.2f} | {m['wall_seconds_mean']:.1f} | {m['compile_seconds_total']:.1f} | "
            f"{m['run_seconds_mean']:.1f} |")
    lines += ["", f"Mean accuracy of all {report['table_cells']} cells in the table (random choice, computed): "
              f"{report['table_mean_accuracy']:.2f}; best: {report['table_best_accuracy']:.2f}.", "",
              "Published anchors (not computed here):", ""]
    lines += [f"- {name}: {value}" for name, value in report["anchors"]]
    lines += ["", "Chosen cells:", ""]
    for mode, m in report["modes"].items():
        for run in m["runs"]:
            lines.append(f"- {mode} seed {run['seed']}: `{run['cell_str']}` -> {run['accuracy']:.2f}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, help="NAS-Bench-201 CSV (index,arch_str,<metrics>)")
    parser.add_argument("--images", help="npz with x_train/y_train (CIFAR-10) for the real and random-label modes")
    parser.add_argument("--metric", default="cifar10_test_acc_200ep")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=None)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--cells-per-stage", type=int, default=1)
    parser.add_argument("--nu-samples", type=int, default=4)
    parser.add_argument("--out", default=str(RESULTS / "nasi_nb201"), help="output path without extension")
    args = parser.parse_args(argv)

    table = load_nb201(args.table)
    images = labels = None
    if args.images:
        images, labels = load_images(args.images)
    modes = args.modes or (sorted(MODES) if images is not None else ["gaussian"])
    if images is None and any(MODES[m][0] == "real" for m in modes):
        raise SystemExit(f"modes {modes} need --images")
    config = nasi.get_config("nb201", steps=args.steps, batch_size=args.batch_size, channels=args.channels,
                             cells_per_stage=args.cells_per_stage, nu_samples=args.nu_samples)
    report: dict = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]) if argv is None else
        "nasi_nb201.py " + " ".join(argv),
        "device": f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}",
        "data_source": (f"{os.path.basename(args.images)} (exact CIFAR-10 pixels, {len(images)} training images)"
                        if images is not None else "none (Gaussian inputs only)"),
        "table": os.path.basename(args.table), "metric": args.metric, "settings": config.to_dict(),
        "table_cells": len(table), "table_mean_accuracy": float(np.nanmean(table.metric(args.metric))),
        "table_best_accuracy": float(np.nanmax(table.metric(args.metric))), "anchors": ANCHORS, "modes": {},
    }
    for mode in modes:
        inputs, targets = MODES[mode]
        runs = []
        for seed in range(args.seeds):
            result = nasi.search("nb201", jax.random.PRNGKey(seed), inputs=inputs, targets=targets, config=config,
                                 images=images, labels=labels, table=table, metric=args.metric)
            runs.append({"seed": seed, **result.to_dict()})
            print(f"{mode} seed {seed}: {result.cell_str} acc {result.accuracy:.2f} "
                  f"({result.wall_seconds:.1f} s, compile {result.compile_seconds:.1f} s)", flush=True)
        acc = np.asarray([r["accuracy"] for r in runs])
        report["modes"][mode] = {
            "seeds": len(runs), "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
            "accuracy_max": float(acc.max()),
            "wall_seconds_mean": float(np.mean([r["wall_seconds"] for r in runs])),
            "compile_seconds_total": float(np.sum([r["compile_seconds"] for r in runs])),
            "run_seconds_mean": float(np.mean([r["run_seconds"] for r in runs])), "runs": runs,
        }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(markdown(report))
    return report


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
