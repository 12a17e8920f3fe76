"""Leakage-free evaluation of a trained NAL model against a NAS-Bench-101 table with ground truth.

Every evaluation here runs on :func:`unseen_cells`: cells the model cannot have seen. A model's metadata
records every expert it trained or early-stopped on and the hash partition its experts were drawn from
(``TrainConfig.table_fraction`` / ``split_seed``); unseen cells lie outside that partition (when the model used only
part of its table) and are never experts. :func:`unseen_cells` re-checks the result and raises
``LeakageError`` if a seen cell got through, so no benchmark number can silently include training cells.
"""
from __future__ import annotations

import numpy as np

from nasi_nal.errors import LeakageError
from nasi_nal.nal import data, metrics
from nasi_nal.nal.checkpoint import TrainedNAL
from nasi_nal.nal.generate import cell_log_likelihood
from nasi_nal.nal.train import evaluate_links


def unseen_cells(cells: data.CellSet, model: TrainedNAL) -> data.CellSet:
    """The cells of ``cells`` that ``model`` never saw (module docstring); raises ``LeakageError`` if none remain."""
    cfg = model.metadata["train_config"]
    seen = model.expert_hashes
    keep = np.array([h not in seen for h in cells.hashes], dtype=bool)
    if cfg["table_fraction"] < 1.0:
        keep &= ~data.training_partition(cells.hashes, cfg["table_fraction"], cfg["split_seed"])
    out = cells.subset(keep)
    leaked = seen.intersection(out.hashes)
    if leaked:
        raise LeakageError(f"{len(leaked)} training expert(s) reached an evaluation set, e.g. {sorted(leaked)[0]}")
    if len(out) == 0:
        raise LeakageError("no cell of this table is unseen by the model: evaluate on another table or retrain "
                           "with table_fraction < 1")
    return out


def heldout_experts(cells: data.CellSet, model: TrainedNAL) -> data.CellSet:
    """The model's held-out experts found in ``cells`` (raises if none is there: wrong table for this model)."""
    held = set(model.metadata["data"]["heldout_hashes"])
    out = cells.subset(np.array([h in held for h in cells.hashes], dtype=bool))
    if len(out) == 0:
        raise ValueError("none of the model's held-out experts is in this table: evaluate on the table it was "
                         "trained from")
    return out


def link_metrics(cells: data.CellSet, model: TrainedNAL) -> dict[str, float]:
    """Link AUC / AP / BCE on the model's held-out experts, recomputed from the table."""
    return evaluate_links(model.config, model.params, heldout_experts(cells, model))


def rank_correlation(unseen: data.CellSet, model: TrainedNAL) -> dict[str, float]:
    """Spearman correlation of accuracy with log P(edges | ops) and with log P(ops) + log P(edges | ops)."""
    if unseen.accuracy is None:
        raise ValueError("rank_correlation needs accuracies (a CellSet built from a table)")
    edges = cell_log_likelihood(model, unseen, include_ops=False)
    joint = cell_log_likelihood(model, unseen, include_ops=True)
    return {"num_cells": len(unseen), "spearman_edges": metrics.spearman(edges, unseen.accuracy),
            "spearman_joint": metrics.spearman(joint, unseen.accuracy)}


def search_trials(unseen: data.CellSet, scores: np.ndarray, pool_size: int, seeds: range) -> dict:
    """Per seed: draw a pool of ``pool_size`` unseen cells, pick the highest-scoring one, a random one and the
    pool's best; return their accuracies (lists over seeds) and the pick's rank percentile in its pool."""
    if len(scores) != len(unseen):
        raise ValueError(f"{len(scores)} scores for {len(unseen)} cells")
    if pool_size > len(unseen):
        raise ValueError(f"pool_size={pool_size} exceeds the {len(unseen)} unseen cells")
    acc = unseen.accuracy
    out = {"seed": [], "pick": [], "random": [], "best": [], "pick_percentile": []}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        pool = rng.choice(len(unseen), size=pool_size, replace=False)
        pick = pool[int(np.argmax(scores[pool]))]
        rand = pool[int(rng.integers(pool_size))]
        out["seed"].append(int(seed))
        out["pick"].append(float(acc[pick]))
        out["random"].append(float(acc[rand]))
        out["best"].append(float(acc[pool].max()))
        out["pick_percentile"].append(float((acc[pool] < acc[pick]).mean() * 100.0))
    return out
