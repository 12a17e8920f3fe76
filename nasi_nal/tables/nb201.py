"""NAS-Bench-201 results from a CSV export, checked against the space's official index order, looked up by cell.

NAS-Bench-201 (Dong & Yang, ICLR 2020) and its successor NATS-Bench (topology search space ``tss``) publish
results for all 15,625 cells at https://github.com/D-X-Y/NATS-Bench; the official API
(``nats_bench.create(..., 'tss')``, ``api.get_more_info(index, 'cifar10', hp='200')``) needs the release files and
PyTorch. This module reads a flat CSV of those results instead, one row per cell::

    index,arch_str,<metric>,<metric>,...
    0,|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|...|,85.86,...

``index`` is the official arch index and ``arch_str`` the official arch string; every row is checked against
:mod:`nasi_nal.spaces.nb201` (``arch_to_index(parse(arch_str)) == index``), so a file in another order or with
another index convention fails to load instead of returning the wrong cell's numbers. Metric columns are floats
as the file gives them (the team's export: accuracies in percent, as the official API reports them); an empty
field is a missing value, read as NaN. A file with fewer than all 15,625 cells is refused (a file cut short at a
line boundary would otherwise parse cleanly and leave the missing cells unknown); ``partial=True`` reads a subset
on purpose (``complete`` then says whether it holds all 15,625).

Example:
    >>> table = load_nb201("nb201_cifar10.csv")
    >>> arch_str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    >>> result = table.query(arch_str)  # or table.query(1), or table.query(nb201.parse(arch_str))
    >>> result.index, round(result.metrics["cifar10_test_acc_200ep"], 2)  # the team's export
    (1, 93.66)
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
import pathlib
import types
from typing import Iterator, Mapping, Union

import numpy as np

from nasi_nal.errors import InvalidCellError, NotInTableError, TableError
from nasi_nal.spaces import nb201 as space

OFFICIAL_URL = "https://github.com/D-X-Y/NATS-Bench"
KEY_COLUMNS = ("index", "arch_str")

ArchKey = Union[space.Arch, str, int]


@dataclasses.dataclass(frozen=True, eq=False)
class NB201Result:
    """One cell's row: its official index and arch string, and every metric column (NaN where the file is empty)."""

    index: int
    arch: space.Arch
    arch_str: str
    metrics: Mapping[str, float]


def _table_error(path: os.PathLike | str, problem: str) -> TableError:
    return TableError(
        f"NAS-Bench-201 table {os.fspath(path)!r}: {problem}. Expected a CSV with the header "
        f"'index,arch_str,<metric columns>' and one row per cell (official index, official arch string, floats). "
        f"The official results are the NAS-Bench-201 / NATS-Bench release, {OFFICIAL_URL}."
    )


