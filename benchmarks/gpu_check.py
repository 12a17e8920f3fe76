"""The Python stages of ``benchmarks/gpu_check.sh`` and its report (run by the script; see its header).

    python benchmarks/gpu_check.py environment --out ENV.json
    python benchmarks/gpu_check.py whole-space --out-file SCORES.npz --report REPORT.json [--table CSV] [score options]
    python benchmarks/gpu_check.py train --images FOLDER --table CSV --index 1 --workdir DIR --report REPORT.json
    python benchmarks/gpu_check.py report --stages STAGES.tsv --environment ENV.json --results DIR --out REPORT.json

Each stage writes what it measured, on which device, with the data source named; ``report`` gathers every stage's
status (ok, timed out, failed, skipped and why), seconds against its budget, and the headline numbers of its outputs
into one JSON and one markdown file.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import time
from typing import Any, Sequence

NB201_CELLS = 15_625
NB101_CELLS = 423_624


def environment() -> dict[str, Any]:
    """The device(s), their memory, and the versions the measurements ran with."""
    import flax
    import jax
    import jaxlib
    import numpy as np

    from nasi_nal import __version__

    devices = jax.devices()
    stats = devices[0].memory_stats() or {}
    smi = None
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "platform": devices[0].platform, "device_kind": devices[0].device_kind, "devices": len(devices),
        "device_memory_limit_gib": stats["bytes_limit"] / 2**30 if "bytes_limit" in stats else None,
        "nvidia_smi": smi, "host": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "versions": {"nasi_nal": __version__, "python": platform.python_version(), "jax": jax.__version__,
                     "jaxlib": jaxlib.__version__, "flax": flax.__version__, "numpy": np.__version__},
    }


def whole_space(out_file: pathlib.Path, report: pathlib.Path, table: str | None, **kwargs: Any) -> dict[str, Any]:
    """Scores the NB201 cells with ``nasi_nal.space_scoring.score_space`` and writes what it took: wall seconds
    (compilation included), cells per second, the file's settings, and (with the NB201 ``table``) each score's
    Spearman correlation with 200-epoch CIFAR-10 test accuracy over every scored cell."""
    import numpy as np

    from nasi_nal import scores_file
    from nasi_nal.space_scoring import score_space

    start = time.perf_counter()
    result = score_space("nb201", out_file, **kwargs)
    seconds = time.perf_counter() - start
    found = scores_file.read(out_file)
    summary: dict[str, Any] = {
        "command": "python benchmarks/gpu_check.py " + " ".join(sys.argv[1:]),
        "file": str(out_file), "cells": result.cells, "seconds": seconds, "cells_per_second": result.cells / seconds,
        "chunks": result.chunks, "chunks_reused": result.chunks_reused, "per_call": result.per_call,
        "devices": result.devices, "failed": result.failed,
        "settings": {k: found.meta[k] for k in ("space", "cells", "scores", "bn", "probes", "inits", "seed", "batch",
                                                 "network", "engine_plan", "chunk_cells", "device", "versions")},
        "spearman_with_accuracy": None,
    }
    if table:
        from scipy import stats

        from nasi_nal.spaces import nb201
        from nasi_nal.tables import load_nb201

        nb = load_nb201(table)
        accuracy = nb.metric("cifar10_test_acc_200ep")[[nb.row_of(nb201.parse(k)) for k in found.columns.keys]]
        summary["spearman_with_accuracy"] = {
            "accuracy": f"cifar10_test_acc_200ep of {pathlib.Path(table).name}",
            **{n: float(stats.spearmanr(v[~np.isnan(v)], accuracy[~np.isnan(v)]).statistic)
               for n, v in found.columns.values.items() if np.sum(~np.isnan(v)) >= 3}}
    _write(report, summary, whole_space_markdown(summary))
    return summary


def whole_space_markdown(s: dict[str, Any]) -> str:
    st = s["settings"]
    lines = [f"# Whole-space scoring: {s['cells']:,} {st['space']} cells", "",
             f"- device {st['device']}; jax {st['versions']['jax']}; command `{s['command']}`",
             f"- scores {', '.join(st['scores'])}; batch {st['batch']['size']} ({st['batch']['data']}, labels "
             f"{st['batch']['labels']}); bn {st['bn']}; network {json.dumps(st['network']['fields'])}; engines "
             f"{json.dumps(st['engine_plan'])}; {s['per_call']} cells per masked call; seed {st['seed']}",
             f"- **{s['seconds']:.1f} s** wall for all cells (compilation included): {s['cells_per_second']:.1f} "
             f"cells/s; {s['chunks']} chunks ({s['chunks_reused']} finished before this run); failed: "
             f"{json.dumps(s['failed'])}"]
    if s["spearman_with_accuracy"]:
        corr = dict(s["spearman_with_accuracy"])
        lines += ["", f"Spearman with {corr.pop('accuracy')} over every scored cell:", "",
                  "| score | Spearman |", "| --- | ---: |"] + [f"| {n} | {v:.3f} |" for n, v in corr.items()]
    return "\n".join(lines) + "\n"


def train(images: pathlib.Path, table: str, index: int, workdir: pathlib.Path, report: pathlib.Path,
          overrides: Sequence[str], data_note: str) -> dict[str, Any]:
    """Trains NB201 cell ``index`` with the ``nb201_12ep`` recipe on the image folder ``images`` (waiting for its
    extraction to finish: ``<images>.done``) and compares the test accuracy with the table's 12-epoch figure."""
    from nasi_nal import train as trainer
    from nasi_nal.spaces import nb201
    from nasi_nal.tables import load_nb201

    done = images.with_name(images.name + ".done")
    waited = time.perf_counter()
    while not done.exists():
        time.sleep(0.5)
    waited = time.perf_counter() - waited
    cell = nb201.format(nb201.index_to_arch(index))
    nb = load_nb201(table)
    reference = float(nb.query(cell).metrics["cifar10_test_acc_12ep"])
    config = trainer.apply_overrides(trainer.get_recipe("nb201_12ep"), [
        f"cell={cell}", "data_source=folder", f"data_dir={images}", "tensorboard=false", "checkpoint_every_epochs=0",
        *overrides])
    summary = trainer.train_and_evaluate(config, workdir, quiet=True)
    ours = 100.0 * summary["final_test_acc"]
    out = {
        "command": "python benchmarks/gpu_check.py " + " ".join(sys.argv[1:]),
        "cell": cell, "index": index, "recipe": "nb201_12ep", "overrides": list(overrides), "data": data_note,
        "test_accuracy": ours, "table_test_accuracy_12ep": reference, "difference": ours - reference,
        "table": pathlib.Path(table).name, "waited_for_images_seconds": waited, "trainer": summary,
    }
    _write(report, out, train_markdown(out))
    return out


