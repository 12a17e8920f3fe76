"""Evaluate a NAL link predictor against a NAS-Bench-101 table with ground truth.

    python benchmarks/nal_eval.py --table $NASI_NAL_DATA/nb101_cifar10_sample20001.npz

Reports (all on cells the model never saw, see ``nasi_nal.nal.evaluate.unseen_cells``):
  * link ROC-AUC / average precision on the model's held-out experts, recomputed from the table;
  * Spearman correlation of accuracy with the cell log-likelihood, log P(edges | ops) and log P(ops) + that;
  * search: over ``--seeds`` seeds, a pool of ``--pool-size`` unseen cells; the accuracy of the GAT's pick
    (highest log-likelihood) vs a random pick and the pool's best;
  * generation: wall time for 100 candidates (model loaded and its forward pass compiled), how many generated
    cells the table holds and their accuracy, how many are training experts.
Writes ``benchmarks/results/nal_eval.json`` and ``.md`` with the command that made them.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import jax
import numpy as np

from nasi_nal.nal import checkpoint, data, evaluate, generate
from nasi_nal.tables.nb101 import load_nb101

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def _summary(values: list[float]) -> dict:
    a = np.asarray(values)
    return {"mean": float(a.mean()), "std": float(a.std()), "values": [float(x) for x in a]}


def run(table_path: str, checkpoint_dir: str | None, seeds: int, pool_size: int) -> dict:
    """All evaluations; returns the JSON-ready result dict."""
    model = checkpoint.load(checkpoint_dir) if checkpoint_dir else checkpoint.load_pretrained()
    t0 = time.perf_counter()
    cells = data.cellset_from_table(load_nb101(table_path))
    load_s = time.perf_counter() - t0
    unseen = evaluate.unseen_cells(cells, model)
    out: dict = {
        "table": {"file": pathlib.Path(table_path).name, "num_cells": len(cells), "load_s": load_s},
        "checkpoint": {"source": model.metadata["data"]["source"], "train_config": model.metadata["train_config"],
                       "num_train_experts": len(model.metadata["data"]["train_hashes"]),
                       "num_heldout_experts": len(model.metadata["data"]["heldout_hashes"]),
                       "expert_min_accuracy": model.metadata["data"]["expert_min_accuracy"],
                       "best_epoch": model.metadata["best_epoch"]},
        "num_unseen_cells": len(unseen),
        "experts_in_unseen": len(model.expert_hashes.intersection(unseen.hashes)),
    }
    out["link_heldout"] = evaluate.link_metrics(cells, model)
    out["rank_correlation"] = evaluate.rank_correlation(unseen, model)
    search = {}
    for name, include_ops in (("joint", True), ("edges", False)):
        scores = generate.cell_log_likelihood(model, unseen, include_ops=include_ops)
        trials = evaluate.search_trials(unseen, scores, pool_size, range(seeds))
        search[name] = {k: _summary(v) for k, v in trials.items() if k != "seed"}
    out["search"] = {"pool_size": pool_size, "seeds": seeds, "score": search,
                     "unseen_mean_accuracy": float(unseen.accuracy.mean())}
    times = []
    for seed in range(4):
        t = time.perf_counter()
        cands = generate.generate(model, 100, rng=np.random.default_rng(seed))
        times.append(time.perf_counter() - t)
    index = {h: i for i, h in enumerate(cells.hashes)}
    found = [float(cells.accuracy[index[c.hash]]) for c in cands if c.hash in index]
    out["generation"] = {
        "n": 100, "first_call_s": times[0], "warm_call_s": _summary(times[1:]),
        "seed": 3, "num_in_table": len(found), "mean_accuracy_in_table": float(np.mean(found)) if found else None,
        "table_mean_accuracy": float(cells.accuracy.mean()),
        "num_training_experts": sum(c.hash in model.expert_hashes for c in cands),
        "top5": [{"matrix": c.cell.matrix.tolist(), "ops": list(c.cell.ops), "log_prob": c.log_prob,
                  "hash": c.hash} for c in cands[:5]],
    }
    out["platform"] = {"python": platform.python_version(), "jax": jax.__version__,
                       "device": str(jax.devices()[0]), "cpu_count": os.cpu_count()}
    return out


def markdown(res: dict, command: str) -> str:
    """A short report of ``res``."""
    link, rc, s = res["link_heldout"], res["rank_correlation"], res["search"]
    lines = [
        "# NAL link predictor on NAS-Bench-101", "", f"Command: `{command}`", "",
        f"Table: {res['table']['file']} ({res['table']['num_cells']} cells); unseen cells: "
        f"{res['num_unseen_cells']} (training experts among them: {res['experts_in_unseen']}).", "",
        f"Held-out experts ({link['num_cells']} cells, {link['num_pairs']} pairs): link AUC {link['auc']:.4f}, "
        f"AP {link['ap']:.4f} (positive rate {link['positive_rate']:.3f}).", "",
        f"Spearman with 108-epoch validation accuracy on {rc['num_cells']} unseen cells: "
        f"log P(edges|ops) {rc['spearman_edges']:.4f}; log P(ops) + log P(edges|ops) {rc['spearman_joint']:.4f}.",
        "", f"Search: {s['seeds']} seeds, pools of {s['pool_size']} unseen cells (validation accuracy, mean ± std):",
        "", "| score | GAT pick | random pick | pool best | pick percentile in pool |", "|---|---|---|---|---|",
    ]
    for name, r in s["score"].items():
        lines.append(f"| {name} | {r['pick']['mean']:.4f} ± {r['pick']['std']:.4f} | {r['random']['mean']:.4f} ± "
                     f"{r['random']['std']:.4f} | {r['best']['mean']:.4f} ± {r['best']['std']:.4f} | "
                     f"{r['pick_percentile']['mean']:.1f} |")
    g = res["generation"]
    lines += ["", f"Generation of 100 cells: first call {g['first_call_s']:.2f} s (the forward pass was already "
              f"compiled by the evaluations above), later calls "
              f"{g['warm_call_s']['mean']:.3f} s. Of the last 100, {g['num_in_table']} are in the table (mean accuracy "
              f"{g['mean_accuracy_in_table'] if g['mean_accuracy_in_table'] is None else round(g['mean_accuracy_in_table'], 4)}"
              f" vs table mean {g['table_mean_accuracy']:.4f}); {g['num_training_experts']} are training experts.",
              "", f"Platform: {res['platform']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    env = os.environ.get("NASI_NAL_DATA")
    p.add_argument("--table", default=os.path.join(env, "nb101_cifar10_sample20001.npz") if env else None,
                   required=env is None,
                   help="NAS-Bench-101 table (sample npz, nasi_nal npz or tfrecord); default: the sample in "
                        "$NASI_NAL_DATA when that is set")
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the one shipped in nasi_nal)")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--pool-size", type=int, default=100)
    p.add_argument("--out", default=str(RESULTS / "nal_eval.json"))
    args = p.parse_args(argv)
    command = "python benchmarks/nal_eval.py " + " ".join(sys.argv[1:] if argv is None else argv)
    res = run(args.table, args.checkpoint, args.seeds, args.pool_size)
    res["command"] = command
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    out.with_suffix(".md").write_text(markdown(res, command))
    print(markdown(res, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
