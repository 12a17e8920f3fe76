"""The cells an evaluation scores: every row of a benchmark table, and the seeded draw of some of them.

A run of ``cells`` cells with ``seed`` always scores the same rows in the same order, so a rerun finds its earlier
records (``nasi_nal.evaluate.records``) and several scripts can score, and read back, one draw.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from nasi_nal.errors import TableError

SPACES = ("nb201", "nb101")  # the spaces with a tabular benchmark to correlate with
DEFAULT_TABLES = {"nb201": "nb201_cifar10.csv", "nb101": "nb101_cifar10_sample20001.npz"}
ACCURACY = {"nb201": "cifar10_test_acc_200ep (%)", "nb101": "val_acc at 108 epochs (one run)"}


def load_table(space: str, path: str | os.PathLike) -> tuple[list[Any], np.ndarray, list[str]]:
    """(cells, accuracies, labels) of every row of the NB201 CSV or the NB101 npz, in the table's order.

    A label is the cell's canonical key: its arch string (NB201) or its hash (NB101); accuracies are ``ACCURACY``.
    """
    if space == "nb201":
        from nasi_nal.spaces import nb201
        from nasi_nal.tables.nb201 import load_nb201

        table = load_nb201(path)
        archs = list(table.archs())
        return archs, table.metric("cifar10_test_acc_200ep"), [nb201.format(a) for a in archs]
    if space == "nb101":
        from nasi_nal.tables.nb101 import load_nb101

        table = load_nb101(path)
        return [table.cell(i) for i in range(len(table))], table.metric("val_acc", 108), list(table.hashes)
    raise TableError(f"space {space!r}: evaluations read the tables of {' and '.join(SPACES)}")


def drawn_rows(table_rows: int, cells: int, seed: int) -> np.ndarray:
    """The table rows a run of ``cells`` cells with ``seed`` scores, in its order (without replacement)."""
    return np.random.default_rng(seed).choice(table_rows, min(cells, table_rows), replace=False)
