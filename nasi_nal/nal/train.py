"""Training the NAL link predictor on expert NAS-Bench-101 cells (binary cross-entropy, optax AdamW).

Data, step by step (all choices are ``TrainConfig`` fields):

1. ``table_fraction`` of the table's cells, chosen by hash (``data.training_partition``), may supply experts; the
   rest is never looked at, so evaluations on the same table have unseen cells at every accuracy level.
2. Experts: the ``top`` cells of that part by ``epochs``-epoch validation accuracy (count, or fraction if < 1).
3. ``holdout`` of the experts (by hash) are held out for link AUC / average precision and early stopping.
4. Positives: the experts' edges; negatives: their absent upper-triangular pairs (see ``nasi_nal.nal.data``).

Reproducing the shipped checkpoint (same seed -> bitwise-equal ``.msgpack`` and ``.json`` on the same platform)::

    python -m nasi_nal.nal.train --table nb101_cifar10_sample20001.npz --seed 0 --out nasi_nal/nal/checkpoints
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import pathlib
import sys
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

from nasi_nal.nal import checkpoint, data, metrics
from nasi_nal.nal.model import LinkPredictor, ModelConfig, edge_logits, init_params


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What to train on and how; the defaults made the shipped checkpoint."""

    top: float = 0.05  # experts: fraction (< 1) or count (>= 1) of the training part, best by validation accuracy
    table_fraction: float = 0.5  # share of the table (by hash) experts may come from; the rest stays unseen
    holdout: float = 0.15  # share of experts held out for link AUC/AP and early stopping
    split_seed: int = 0  # fixes the table partition and the held-out experts (hash-based, order-free)
    epochs: int = 108  # NAS-Bench-101 budget whose validation accuracy ranks the experts
    seed: int = 0  # parameter init, dropout and batch order
    batch_size: int = 32  # cells per step; batches are padded to this many graphs (one compilation)
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    max_epochs: int = 200
    patience: int = 25  # stop after this many epochs without a better held-out AUC
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)


@dataclasses.dataclass(frozen=True)
class Split:
    """The expert cells used for training and for held-out evaluation."""

    train: data.CellSet
    heldout: data.CellSet


def split_experts(cells: data.CellSet, config: TrainConfig) -> Split:
    """Steps 1-3 of the module docstring: partition the table, pick the experts, hold some out."""
    part = cells.subset(data.training_partition(cells.hashes, config.table_fraction, config.split_seed))
    experts = data.select_experts(part, config.top)
    held = data.holdout_mask(experts.hashes, config.holdout, config.split_seed)
    if held.all() or not held.any():
        raise ValueError(f"holdout={config.holdout} of {len(experts)} experts leaves an empty training or held-out "
                         "set: use more experts (top) or another holdout fraction")
    return Split(train=experts.subset(~held), heldout=experts.subset(held))


def link_scores(config: ModelConfig, params: dict, cells: data.CellSet) -> tuple[np.ndarray, np.ndarray]:
    """Logits and 0/1 labels of every upper-triangular pair of every cell, concatenated."""
    op_seqs = [cells.op_names(i) for i in range(len(cells))]
    logits, labels = [], []
    for i, z in enumerate(edge_logits(config, params, op_seqs)):
        iu = np.triu_indices(z.shape[0], 1)
        logits.append(z[iu])
        labels.append(cells.adjacency[i][iu])
    return np.concatenate(logits), np.concatenate(labels).astype(np.float64)


def evaluate_links(config: ModelConfig, params: dict, cells: data.CellSet) -> dict[str, float]:
    """Link ROC-AUC, average precision and mean binary cross-entropy on ``cells``."""
    z, y = link_scores(config, params, cells)
    bce = float(np.mean(np.logaddexp(0.0, z) - y * z))
    return {"auc": metrics.roc_auc(z, y), "ap": metrics.average_precision(z, y), "bce": bce,
            "num_cells": len(cells), "num_pairs": int(len(y)), "positive_rate": float(y.mean())}