def train_markdown(t: dict[str, Any]) -> str:
    s = t["trainer"]
    return "\n".join([
        f"# NB201 cell {t['index']} trained with `{t['recipe']}`", "",
        f"- cell `{t['cell']}`; data: {t['data']}; overrides {t['overrides']}",
        f"- device {s['platform']}: {s['device']} x {s['num_devices']}; {s['steps']} steps in "
        f"{s['wall_seconds']:.1f} s; {s['param_count']:,} parameters; command `{t['command']}`",
        f"- **test accuracy {t['test_accuracy']:.2f}%** after {s['epochs']} epochs against the benchmark's "
        f"{t['table_test_accuracy_12ep']:.2f}% (`cifar10_test_acc_12ep` of {t['table']}): "
        f"{t['difference']:+.2f} points",
    ]) + "\n"


_COMPILED = re.compile(r"Finished XLA compilation of (.+?) in ([0-9.eE+-]+) sec")
_COMPILING = re.compile(r"Compiling (.+?) with global shapes")


def compilations(log: pathlib.Path) -> dict[str, Any] | None:
    """The XLA compilations a stage's log records (the script sets ``JAX_LOG_COMPILES=1``): how many finished, their
    seconds, the slowest, and the program still compiling when the log ends (a stage stopped mid-compilation)."""
    if not log.is_file():
        return None
    done: list[tuple[str, float]] = []
    started = 0
    last_started = None
    for line in log.read_text(errors="replace").splitlines():
        if m := _COMPILED.search(line):
            done.append((m.group(1), float(m.group(2))))
        elif m := _COMPILING.search(line):
            started += 1
            last_started = m.group(1)
    slowest = max(done, key=lambda d: d[1], default=None)
    return {"compiles": len(done), "compile_seconds": round(sum(s for _, s in done), 3),
            "slowest": {"program": slowest[0], "seconds": slowest[1]} if slowest else None,
            "compiling_at_end": last_started if started > len(done) else None}


