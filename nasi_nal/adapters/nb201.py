"""NAS-Bench-201 for the search: one of 5 ops on each of the 6 edges of a 4-node cell (15,625 cells)."""
from __future__ import annotations

import pathlib
from typing import Any, Callable

import numpy as np

from nasi_nal import report
from nasi_nal.errors import NasiNalError
from nasi_nal.spaces import nb201

TITLE = "NAS-Bench-201"
HAS_TABLE = True  # the results CSV, given with --table
TRAIN_RECIPE = "nb201"
NAL_LIKELIHOOD = False  # the GAT's cells reach NB201 through a one-way transfer
SUPERNET = True
METRIC = "cifar10_test_acc_200ep"


def key(cell: nb201.Arch) -> str:
    return nb201.format(cell)


def summary(cell: nb201.Arch) -> str:
    return nb201.format(cell)


def to_json(cell: nb201.Arch) -> Any:
    return nb201.format(cell)


def parse(text: str, table: str, table_option: str) -> nb201.Arch:
    """The official arch string ``|nor_conv_3x3~0|+|...|``."""
    return nb201.parse(text)


def sample(rng: np.random.Generator) -> nb201.Arch:
    return nb201.sample(rng)


def draw(cell: nb201.Arch, path: pathlib.Path, title: str) -> list[pathlib.Path]:
    kept = [(f, t, op) for (t, f), op in zip(nb201.EDGES, cell.ops) if op != "none"]
    report.draw_dag(path, ["in", "node 1", "node 2", "out"], [(f, t) for f, t, _ in kept],
                    [op for _, _, op in kept], title=title + "  ('none' edges omitted)")
    return [path]


def load_table(path: str | None) -> tuple[Callable[[nb201.Arch], float | None], str] | None:
    """Look-up cell -> CIFAR-10 test accuracy (percent) from the results CSV at ``path`` (None: no table)."""
    if path is None:
        return None
    from nasi_nal import tables

    table = tables.load_nb201(path)
    if METRIC not in table.metric_names:
        raise NasiNalError(f"NAS-Bench-201 table {path} has no column {METRIC!r} (it has "
                           f"{', '.join(table.metric_names)}): pass a CIFAR-10 results CSV")

    def lookup(arch: nb201.Arch) -> float | None:
        return float(table.query(arch).metrics[METRIC]) if arch in table else None

    return lookup, f"NAS-Bench-201 CIFAR-10 test accuracy, 200-epoch schedule, from {path}"


def nal_proposals(model: Any, n: int, rng: np.random.Generator) -> list[tuple[nb201.Arch, float]]:
    """The GAT's NB101 wiring carried over to NB201 (``nal.transfer.to_nb201``) with the transfer's score."""
    from nasi_nal.nal import transfer

    return [(p.arch, p.score) for p in transfer.to_nb201(model, None, rng=rng)[:n]]
