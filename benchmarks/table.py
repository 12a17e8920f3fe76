"""The project's benchmark table, regenerated from scratch by one command.

    # everything, with the documented full settings (long: run it on an accelerator, or in pieces):
    NASI_NAL_DATA=../shared/data python benchmarks/table.py --out benchmarks/results/table
    # in pieces: one section, one space
    python benchmarks/table.py --out benchmarks/results/table --section 2 --space nb201 \
        --nb201-table ../shared/data/nb201_cifar10.csv
    # CI / laptop: tiny samples, narrow proxy networks, two seeds
    python benchmarks/table.py --quick --out /tmp/table

Settings are config files (``--settings NAME`` for ``nasi_nal/evaluate/configs/table_<NAME>.py``, ``full`` by
default and ``quick`` = ``--quick``, or ``--settings PATH`` for a file of your own); each says what it runs and what
to expect. Sections (each written to ``<out>/section<N>/...`` as its units finish; ``table.md`` and the CSVs are
rebuilt from every section JSON present in ``<out>``, so pieces run separately compose):

1. Zero-cost score quality: Spearman and Kendall correlation (95% percentile-bootstrap intervals) of every score of
   ``nasi_nal.scores.SCORES`` with accuracy, on NAS-Bench-201 CIFAR-10 cells and on NAS-Bench-101 sample cells
   (``nasi_nal.evaluate.run``, resumable per cell; ``--workers N`` scores in N processes), plus the NAL
   graph-attention model's cell log-likelihood on the NAS-Bench-101 cells it never saw; published values of the
   peers beside ours. The exact NTK scores (one gradient per example and logit) are the "costly" set: a smaller
   sample of their own on the proxy networks with a smaller batch, beside NASI's trace estimator on the same cells.
2. Search: for each space and method (``random``, each baseline score, ``nasi``, ``nal``, ``nal+nasi``) and each
   seed, one ``nasi_nal.search(...)`` run (one JSON per unit, reused on rerun); the table accuracy of the chosen
   cell (mean +- std over seeds), the best in the candidate pool and in the table, and the search cost (wall
   seconds, device); published anchors beside them. The full settings search NAS-Bench-201 only, without the
   exact-NTK rankings (their cost is section 1's costly set): a NAS-Bench-101 sample holds ~5% of the cells a
   search proposes, and section 1's pool search over its scored cells stands for the NAS-Bench-101 search.
3. Training of winners: every ``summary.json`` the trainer wrote under ``--runs``.

Inputs are never guessed: ``--nb201-table``, ``--nb101-table``, ``--images`` (else the files of the reference
layout inside ``$NASI_NAL_DATA``: ``nb201_cifar10.csv``, ``nb101_cifar10_sample20001.npz``,
``cifar10_exact_first1017.npz``) and ``--runs``; a section whose input is missing is written as
"not run: no <input> given". Seeds fix every result; timings are measured, so they vary between runs.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import json
import os
import pathlib
import platform
import time
from typing import Any, Sequence

import numpy as np

from nasi_nal import evaluate, methods, pipeline, report
from nasi_nal.errors import NasiNalError
from nasi_nal.evaluate import SPACES, CorrelationRun, TableSettings  # SPACES: those with a table (DARTS: section 3)
from nasi_nal.scores import LOWER_IS_BETTER, SCORES, ensemble

DATA_NAMES = {**evaluate.DEFAULT_TABLES, "images": "cifar10_exact_first1017.npz"}
NAL_SCORE = "nal_log_prob"  # the GAT's log P(ops) + log P(edges | ops), NB101 cells only
ENSEMBLE = "ensemble"  # the combined ranker, computed over each run's cells


# Published values beside ours. ``checked``: True when the figure was read in the primary source cited (the
# paper's text or the authors' own results files) while writing this table; False when only a secondary source
# quoting it was read (the source says which). ``value`` None: no primary source could be read here; the table
# says where to find it. Nothing here is from memory.
_ZC_NB201 = ("Abdelfattah et al. 2021 (Zero-Cost Proxies for Lightweight NAS, ICLR), Table 1 as printed by the "
             "authors' SamsungLabs/zero-cost-nas notebooks/nasbench201_correlations.ipynb: |Spearman| with CIFAR-10 "
             "test accuracy, all 15,625 cells")
_ZC_NB101 = ("Abdelfattah et al. 2021, SamsungLabs/zero-cost-nas notebooks/nasbench101_correlations.ipynb: |Spearman| "
             "over all 423,624 cells")
_ZICO = ("Li et al. 2023 (ZiCo, ICLR), Table 1 / appendix Table 3: NATS-Bench-TSS (= NAS-Bench-201) CIFAR-10, "
         "test accuracy, 15,625 cells")
PUBLISHED_CORRELATIONS: list[dict[str, Any]] = [
    dict(score="synflow", space="nb201", statistic="spearman", value=0.737, checked=True, source=_ZC_NB201),
    dict(score="jacob_cov", space="nb201", statistic="spearman", value=0.731, checked=True, source=_ZC_NB201),
    dict(score="snip", space="nb201", statistic="spearman", value=0.596, checked=True, source=_ZC_NB201),
    dict(score="grad_norm", space="nb201", statistic="spearman", value=0.594, checked=True, source=_ZC_NB201),
    dict(score="synflow", space="nb101", statistic="spearman", value=0.372, checked=True, source=_ZC_NB101),
    dict(score="jacob_cov", space="nb101", statistic="spearman", value=0.378, checked=True, source=_ZC_NB101),
    dict(score="snip", space="nb101", statistic="spearman", value=0.164, checked=True, source=_ZC_NB101),
    dict(score="grad_norm", space="nb101", statistic="spearman", value=0.198, checked=True, source=_ZC_NB101),
    dict(score="nwot", space="nb201", statistic="kendall", value=0.574, checked=True,
         source="Mellor et al. 2021 (NASWOT, ICML), Fig. 3: CIFAR-10 validation accuracy, ~1,000 sampled cells"),
    dict(score="nwot", space="nb201", statistic="spearman", value=0.77, checked=True,
         source=_ZICO + " (NASWOT row; Kendall 0.58)"),
    dict(score="nwot", space="nb101", statistic="kendall", value=0.285, checked=True,
         source="Mellor et al. 2021 (NASWOT, ICML), Fig. 3: NAS-Bench-101 CIFAR-10, ~1,000 sampled cells"),
    dict(score="params", space="nb201", statistic="spearman", value=0.75, checked=True,
         source=_ZICO + " (#Params row; Kendall 0.57)"),
    dict(score="flops", space="nb201", statistic="spearman", value=0.73, checked=True,
         source=_ZICO + " (FLOPs row; Kendall 0.54)"),
    dict(score="ntk_trace", space="nb201", statistic="spearman", value=0.44, checked=True,
         source=_ZICO + " (row 'NTK (TE-NAS/NASI)', appendix Table 3; Kendall 0.33; which NTK statistic is not "
                        "stated there)"),
    dict(score="ntk_cond", space="nb201", statistic="kendall", value=-0.42, checked=False,
         source="Chen et al. 2021 (TE-NAS, ICLR), Fig. 1: NAS-Bench-201 CIFAR-100 (not CIFAR-10); read only in "
                "secondary paper notes"),
    dict(score="ZiCo (not implemented here)", space="nb201", statistic="spearman", value=0.80, checked=True,
         source=_ZICO + " (Kendall 0.61)"),
]
PUBLISHED_SEARCH: list[dict[str, Any]] = [
    dict(method="NASWOT (N=10)", space="nb201", accuracy="92.44 +- 1.13", cost=None, checked=True,
         source="Mellor et al. 2021 (NASWOT, ICML), Table 2(a), CIFAR-10 test, 500 runs"),
    dict(method="NASWOT (N=100)", space="nb201", accuracy="92.81 +- 0.99", cost=None, checked=True,
         source="Mellor et al. 2021 (NASWOT, ICML), Table 2(a), CIFAR-10 test, 500 runs"),
    dict(method="TE-NAS", space="nb201", accuracy="93.9 +- 0.47", cost="1558 GPU-s", checked=False,
         source="Chen et al. 2021 (TE-NAS, ICLR), Table 1, CIFAR-10 test; read only in secondary paper notes"),
    dict(method="REA", space="nb201", accuracy="93.92 +- 0.30", cost="12,000 s (simulated training budget)",
         checked=False, source="Dong & Yang 2020 (NAS-Bench-201, ICLR), CIFAR-10 test, 500 runs; read as quoted in "
                               "Mellor et al. 2021, Table 2(a)"),
    dict(method="NASI-FIX", space="darts", accuracy="2.79 +- 0.07% test error", cost="0.24 GPU-h", checked=True,
         source="Shu et al. 2022 (NASI, ICLR), Table 1, DARTS space, CIFAR-10"),
    dict(method="NASI", space="nb201", accuracy=None, cost=None, checked=False,
         source="Shu et al. 2022 (NASI, ICLR), NAS-Bench-201 results in the appendix of the camera-ready (not "
                "readable here)"),
    dict(method="NAL", space="nb101", accuracy=None, cost=None, checked=False,
         source="Liang & Sun, Automating Neural Architecture Design without Search (text not readable here)"),
]


# ------------------------------------------------------------------------------------------------ inputs ----

def resolve_input(given: str | None, kind: str) -> pathlib.Path | None:
    """The path given for ``kind``, else its reference-layout file inside ``$NASI_NAL_DATA``, else None.

    A path that was given but does not exist is an error (a typo must not turn into a skipped section).
    """
    if given:
        path = pathlib.Path(given)
        if not path.exists():
            option = {"nb201": "--nb201-table", "nb101": "--nb101-table", "images": "--images"}[kind]
            raise NasiNalError(f"{option} {given}: no such file; fix the path or leave the option out (the section "
                               "is then marked 'not run')")
        return path
    folder = os.environ.get("NASI_NAL_DATA")
    if folder and kind in DATA_NAMES and (pathlib.Path(folder) / DATA_NAMES[kind]).exists():
        return pathlib.Path(folder) / DATA_NAMES[kind]
    return None


def data_caveat(kind: str, path: pathlib.Path) -> str:
    """What a reader must know about an input file (which accuracy it holds, lossy pixels)."""
    name = path.name.lower()
    if kind == "images":
        if "jpeg" in name or "jpg" in name or name.endswith((".tar.gz", ".tgz")) or path.is_dir():
            return ("image files (if JPEG, LOSSY: the reference copy is quality 75, mean absolute pixel error about "
                    "5.8/255; scores and accuracies on it are near-CIFAR-10, not CIFAR-10)")
        return "npz of uint8 pixels (exact CIFAR-10 pixels when cut from the official batches)"
    if kind == "nb201":
        return "NAS-Bench-201 CIFAR-10 test accuracy, 200-epoch schedule (mean over seeds)"
    if "sample" in name:
        return ("NAS-Bench-101 sample: validation accuracy at 108 epochs from ONE of the three runs, no test accuracy; "
                "cells outside the sample have no accuracy")
    return "NAS-Bench-101 table (108-epoch accuracy, mean over the runs it holds)"


def _digest(payload: Any) -> str:
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:10]


# --------------------------------------------------------------------------------------------- section 1 ----

def section1(space: str, table: pathlib.Path, images: pathlib.Path | None, settings: TableSettings,
             out: pathlib.Path, progress: bool = False, workers: int = 1) -> dict[str, Any]:
    """Correlations of every score (and, on NB101, the NAL log-likelihood) with the table's accuracy, per data mode.

    The same cells in every data mode; a real-data mode without ``--images`` is left out and named in ``not_run``.
    """
    t0 = time.perf_counter()
    runs, costly_run, not_run = section1_runs(space, table, images, settings)
    modes: dict[str, Any] = {}
    nal_note = "the GAT is trained on NAS-Bench-101 cells; it has no likelihood for NAS-Bench-201 cells"
    for name, run in runs.items():
        part = _correlate(run, out, progress, workers)
        if space == "nb101":
            part["correlations"][NAL_SCORE], nal_note = _nal_correlation(table, part["records"], settings.seed)
        ensemble_entry = _ensemble(space, part["records"], settings.seed)
        if ensemble_entry is not None:
            part["correlations"][ENSEMBLE] = ensemble_entry
        part["pool_search"] = pool_search(part["records"], list(part["correlations"]), settings.candidates,
                                          settings.seeds)
        modes[name] = part
    costly = _correlate(costly_run, out, progress, workers) if costly_run is not None else None
    result = {"space": space, "bn": settings.bn, "nal_note": nal_note, "modes": modes, "modes_not_run": not_run,
              "costly": costly, "wall_seconds": time.perf_counter() - t0}
    report.write_json(out / "section1" / f"{space}.json", result)
    return result


def section1_runs(space: str, table: pathlib.Path, images: pathlib.Path | None, settings: TableSettings
                  ) -> tuple[dict[str, CorrelationRun], CorrelationRun | None, dict[str, str]]:
    """Section 1's correlation runs on ``space``: one per data mode (``inputs-labels``), the costly set's (on the
    first data mode that runs, the proxy network), and why a data mode cannot run (a real one without ``images``)."""
    runs, not_run = {}, {}
    for inputs, targets in settings.data_modes:
        name = f"{inputs}-{targets}"
        real = "real" in (inputs, targets)
        if images is None and real:
            not_run[name] = "no --images given (nor NASI_NAL_DATA holding " + DATA_NAMES["images"] + ")"
            continue
        runs[name] = CorrelationRun(
            space=space, table=str(table), cells=settings.cells[space], seed=settings.seed, scores=settings.scores,
            batch_size=settings.batch_size, inputs=inputs, targets=targets, images=str(images) if real else None,
            full=space in settings.full_networks, overrides=settings.network_overrides.get(space, {}),
            input_size=settings.input_size, bn=settings.bn, probes=settings.probes)
    c = settings.costly
    costly = None
    if c is not None and c.scores and runs:
        costly = dataclasses.replace(next(iter(runs.values())), scores=c.scores, cells=c.cells[space],
                                     batch_size=c.batch_size, full=False, probes=c.probes)
    return runs, costly, not_run


def run_tag(run: CorrelationRun) -> str:
    """The name of a section 1 run's files in ``<out>/section1``: a digest of its settings (the same settings find
    the same per-cell records again)."""
    return f"corr_{run.space}_{run.inputs}-{run.targets}_{_digest(_run_config(run))}"


def _run_config(run: CorrelationRun) -> dict[str, Any]:
    """A section 1 run's settings as its section JSON records them (and its tag digests them)."""
    return dict(space=run.space, table=pathlib.Path(run.table).name, cells=run.cells, scores=tuple(run.scores),
                batch_size=run.batch_size, inputs=run.inputs, targets=run.targets, input_size=run.input_size,
                overrides=run.overrides, seed=run.seed, images=pathlib.Path(run.images).name if run.images else None,
                full=run.full, bn=run.bn, probes=run.probes)


