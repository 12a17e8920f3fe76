"""Rank correlation of every zero-cost score with NAS-Bench accuracy, with bootstrap 95% intervals.

    # 1,000 NB201 cells, Gaussian inputs and random labels (NASI's data- and label-agnostic mode), proxy networks:
    NASI_NAL_DATA=../shared/data python benchmarks/correlation.py --space nb201 --cells 1000
    # NB101 sample, real CIFAR-10 pixels (exact npz) and real labels:
    python benchmarks/correlation.py --space nb101 --table nb101_cifar10_sample20001.npz \
        --images cifar10_exact_first1017.npz --inputs real --targets real --cells 1000

Cells are drawn without replacement with ``numpy.random.default_rng(seed)`` from the table's rows; each cell's
network (``nasi_nal.networks.build``, proxy size unless ``--full``) draws its variables from
``nasi_nal.scores.cell_key(seed, the cell's arch string or hash)`` and is scored on one fixed batch with every score,
batch norm in ``--bn`` mode (train by default), by ``nasi_nal.scores.iter_scores``: ``--engine auto`` (default)
lets ``nasi_nal.scores.choose`` pick (blockwise on a CPU, masked on a GPU/TPU for the scores it computes; the
summary's config records the plan), or one engine is forced. ``--workers N`` scores cells in N processes side by
side (compilation is single-threaded). Each cell's result is appended to ``benchmarks/results/<run>.jsonl.partial``
(``.partial.<pid>`` per worker) as soon as it is computed, and a rerun with the same settings reuses those lines
(resumable). The summary -- Spearman and Kendall correlation with accuracy, bootstrap 95% intervals, number of
cells, network size, device and wall time per cell -- goes to ``benchmarks/results/<run>.json`` and ``.md``. A score
that fails on a cell (``NonFiniteScoreError``) is recorded with its message and left out of that score's
correlation; the summary reports how many cells failed. ``--scores-file PATH`` looks the drawn cells' scores up in a
scores file (``python -m nasi_nal.score``) instead of computing them; it must have been made with this run's
settings (space, scores, batch norm, probes, initializations, seed, batch size and data, network size), which is
checked before any work, and its batch is the search's draw for them, not this script's.

Images: ``--images`` takes the exact-pixel npz (``x_train``/``y_train`` uint8) or the image-folder tarball
``cifar10_jpeg_q75.tar.gz`` (train/<class>/*.jpg). The tarball is LOSSY JPEG (quality 75, mean absolute pixel
error about 5.8/255): scores computed on it are on near-CIFAR-10 images, and the summary says so.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import io
import json
import multiprocessing
import os
import pathlib
import platform
import sys
import tarfile
import time
from typing import Any, Sequence

import jax
import numpy as np
from scipy import stats
from tqdm import tqdm

from nasi_nal.networks.build import PROXY_CONFIGS, build
from nasi_nal.scores import DEFAULT_BN, DEFAULT_PROBES, ENGINES, LOWER_IS_BETTER, SCORES, choose, make_batch
from nasi_nal.scores.common import check_bn, check_probes

MASKED_PER_CALL = 64  # cells per compiled call of the masked engine

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
DEFAULT_TABLES = {"nb201": "nb201_cifar10.csv", "nb101": "nb101_cifar10_sample20001.npz"}
ACCURACY = {"nb201": "cifar10_test_acc_200ep (%)", "nb101": "val_acc at 108 epochs (one run)"}


def data_file(name: str | None, default: str | None = None) -> pathlib.Path:
    """A data file given by path, or by name inside $NASI_NAL_DATA; a clear error when neither exists."""
    name = name or default
    if name is None:
        raise SystemExit("no data file given")
    path = pathlib.Path(name)
    if path.is_file():
        return path
    folder = os.environ.get("NASI_NAL_DATA")
    if folder and (pathlib.Path(folder) / name).is_file():
        return pathlib.Path(folder) / name
    raise SystemExit(f"data file {name!r} not found: pass its path, or set NASI_NAL_DATA to the folder holding it")


def load_table(space: str, path: pathlib.Path) -> tuple[list[Any], np.ndarray, list[str]]:
    """(cells, accuracies, labels) of every row of the NB201 CSV or the NB101 npz."""
    if space == "nb201":
        from nasi_nal.tables.nb201 import load_nb201

        table = load_nb201(path)
        archs = list(table.archs())
        from nasi_nal.spaces import nb201

        return archs, table.metric("cifar10_test_acc_200ep"), [nb201.format(a) for a in archs]
    if space == "nb101":
        from nasi_nal.tables.nb101 import load_nb101

        table = load_nb101(path)
        return [table.cell(i) for i in range(len(table))], table.metric("val_acc", 108), list(table.hashes)
    raise SystemExit(f"--space {space!r}: the correlation benchmark covers nb201 and nb101")


def load_images(path: pathlib.Path, pool: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """(images uint8 NHWC, labels, description) from the exact npz or the JPEG image-folder tarball."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            return f["x_train"], f["y_train"].astype(np.int32), f"{path.name} (exact CIFAR-10 pixels)"
    from PIL import Image

    with tarfile.open(path, "r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.split("/")[-3:][0] == "train"),
                         key=lambda m: m.name)
        classes = sorted({m.name.split("/")[-2] for m in members})
        chosen = sorted(rng.choice(len(members), min(pool, len(members)), replace=False))
        images, labels = [], []
        for i in chosen:
            data = tar.extractfile(members[i]).read()
            images.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.uint8))
            labels.append(classes.index(members[i].name.split("/")[-2]))
    note = f"{path.name} ({len(images)} training images; LOSSY JPEG q75, not the exact CIFAR-10 pixels)"
    return np.stack(images), np.asarray(labels, np.int32), note