def _loss(module: LinkPredictor, params: dict, graph: jraph.GraphsTuple, key: jax.Array) -> jax.Array:
    logits = module.apply({"params": params}, graph, deterministic=False, rngs={"dropout": key})
    mask = (graph.edges["kind"] == 0) & jraph.get_edge_padding_mask(graph)
    bce = optax.sigmoid_binary_cross_entropy(logits, graph.edges["label"])
    return jnp.sum(jnp.where(mask, bce, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


@functools.lru_cache(maxsize=None)
def _train_step(model: ModelConfig, learning_rate: float, weight_decay: float):
    """The optimizer and the jitted update step, built once per (model, optimizer) config and process.

    Compiling the step dominates short runs on CPU, so repeated ``train`` calls (tests, seeds) share it.
    """
    module = LinkPredictor(model)
    tx = optax.adamw(learning_rate, weight_decay=weight_decay)

    @jax.jit
    def step(params, opt_state, graph, key):
        loss, grads = jax.value_and_grad(lambda p: _loss(module, p, graph, key))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return tx, step


def train(cells: data.CellSet, config: TrainConfig = TrainConfig(), source: dict | None = None,
          log=None) -> checkpoint.TrainedNAL:
    """Trains on the experts of ``cells`` (a table as ``data.cellset_from_table``); returns the best model.

    The best epoch by held-out link AUC is kept (early stopping); ties keep the earlier epoch. ``source``
    (e.g. file name and SHA-256) is recorded in the metadata; ``log`` is an optional ``print``-like callable.
    """
    split = split_experts(cells, config)
    init_key, dropout_key = jax.random.split(jax.random.PRNGKey(config.seed))
    params = init_params(config.model, init_key)
    tx, step = _train_step(config.model, config.learning_rate, config.weight_decay)
    opt_state = tx.init(params)
    train_ops = [split.train.op_names(i) for i in range(len(split.train))]
    order_rng = np.random.default_rng(config.seed)
    best = (-np.inf, params, 0)
    history = []
    n_step = 0
    for epoch in range(1, config.max_epochs + 1):
        perm = order_rng.permutation(len(split.train))
        losses = []
        for start in range(0, len(perm), config.batch_size):
            idx = perm[start:start + config.batch_size]
            graph = data.pad(data.candidate_graphs([train_ops[i] for i in idx], split.train.adjacency[idx]),
                             config.batch_size)
            params, opt_state, loss = step(params, opt_state, graph, jax.random.fold_in(dropout_key, n_step))
            n_step += 1
            losses.append(float(loss))
        train_loss = float(np.mean(losses))
        if not np.isfinite(train_loss):
            raise FloatingPointError(f"training loss became {train_loss} at epoch {epoch}: lower the learning rate")
        val = evaluate_links(config.model, params, split.heldout)
        history.append({"epoch": epoch, "train_bce": train_loss, "heldout_auc": val["auc"],
                        "heldout_bce": val["bce"]})
        if log is not None:
            log(f"epoch {epoch:3d}  train bce {train_loss:.4f}  held-out auc {val['auc']:.4f} bce {val['bce']:.4f}")
        if val["auc"] > best[0]:
            best = (val["auc"], params, epoch)
        elif epoch - best[2] >= config.patience:
            break
    params = jax.device_get(best[1])
    op_stats = data.OpStats.from_cells(split.train)
    meta = {
        "train_config": {k: v for k, v in dataclasses.asdict(config).items() if k != "model"},
        "data": {"source": source or {}, "num_table_cells": len(cells), "train_hashes": list(split.train.hashes),
                 "heldout_hashes": list(split.heldout.hashes),
                 "expert_min_accuracy": float(min(split.train.accuracy.min(), split.heldout.accuracy.min()))},
        "seed": config.seed,
        "best_epoch": best[2],
        "epochs_run": len(history),
        "heldout_metrics": evaluate_links(config.model, params, split.heldout),
        "train_metrics": evaluate_links(config.model, params, split.train),
        "history": history,
    }
    return checkpoint.TrainedNAL(config=config.model, params=params, op_stats=op_stats, metadata=meta)


def file_source(path: str | pathlib.Path) -> dict:
    """The data source record of a table file: its name and SHA-256 (not its absolute path)."""
    path = pathlib.Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"file": path.name, "sha256": digest.hexdigest()}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nasi_nal.nal.train --table PATH --seed 0 --out DIR``: train and save a checkpoint."""
    from nasi_nal.tables.nb101 import load_nb101

    defaults = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m nasi_nal.nal.train", description=__doc__.split("\n")[0])
    p.add_argument("--table", required=True, help="NAS-Bench-101 table: official .tfrecord, nasi_nal npz or sample")
    p.add_argument("--out", required=True, help="folder for <name>.msgpack and <name>.json")
    p.add_argument("--name", default=checkpoint.PRETRAINED_NAME)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--split-seed", type=int, default=defaults.split_seed)
    p.add_argument("--top", type=float, default=defaults.top, help="expert fraction (< 1) or count (>= 1)")
    p.add_argument("--table-fraction", type=float, default=defaults.table_fraction)
    p.add_argument("--holdout", type=float, default=defaults.holdout)
    p.add_argument("--max-epochs", type=int, default=defaults.max_epochs)
    p.add_argument("--patience", type=int, default=defaults.patience)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    config = dataclasses.replace(defaults, seed=args.seed, split_seed=args.split_seed, top=args.top,
                                 table_fraction=args.table_fraction, holdout=args.holdout,
                                 max_epochs=args.max_epochs, patience=args.patience)
    t0 = time.perf_counter()
    cells = data.cellset_from_table(load_nb101(args.table), epochs=config.epochs)
    model = train(cells, config, source=file_source(args.table), log=None if args.quiet else print)
    path = checkpoint.save(args.out, model, args.name)
    m = model.metadata["heldout_metrics"]
    print(f"saved {path} (best epoch {model.metadata['best_epoch']}, held-out link AUC {m['auc']:.4f}, "
          f"AP {m['ap']:.4f}) in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