def _correlate(run: CorrelationRun, out: pathlib.Path, progress: bool, workers: int) -> dict[str, Any]:
    """One correlation run into ``<out>/section1`` (resumable per cell): its config, summary and records."""
    folder = out / "section1"
    folder.mkdir(parents=True, exist_ok=True)
    tag = run_tag(run)
    summary = evaluate.run(run, out_dir=folder, tag=tag, progress=progress, workers=workers)
    by_row = evaluate.read_records(folder, tag)
    rows = evaluate.drawn_rows(_table_len(run.space, pathlib.Path(run.table)), run.cells, run.seed)
    records = [by_row[int(r)] for r in rows]
    return {"config": _run_config(run), "summary": {k: v for k, v in summary.items() if k != "correlations"},
            "correlations": summary["correlations"],
            "records": [{"cell": r["cell"], "accuracy": r["accuracy"], "scores": r["scores"]} for r in records]}


def pool_search(records: list[dict], scores: Sequence[str], pool_size: int, seeds: int) -> dict[str, Any]:
    """NASWOT-style search on the scored sample: per seed, a random pool of ``pool_size`` cells, pick the best score.

    Reported beside section 2 because a NAS-Bench-101 *sample* holds few of the cells a search proposes; here every
    pool cell has an accuracy. Pools are drawn with ``numpy.random.default_rng([seed, 7])``.
    """
    pool_size = min(pool_size, len(records))
    acc = np.array([r["accuracy"] for r in records], np.float64)
    acc = acc * 100.0 if np.nanmax(acc) <= 1.0 else acc
    pools = [np.random.default_rng([seed, 7]).choice(len(records), pool_size, replace=False) for seed in range(seeds)]
    out = {"pool_size": pool_size, "seeds": seeds, "random": float(np.mean([acc[p[0]] for p in pools])),
           "pool_best": float(np.mean([acc[p].max() for p in pools])), "picks": {}}
    for name in scores:
        sign = 1.0 if name in LOWER_IS_BETTER else -1.0
        picks = []
        for pool in pools:
            scored = [(sign * records[i]["scores"][name], k, i) for k, i in enumerate(pool)
                      if records[i]["scores"].get(name) is not None]
            if scored:
                picks.append(acc[min(scored)[2]])
        out["picks"][name] = {"mean": float(np.mean(picks)) if picks else None,
                              "std": float(np.std(picks)) if picks else None, "pools": len(picks)}
    return out