class NB201Table:
    """NAS-Bench-201 results for a set of cells, looked up by ``Arch``, arch string or official index.

    Rows keep the file's order; ``indices`` and every ``metric(name)`` array are aligned with it.
    """

    def __init__(self, indices: np.ndarray, metrics: Mapping[str, np.ndarray], source: str) -> None:
        """Takes official indices (N,) and float metric columns (N,) each; raises ``ValueError`` if inconsistent."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.ndim != 1 or (indices.size and (indices.min() < 0 or indices.max() >= space.NUM_ARCHS)):
            raise ValueError(f"indices must be a 1-D array of official indices 0..{space.NUM_ARCHS - 1}")
        if len(np.unique(indices)) != len(indices):
            raise ValueError("indices holds duplicates: each cell must appear once")
        if not metrics:
            raise ValueError("a table needs at least one metric column")
        columns = {}
        for name, values in metrics.items():
            values = np.asarray(values, dtype=np.float64)
            if values.shape != indices.shape:
                raise ValueError(f"metric {name!r} has shape {values.shape}, expected {indices.shape}")
            values.setflags(write=False)
            columns[name] = values
        indices.setflags(write=False)
        self._indices = indices
        self._metrics = columns
        self._row = np.full(space.NUM_ARCHS, -1, dtype=np.int64)
        self._row[indices] = np.arange(len(indices))
        self.source = source

    @classmethod
    def from_csv(cls, path: str | os.PathLike, partial: bool = False) -> "NB201Table":
        """Reads and checks a CSV in the layout described in the module docstring; ``partial=True`` accepts a file
        that holds only some of the cells."""
        path = pathlib.Path(path)
        if not path.is_file():
            raise _table_error(path, "no such file")
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise _table_error(path, f"it cannot be read as UTF-8 CSV ({err})") from err
        if not rows:
            raise _table_error(path, "it is empty")
        header = [name.strip() for name in rows[0]]
        names = header[len(KEY_COLUMNS):]
        if tuple(header[: len(KEY_COLUMNS)]) != KEY_COLUMNS or not names:
            raise _table_error(path, f"its header is {rows[0]!r}")
        if len(set(names)) != len(names) or any(not name for name in names):
            raise _table_error(path, f"its metric column names {names!r} are empty or repeated")
        indices = np.empty(len(rows) - 1, dtype=np.int64)
        values = np.empty((len(rows) - 1, len(names)), dtype=np.float64)
        for r, row in enumerate(rows[1:]):
            line = r + 2
            if len(row) != len(header):
                raise _table_error(path, f"line {line} has {len(row)} fields, the header {len(header)}")
            try:
                indices[r] = int(row[0])
                values[r] = [float(v) if v.strip() else math.nan for v in row[2:]]
                arch = space.parse(row[1])
            except (ValueError, InvalidCellError) as err:
                raise _table_error(path, f"line {line} is malformed ({err})") from err
            expected = space.arch_to_index(arch)
            if expected != indices[r]:
                raise _table_error(
                    path,
                    f"line {line} gives index {indices[r]} for {row[1]!r}, whose official index is {expected} "
                    "(the file is not in the official NAS-Bench-201 index order)",
                )
        if np.isinf(values).any():
            r, c = np.argwhere(np.isinf(values))[0]
            raise _table_error(path, f"line {r + 2} has an infinite {names[c]!r}")
        try:
            table = cls(indices, {name: values[:, c] for c, name in enumerate(names)}, path.name)
        except ValueError as err:
            raise _table_error(path, str(err)) from err
        if not partial and not table.complete:
            raise _table_error(path, f"it holds {len(table):,} of the {space.NUM_ARCHS:,} cells (a file cut short?); "
                                     "load_nb201(path, partial=True) reads a subset on purpose")
        return table

    def __len__(self) -> int:
        return len(self._indices)

    def __repr__(self) -> str:
        return f"NB201Table({len(self)} cells, metrics={list(self._metrics)}, source={self.source!r})"

    @property
    def indices(self) -> np.ndarray:
        """(N,) official indices of the rows, read-only."""
        return self._indices

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metric columns, in file order."""
        return tuple(self._metrics)

    @property
    def complete(self) -> bool:
        """Whether the table holds all 15,625 cells."""
        return len(self) == space.NUM_ARCHS

    def metric(self, name: str) -> np.ndarray:
        """(N,) float64 column ``name``, aligned with ``indices`` (NaN where missing)."""
        if name not in self._metrics:
            raise ValueError(f"unknown metric {name!r}: this table has {list(self._metrics)}")
        return self._metrics[name]

    def archs(self) -> Iterator[space.Arch]:
        """The cells, in row order."""
        for index in self._indices.tolist():
            yield space.index_to_arch(index)

    def row_of(self, key: ArchKey) -> int:
        """The row of a cell given as ``Arch``, arch string or official index; ``NotInTableError`` if absent."""
        index = _key_index(key)
        row = int(self._row[index])
        if row < 0:
            raise NotInTableError(
                f"NAS-Bench-201 cell {index} ({space.index_to_arch(index)}) is not in this table ({self.source}, "
                f"{len(self)} of {space.NUM_ARCHS} cells): load a file with all cells from {OFFICIAL_URL}"
            )
        return row

    def __contains__(self, key: ArchKey) -> bool:
        return self._row[_key_index(key)] >= 0

    def query(self, key: ArchKey) -> NB201Result:
        """The row of one cell: ``Arch``, official arch string, or official index (0..15,624)."""
        return self._result(self.row_of(key))

    def _result(self, row: int) -> NB201Result:
        index = int(self._indices[row])
        arch = space.index_to_arch(index)
        metrics = types.MappingProxyType({name: float(v[row]) for name, v in self._metrics.items()})
        return NB201Result(index=index, arch=arch, arch_str=space.format(arch), metrics=metrics)

    def top(self, k: int, metric: str) -> list[NB201Result]:
        """The ``k`` rows with the highest ``metric`` (NaN never ranked), best first; ties break by index."""
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k={k!r}: pass a count, an int >= 1")
        values = self.metric(metric)
        ranked = np.flatnonzero(~np.isnan(values))
        order = np.lexsort((self._indices[ranked], -values[ranked]))
        return [self._result(int(r)) for r in ranked[order[:k]]]


def _key_index(key: ArchKey) -> int:
    """The official index of an ``Arch``, arch string or index."""
    if isinstance(key, (space.Arch, str)):
        return space.arch_to_index(key)
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        if not 0 <= key < space.NUM_ARCHS:
            raise InvalidCellError(f"NAS-Bench-201 index {key} is out of range: use 0..{space.NUM_ARCHS - 1}")
        return int(key)
    raise InvalidCellError(
        f"look up a NAS-Bench-201 cell by nb201.Arch, arch string or official index, got {type(key).__name__}"
    )


def load_nb201(path: str | os.PathLike, partial: bool = False) -> NB201Table:
    """Loads a NAS-Bench-201 results CSV (see the module docstring); a missing, bad or (without ``partial=True``)
    incomplete file is a ``TableError``."""
    return NB201Table.from_csv(path, partial=partial)


__all__ = ["OFFICIAL_URL", "NB201Result", "NB201Table", "load_nb201"]
