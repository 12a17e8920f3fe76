"""The DARTS space for the search: normal and reduction cells of 4 nodes, 2 inputs each from 8 ops."""
from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np

from nasi_nal import report
from nasi_nal.spaces import darts

TITLE = "DARTS"
HAS_TABLE = False  # no tabular benchmark
TRAIN_RECIPE = "darts_cifar"
NAL_LIKELIHOOD = False
SUPERNET = True


def key(cell: darts.Genotype) -> str:
    return darts.to_json(cell)


def summary(cell: darts.Genotype) -> str:
    return "normal " + ",".join(f"{op}@{i}" for op, i in cell.normal)


def to_json(cell: darts.Genotype) -> Any:
    return json.loads(darts.to_json(cell))


def parse(text: str, table: str, table_option: str) -> darts.Genotype:
    """Genotype JSON (``spaces.darts.to_json``) or a name defined there, e.g. ``DARTS_V2``."""
    named = getattr(darts, text, None) if text.isidentifier() else None
    if isinstance(named, darts.Genotype):
        return named
    return darts.from_json(text)


def sample(rng: np.random.Generator) -> darts.Genotype:
    return darts.sample(rng)


def draw(cell: darts.Genotype, path: pathlib.Path, title: str) -> list[pathlib.Path]:
    out = []
    for kind in ("normal", "reduce"):
        pairs = getattr(cell, kind)
        edges = [(src, 2 + k // 2) for k, (_, src) in enumerate(pairs)] + [(n, 6) for n in range(2, 6)]
        labels = ["c_{k-2}", "c_{k-1}", "0", "1", "2", "3", "c_{k}"]
        p = path.with_name(f"{path.stem}_{kind}.png")
        report.draw_dag(p, labels, edges, [op for op, _ in pairs] + ["concat"] * 4, title=f"{title} {kind}")
        out.append(p)
    return out


def load_table(path: str | None) -> None:
    """DARTS has no results table (the search refuses ``--table`` before any work)."""
    return None


def nal_proposals(model: Any, n: int, rng: np.random.Generator) -> list[tuple[darts.Genotype, float]]:
    """The GAT's best wirings as DARTS genotypes (``nal.transfer.to_darts``) with the transfer's score."""
    from nasi_nal.nal import transfer

    return [(p.genotype, p.score) for p in transfer.to_darts(model, n)]