def _table_len(space: str, table: pathlib.Path) -> int:
    cells, _, _ = _cached_table(space, table)
    return len(cells)


_TABLES: dict[tuple[str, str], tuple] = {}


def _cached_table(space: str, table: pathlib.Path) -> tuple:
    key = (space, str(table))
    if key not in _TABLES:
        _TABLES[key] = evaluate.load_table(space, table)
    return _TABLES[key]


def _ensemble(space: str, records: list[dict], seed: int) -> dict[str, Any] | None:
    """The ``ensemble`` ranker over these records (``nasi_nal.scores.ensemble``: AZ-NAS's log-rank sum of its
    members, plus the NAL log-likelihood on NB101, where the population is the cells the GAT never saw): each
    record's value, and its correlation; None when the records lack a member."""
    members = list(ensemble.members(space)) + ([NAL_SCORE] if space == "nb101" else [])
    ranked = [r for r in records if all(m in r["scores"] for m in members)]
    if not ranked:
        return None
    values = ensemble.log_rank_sum({m: [r["scores"][m] for r in ranked] for m in members}, LOWER_IS_BETTER)
    for r, v in zip(ranked, values):
        r["scores"][ENSEMBLE] = float(v)
    entry = evaluate.summarize(ranked, [ENSEMBLE], seed)[ENSEMBLE]
    entry["members"] = members
    return entry


