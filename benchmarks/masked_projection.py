"""Projected time to score every NAS-Bench-101 cell with the masked form on one accelerator: a roofline, not a run.

    python benchmarks/masked_projection.py --out benchmarks/results/masked_projection_h100.json

No accelerator is needed. The masked form (``nasi_nal.scores.masked``) runs ONE fixed-shape program for every
cell of a space and network size, so its arithmetic per cell does not depend on the cell: for each score set
(``--sets``) the program that ``score_cells`` runs on one call of ``--per-call`` cells is lowered on the host
(``masked.cost_analysis``; not compiled) and XLA's counts of its floating-point operations and bytes accessed
are divided by the cells per call. Times for ``--cells`` cells (default: all 423,624 NB101 cells) follow from the
accelerator's datasheet peaks (``DEVICES``):
- compute floor = FLOPs / FP32 peak: no schedule runs faster on the FP32 units (TF32 tensor cores could);
- unfused memory = bytes / memory bandwidth: every operation of the unoptimized program reading its inputs and
  writing its output through HBM, an overestimate of a fused program's traffic.
Measured seconds need the accelerator: ``benchmarks/scoring_speed.py --methods masked`` on it (its docstring has
the command). Neither figure counts compilation (once per program), host-side score finishing, or the efficiency
lost to small, vmapped (grouped) convolutions. ``--measured REPORT`` (a ``scoring_speed.py`` JSON of the same
network and batch) puts the measured rate beside the roofline: hours = the first call's seconds + the steady
seconds per cell x the remaining cells (``benchmarks/gpu_check.sh`` does this on a lent GPU).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any, Sequence

#: Datasheet peaks: NVIDIA H100 SXM5 80GB (the lent H100 is one: HBM3, 80 GB), FP32 without tensor cores.
DEVICES = {"h100": {"name": "NVIDIA H100 SXM5 80GB", "fp32_tflops": 67.0, "memory_tb_per_s": 3.35}}
DEFAULT_SETS = ("grad_norm", "nasi_trace", "grad_norm+snip+synflow+jacob_cov", "ntk_trace")
NB101_CELLS = 423_624  # every unique NAS-Bench-101 cell


def project(sets: Sequence[str], per_call: int, batch_size: int, network: dict[str, Any], cells: int,
            device: str, seed: int = 0, measured: dict[str, Any] | None = None) -> dict[str, Any]:
    """XLA's per-cell counts of the masked program for each score set and the roofline hours for ``cells``; with
    ``measured`` (a ``scoring_speed.py`` report), the hours its masked rate gives beside them."""
    import jax
    import numpy as np

    from nasi_nal.networks.build import build
    from nasi_nal.scores import make_batch, masked
    from nasi_nal.spaces import nb101, nb201

    fields = dict(network)
    space, proxy = fields.pop("space"), fields.pop("proxy")
    sample = {"nb201": nb201.sample, "nb101": nb101.sample}[space]
    model = build(space, sample(np.random.default_rng(seed)), proxy=proxy, **fields)
    batch = make_batch(jax.random.PRNGKey(seed), batch_size, inputs="gaussian", targets="random")
    peaks = DEVICES[device]
    results = []
    for score_set in sets:
        counts = masked.cost_analysis(model, batch, score_set.split("+"), per_call=per_call)
        flops, memory = counts["flops"] / per_call, counts["bytes accessed"] / per_call
        entry = {"set": score_set, "gflops_per_cell": flops / 1e9, "unfused_gb_per_cell": memory / 1e9,
                 "compute_floor_hours": cells * flops / (peaks["fp32_tflops"] * 1e12) / 3600,
                 "unfused_memory_hours": cells * memory / (peaks["memory_tb_per_s"] * 1e12) / 3600,
                 "tflops_needed_for_one_hour": cells * flops / 3600 / 1e12,
                 "measured": measured_hours(measured, score_set, cells) if measured else None}
        results.append(entry)
        print(json.dumps(entry), flush=True)
    return {
        "command": "python benchmarks/masked_projection.py " + " ".join(sys.argv[1:]),
        "network": network,
        "batch": f"{batch_size} examples (the search's scoring batch is 16)",
        "per_call": per_call,
        "cells": cells,
        "device": peaks,
        "counted_by": f"XLA cost analysis of the lowered (unoptimized) programs, jax {jax.__version__}, on the host",
        "measured_on": measured["device"] if measured else None,
        "results": results,
    }


def measured_hours(report: dict[str, Any], score_set: str, cells: int) -> dict[str, Any] | None:
    """The masked rate that ``report`` (``scoring_speed.py``) measured for ``score_set``, and the hours it gives for
    ``cells``: the first call (compilation included) + steady seconds per cell x the rest; None if not measured."""
    entry = next((e for e in report["results"] if e["set"] == score_set and e["method"] == "masked"
                  and e.get("steady_seconds_per_cell") is not None), None)
    if entry is None:
        return None
    steady, first = entry["steady_seconds_per_cell"], entry["first_call_seconds"]
    return {"device": report["device"], "cells_measured": entry["cells"], "per_call": entry["cells_per_call"],
            "first_call_seconds": first, "steady_seconds_per_cell": steady,
            "hours": (first + max(cells - entry["cells_per_call"], 0) * steady) / 3600}


def markdown(report: dict[str, Any]) -> str:
    d = report["device"]
    lines = [
        f"# Projected masked scoring time: {report['cells']:,} {report['network']['space']} cells on one "
        f"{d['name']}",
        "",
        (f"A roofline from XLA's operation counts, beside the rate measured on {report['measured_on']}."
         if report.get("measured_on") else
         "A roofline from XLA's operation counts, not a measurement: no accelerator has run it yet."),
        "",
        f"- network {json.dumps(report['network'])}; batch {report['batch']}; {report['per_call']} cells per call",
        f"- counts: {report['counted_by']}; per cell = per call / cells per call (the program is the same for "
        "every cell)",
        f"- peaks (datasheet): FP32 {d['fp32_tflops']:g} TFLOP/s without tensor cores, memory "
        f"{d['memory_tb_per_s']:g} TB/s",
        "- compute floor = FLOPs / FP32 peak; unfused memory = bytes of the unfused program / bandwidth (an "
        "overestimate of a fused program's traffic); neither counts compilation or the efficiency lost to small "
        "grouped convolutions",
        f"- command: `{report['command']}`",
        "",
        *([f"- measured: masked scoring on {report['measured_on']} (`benchmarks/scoring_speed.py`): first call "
             "(compilation included) + steady s/cell x the remaining cells"] if report.get("measured_on") else []),
        "",
        "| scores | GFLOP/cell | unfused GB/cell | compute floor, h | unfused memory, h | TFLOP/s for 1 h "
        "| measured steady s/cell | measured, h |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in report["results"]:
        m = e.get("measured")
        lines.append(f"| {e['set']} | {e['gflops_per_cell']:.2f} | {e['unfused_gb_per_cell']:.2f} "
                     f"| {e['compute_floor_hours']:.3f} | {e['unfused_memory_hours']:.3f} "
                     f"| {e['tflops_needed_for_one_hour']:.2f} "
                     + (f"| {m['steady_seconds_per_cell']:.4f} | {m['hours']:.3f} |" if m else "| - | - |"))
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", default=",".join(DEFAULT_SETS), help="comma-separated score sets, scores joined by +")
    p.add_argument("--space", choices=("nb101", "nb201"), default="nb101")
    p.add_argument("--full-size", action="store_true", help="the benchmark's full-size network, not the proxy")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--per-call", type=int, default=256, help="cells per compiled call")
    p.add_argument("--cells", type=int, default=NB101_CELLS, help="cells to project for")
    p.add_argument("--device", choices=sorted(DEVICES), default="h100")
    p.add_argument("--override", action="append", default=[], metavar="FIELD=INT",
                   help="network field on top of the size, e.g. channels=8 (repeatable)")
    p.add_argument("--measured", type=pathlib.Path,
                   help="a scoring_speed.py JSON report of masked scoring of the same network and batch: its "
                        "measured rate is projected beside the roofline")
    p.add_argument("--out", type=pathlib.Path, help="write the report here (.json, and .md beside it)")
    args = p.parse_args(argv)
    if args.per_call < 1 or args.cells < 1 or args.batch_size < 2:
        raise SystemExit("--per-call and --cells must be positive, --batch-size at least 2")
    network: dict[str, Any] = {"space": args.space, "proxy": not args.full_size}
    for item in args.override:
        field, _, value = item.partition("=")
        if not value.lstrip("-").isdigit():
            raise SystemExit(f"--override {item!r}: use FIELD=INT, e.g. channels=8")
        network[field] = int(value)
    measured = None
    if args.measured:
        measured = json.loads(args.measured.read_text())
        if measured["network"] != network or not measured["batch"].startswith(f"{args.batch_size} examples"):
            raise SystemExit(f"--measured {args.measured}: it measured {measured['network']} at batch "
                             f"{measured['batch']!r}, not {network} at batch {args.batch_size}")
    report = project([s for s in args.sets.split(",") if s], args.per_call, args.batch_size, network, args.cells,
                     args.device, measured=measured)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
