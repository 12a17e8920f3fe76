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
the rest. The PyTorch reference is not in this table: only ``--peer`` below compares with it, in one run (seconds
from separate runs on this shared 2-core host differ by up to 3-4x for the same code; DEVELOPERS.md).

``--peer PATH`` measures the PyTorch reference instead, side by side in one run (needs torch, e.g. torch 2.13 CPU,
and a checkout of the zero-cost proxies paper's code, github.com/SamsungLabs/zero-cost-nas, at ``PATH``; never part
of the test suite)::

    python benchmarks/scoring_speed.py --peer ../zero-cost-nas --cells 40 \
        --out benchmarks/results/scoring_speed_peer40_cpu.json         # the benchmark's full size (C16, N5)
    python benchmarks/scoring_speed.py --peer ../zero-cost-nas --proxy --cells 40 \
        --out benchmarks/results/scoring_speed_peer40_proxy_cpu.json   # the default scoring size (C8, N5)
    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" taskset -c 0 \
        python benchmarks/scoring_speed.py --peer ../zero-cost-nas --proxy --cells 500 --threads 1 \
        --out benchmarks/results/scoring_speed_peer500_proxy_cpu.json  # one core each side

Per score set, one fresh process scores the same random NB201 cells (full size, or with ``--proxy`` the default
scoring size: the reference builds it with ``init_channels=8``, and its per-score network copy,
``get_prunable_copy``, which rebuilds at 16 channels, is made at that width) twice, alternating which goes first:
ours (blockwise engine, ``--bn`` batch norm; the variables drawn by ``blockwise.init_variables`` and timed apart
from the scores) and the reference's ``find_measures`` on its own NB201 network (``foresight.models.nasbench2``,
PyTorch default initialization, train-mode batch norm), on the same batch, with ``--threads`` torch threads (XLA's
threads follow ``XLA_FLAGS`` and the CPU affinity, both recorded). No compilation cache unless ``--compile-cache``
names one, so every compile counts. The report gives, after 40 cells and after all of them, each side's seconds per
cell and the ratio ours / reference, and the Spearman between the two sides' values cell by cell (the reference's
sum-of-layer-norms grad_norm ranks like our global norm).
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
import types
from typing import Any, Sequence

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
                         "peak_rss_mib": out["peak_rss_mib"], "peak_device_mib": out["peak_device_mib"]}
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
        "results": results,
    }


PEER_SETS = ("grad_norm", "grad_norm+snip+synflow+jacob_cov")
PEER_CHECKPOINTS = (40,)  # cumulative ratios reported after these many cells, and after all of them