def _nal_correlation(table: pathlib.Path, records: list[dict], seed: int) -> tuple[dict, str]:
    """Correlation of the shipped GAT's log-likelihood with accuracy, over the sampled cells it never saw."""
    from nasi_nal.nal import checkpoint, generate

    model = checkpoint.load_pretrained()
    cells, _, labels = _cached_table("nb101", table)
    index = {h: i for i, h in enumerate(labels)}
    unseen = [r for r in records if r["cell"] not in model.expert_hashes]
    ll = generate.cell_log_likelihood(model, [cells[index[r["cell"]]] for r in unseen], include_ops=True)
    for r, value in zip(unseen, ll):
        r["scores"][NAL_SCORE] = float(value)
    entry = evaluate.summarize(unseen, [NAL_SCORE], seed)[NAL_SCORE]
    note = (f"{len(records) - len(unseen)} of the {len(records)} sampled cells are the GAT's training or early-"
            "stopping experts and are left out of its correlation")
    return entry, note


# --------------------------------------------------------------------------------------------- section 2 ----

def section2(space: str, table: pathlib.Path, images: pathlib.Path | None, settings: TableSettings,
             out: pathlib.Path) -> dict[str, Any]:
    """``settings.seeds`` searches per method; each unit's JSON is reused when its settings match."""
    folder = out / "section2" / "units"
    folder.mkdir(parents=True, exist_ok=True)
    data, data_note = _search_data(images)
    methods = {}
    for method in settings.methods:
        units = []
        candidates = _candidates(space, method, settings.candidates)  # once per method: NAL decodes its cells
        for seed in range(settings.seeds):
            config = pipeline.SearchConfig(
                space=space, method=method, candidates=candidates,
                top_k=1, seed=seed, table=str(table), data=data, labels="real" if data != "gaussian" else "random",
                batch_size=settings.search_batch_size, unscorable="last",
                nasi_steps=settings.nasi_steps if method == "nasi" else None)  # the others do not read it
            units.append(_search_unit(config, folder / f"{space}__{method}__seed{seed}.json"))
        methods[method] = _summarize_method(units)
    table_acc = _table_accuracies(space, table)
    result = {"space": space, "table": table.name, "data": data_note, "candidates": settings.candidates,
              "seeds": settings.seeds, "table_best": float(np.nanmax(table_acc)),
              "table_mean": float(np.nanmean(table_acc)), "methods": methods}
    report.write_json(out / "section2" / f"{space}.json", result)
    return result


def _candidates(space: str, method: str, wanted: int) -> int:
    """Proposals per search: one for NASI's supernet; on NB201 the NAL transfer has only so many distinct cells."""
    if _one_shot(space, method):
        return 1
    if method in ("nal", "nal+nasi") and space == "nb201":
        from nasi_nal.nal import checkpoint, transfer

        return min(wanted, len(transfer.to_nb201(checkpoint.load_pretrained(), None)))
    return wanted


def _one_shot(space: str, method: str) -> bool:
    """NASI's supernet search returns one cell (NB201); every other method ranks a pool."""
    return methods.one_shot(method, space)


def _search_data(images: pathlib.Path | None) -> tuple[str, str]:
    """The pipeline's ``data`` for the search's scoring batch, and a note of what it is."""
    if images is None:
        return "gaussian", "Gaussian inputs, random labels (NASI's data- and label-agnostic mode)"
    if images.suffix == ".npz" or images.is_dir():
        return str(images), f"{images.name}: real images and labels"
    return "gaussian", (f"Gaussian inputs, random labels ({images.name} is an archive; the search reads an npz or an "
                        "image folder: unpack it and pass the folder)")


def _search_unit(config: pipeline.SearchConfig, path: pathlib.Path) -> dict[str, Any]:
    """One search, from disk when a previous run wrote it with the same config."""
    key = dataclasses.asdict(config)
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("config") == json.loads(json.dumps(key)):
            return saved
    result = pipeline.search(config).to_json()
    report.write_json(path, result)
    return result


def _summarize_method(units: list[dict[str, Any]]) -> dict[str, Any]:
    picks = [u["winners"][0]["table_accuracy"] for u in units]
    found = np.array([p for p in picks if p is not None], np.float64)
    pool_best = []
    for u in units:
        accs = [c["table_accuracy"] for c in u["candidates"] if c["table_accuracy"] is not None]
        pool_best.append(max(accs) if accs else None)
    pb = np.array([p for p in pool_best if p is not None], np.float64)
    walls = np.array([u["timings"]["total_s"] for u in units], np.float64)
    return {
        "seeds": len(units), "picks_in_table": int(found.size),
        "accuracy_mean": float(found.mean()) if found.size else None,
        "accuracy_std": float(found.std()) if found.size else None,
        "pool_best_mean": float(pb.mean()) if pb.size else None,
        "wall_seconds_mean": float(walls.mean()), "device": units[0]["environment"]["device"],
        "unscorable_candidates": sum(bool(c.get("errors")) for u in units for c in u["candidates"]),
        "candidates": len(units[0]["candidates"]),
        "platform": units[0]["environment"]["platform"],
        "ranking_score": units[0]["ranking_score"],
        "picks": [{"seed": u["config"]["seed"], "cell": u["winners"][0]["summary"], "accuracy": p}
                  for u, p in zip(units, picks)],
    }


def _table_accuracies(space: str, table: pathlib.Path) -> np.ndarray:
    _, acc, _ = _cached_table(space, table)
    acc = np.asarray(acc, np.float64)
    return acc * 100.0 if space == "nb101" and np.nanmax(acc) <= 1.0 else acc


# --------------------------------------------------------------------------------------------- section 3 ----

SECTION3_FIELDS = ("recipe", "space", "cell", "dataset", "epochs", "final_test_acc", "best_test_acc", "best_epoch",
                   "param_count", "wall_seconds", "device", "platform", "workdir")


def section3(runs: pathlib.Path, out: pathlib.Path) -> dict[str, Any]:
    """Every trainer ``summary.json`` under ``runs``, sorted by path."""
    found = sorted(runs.rglob("summary.json"))
    rows = []
    for path in found:
        summary = json.loads(path.read_text())
        missing = [f for f in ("recipe", "final_test_acc", "epochs") if f not in summary]
        if missing:
            raise NasiNalError(f"{path} lacks {missing}: it is not a nasi_nal.train summary; move it out of --runs")
        rows.append({f: summary.get(f) for f in SECTION3_FIELDS} | {"summary": str(path.relative_to(runs))})
    result = {"runs": str(runs), "trained": rows}
    (out / "section3").mkdir(parents=True, exist_ok=True)
    report.write_json(out / "section3" / "runs.json", result)
    return result