def report(stages: pathlib.Path, env: pathlib.Path, results: pathlib.Path, suffix: str, out: pathlib.Path,
           mode: str, data: str, logs: pathlib.Path | None = None) -> dict[str, Any]:
    """Every stage's status and time against its budget, the compilations its log records (``logs``: the folder of
    the stages' logs), and the headline numbers of what it wrote."""
    rows = []
    for line in stages.read_text().splitlines():
        name, budget, seconds, status, outputs = line.split("\t")
        rows.append({"name": name, "budget_seconds": float(budget), "seconds": float(seconds), "status": status,
                     "outputs": [o for o in outputs.split(",") if o],
                     "compilation": compilations(logs / f"{name}.log") if logs is not None else None})
        if status == "ok" and rows[-1]["compilation"]:  # lowered-only programs log a start and no finish
            rows[-1]["compilation"]["compiling_at_end"] = None
    doc = {
        "command": "bash benchmarks/gpu_check.sh", "mode": mode, "data_folder": data,
        "environment": json.loads(env.read_text()) if env.exists() else None,
        "budget_seconds": sum(r["budget_seconds"] for r in rows), "seconds": sum(r["seconds"] for r in rows),
        "stages": rows, "results": _headlines(results, suffix),
    }
    _write(out, doc, report_markdown(doc))
    return doc


def _headlines(results: pathlib.Path, suffix: str) -> dict[str, Any]:
    """The numbers of each stage's output files that are there (a stage that timed out wrote none)."""
    def load(name: str) -> Any:
        path = results / f"{name}{suffix}.json"
        return json.loads(path.read_text()) if path.exists() else None

    out: dict[str, Any] = {"scoring_speed": []}
    for space in ("nb201", "nb101"):
        for method in ("masked", "blockwise"):
            doc = load(f"scoring_speed_{space}_{method}")
            for e in (doc or {}).get("results", []):
                out["scoring_speed"].append({
                    "space": space, "network": doc["network"], "batch": doc["batch"], **{k: e.get(k) for k in (
                        "set", "method", "cells", "cells_per_call", "seconds_per_cell", "compile_seconds_per_cell",
                        "steady_seconds_per_cell", "first_call_seconds", "peak_rss_mib", "peak_device_mib",
                        "projected_all_nb101_hours")}})
    corr = next(iter(sorted(results.glob(f"correlation_nb201_*{suffix}.json"))), None)
    if corr is not None:
        doc = json.loads(corr.read_text())
        out["correlation"] = {"file": corr.name, "cells": doc["cells"], "data": doc["data"], "network": doc["network"],
                              "spearman": {n: e["spearman"] for n, e in doc["correlations"].items()}}
    out["whole_space"] = load("whole_space_nb201")
    nasi = load("nasi_nb201")
    if nasi:
        out["nasi"] = {"settings": nasi["settings"], "data": nasi["data_source"],
                       "modes": {m: {k: v[k] for k in ("seeds", "accuracy_mean", "accuracy_std", "wall_seconds_mean",
                                                        "compile_seconds_total")} for m, v in nasi["modes"].items()}}
    tr = load("train_nb201_12ep")
    if tr:
        out["train"] = {k: tr[k] for k in ("cell", "test_accuracy", "table_test_accuracy_12ep", "difference", "data")}
    proj = load("masked_projection")
    if proj:
        out["nb101_projection"] = [{k: e.get(k) for k in ("set", "compute_floor_hours", "unfused_memory_hours",
                                                          "measured")} for e in proj["results"]]
    return out