def bootstrap_ci(x: np.ndarray, y: np.ndarray, fn, rng: np.random.Generator, reps: int = 1000) -> list[float]:
    """Percentile 95% interval of a rank correlation over ``reps`` resamples of the cells."""
    values = []
    for _ in range(reps):
        idx = rng.integers(0, len(x), len(x))
        values.append(fn(x[idx], y[idx]).statistic)
    return [float(v) for v in np.nanpercentile(values, [2.5, 97.5])]


def summarize(records: list[dict], scores: Sequence[str], seed: int) -> dict[str, Any]:
    """Spearman and Kendall correlation of each score with accuracy, with bootstrap intervals."""
    rng = np.random.default_rng(seed)
    acc_all = np.array([r["accuracy"] for r in records], np.float64)
    out = {}
    for name in scores:
        ok = [i for i, r in enumerate(records) if r["scores"].get(name) is not None and np.isfinite(acc_all[i])]
        entry = {"cells": len(ok), "failed": len(records) - len(ok), "lower_is_better": name in LOWER_IS_BETTER}
        s = np.array([records[i]["scores"][name] for i in ok], np.float64)
        a = acc_all[ok]
        if len(ok) < 3:
            entry.update(spearman=None, kendall=None, note="fewer than 3 scored cells")
        elif np.ptp(s) == 0 or np.ptp(a) == 0:
            entry.update(spearman=None, kendall=None, note="constant score or accuracy over these cells")
        else:
            entry["spearman"] = float(stats.spearmanr(s, a).statistic)
            entry["kendall"] = float(stats.kendalltau(s, a).statistic)
            entry["spearman_ci95"] = bootstrap_ci(s, a, stats.spearmanr, rng)
            entry["kendall_ci95"] = bootstrap_ci(s, a, stats.kendalltau, rng)
        out[name] = entry
    return out


_PER_ROW = ("cells", "rows", "labels", "accuracy")


def read_records(out_dir: pathlib.Path, run_name: str) -> dict[int, dict]:
    """Every cell already scored by this run: the lines of ``<run>.jsonl.partial`` and of its workers' files."""
    done: dict[int, dict] = {}
    for part in sorted(out_dir.glob(f"{run_name}.jsonl.partial*")):
        lines = [line for line in part.read_text().splitlines() if line.strip()]
        for i, line in enumerate(lines):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:  # a run killed mid-write: that cell is simply scored again
                    continue
                raise SystemExit(f"{part} line {i + 1} is not JSON: delete the file to score its cells again")
            done[record["row"]] = record
    return done


