"""Seconds per cell to score networks at initialization: blockwise, masked (many cells per call), one program per cell.

    python benchmarks/scoring_speed.py --out benchmarks/results/scoring_speed_cpu.json          # full NB201 networks
    python benchmarks/scoring_speed.py --space nb101 --proxy --out benchmarks/results/scoring_speed_nb101_cpu.json
    python benchmarks/scoring_speed.py --space nb101 --proxy --batch-size 16 --methods masked,blockwise \
        --per-call 256 --cells 4096 --sets grad_norm,nasi_trace \
        --out benchmarks/results/scoring_speed_nb101_gpu.json  # on a GPU; benchmarks/masked_projection.py projects it
    python benchmarks/scoring_speed.py --cells 20 --baseline-cells 3 --proxy --override channels=4  # a smoke run

For every score set (``--sets``) and engine (``--methods``) -- ``joint``, the per-cell baseline that compiles one
XLA program for each network (``nasi_nal.scores.joint``); ``blockwise``, which compiles each block of the space
once and chains them per cell (``nasi_nal.scores.blockwise``); ``masked``, which compiles one fixed-shape masked
network per space and scores ``--per-call`` cells per call (``nasi_nal.scores.masked``, the accelerator form; a
set it cannot compute is listed as skipped) -- a fresh process initializes (from ``cell_key(seed, cell)``) and
scores, through ``nasi_nal.scores.iter_scores`` with batch norm in ``--bn`` mode, random cells
(the space's ``sample`` with ``--seed``: uniform for NB201; for NB101 the official ``random_spec`` draw, which
favours small cells) of ``--space`` at the benchmark's size or, with ``--proxy``, the proxy size, on one batch of
Gaussian inputs and random labels (the speed does not depend on the pixels), and records per cell: wall seconds end
to end (init + scores), seconds spent in XLA compilation (``jax.monitoring``'s backend-compile events) and their
count (per call of ``per_call`` cells for ``masked``). Reported per (set, method): mean seconds per cell over all
cells (the amortised cost, first compilation included), mean compile and run (= total - compile) seconds, median
seconds per cell (per call / its cells for ``masked``), the steady-state seconds per cell after the first call or
first 10 cells, compiles in total, the process's peak resident memory and, where the device reports it (GPUs,
TPUs; not XLA:CPU), its peak device memory (``memory_stats()["peak_bytes_in_use"]``) for that engine and call size.
``--per-call auto`` sizes the masked calls from the device's free memory (``masked.cells_per_call``). For NB101 the
report projects the time
to score all 423,624 cells of the space on the same device: first-call seconds + steady-state seconds per cell x
the rest. The PyTorch reference figures of the scoring-speed issue (full NB201 network, same batch and CPU) are
printed beside the NB201 full-size results; they are not measured here.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import pathlib
import platform
import resource
import sys
import time
from typing import Any, Sequence

#: PyTorch reference seconds per cell (torch 2.13 CPU, this 2-core machine, full NB201, batch 64, median of 30),
#: from the scoring-speed issue; quoted, not measured by this script.
TORCH_REFERENCE = {"grad_norm": 0.37, "snip": 0.38, "jacob_cov": 0.38, "synflow": 0.17,
                   "grad_norm+snip+synflow+jacob_cov": 1.24}
DEFAULT_SETS = ("grad_norm", "snip", "jacob_cov", "synflow", "nwot", "nasi_trace", "grad_norm+snip+synflow+jacob_cov")
METHODS = ("blockwise", "joint", "masked")
NB101_CELLS = 423_624  # every unique NAS-Bench-101 cell


def measure(method: str, names: list[str], cells: int, seed: int, batch_size: int, network: dict,
            per_call: int | str = 1, bn: str = "train") -> dict[str, Any]:
    """Scores ``cells`` random cells in this process with the engine ``method``; timings and compile counts per cell
    (per call for ``masked``; ``per_call`` "auto": from the device's free memory), peak host and device memory. Run
    in a fresh process."""
    import jax
    import numpy as np

    from nasi_nal.networks.build import build
    from nasi_nal.scores import cell_key, iter_scores, make_batch, masked
    from nasi_nal.spaces import nb101, nb201

    compiles: list[float] = []

    def listen(event: str, duration: float, **_: Any) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    fields = dict(network)
    space, proxy = fields.pop("space"), fields.pop("proxy")
    sample = {"nb201": nb201.sample, "nb101": nb101.sample}[space]
    canonical = {"nb201": nb201.format, "nb101": lambda c: c.hash}[space]
    key = jax.random.PRNGKey(seed)
    batch = make_batch(key, batch_size, inputs="gaussian", targets="random")
    rng = np.random.default_rng(seed)
    rows = []
    jax.monitoring.register_event_duration_secs_listener(listen)
    group = 1
    if method == "masked":  # any cell sizes the call: every cell of a space and size shares one masked network
        group = per_call if per_call != "auto" else min(cells, masked.cells_per_call(
            build(space, sample(np.random.default_rng(seed)), proxy=proxy, **fields), batch, names, bn=bn))
    try:
        for start_index in range(0, cells, group):
            indices = range(start_index, min(start_index + group, cells))
            cell_list = [sample(rng) for _ in indices]
            before = len(compiles)
            start = time.perf_counter()
            models = [build(space, cell, proxy=proxy, **fields) for cell in cell_list]
            keys = [cell_key(seed, canonical(c)) for c in cell_list]
            results = list(iter_scores(models, batch, names, keys, bn=bn, engine=method, per_call=group,
                                       cell_names=[str(c) for c in cell_list]))
            seconds = time.perf_counter() - start
            new = compiles[before:]
            rows.append({"cells": len(indices), "seconds": seconds, "compile_seconds": float(sum(new)),
                         "compiles": len(new), "failed": sum(bool(r.errors) for r in results)})
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats = jax.local_devices()[0].memory_stats() or {}
    device_peak = stats["peak_bytes_in_use"] / 2**20 if "peak_bytes_in_use" in stats else None
    return {"rows": rows, "peak_rss_mib": peak_kib / 1024, "peak_device_mib": device_peak}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    import numpy as np

    cells = np.array([r["cells"] for r in rows])
    total = np.array([r["seconds"] for r in rows])
    compile_s = np.array([r["compile_seconds"] for r in rows])
    skip = 1 if cells[0] > 1 else 10  # the first call, or the first 10 single cells, compile the most
    steady = float(total[skip:].sum() / cells[skip:].sum()) if len(rows) > skip else None
    return {
        "cells": int(cells.sum()),
        "cells_per_call": int(cells[0]),
        "seconds_per_cell": float(total.sum() / cells.sum()),
        "compile_seconds_per_cell": float(compile_s.sum() / cells.sum()),
        "run_seconds_per_cell": float((total - compile_s).sum() / cells.sum()),
        "median_seconds_per_cell": float(np.median(total / cells)),
        "steady_seconds_per_cell": steady,
        "first_call_seconds": float(total[0]),
        "compiles": int(sum(r["compiles"] for r in rows)),
        "cells_with_a_failed_score": int(sum(r["failed"] for r in rows)),
    }


def run(sets: Sequence[str], cells: int, baseline_cells: int, seed: int, batch_size: int, network: dict,
        methods: Sequence[str] = ("blockwise", "joint"), per_call: int | str = 64,
        bn: str = "train") -> dict[str, Any]:
    """Every (set, method) in its own fresh process, one after the other (they must not share the CPU)."""
    import jax

    from nasi_nal.scores.masked import MASKED_SCORES

    results = []
    comparable = network == {"space": "nb201", "proxy": False}  # the PyTorch figures are for full NB201 networks
    context = multiprocessing.get_context("spawn")
    for score_set in sets:
        names = score_set.split("+")
        for method in methods:
            n = baseline_cells if method == "joint" else cells
            if n <= 0:
                continue
            if method == "masked" and set(names) - set(MASKED_SCORES):
                entry = {"set": score_set, "method": method,
                         "skipped": f"masked scoring does not compute {sorted(set(names) - set(MASKED_SCORES))}"}
            else:
                with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                    out = pool.submit(measure, method, names, n, seed, batch_size, network, per_call, bn).result()
                entry = {"set": score_set, "method": method, **summarize(out["rows"]),
                         "peak_rss_mib": out["peak_rss_mib"], "peak_device_mib": out["peak_device_mib"],
                         "torch_reference_seconds": TORCH_REFERENCE.get(score_set) if comparable else None}
                if network["space"] == "nb101" and entry["steady_seconds_per_cell"] is not None:
                    rest = NB101_CELLS - entry["cells_per_call"]
                    entry["projected_all_nb101_hours"] = (
                        entry["first_call_seconds"] + rest * entry["steady_seconds_per_cell"]) / 3600
            results.append(entry)
            print(json.dumps(entry), flush=True)
    return {
        "command": "python benchmarks/scoring_speed.py " + " ".join(sys.argv[1:]),
        "network": network,
        "batch": f"{batch_size} examples, i.i.d. N(0, 1) inputs, uniform random labels",
        "bn": bn,
        "seed": seed,
        "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}",
        "host": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "jax": jax.__version__,
        "torch_reference": "quoted from the scoring-speed issue (torch 2.13 CPU on this machine type), not measured",
        "results": results,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Scoring speed: {report['network']['space']} cells at initialization",
        "",
        f"- network {json.dumps(report['network'])}; batch {report['batch']}; batch norm "
        f"{report.get('bn', 'eval')} mode; seed {report['seed']}",
        f"- device {report['device']} ({report['host']}), jax {report['jax']}",
        f"- command: `{report['command']}`",
        "- seconds per cell = init + every score of the set, end to end, mean over all cells (first "
        "compilation included); compile = XLA backend compilation; run = the rest; steady = after the first call "
        "(masked) or the first 10 cells",
        "",
        "| scores | method | cells (per call) | s/cell | compile s/cell | run s/cell | median s/cell "
        "| steady s/cell | compiles | peak RSS MiB | peak device MiB | PyTorch ref. s/cell | all NB101 cells, h |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def num(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    for e in report["results"]:
        if "skipped" in e:
            lines.append(f"| {e['set']} | {e['method']} | skipped: {e['skipped']} |" + " |" * 10)
            continue
        lines.append(f"| {e['set']} | {e['method']} | {e['cells']} ({e['cells_per_call']}) "
                     f"| {e['seconds_per_cell']:.3f} | {e['compile_seconds_per_cell']:.3f} "
                     f"| {e['run_seconds_per_cell']:.3f} | {e['median_seconds_per_cell']:.3f} "
                     f"| {num(e['steady_seconds_per_cell'], '.3f')} | {e['compiles']} | {e['peak_rss_mib']:.0f} "
                     f"| {num(e.get('peak_device_mib'), '.0f')} "
                     f"| {num(e['torch_reference_seconds'], '.2f')} "
                     f"| {num(e.get('projected_all_nb101_hours'), '.1f')} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", default=",".join(DEFAULT_SETS), help="comma-separated score sets, scores joined by +")
    p.add_argument("--cells", type=int, default=500, help="cells per set for the blockwise method")
    p.add_argument("--baseline-cells", type=int, default=30, help="cells per set for the per-cell program")
    p.add_argument("--methods", default="blockwise,joint", help=f"comma-separated, from {', '.join(METHODS)}")
    p.add_argument("--per-call", default="64",
                   help="cells per compiled call for the masked method, or auto (from the device's free memory)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bn", choices=("train", "eval"), default="train", help="batch-norm mode while scoring")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--space", choices=("nb201", "nb101"), default="nb201")
    p.add_argument("--proxy", action="store_true", help="the proxy networks instead of the benchmark's full size")
    p.add_argument("--override", action="append", default=[], metavar="FIELD=INT",
                   help="network field on top of the size, e.g. channels=8 (repeatable)")
    p.add_argument("--out", type=pathlib.Path, help="write the report here (.json, and .md beside it)")
    args = p.parse_args(argv)
    network: dict[str, Any] = {"space": args.space, "proxy": args.proxy}
    for item in args.override:
        field, _, value = item.partition("=")
        if not value.lstrip("-").isdigit():
            raise SystemExit(f"--override {item!r}: use FIELD=INT, e.g. channels=8")
        network[field] = int(value)
    methods = [m for m in args.methods.split(",") if m]
    if not methods or set(methods) - set(METHODS):
        raise SystemExit(f"--methods {args.methods!r}: choose from {', '.join(METHODS)}")
    if args.per_call != "auto" and not (args.per_call.isdigit() and int(args.per_call) >= 1):
        raise SystemExit(f"--per-call {args.per_call}: use a positive integer or auto")
    per_call = args.per_call if args.per_call == "auto" else int(args.per_call)
    report = run([s for s in args.sets.split(",") if s], args.cells, args.baseline_cells, args.seed,
                 args.batch_size, network, methods, per_call, args.bn)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