# ------------------------------------------------------------------------------------------------ output ----

def environment(inputs: dict[str, pathlib.Path | None]) -> dict[str, Any]:
    """Package versions, device and data sources with their caveats."""
    import flax
    import jax
    import jaxlib
    import optax
    import scipy

    import nasi_nal

    env = {"nasi_nal": nasi_nal.__version__, "python": platform.python_version(), "jax": jax.__version__,
           "jaxlib": jaxlib.__version__, "flax": flax.__version__, "optax": optax.__version__,
           "numpy": np.__version__, "scipy": scipy.__version__, "platform": jax.default_backend(),
           "devices": [f"{d.platform}: {d.device_kind}" for d in jax.devices()],
           "host": f"{platform.machine()}, {os.cpu_count()} CPU cores"}
    env["data"] = {k: ({"file": p.name, "caveat": data_caveat(k, p)} if p else None) for k, p in inputs.items()}
    return env


def _load(path: pathlib.Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def render(out: pathlib.Path, settings_name: str, not_run: dict[str, str]) -> str:
    """``table.md``, the CSVs and the plots, from the section JSONs present in ``out`` only."""
    lines = ["# nasi_nal benchmark table", "",
             f"Settings: `{settings_name}`; regenerate with `python benchmarks/table.py --out {out}` "
             "(see the script's docstring for inputs and pieces).", ""]
    lines += _render_section1(out, not_run)
    lines += _render_section2(out, not_run)
    lines += _render_section3(out, not_run)
    lines += _render_environment(_load(out / "environment.json") or {})
    text = "\n".join(lines) + "\n"
    with report.atomic_path(out / "table.md") as tmp:
        tmp.write_text(text)
    return text


def _render_section1(out: pathlib.Path, not_run: dict[str, str]) -> list[str]:
    """Section 1's lines, per space and data mode, and the peers without an implementation here; writes
    ``section1.csv`` (ours, then the published values) and a scatter plot per space and data mode."""
    lines = ["## 1. Zero-cost score quality", ""]
    rows: list[list] = []
    for space in SPACES:
        res = _section_result(out, 1, space, not_run, lines)
        if res is None:
            continue
        for mode, part in res["modes"].items():
            costly = res["costly"] if mode == next(iter(res["modes"])) else None
            lines += _section1_mode(space, mode, part, costly, res, rows)
            _plot_scatter(out, space, mode, part, costly)
        for mode, why in res.get("modes_not_run", {}).items():
            lines += [f"### {space}, {mode}: not run: {why}", ""]
    others = [p for p in PUBLISHED_CORRELATIONS if p["score"] not in SCORES]
    lines += ["Peers without an implementation here: " + "; ".join(
        f"{p['score']} on {p['space']}: {_pub_value(p)} ({p['source']})" for p in others), ""]
    for p in PUBLISHED_CORRELATIONS:
        rows.append([p["space"], None, p["score"], None, None, p["value"] if p["statistic"] == "spearman" else None,
                     None, None, p["value"] if p["statistic"] == "kendall" else None, None, None, _origin(p),
                     p["source"]])
    _write_csv(out / "section1.csv", ["space", "data", "score", "setting", "cells", "spearman", "spearman_lo",
                                      "spearman_hi", "kendall", "kendall_lo", "kendall_hi", "origin", "source"], rows)
    return lines


def _render_section2(out: pathlib.Path, not_run: dict[str, str]) -> list[str]:
    """Section 2's lines, per space, and the published anchors; writes ``section2.csv`` (ours, then the published
    values) and a plot of the picks per space."""
    lines = ["## 2. Search", ""]
    rows: list[list] = []
    for space in SPACES:
        res = _section_result(out, 2, space, not_run, lines)
        if res is None:
            continue
        lines += _section2_space(space, res, rows) + _section2_notes(space, res) + [""]
        _plot_picks(out, res)
    lines += ["Published anchors (not computed here):", "", "| method | space | accuracy | cost | source |",
              "| --- | --- | --- | --- | --- |"]
    for p in PUBLISHED_SEARCH:
        lines.append(f"| {p['method']} | {p['space']} | {_pub_value(p, 'accuracy')} | {p['cost'] or '-'} | "
                     f"{p['source']} |")
        rows.append([p["space"], p["method"], None, None, p["accuracy"], None, None, None, p["cost"], None,
                     _origin(p), p["source"]])
    lines.append("")
    _write_csv(out / "section2.csv", ["space", "method", "seeds", "picks_in_table", "accuracy_mean", "accuracy_std",
                                      "pool_best_mean", "table_best", "wall_seconds_mean", "device", "origin",
                                      "source"], rows)
    return lines


def _section2_space(space: str, res: dict, rows: list[list]) -> list[str]:
    """Section 2's table for one space: a line per method; adds its CSV rows."""
    lines = [f"### {space}: {res['seeds']} seeds, {res['candidates']} candidates per search, table `{res['table']}`",
             "", f"- scoring data: {res['data']}",
             f"- table: best {res['table_best']:.2f}, mean {res['table_mean']:.2f} (a random pick's expectation)",
             "", "| method | ranked by | accuracy of pick (mean +- std) | picks in table | best in pool "
             "(mean) | wall s / search | device |", "| --- | --- | --- | ---: | --- | ---: | --- |"]
    for method, m in res["methods"].items():
        acc = (f"{m['accuracy_mean']:.2f} +- {m['accuracy_std']:.2f}" if m["accuracy_mean"] is not None else "-")
        lines.append(f"| {method} | {m['ranking_score'] or 'sampling order'} | {acc} | {m['picks_in_table']}/"
                     f"{m['seeds']} | {_fmt(m['pool_best_mean'], 2)} | {m['wall_seconds_mean']:.1f} | "
                     f"{m['platform']}: {m['device']} |")
        rows.append([space, method, m["seeds"], m["picks_in_table"], m["accuracy_mean"], m["accuracy_std"],
                     m["pool_best_mean"], res["table_best"], m["wall_seconds_mean"], m["device"], "ours", ""])
    return lines


def _section2_notes(space: str, res: dict) -> list[str]:
    """What a reader of one space's search table must know: unscorable candidates, picks outside the table, and on
    NB201 which cells the NAL methods rank."""
    lines = []
    unscorable = {k: m.get("unscorable_candidates") for k, m in res["methods"].items()
                  if m.get("unscorable_candidates")}
    if unscorable:
        lines += ["", "Candidates whose ranking score could not be computed were ranked last (their errors are in "
                  "the unit JSONs), summed over the seeds: " + ", ".join(f"{k} {v}" for k, v in unscorable.items())
                  + "."]
    if any(m["picks_in_table"] < m["seeds"] for m in res["methods"].values()):
        lines += ["", "Picks outside the table have no accuracy and are left out of the mean: a NAS-Bench-101 "
                  "sample holds few of the cells a search proposes. Pass the official NAS-Bench-101 tfrecord for "
                  "complete numbers; section 1's pool search ranks cells that all have an accuracy."]
    if space == "nb201":
        nal = res["methods"].get("nal") or res["methods"].get("nal+nasi") or {}
        lines += ["", "On NAS-Bench-201, `nal` and `nal+nasi` rank the NAL model's transferred cells "
                  f"({nal.get('candidates', '?')} per search): the literal readings of its best-first "
                  "NAS-Bench-101 cells (90, the same for every seed), then cells of wide readings sampled with "
                  "the search's seed (`nasi_nal/nal/transfer.py`)."]
    return lines


def _render_section3(out: pathlib.Path, not_run: dict[str, str]) -> list[str]:
    """Section 3's lines: the trainer summaries found under ``--runs``; writes ``section3.csv`` when it ran."""
    lines = ["## 3. Training of winners", ""]
    res = _load(out / "section3" / "runs.json")
    if res is None:
        return lines + [f"Not run: {not_run.get('s3', 'not yet run into this folder (--section 3 --runs DIR)')}", ""]
    if not res["trained"]:
        lines += [f"No `summary.json` under `{res['runs']}`.", ""]
    else:
        lines += [f"From `{res['runs']}`:", "", "| " + " | ".join(SECTION3_FIELDS) + " |",
                  "| " + " | ".join("---" for _ in SECTION3_FIELDS) + " |"]
        lines += ["| " + " | ".join(str(r[f]) if r[f] is not None else "-" for f in SECTION3_FIELDS) + " |"
                  for r in res["trained"]]
        lines.append("")
    _write_csv(out / "section3.csv", [*SECTION3_FIELDS, "summary"],
               [[r[f] for f in (*SECTION3_FIELDS, "summary")] for r in res["trained"]])
    return lines


def _render_environment(env: dict[str, Any]) -> list[str]:
    """The environment's lines: package versions and devices, then each data file with its caveat."""
    lines = ["## Environment", ""]
    lines += [f"- {k}: {v}" for k, v in env.items() if k != "data"]
    for k, v in env.get("data", {}).items():
        lines.append(f"- data `{k}`: " + (f"`{v['file']}`: {v['caveat']}" if v else "not given"))
    return lines


def _section1_mode(space: str, mode: str, part: dict, costly: dict | None, res: dict,
                   s1_rows: list[list]) -> list[str]:
    """Section 1's lines for one space and data mode (its correlation table and pool search); adds its CSV rows."""
    sm = part["summary"]
    lines = [f"### {space}, {mode} data: {sm['cells']} cells of `{sm['table']}`", "",
             f"- accuracy: {sm['accuracy']}; data: {sm['data']}",
             f"- networks: {json.dumps(sm['network'])}; batch {part['config']['batch_size']}, batch norm "
             f"{part['config']['bn']} mode, ntk_trace with {part['config']['probes']} probes; device {sm['device']}; "
             f"{sm['seconds_per_cell']['mean']:.2f} s per cell (all scores)",
             f"- NAL log-likelihood: {res['nal_note']}"]
    if costly:
        cs = costly["summary"]
        lines.append(f"- rows marked (costly): their own {cs['cells']} cells, networks {json.dumps(cs['network'])}, "
                     f"batch {costly['config']['batch_size']}, ntk_trace {costly['config']['probes']}, "
                     f"{cs['seconds_per_cell']['mean']:.2f} s per cell (one backward pass per example and logit)")
    lines += ["", "| score | cells | Spearman [95% CI] | Kendall [95% CI] | published | source |",
              "| --- | ---: | --- | --- | --- | --- |"]
    entries = [(name, e, "") for name, e in part["correlations"].items()]
    entries += [(name, e, "costly") for name, e in (costly or {}).get("correlations", {}).items()]
    for name, e, setting in entries:
        pub = [p for p in PUBLISHED_CORRELATIONS if p["score"] == name and p["space"] == space]
        pub_text = "; ".join(_pub_value(p) for p in pub) or "-"
        src = "; ".join(p["source"] for p in pub) or "-"
        label = name + (" (lower is better)" if e.get("lower_is_better") else "") + (" (costly)" if setting else "")
        if e.get("spearman") is None:
            lines.append(f"| {label} | {e['cells']} | - ({e.get('note', '')}) | - | {pub_text} | {src} |")
        else:
            sp, kt = e["spearman_ci95"], e["kendall_ci95"]
            lines.append(f"| {label} | {e['cells']} | {e['spearman']:.3f} [{sp[0]:.3f}, {sp[1]:.3f}] | "
                         f"{e['kendall']:.3f} [{kt[0]:.3f}, {kt[1]:.3f}] | {pub_text} | {src} |")
        s1_rows.append([space, mode, name, setting or "main", e["cells"], e.get("spearman"),
                        *(e.get("spearman_ci95") or [None, None]), e.get("kendall"),
                        *(e.get("kendall_ci95") or [None, None]), "ours", ""])
    ps = part.get("pool_search")
    if ps:
        lines += ["", f"Pool search on these cells (NASWOT-style): {ps['seeds']} random pools of {ps['pool_size']} "
                  f"cells, pick the best-scored; accuracy of the pick, mean +- std. Random pick "
                  f"{ps['random']:.2f}, best in pool {ps['pool_best']:.2f}.", "",
                  "| score | pick accuracy | pools |", "| --- | --- | ---: |"]
        lines += [f"| {n} | {_fmt(v['mean'], 2)} +- {_fmt(v['std'], 2)} | {v['pools']} |"
                  for n, v in ps["picks"].items()]
    return lines + [""]


def _section_result(out: pathlib.Path, section: int, space: str, not_run: dict[str, str],
                    lines: list[str]) -> dict | None:
    """The JSON of ``section`` for ``space`` in ``out``; when absent, appends the "not run" line (why) and gives None."""
    res = _load(out / f"section{section}" / f"{space}.json")
    if res is None:
        why = not_run.get(f"s{section}_{space}",
                          f"not yet run into this folder (--section {section} --space {space})")
        lines += [f"### {space}: not run: {why}", ""]
    elif section == 1 and "modes" not in res:  # written before section 1 had data modes (eval-mode batch norm)
        lines += [f"### {space}: not shown: its results predate the data modes and train-mode batch norm; rerun "
                  f"`--section 1 --space {space}`", ""]
        return None
    return res


def _origin(p: dict) -> str:
    """The CSV ``origin`` of a published value."""
    return "published" + ("" if p["checked"] else " (secondary source)")


def _pub_value(p: dict, field: str = "value") -> str:
    value = p[field]
    if value is None:
        return "not read in a primary source here (see source)"
    stat = f"{p['statistic']} " if "statistic" in p else ""
    return f"{stat}{value}" + ("" if p["checked"] else " (secondary source)")


def _write_csv(path: pathlib.Path, header: Sequence[str], rows: list[list]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with report.atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


def _save(fig: Any, path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    with report.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def _plot_scatter(out: pathlib.Path, space: str, mode: str, part: dict, costly: dict | None) -> None:
    _save(scatter_figure({"space": f"{space}, {mode} data", **part, "costly": costly}),
          out / "plots" / f"section1_{space}_{mode}_scatter.png")


def scatter_figure(res: dict) -> Any:
    """One scatter of score vs accuracy per score, each on the scale that spreads its points (see
    :func:`_score_axis`), the scale named on the axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(name, name, res) for name in res["correlations"]]
    if res.get("costly"):
        panels += [(f"{name} (costly)", name, res["costly"]) for name in res["costly"]["correlations"]]
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows), squeeze=False, layout="constrained")
    for ax, (title, name, part) in zip(axes.flat, panels):
        pts = [(r["scores"].get(name), r["accuracy"]) for r in part["records"]]
        pts = [(s, a) for s, a in pts if s is not None and np.isfinite(s)]
        label = name
        if pts:
            s, a = np.array(pts).T
            s, label = _score_axis(ax, name, s)
            ax.scatter(s, a, s=6, alpha=0.6)
        rho = part["correlations"][name].get("spearman")
        ax.set_title(f"{title}  rho={_fmt(rho, 2)}", fontsize=8)
        ax.set_xlabel(label, fontsize=7)
        ax.set_ylabel("accuracy (%)" if pts and max(a) > 1 else "accuracy", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.yaxis.get_major_formatter().set_useOffset(False)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    fig.suptitle(f"{res['space']}: score vs accuracy ({len(res['records'])} cells)", fontsize=9)
    return fig


def _score_axis(ax: Any, name: str, s: np.ndarray) -> tuple[np.ndarray, str]:
    """Sets ``ax``'s x scale for the scores ``s``; returns the values to plot and the axis label.

    Zero-cost scores are often heavy-tailed (grad_norm, snip and synflow span tens of decades, jacob_cov has a long
    negative tail): on a linear axis all but a few points then sit in one column. A score whose middle half spans
    under 1/8 of its range (a normal sample's spans about 1/5) is heavy-tailed. If its magnitudes span two decades
    or more it goes on a log axis when all its values are positive, else on a symmetric log axis (linear within +-t,
    t the 5th percentile of its nonzero magnitudes, so the sign shows); otherwise it is plotted by rank. Any other
    score stays linear, scaled by a power of ten named in the label rather than an offset text beside the axis.
    """
    from matplotlib import ticker

    q25, q75 = np.percentile(s, [25, 75])
    if (s.max() - s.min()) <= 8 * (q75 - q25):
        power = int(np.floor(np.log10(np.abs(s).max()))) if np.abs(s).max() > 0 else 0
        if -2 <= power < 4:
            power = 0
        ax.xaxis.set_major_locator(ticker.MaxNLocator(5))
        ax.xaxis.get_major_formatter().set_useOffset(False)
        return s / 10.0 ** power, name + (f" (x 1e{power})" if power else "")
    magnitudes = np.abs(s[s != 0])
    if not magnitudes.size or magnitudes.max() < 100 * magnitudes.min():
        ax.xaxis.set_major_locator(ticker.MaxNLocator(5, integer=True))
        return np.argsort(np.argsort(s, kind="stable")) + 1.0, f"{name} (rank, 1 = lowest)"
    if s.min() > 0:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(numticks=5))
        return s, f"{name} (log scale)"
    threshold = float(np.percentile(magnitudes, 5))
    ax.set_xscale("symlog", linthresh=threshold)
    ticks = [0.0]  # a few powers of ten over each sign's decades (the default locator crowds them near 0)
    for sign, part in ((1.0, s[s >= threshold]), (-1.0, -s[s <= -threshold])):
        if part.size:
            low, high = int(np.ceil(np.log10(part.min()))), int(np.floor(np.log10(part.max())))
            ticks += [sign * 10.0 ** e for e in sorted(set(np.linspace(low, high, 4).round().astype(int)))]
    transform = ax.xaxis.get_transform()
    place = lambda v: float(transform.transform(np.array([[v]]))[0, 0])  # noqa: E731
    width = place(s.max()) - place(s.min())
    kept: list[float] = []
    for tick in sorted(ticks, key=abs):  # from 0 outwards, none closer than 1/8 of the data's width to another
        if all(abs(place(tick) - place(k)) > width / 8 for k in kept):
            kept.append(tick)
    ax.set_xticks(sorted(kept))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(
        lambda v, _: "0" if v == 0 else f"${'-' if v < 0 else ''}10^{{{np.log10(abs(v)):.0f}}}$"))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    return s, f"{name} (symlog scale, linear within ±{threshold:.1g})"


def _plot_picks(out: pathlib.Path, res: dict) -> None:
    """Accuracy of each seed's pick per method, with the table's best and mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(res["methods"])
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(methods) + 2), 3.2))
    for i, m in enumerate(methods):
        acc = [p["accuracy"] for p in res["methods"][m]["picks"] if p["accuracy"] is not None]
        ax.scatter(np.full(len(acc), i), acc, s=12, alpha=0.7)
    ax.axhline(res["table_best"], color="0.3", ls="--", lw=0.8, label="table best")
    ax.axhline(res["table_mean"], color="0.6", ls=":", lw=0.8, label="table mean (random pick)")
    ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("table accuracy of pick (%)")
    ax.legend(fontsize=6)
    ax.set_title(f"{res['space']}: picks over {res['seeds']} seeds", fontsize=9)
    _save(fig, out / "plots" / f"section2_{res['space']}_picks.png")


# -------------------------------------------------------------------------------------------------- main ----

def main(argv: Sequence[str] | None = None) -> str:
    """Command line: runs the requested sections and rebuilds ``table.md``; returns its text."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--out", required=True, type=pathlib.Path, help="output folder (created)")
    p.add_argument("--nb201-table", help="NAS-Bench-201 CIFAR-10 CSV")
    p.add_argument("--nb101-table", help="NAS-Bench-101 table (tfrecord, nasi_nal npz cache or the sample npz)")
    p.add_argument("--images", help="CIFAR-10 images for real-data scoring (npz x_train/y_train, or image tarball)")
    p.add_argument("--runs", type=pathlib.Path, help="folder of trainer workdirs (section 3)")
    p.add_argument("--section", type=int, choices=(1, 2, 3), action="append",
                   help="run only this section (repeatable); default all")
    p.add_argument("--space", choices=SPACES, action="append", help="run only this space (repeatable)")
    p.add_argument("--settings", metavar="NAME|PATH",
                   help=f"the table's settings: {' or '.join(evaluate.setting_names())} "
                        "(nasi_nal/evaluate/configs/table_NAME.py), or a config file's path; default full")
    p.add_argument("--quick", action="store_true", help="--settings quick: tiny samples and networks, 2 seeds (CI)")
    p.add_argument("--methods", help="comma-separated section 2 methods (default: the settings')")
    p.add_argument("--scores", help="comma-separated section 1 scores (default: the settings'; those of the "
                   "settings' costly set keep its cheaper setting)")
    p.add_argument("--cells", type=int, help="section 1 cells per space (default: the settings')")
    p.add_argument("--seeds", type=int, help="section 2 seeds (default: the settings')")
    p.add_argument("--candidates", type=int, help="section 2 candidates per search (default: the settings')")
    p.add_argument("--progress", action="store_true", help="progress bars")
    p.add_argument("--workers", type=int, default=1, help="section 1: processes scoring cells side by side")
    args = p.parse_args(argv)

    if args.quick and args.settings not in (None, "quick"):
        raise NasiNalError(f"--quick is --settings quick: leave out --quick or --settings {args.settings}")
    settings, name = evaluate.load_settings("quick" if args.quick else args.settings or "full")
    if args.methods:
        bad = [m for m in args.methods.split(",") if m not in methods.names()]
        if bad:
            raise NasiNalError(f"--methods {bad}: choose from {', '.join(methods.names())}")
        settings = dataclasses.replace(settings, methods=tuple(args.methods.split(",")))
    if args.scores:
        bad = [s for s in args.scores.split(",") if s not in SCORES]
        if bad:
            raise NasiNalError(f"--scores {bad}: choose from {', '.join(sorted(SCORES))}")
        chosen = args.scores.split(",")
        costly = settings.costly.scores if settings.costly else ()
        settings = dataclasses.replace(
            settings, scores=tuple(s for s in chosen if s in settings.scores or s not in costly),
            costly=settings.costly and dataclasses.replace(settings.costly,
                                                           scores=tuple(s for s in chosen if s in costly)))
    for field in ("cells", "seeds", "candidates"):
        value = getattr(args, field)
        if value is not None and value < 1:
            raise NasiNalError(f"--{field} must be >= 1, got {value}")
    if args.cells:
        settings = dataclasses.replace(settings, cells={s: args.cells for s in SPACES}, costly=settings.costly and
                                       dataclasses.replace(settings.costly, cells={s: args.cells for s in SPACES}))
    if args.seeds:
        settings = dataclasses.replace(settings, seeds=args.seeds)
    if args.candidates:
        settings = dataclasses.replace(settings, candidates=args.candidates)
    if any(getattr(args, f) for f in ("methods", "scores", "cells", "seeds", "candidates")):
        name += " with overrides (see settings.json)"
    inputs = {"nb201": resolve_input(args.nb201_table, "nb201"), "nb101": resolve_input(args.nb101_table, "nb101"),
              "images": resolve_input(args.images, "images")}
    if args.runs is not None and not args.runs.is_dir():
        raise NasiNalError(f"--runs {args.runs}: not a folder; pass the folder holding the trainer workdirs")
    sections = args.section or [1, 2, 3]
    spaces = args.space or list(SPACES)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    report.write_json(out / "environment.json", environment(inputs))
    report.write_json(out / "settings.json", {"name": name, **dataclasses.asdict(settings)})
    not_run: dict[str, str] = {}
    option = {"nb201": "--nb201-table", "nb101": "--nb101-table"}
    for space in spaces:
        table = inputs[space]
        if table is None:
            for s in (1, 2):
                not_run[f"s{s}_{space}"] = f"no {option[space]} given (nor NASI_NAL_DATA holding {DATA_NAMES[space]})"
            continue
        if 1 in sections:
            section1(space, table, inputs["images"], settings, out, progress=args.progress, workers=args.workers)
        if 2 in sections and space not in settings.search_spaces:
            not_run[f"s2_{space}"] = (f"the {name} settings search {', '.join(settings.search_spaces)} only: "
                                      "a NAS-Bench-101 sample holds few of the cells a search proposes, so section 1's "
                                      "pool search over the scored sample stands for the search here")
        elif 2 in sections:
            section2(space, table, inputs["images"], settings, out)
    if 3 in sections:
        if args.runs is None:
            not_run["s3"] = "no --runs given"
        else:
            section3(args.runs, out)
    return render(out, name, not_run)


if __name__ == "__main__":
    start = time.perf_counter()
    print(main())
    print(f"total {time.perf_counter() - start:.0f} s")