def _score_rows(job: dict[str, Any], partial: pathlib.Path, on_record=None, per_process: bool = False) -> int:
    """Scores ``job``'s cells, appending one JSON line per cell to ``partial``; returns the count.

    Each cell's variables (and NTK probes) are drawn from ``nasi_nal.scores.cell_key(seed, its canonical key)``, and
    ``nasi_nal.scores.iter_scores`` picks the engines (``job["engine"]``). Runs in the main process or in a worker
    process (``workers > 1``, ``per_process``: the lines go to ``<partial>.<pid>`` so that no two processes append
    to one file).
    """
    from nasi_nal.scores import Batch, cell_key, iter_scores

    batch = Batch(*(jax.numpy.asarray(a) for a in job["batch"]))
    if per_process:
        partial = partial.with_name(f"{partial.name}.{os.getpid()}")
    models = [build(job["space"], cell, proxy=not job["full"], **job["overrides"]) for cell in job["cells"]]
    results = iter_scores(models, batch, job["scores"], [cell_key(job["seed"], label) for label in job["labels"]],
                          bn=job["bn"], probes=job["probes"], inits=job["inits"], engine=job["engine"],
                          per_call=job["per_call"], cell_names=job["labels"], space=job["space"])
    with open(partial, "a") as log:
        t0 = time.time()
        for row, label, acc, result in zip(job["rows"], job["labels"], job["accuracy"], results):
            record = {"row": row, "cell": label, "accuracy": acc,
                      "scores": {n: result.values.get(n) for n in job["scores"]}, "errors": result.errors,
                      "params": result.values.get("params"), "seconds": time.time() - t0}
            log.write(json.dumps(record) + "\n")
            log.flush()
            t0 = time.time()
            if on_record is not None:
                on_record(record)
    return len(job["rows"])