def measure_peer(peer: str, names: list[str], cells: int, seed: int, batch_size: int, threads: int,
                 bn: str, proxy: bool = False, compile_cache: str = "off") -> dict[str, Any]:
    """Ours and the PyTorch reference on the same ``cells`` random NB201 cells (full size, or the proxy size: the
    reference's network with ``init_channels`` = the proxy's channels, both 5 cells per stage), interleaved cell by
    cell in this (fresh) process; per cell each side's seconds (ours split into init, scores and compile) and
    values."""
    sys.path.insert(0, str(pathlib.Path(peer).resolve()))  # the reference is a checkout, not a package
    import jax
    import numpy as np
    import torch
    import torch.nn.functional as F
    from foresight.models import nasbench2
    from foresight.pruners import predictive

    from nasi_nal.cli import use_compile_cache
    from nasi_nal.networks.build import PROXY_CONFIGS, build
    from nasi_nal.scores import cell_key, make_batch, score_cell
    from nasi_nal.scores.blockwise import init_variables
    from nasi_nal.spaces import nb201

    size = PROXY_CONFIGS["nb201"] if proxy else {"channels": 16, "cells_per_stage": 5}
    if size["cells_per_stage"] != 5:
        raise SystemExit(f"--peer --proxy: the reference's NB201 network has 5 cells per stage, the proxy {size}")
    use_compile_cache(compile_cache)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    compiles: list[float] = []

    def listen(event: str, duration: float, **_: Any) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    batch = make_batch(jax.random.PRNGKey(seed), batch_size, inputs="gaussian", targets="random")
    inputs = torch.from_numpy(np.asarray(batch.inputs).transpose(0, 3, 1, 2).copy())  # NHWC -> NCHW
    targets = torch.from_numpy(np.asarray(batch.labels).astype(np.int64))
    rng = np.random.default_rng(seed)

    def ours(arch: str) -> dict[str, Any]:
        before = len(compiles)
        start = time.perf_counter()
        model = build("nb201", arch, proxy=proxy)
        key = cell_key(seed, arch)
        variables = jax.block_until_ready(init_variables(model, key))
        initialized = time.perf_counter()
        _, result = score_cell(model, variables, batch, names, key, arch, bn=bn, engine="blockwise")
        end = time.perf_counter()
        return {"seconds": end - start, "init_seconds": initialized - start,
                "compile_seconds": float(sum(compiles[before:])), "compiles": len(compiles) - before,
                "values": {n: result.values.get(n) for n in names}}

    def prunable_copy(net: Any, bn: bool = False) -> Any:
        """``NAS201Model.get_prunable_copy`` (a copy per score, batch norm on or off) at the network's own width."""
        copy = nasbench2.get_model_from_arch_str(net.arch_str, net.num_classes, use_bn=bn,
                                                 init_channels=size["channels"])
        copy.load_state_dict(net.state_dict(), strict=False)
        copy.train()
        return copy

    def reference(arch: str) -> dict[str, Any]:
        start = time.perf_counter()
        net = nasbench2.get_model_from_arch_str(arch, 10, init_channels=size["channels"])
        if proxy:  # the reference's own get_prunable_copy rebuilds every network at 16 channels
            net.get_prunable_copy = types.MethodType(prunable_copy, net)
        net.train()
        values = predictive.find_measures(net, [(inputs, targets)], ("random", 1, 10), torch.device("cpu"),
                                          loss_fn=F.cross_entropy, measure_names=names)
        return {"seconds": time.perf_counter() - start, "values": {n: float(values[n]) for n in names}}

    rows = []
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        for i in range(cells):
            arch = nb201.format(nb201.sample(rng))
            if i % 2 == 0:
                a = ours(arch)
                b = reference(arch)
            else:
                b = reference(arch)
                a = ours(arch)
            rows.append({"cell": arch, "ours": a, "reference": b})
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    return {"rows": rows, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "torch": torch.__version__, "jax": jax.__version__, "size": size}