def report_markdown(doc: dict[str, Any]) -> str:
    env = doc["environment"] or {}
    lines = [f"# GPU check ({doc['mode']})", "",
             f"- device: {env.get('platform')}: {env.get('device_kind')} x {env.get('devices')} "
             f"({env.get('nvidia_smi') or 'no nvidia-smi'}); host {env.get('host')}; versions "
             f"{json.dumps(env.get('versions'))}",
             f"- data: {doc['data_folder']}; command `{doc['command']}`",
             f"- {doc['seconds']:.0f} s in all against a budget of {doc['budget_seconds']:.0f} s", "",
             "| stage | budget s | seconds | status | XLA compiles (s) | slowest compile | compiling at the end "
             "| outputs |", "| --- | ---: | ---: | --- | ---: | --- | --- | --- |"]
    for r in doc["stages"]:
        c = r.get("compilation") or {}
        slowest = f"{c['slowest']['seconds']:.1f} s" if c.get("slowest") else "-"
        lines.append(f"| {r['name']} | {r['budget_seconds']:.0f} | {r['seconds']:.1f} | {r['status']} "
                     f"| {_compiles(c)} | {slowest} "
                     f"| {c.get('compiling_at_end') or '-'} | {', '.join(r['outputs'])} |")
    res = doc["results"]
    if res["scoring_speed"]:
        lines += ["", "Scoring speed (`benchmarks/scoring_speed.py`):", "",
                  "| space | scores | method | cells (per call) | s/cell | steady s/cell | compile s/cell "
                  "| peak device MiB | all NB101 cells, h |", "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for e in res["scoring_speed"]:
            lines.append(f"| {e['space']} | {e['set']} | {e['method']} | {e['cells']} ({e['cells_per_call']}) "
                         f"| {_num(e['seconds_per_cell'], '.4f')} | {_num(e['steady_seconds_per_cell'], '.4f')} "
                         f"| {_num(e['compile_seconds_per_cell'], '.4f')} | {_num(e['peak_device_mib'], '.0f')} "
                         f"| {_num(e['projected_all_nb101_hours'], '.2f')} |")
    if res.get("correlation"):
        c = res["correlation"]
        lines += ["", f"Correlation, {c['cells']} NB201 cells ({c['file']}; {c['data']}): Spearman "
                  + ", ".join(f"{n} {_num(v, '.3f')}" for n, v in c["spearman"].items())]
    if res.get("whole_space"):
        w = res["whole_space"]
        lines += ["", f"Whole space: {w['cells']:,} NB201 cells in {w['seconds']:.1f} s ({w['cells_per_second']:.1f} "
                  f"cells/s, {w['per_call']} per call) on {w['settings']['device']}"]
    if res.get("nasi"):
        lines += ["", "NASI on NB201: " + "; ".join(
            f"{m}: {v['seeds']} seeds, accuracy {v['accuracy_mean']:.2f} +- {v['accuracy_std']:.2f}, "
            f"{v['wall_seconds_mean']:.1f} s per search" for m, v in res["nasi"]["modes"].items())]
    if res.get("train"):
        t = res["train"]
        lines += ["", f"Training `{t['cell']}` (nb201_12ep, {t['data']}): {t['test_accuracy']:.2f}% against the "
                  f"table's {t['table_test_accuracy_12ep']:.2f}% ({t['difference']:+.2f})"]
    if res.get("nb101_projection"):
        lines += ["", "All 423,624 NB101 cells, masked (`benchmarks/masked_projection.py`): " + "; ".join(
            f"{e['set']}: measured {_num((e['measured'] or {}).get('hours'), '.3f')} h, roofline "
            f"{e['compute_floor_hours']:.3f}-{e['unfused_memory_hours']:.3f} h" for e in res["nb101_projection"])]
    return "\n".join(lines) + "\n"


def _compiles(c: dict[str, Any]) -> str:
    return f"{c['compiles']} ({c['compile_seconds']:.1f})" if c else "-"


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _write(path: pathlib.Path, doc: dict[str, Any], markdown: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="stage", required=True)
    e = sub.add_parser("environment")
    e.add_argument("--out", type=pathlib.Path, required=True)
    w = sub.add_parser("whole-space")
    w.add_argument("--out-file", type=pathlib.Path, required=True)
    w.add_argument("--report", type=pathlib.Path, required=True)
    w.add_argument("--table")
    w.add_argument("--scores", required=True)
    w.add_argument("--batch-size", type=int, default=16)
    w.add_argument("--first", type=int)
    w.add_argument("--chunk-cells", type=int)
    w.add_argument("--override", action="append", default=[], metavar="FIELD=INT")
    t = sub.add_parser("train")
    t.add_argument("--images", type=pathlib.Path, required=True)
    t.add_argument("--table", required=True)
    t.add_argument("--index", type=int, required=True)
    t.add_argument("--workdir", type=pathlib.Path, required=True)
    t.add_argument("--report", type=pathlib.Path, required=True)
    t.add_argument("--data-note", required=True)
    t.add_argument("--override", action="append", default=[], metavar="FIELD=VALUE")
    r = sub.add_parser("report")
    r.add_argument("--stages", type=pathlib.Path, required=True)
    r.add_argument("--environment", type=pathlib.Path, required=True)
    r.add_argument("--results", type=pathlib.Path, required=True)
    r.add_argument("--suffix", required=True)
    r.add_argument("--mode", required=True)
    r.add_argument("--data", required=True)
    r.add_argument("--out", type=pathlib.Path, required=True)
    r.add_argument("--logs", type=pathlib.Path, help="the folder of the stages' logs (NAME.log)")
    args = p.parse_args(argv)
    if args.stage == "environment":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(environment(), indent=2) + "\n")
    elif args.stage == "whole-space":
        overrides = {k: int(v) for k, _, v in (o.partition("=") for o in args.override)}
        whole_space(args.out_file, args.report, args.table, scores=args.scores.split(","),
                    batch_size=args.batch_size, first=args.first, chunk_cells=args.chunk_cells, overrides=overrides)
    elif args.stage == "train":
        train(args.images, args.table, args.index, args.workdir, args.report, args.override, args.data_note)
    else:
        report(args.stages, args.environment, args.results, args.suffix, args.out, args.mode, args.data, args.logs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