def run(
    space: str = "nb201",
    table: str | None = None,
    cells: int = 100,
    seed: int = 0,
    scores: Sequence[str] = tuple(SCORES),
    batch_size: int = 32,
    inputs: str = "gaussian",
    targets: str = "random",
    images: str | None = None,
    image_pool: int = 2048,
    full: bool = False,
    overrides: dict[str, Any] | None = None,
    input_size: int = 32,
    out_dir: pathlib.Path = RESULTS,
    tag: str | None = None,
    progress: bool = True,
    workers: int = 1,
    engine: str = "auto",
    bn: str = DEFAULT_BN,
    probes: int | str = DEFAULT_PROBES,
    inits: int = 1,
    scores_file: str | None = None,
) -> dict[str, Any]:
    """Scores ``cells`` cells of ``space`` with ``scores`` and writes the summary; returns it (see module doc).

    With ``scores_file`` (``python -m nasi_nal.score``), the cells' scores are looked up in that file instead of
    computed, after checking that it was made with these settings and holds every drawn cell and score."""
    plan = choose(space, scores, engine=engine)  # unknown scores or engines fail before any work
    check_bn(bn)
    check_probes(probes)
    if workers > 1:  # several processes share one accelerator: none may grab most of its memory up front
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    overrides = dict(overrides or {})
    found = None
    if scores_file is not None:
        found = open_scores_file(scores_file, space=space, scores=scores, seed=seed, batch_size=batch_size,
                                 inputs=inputs, targets=targets, images=images, full=full, overrides=overrides,
                                 input_size=input_size, bn=bn, probes=probes, inits=inits)
    config = dict(space=space, cells=cells, seed=seed, scores=list(scores), batch_size=batch_size, inputs=inputs,
                  targets=targets, images=pathlib.Path(images).name if images else None, image_pool=image_pool,
                  full=full, overrides=overrides, input_size=input_size, bn=bn, probes=probes, inits=inits,
                  engines=plan)
    if found is not None:  # the run's name and summary say where its scores come from
        config.update(scores_file=found.path.name, engines=found.meta["engine_plan"])
    digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
    run_name = tag or f"correlation_{space}_{inputs}-{targets}_{bn}_n{cells}_s{seed}_{digest}"
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f"{run_name}.jsonl.partial"

    table_path = data_file(table, DEFAULT_TABLES.get(space))
    all_cells, accuracy, labels = load_table(space, table_path)
    rows = drawn_rows(len(all_cells), cells, seed)

    start = time.time()
    if found is not None:
        records = file_records(found, rows, labels, accuracy, scores)
        todo: list[int] = []
        data_note = (f"the batch of {found.path.name} (drawn as the search draws it: data {found.meta['batch']['data']}"
                     f", labels {found.meta['batch']['labels']}), scored on {found.meta['device']}")
    else:
        records, todo, data_note = _score_drawn(
            space, rows, all_cells, labels, accuracy, scores, seed, batch_size, inputs, targets, images, image_pool,
            full, overrides, input_size, out_dir, run_name, partial, progress, workers, engine, bn, probes, inits,
            plan)
    seconds = np.array([r["seconds"] for r in records if r["seconds"] is not None])
    params = np.array([r["params"] for r in records if r.get("params") is not None])
    network = dict(PROXY_CONFIGS[space]) if not full else {"size": "full (benchmark) networks"}
    network.update(overrides)
    summary = {
        "command": "python " + " ".join(sys.argv),  # this script's, or that of the script calling run (the table)
        "config": config,
        "cells": len(records),
        "table": table_path.name,
        "accuracy": ACCURACY[space],
        "data": data_note,
        "network": network,
        "params": ({"mean": float(params.mean()), "min": int(params.min()), "max": int(params.max())}
                   if len(params) else None),
        "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}",
        "host": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "jax": jax.__version__,
        "seconds_per_cell": ({"mean": float(seconds.mean()), "median": float(np.median(seconds))}
                             if len(seconds) else None),
        "wall_seconds_this_run": time.time() - start,
        "workers": workers,
        "cells_reused": len(rows) - len(todo),
        "correlations": summarize(records, scores, seed),
    }
    (out_dir / f"{run_name}.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    (out_dir / f"{run_name}.md").write_text(markdown(summary))
    return summary


def _score_drawn(space: str, rows: np.ndarray, all_cells: list[Any], labels: list[str], accuracy: np.ndarray,
                 scores: Sequence[str], seed: int, batch_size: int, inputs: str, targets: str, images: str | None,
                 image_pool: int, full: bool, overrides: dict[str, Any], input_size: int, out_dir: pathlib.Path,
                 run_name: str, partial: pathlib.Path, progress: bool, workers: int, engine: str, bn: str,
                 probes: int | str, inits: int, plan: dict[str, list[str]]) -> tuple[list[dict], list[int], str]:
    """Scores the drawn rows this run has no record of yet: (every drawn row's record, the rows scored now, what the
    batch is)."""
    k_batch = jax.random.split(jax.random.PRNGKey(seed))[0]
    data_note = "i.i.d. N(0, 1) inputs (no dataset)"
    pool_x = pool_y = None
    if inputs == "real" or targets == "real":
        pool_x, pool_y, data_note = load_images(data_file(images), image_pool, np.random.default_rng(seed))
        input_size = pool_x.shape[1]
    batch = make_batch(k_batch, batch_size, images=pool_x, labels=pool_y, inputs=inputs, targets=targets,
                       input_shape=(input_size, input_size, 3), num_classes=10)

    done = read_records(out_dir, run_name)
    todo = [int(r) for r in rows if int(r) not in done]
    masked = "masked" in plan
    job = dict(space=space, cells=[all_cells[r] for r in todo], rows=todo, labels=[labels[r] for r in todo],
               accuracy=[float(accuracy[r]) for r in todo], full=full, overrides=overrides, scores=list(scores),
               batch=(np.asarray(batch.inputs), np.asarray(batch.labels)), seed=seed, engine=engine, bn=bn,
               probes=probes, inits=inits,
               per_call="auto" if workers <= 1 else max(1, min(MASKED_PER_CALL, len(todo))))
    bar = tqdm(desc=f"{space} cells", disable=not progress, initial=len(rows) - len(todo), total=len(rows))
    if workers <= 1:
        _score_rows(job, partial, on_record=lambda _: bar.update())
    else:  # chunks of 4 cells (a call's worth when masked); each worker appends to its own <run>.jsonl.partial.<pid>
        size = job["per_call"] if masked else 4
        pieces = [{k: (v[i:i + size] if k in _PER_ROW else v) for k, v in job.items()}
                  for i in range(0, len(todo), size)]
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_score_rows, piece, partial, per_process=True) for piece in pieces]
            for future in concurrent.futures.as_completed(futures):
                bar.update(future.result())
    bar.close()
    done.update(read_records(out_dir, run_name))
    return [done[int(r)] for r in rows], todo, data_note