def summarize_peer(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Cumulative seconds per cell and ratios after each checkpoint; steady state after the first 10 cells; the
    two sides' Spearman per score."""
    import numpy as np
    from scipy import stats

    ours = np.array([r["ours"]["seconds"] for r in rows])
    ref = np.array([r["reference"]["seconds"] for r in rows])
    init = np.array([r["ours"]["init_seconds"] for r in rows])
    comp = np.array([r["ours"]["compile_seconds"] for r in rows])
    after = {}
    for n in sorted({c for c in PEER_CHECKPOINTS if c < len(rows)} | {len(rows)}):
        after[str(n)] = {"ours_seconds_per_cell": float(ours[:n].mean()),
                         "reference_seconds_per_cell": float(ref[:n].mean()),
                         "ratio": float(ours[:n].sum() / ref[:n].sum()),
                         "ours_compile_seconds_per_cell": float(comp[:n].mean())}
    steady = slice(10, None)
    agreement = {}
    for name in names:
        a = np.array([r["ours"]["values"][name] if r["ours"]["values"][name] is not None else np.nan for r in rows])
        b = np.array([r["reference"]["values"][name] for r in rows], np.float64)
        ok = np.isfinite(a) & np.isfinite(b)
        agreement[name] = {"cells": int(ok.sum()),
                           "spearman": float(stats.spearmanr(a[ok], b[ok])[0]) if ok.sum() > 2 else None}
    return {
        "cells": len(rows), "after": after,
        "steady_ours_seconds_per_cell": float(ours[steady].mean()) if len(rows) > 10 else None,
        "steady_reference_seconds_per_cell": float(ref[steady].mean()) if len(rows) > 10 else None,
        "steady_ours_init_seconds_per_cell": float(init[steady].mean()) if len(rows) > 10 else None,
        "median_ours_seconds": float(np.median(ours)), "median_reference_seconds": float(np.median(ref)),
        "ours_compiles": int(sum(r["ours"]["compiles"] for r in rows)),
        "ours_compile_seconds": float(comp.sum()), "agreement": agreement,
    }


def run_peer(peer: str, sets: Sequence[str], cells: int, seed: int, batch_size: int, threads: int,
             bn: str, proxy: bool, compile_cache: str = "off") -> dict[str, Any]:
    """Every score set in its own fresh process, one after the other."""
    import jax

    results = []
    context = multiprocessing.get_context("spawn")
    versions: dict[str, str] = {}
    for score_set in sets:
        names = score_set.split("+")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            out = pool.submit(measure_peer, peer, names, cells, seed, batch_size, threads, bn, proxy,
                              compile_cache).result()
        versions = {"torch": out["torch"], "jax": out["jax"]}
        size = out["size"]
        entry = {"set": score_set, **summarize_peer(out["rows"], names), "peak_rss_mib": out["peak_rss_mib"],
                 "rows": out["rows"]}
        results.append(entry)
        print(json.dumps({k: v for k, v in entry.items() if k != "rows"}), flush=True)
    return {
        "command": "python benchmarks/scoring_speed.py " + " ".join(sys.argv[1:]),
        "network": {"space": "nb201", "proxy": proxy, **size},
        "batch": f"{batch_size} examples, i.i.d. N(0, 1) inputs, uniform random labels (the same tensors both sides)",
        "bn": bn, "seed": seed, "threads": threads, "compile_cache": compile_cache,
        "xla_flags": os.environ.get("XLA_FLAGS", ""), "cores_usable": len(os.sched_getaffinity(0)),
        "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}",
        "host": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        **versions,
        "reference": "SamsungLabs/zero-cost-nas (Abdelfattah et al. 2021): foresight.pruners.predictive.find_measures "
                     "on foresight.models.nasbench2's network, PyTorch default init, train-mode batch norm "
                     "(synflow without batch norm, as the reference runs it)"
                     + ("; its per-score network copy (get_prunable_copy, which rebuilds at 16 channels) made at the "
                        "proxy's width" if proxy else ""),
        "results": results,
    }


def markdown_peer(report: dict[str, Any]) -> str:
    """The side-by-side table, built only from the JSON above."""
    lines = [
        f"# Scoring speed against the PyTorch reference: NB201 cells (C{report['network']['channels']}, "
        f"N{report['network']['cells_per_stage']}), side by side",
        "",
        f"- ours: nasi_nal's blockwise engine, batch norm {report['bn']} mode, jax {report['jax']}; reference: "
        f"{report['reference']}, torch {report['torch']}",
        f"- batch {report['batch']}; {report['threads']} torch threads, XLA_FLAGS "
        f"`{report.get('xla_flags') or '(none)'}`, {report.get('cores_usable', 'all')} cores usable by the process; "
        f"device {report['device']} ({report['host']}); seed {report['seed']}",
        f"- command: `{report['command']}`",
        *(f"- note: {note}" for note in report.get("notes", [])),
        "- each cell scored by both sides in one process, alternating which goes first; a fresh process per set; "
        + ("no compilation cache, so ours counts every XLA compile" if report.get("compile_cache", "off") == "off"
           else f"JAX's compilation cache in `{report['compile_cache']}` (compile = compiles and cache loads)")
        + "; our seconds include our variables' init; ratio = our seconds / the reference's, summed over the first "
        "N cells",
        "",
        "| scores | after N cells | ours s/cell | of which compile | reference s/cell | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in report["results"]:
        for n, a in e["after"].items():
            lines.append(f"| {e['set']} | {n} | {a['ours_seconds_per_cell']:.3f} "
                         f"| {a['ours_compile_seconds_per_cell']:.3f} | {a['reference_seconds_per_cell']:.3f} "
                         f"| {a['ratio']:.2f}x |")
    lines += ["", "| scores | steady ours s/cell (init) | steady reference s/cell | median ours / reference | "
              "our compiles (s) | per-cell Spearman ours vs reference | peak RSS MiB |",
              "| --- | ---: | ---: | ---: | ---: | --- | ---: |"]
    for e in report["results"]:
        agree = ", ".join(f"{n} {a['spearman']:.3f}" if a["spearman"] is not None else f"{n} -"
                          for n, a in e["agreement"].items())
        steady = (f"{e['steady_ours_seconds_per_cell']:.3f} ({e['steady_ours_init_seconds_per_cell']:.3f})"
                  if e["steady_ours_seconds_per_cell"] is not None else "-")
        ref = f"{e['steady_reference_seconds_per_cell']:.3f}" if e["steady_reference_seconds_per_cell"] else "-"
        lines.append(f"| {e['set']} | {steady} | {ref} | {e['median_ours_seconds']:.3f} / "
                     f"{e['median_reference_seconds']:.3f} | {e['ours_compiles']} ({e['ours_compile_seconds']:.1f}) "
                     f"| {agree} | {e['peak_rss_mib']:.0f} |")
    return "\n".join(lines) + "\n"


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
        "- the PyTorch reference: measured side by side, in one run, by `--peer` (`scoring_speed_peer*_cpu.md`)",
        "",
        "| scores | method | cells (per call) | s/cell | compile s/cell | run s/cell | median s/cell "
        "| steady s/cell | compiles | peak RSS MiB | peak device MiB | all NB101 cells, h |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def num(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    for e in report["results"]:
        if "skipped" in e:
            lines.append(f"| {e['set']} | {e['method']} | skipped: {e['skipped']} |" + " |" * 9)
            continue
        lines.append(f"| {e['set']} | {e['method']} | {e['cells']} ({e['cells_per_call']}) "
                     f"| {e['seconds_per_cell']:.3f} | {e['compile_seconds_per_cell']:.3f} "
                     f"| {e['run_seconds_per_cell']:.3f} | {e['median_seconds_per_cell']:.3f} "
                     f"| {num(e['steady_seconds_per_cell'], '.3f')} | {e['compiles']} | {e['peak_rss_mib']:.0f} "
                     f"| {num(e.get('peak_device_mib'), '.0f')} "
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
    p.add_argument("--peer", metavar="PATH", help="a checkout of SamsungLabs/zero-cost-nas: measure it side by side "
                   f"(NB201, full size or --proxy; --sets default {','.join(PEER_SETS)})")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="--peer: torch threads (XLA's follow XLA_FLAGS and the process's CPU affinity)")
    p.add_argument("--compile-cache", default="off", metavar="FOLDER",
                   help="--peer: JAX's persistent compilation cache for our side ('off': every compile counts; run "
                        "twice with one folder to measure a warm cache)")
    args = p.parse_args(argv)
    if args.peer:
        if not (pathlib.Path(args.peer) / "foresight" / "pruners" / "predictive.py").is_file():
            raise SystemExit(f"--peer {args.peer}: not a checkout of SamsungLabs/zero-cost-nas (no "
                             "foresight/pruners/predictive.py there); clone it and pass its folder")
        if args.space != "nb201" or args.override:
            raise SystemExit("--peer compares NB201 networks at full size or, with --proxy, at the proxy size: drop "
                             "--space and --override")
        sets = PEER_SETS if args.sets == ",".join(DEFAULT_SETS) else [s for s in args.sets.split(",") if s]
        report = run_peer(args.peer, sets, args.cells, args.seed, args.batch_size, args.threads, args.bn,
                          args.proxy, args.compile_cache)
        text = markdown_peer(report)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1) + "\n")
            args.out.with_suffix(".md").write_text(text)
        print(text)
        return report
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