def open_scores_file(path: str, *, space: str, scores: Sequence[str], seed: int, batch_size: int, inputs: str,
                     targets: str, images: str | None, full: bool, overrides: dict[str, Any], input_size: int,
                     bn: str, probes: int | str, inits: int) -> Any:
    """The scores file at ``path``, read after checking (one line, before any work) that it holds ``scores`` of
    ``space`` made with these settings: the file's batch is the search's draw for the seed, size and data
    (``nasi_nal.space_scoring``), not this script's own draw, and the summary says so."""
    from nasi_nal import scores_file
    from nasi_nal.errors import NasiNalError

    data = "gaussian" if inputs == "gaussian" else scores_file.data_name(images or "")
    try:
        meta = scores_file.read_meta(path)
        scores_file.check_fits(path, meta, {
            "space": space, "bn": bn, "probes": probes, "inits": inits, "seed": seed, "batch.size": batch_size,
            "batch.data": data, "batch.labels": targets, "network.proxy": not full, "network.overrides": overrides},
            "this run")
        missing = [n for n in scores if n not in meta["scores"]]
        if missing or (inputs == "gaussian" and input_size != 32):
            raise NasiNalError(f"scores file {path} has no {', '.join(missing)} (it holds {', '.join(meta['scores'])})"
                               if missing else f"--input-size {input_size}: a scores file's Gaussian inputs are 32x32")
        return scores_file.read(path)
    except NasiNalError as exc:
        raise SystemExit(f"error: {exc}") from None


def file_records(found: Any, rows: np.ndarray, labels: list[str], accuracy: np.ndarray,
                 scores: Sequence[str]) -> list[dict]:
    """The drawn rows' records with their scores looked up in the scores file ``found`` (no time per cell: nothing
    was computed here); a drawn cell the file lacks stops the run with one line."""
    from nasi_nal.errors import NasiNalError

    try:
        results = found.lookup([labels[r] for r in rows], list(scores))
    except NasiNalError as exc:
        raise SystemExit(f"error: {exc}") from None
    return [{"row": int(r), "cell": labels[r], "accuracy": float(accuracy[r]),
             "scores": {n: result.values.get(n) for n in scores}, "errors": result.errors,
             "params": result.values.get("params"), "seconds": None} for r, result in zip(rows, results)]


def drawn_rows(table_rows: int, cells: int, seed: int) -> np.ndarray:
    """The table rows a run of ``cells`` cells with ``seed`` scores, in its order."""
    return np.random.default_rng(seed).choice(table_rows, min(cells, table_rows), replace=False)


def markdown(summary: dict[str, Any]) -> str:
    """The summary as a markdown table, built only from the JSON above."""
    c = summary["config"]
    lines = [
        f"# Zero-cost score correlation: {c['space']}, {summary['cells']} cells",
        "",
        f"- accuracy: {summary['accuracy']} from `{summary['table']}`",
        f"- batch: {c['batch_size']} examples, inputs {c['inputs']}, labels {c['targets']}; {summary['data']}",
        f"- networks: {json.dumps(summary['network'])}"
        + (f"; parameters mean {summary['params']['mean']:.0f} (min {summary['params']['min']}, max "
           f"{summary['params']['max']})" if summary["params"] else ""),
        f"- device: {summary['device']} ({summary['host']}), jax {summary['jax']}; "
        + (f"{summary['seconds_per_cell']['mean']:.2f} s per cell "
           f"(median {summary['seconds_per_cell']['median']:.2f} s, all scores)" if summary["seconds_per_cell"]
           else f"scores read from {c['scores_file']}, not computed here"),
        f"- batch norm in {c['bn']} mode; ntk_trace probes: {c['probes']}; initializations averaged: {c['inits']}; "
        f"engines: {json.dumps(c['engines'])}",
        f"- seed {c['seed']}; intervals: percentile bootstrap over cells, 1,000 resamples",
        *([f"- command: `{summary['command']}`"] if summary.get("command") else []),
        "",
        "| score | cells | failed | Spearman | 95% CI | Kendall | 95% CI |",
        "| --- | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for name, e in summary["correlations"].items():
        label = f"{name} (lower is better)" if e["lower_is_better"] else name
        if e["spearman"] is not None:
            sp, kt = e["spearman_ci95"], e["kendall_ci95"]
            lines.append(f"| {label} | {e['cells']} | {e['failed']} | {e['spearman']:.3f} | [{sp[0]:.3f}, {sp[1]:.3f}]"
                         f" | {e['kendall']:.3f} | [{kt[0]:.3f}, {kt[1]:.3f}] |")
        else:
            lines.append(f"| {label} | {e['cells']} | {e['failed']} | - ({e['note']}) | - | - | - |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: a thin layer over ``run``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", choices=("nb201", "nb101"), default="nb201")
    p.add_argument("--table", help="table file (path, or name inside $NASI_NAL_DATA); default by space")
    p.add_argument("--cells", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scores", default=",".join(SCORES), help=f"comma-separated, from {sorted(SCORES)}")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--inputs", choices=("gaussian", "real"), default="gaussian")
    p.add_argument("--targets", choices=("random", "real"), default="random")
    p.add_argument("--images", help="cifar10_exact_first1017.npz or cifar10_jpeg_q75.tar.gz (lossy)")
    p.add_argument("--image-pool", type=int, default=2048, help="tarball images decoded to draw the batch from")
    p.add_argument("--full", action="store_true", help="benchmark-size networks instead of the proxies")
    p.add_argument("--override", action="append", default=[], metavar="FIELD=INT",
                   help="network field override, e.g. channels=8 (integers only)")
    p.add_argument("--input-size", type=int, default=32, help="side of Gaussian inputs")
    p.add_argument("--out", type=pathlib.Path, default=RESULTS)
    p.add_argument("--tag", help="run name (default: from the settings)")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="auto: blockwise on a CPU (NB201/NB101), masked on a GPU/TPU for the scores it computes; or "
                        "one engine for every score")
    p.add_argument("--bn", choices=("train", "eval"), default=DEFAULT_BN, help="batch-norm mode while scoring")
    p.add_argument("--probes", default=str(DEFAULT_PROBES), help="Rademacher probes of ntk_trace, or 'exact'")
    p.add_argument("--inits", type=int, default=1, help="draws of each cell's variables to average scores over")
    p.add_argument("--scores-file", metavar="PATH",
                   help="look the cells' scores up in this scores file (python -m nasi_nal.score), made with the "
                        "settings given here, instead of computing them")
    p.add_argument("--workers", type=int, default=1,
                   help="processes scoring cells side by side (compilation is single-threaded per process)")
    args = p.parse_args(argv)
    overrides = {}
    for item in args.override:
        field, _, value = item.partition("=")
        if not value.lstrip("-").isdigit():
            raise SystemExit(f"--override {item!r}: use FIELD=INT, e.g. channels=8")
        overrides[field] = int(value)
    summary = run(args.space, args.table, args.cells, args.seed, [s for s in args.scores.split(",") if s],
                  args.batch_size, args.inputs, args.targets, args.images, args.image_pool, args.full, overrides,
                  args.input_size, args.out, args.tag, workers=args.workers, engine=args.engine, bn=args.bn,
                  probes=args.probes if args.probes == "exact" else int(args.probes), inits=args.inits,
                  scores_file=args.scores_file)
    print(markdown(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
