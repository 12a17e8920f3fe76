"""NAS-Bench-101 results: the official tfrecord files read without TensorFlow, a compact npz cache, look-ups.

Sources (Ying et al., 2019, "NAS-Bench-101: Towards Reproducible Neural Architecture Search", ICML;
files and code at https://github.com/google-research/nasbench):

* ``nasbench_only108.tfrecord`` (3 runs at 108 epochs) and ``nasbench_full.tfrecord`` (3 runs at each of 4, 12,
  36 and 108 epochs). Each TFRecord is the JSON list ``[module_hash, epochs, raw_adjacency, raw_operations,
  raw_metrics]`` with ``raw_metrics`` a base64 ``ModelMetrics`` protobuf, read as the official ``NASBench.__init__``
  (``nasbench/api.py``) reads it: ``evaluation_data[1]`` is the halfway point, ``evaluation_data[2]`` the end.
* The team's 20,001-cell sample (``NB101Table.from_sample_npz``): one run, validation accuracy only.

Units follow the official files: accuracies are fractions in [0, 1], times are seconds (TPU v2).
A metric the source does not hold is NaN, never invented: the sample has no test or train accuracy and a
training time only at 108 epochs; the mean over runs ignores missing runs and is NaN when none is present.

Example:
    >>> table = load_embedded()  # the shipped top-500 cells of the sample
    >>> best = table.top(1)[0]
    >>> best.hash, round(best.val_acc, 4), best.trainable_parameters
    ('096f593e0f12d65f6220bf8565b764a9', 0.9491, 31552906)
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import importlib.resources
import json
import math
import os
import pathlib
import re
import zipfile
import zlib
from typing import Iterator, Mapping, Sequence, Union

import numpy as np

from nasi_nal.errors import InvalidCellError, NotInTableError, TableError
from nasi_nal.spaces import nb101 as space
from nasi_nal.tables._npz import save_npz
from nasi_nal.tables._protobuf import ProtobufDecodeError, decode_model_metrics
from nasi_nal.tables._tfrecord import RecordFormatError, iter_record_chunks

OFFICIAL_URL = "https://github.com/google-research/nasbench"
OP_NAMES: tuple[str, ...] = space.OPS  # op codes of the padded layout index this tuple
MAX_VERTICES = space.MAX_VERTICES
# Per-run metrics, each stored as an (N, E, R) float32 array: cells x epoch budgets x runs.
METRICS: tuple[str, ...] = (
    "train_acc",
    "val_acc",
    "test_acc",
    "training_time",
    "halfway_train_acc",
    "halfway_val_acc",
    "halfway_test_acc",
    "halfway_training_time",
)
CACHE_FORMAT = "nasi_nal.nb101_table"
CACHE_VERSION = 1
EMBEDDED_FILE = "nb101_sample_top500.npz"
SAMPLE_EPOCHS = (4, 12, 36, 108)

_HASH_RE = re.compile(r"^[0-9a-f]{32}$")
_FINGERPRINT_BYTES = 1 << 20

CellKey = Union["space.Cell", tuple, str]


@dataclasses.dataclass(frozen=True, eq=False)
class NB101Result:
    """The results of one cell at one epoch budget.

    Means are over the runs the table holds (``num_runs``: 3 in the official files, 1 in the sample), skipping
    missing ones; a metric with no run at all is NaN. ``*_runs`` give each run slot, NaN where missing.
    """

    hash: str
    cell: space.Cell
    epochs: int
    trainable_parameters: int
    num_runs: int
    val_acc: float
    test_acc: float
    train_acc: float
    training_time: float
    halfway_val_acc: float
    halfway_test_acc: float
    halfway_training_time: float
    val_acc_runs: tuple[float, ...]
    test_acc_runs: tuple[float, ...]
    training_time_runs: tuple[float, ...]


def _table_error(path: os.PathLike | str, problem: str, expected: str) -> TableError:
    return TableError(
        f"NAS-Bench-101 table {os.fspath(path)!r}: {problem}. Expected {expected}. The official files "
        f"(nasbench_only108.tfrecord, nasbench_full.tfrecord) are published at {OFFICIAL_URL}."
    )


def _nan_mean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over ``axis`` ignoring NaN; NaN (without a warning) where every value is NaN."""
    present = ~np.isnan(values)
    count = present.sum(axis=axis)
    total = np.where(present, values, 0.0).sum(axis=axis, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


class NB101Table:
    """NAS-Bench-101 results for a set of cells, looked up by cell, (matrix, ops) or official hash.

    Build one with :func:`load_nb101` (any supported file), :meth:`from_tfrecord`, :meth:`from_cache`,
    :meth:`from_sample_npz` or :func:`load_embedded`. Cells are stored in the padded layout of the shared
    sample: (N, 7, 7) uint8 adjacency, (N, 7) int8 codes into :data:`OP_NAMES` with -1 pads, and per-run
    metrics as (N, E, R) float32 arrays (cells x ``epochs`` x runs) with NaN where the source has no value.
    """

    def __init__(
        self,
        hashes: np.ndarray,
        adjacency: np.ndarray,
        ops: np.ndarray,
        num_vertices: np.ndarray,
        trainable_parameters: np.ndarray,
        epochs: Sequence[int],
        metrics: Mapping[str, np.ndarray],
        source: str,
    ) -> None:
        """Checks the arrays' shapes, dtypes and values; raises ``ValueError`` naming the first inconsistency."""
        hashes = np.asarray(hashes)
        n = hashes.shape[0] if hashes.ndim == 1 else -1
        epochs_t = tuple(int(e) for e in epochs)
        problems = []
        if hashes.ndim != 1 or hashes.dtype.kind != "U":
            problems.append(f"hash must be a 1-D str array, got {hashes.dtype} {hashes.shape}")
        if not epochs_t or list(epochs_t) != sorted(set(epochs_t)) or epochs_t[0] <= 0:
            problems.append(f"epochs must be distinct positive budgets in increasing order, got {epochs_t}")
        shapes = {
            "adjacency": (np.asarray(adjacency), (n, MAX_VERTICES, MAX_VERTICES)),
            "ops": (np.asarray(ops), (n, MAX_VERTICES)),
            "num_vertices": (np.asarray(num_vertices), (n,)),
            "trainable_parameters": (np.asarray(trainable_parameters), (n,)),
        }
        missing = set(METRICS) - set(metrics)
        if missing:
            problems.append(f"metrics {sorted(missing)} are missing")
        for name in METRICS:
            if name in metrics:
                shapes[name] = (np.asarray(metrics[name]), (n, len(epochs_t), -1))
        for name, (array, want) in shapes.items():
            if array.ndim != len(want) or any(w >= 0 and s != w for s, w in zip(array.shape, want)):
                problems.append(f"{name} has shape {array.shape}, expected {want} (-1: any)")
        if problems:
            raise ValueError("; ".join(problems))
        runs = {shapes[name][0].shape[2] for name in METRICS}
        if len(runs) != 1 or runs == {0}:
            raise ValueError(f"every metric needs the same positive number of runs, got {sorted(runs)}")
        if not all(_HASH_RE.match(h) for h in hashes.tolist()):
            raise ValueError("hash holds a value that is not 32 lowercase hex digits")
        if len(np.unique(hashes)) != n:
            raise ValueError("hash holds duplicates: each cell must appear once")
        ops_a = np.asarray(ops).astype(np.int8)
        nv = np.asarray(num_vertices).astype(np.int64)
        if n and (nv.min() < 2 or nv.max() > MAX_VERTICES):
            raise ValueError(f"num_vertices must lie in 2..{MAX_VERTICES}")
        if n and (ops_a.min() < -1 or ops_a.max() >= len(OP_NAMES)):
            raise ValueError(f"ops holds codes outside -1..{len(OP_NAMES) - 1}")
        params = np.asarray(trainable_parameters).astype(np.int64)
        if n and params.min() < 0:
            raise ValueError("trainable_parameters holds a negative count")
        self._hash = hashes.astype("<U32")
        self._adjacency = np.asarray(adjacency).astype(np.uint8)
        self._ops = ops_a
        self._num_vertices = nv.astype(np.uint8)
        self._params = params
        self._epochs = epochs_t
        self._metrics = {name: np.asarray(metrics[name], dtype=np.float32) for name in METRICS}
        for array in (self._hash, self._adjacency, self._ops, self._num_vertices, self._params,
                      *self._metrics.values()):
            array.setflags(write=False)
        self.source = source
        self._index = {h: i for i, h in enumerate(self._hash.tolist())}
        self._fingerprint: tuple[int, int, int] | None = None  # (size, crc of head, crc of tail) of a tfrecord

    # ----------------------------------------------------------------------------------------------- loading
    @classmethod
    def from_tfrecord(
        cls,
        path: str | os.PathLike,
        cache: str | os.PathLike | None | bool = None,
        rebuild: bool = False,
    ) -> "NB101Table":
        """Reads an official NAS-Bench-101 tfrecord, through an npz cache of it.

        ``cache=None`` (or ``True``) keeps the cache beside the source (``<file>.nasi_nal.npz``), a path puts it
        there, and ``False`` parses the file every time. An existing cache is loaded after checking that it was
        built from this source (size and CRCs of the first and last MiB); a cache of another file is an error, as
        is one that is unreadable -- delete it or pass ``rebuild=True`` to convert again.

        Converting runs at several thousand records a second on one core: a few minutes for
        ``nasbench_only108`` (1.3M records), about four times that for ``nasbench_full``; loading the cache takes
        seconds.
        """
        path = pathlib.Path(path)
        if not path.is_file():
            raise _table_error(path, "no such file", "an official NAS-Bench-101 .tfrecord file")
        fingerprint = _fingerprint(path)
        cache_path = None if cache is False else pathlib.Path(
            path.with_name(path.name + ".nasi_nal.npz") if cache is None or cache is True else cache
        )
        if cache_path is not None and cache_path.exists() and not rebuild:
            try:
                table = cls.from_cache(cache_path)
            except TableError as err:
                raise TableError(
                    f"{err} This file is the cache of {os.fspath(path)!r}: delete it or pass rebuild=True to "
                    "convert the tfrecord again."
                ) from err
            if table._fingerprint != fingerprint:
                raise TableError(
                    f"NB101 cache {os.fspath(cache_path)!r} was built from another file than {os.fspath(path)!r} "
                    f"(source fingerprint {table._fingerprint} != {fingerprint}): delete the cache or pass "
                    "rebuild=True to convert the tfrecord again."
                )
            return table
        if cache_path is not None and not os.access(cache_path.parent, os.W_OK):
            raise TableError(
                f"cannot write the NB101 cache {os.fspath(cache_path)!r}: its folder does not exist or is not "
                "writable. Pass cache=<a writable path> to keep it elsewhere, or cache=False to parse the tfrecord "
                "on every load."
            )
        table = _parse_tfrecord(path)
        table._fingerprint = fingerprint
        if cache_path is not None:
            table.save(cache_path)
        return table

    @classmethod
    def from_cache(cls, path: str | os.PathLike) -> "NB101Table":
        """Loads a table saved by :meth:`save` (a tfrecord cache or the embedded table), validating it."""
        arrays = _read_npz(path)
        fmt = str(arrays.get("format", ""))
        if fmt != CACHE_FORMAT:
            raise _table_error(
                path,
                f"it is not a nasi_nal NB101 table (format tag {fmt!r})",
                f"an npz written by NB101Table.save (format tag {CACHE_FORMAT!r})",
            )
        version = int(arrays.get("version", -1))
        if version != CACHE_VERSION:
            raise TableError(
                f"NB101 table {os.fspath(path)!r} has format version {version}, this nasi_nal reads version "
                f"{CACHE_VERSION}: delete it and rebuild it from its source (NB101Table.from_tfrecord(..., "
                "rebuild=True), or benchmarks/make_embedded_table.py for the embedded table)."
            )
        try:
            table = cls(
                arrays["hash"],
                arrays["adjacency"],
                arrays["ops"],
                arrays["num_vertices"],
                arrays["trainable_parameters"],
                arrays["epochs"].tolist(),
                {name: arrays["metric_" + name] for name in METRICS},
                str(arrays["source"]),
            )
            if tuple(arrays["op_names"].tolist()) != OP_NAMES:
                raise ValueError(f"op_names {arrays['op_names'].tolist()} differ from {list(OP_NAMES)}")
            fingerprint = arrays["source_fingerprint"].astype(np.int64).tolist()
        except (KeyError, ValueError, TypeError) as err:
            raise _table_error(path, f"the cache is corrupt ({err})", "the layout NB101Table.save writes") from err
        table._fingerprint = tuple(fingerprint) if len(fingerprint) == 3 else None
        return table

    @classmethod
    def from_sample_npz(cls, path: str | os.PathLike) -> "NB101Table":
        """Loads the team's NAS-Bench-101 sample (``nb101_cifar10_sample20001.npz`` layout).

        That layout holds one training run: ``val_acc_{4,12,36,108}ep`` and ``training_time_108ep``; every other
        metric (test and train accuracy, halfway figures, times before 108 epochs) is NaN.
        """
        arrays = _read_npz(path)
        keys = ["hash", "adjacency", "ops", "num_vertices", "op_names", "trainable_parameters",
                "training_time_108ep"] + [f"val_acc_{e}ep" for e in SAMPLE_EPOCHS]
        try:
            absent = [k for k in keys if k not in arrays]
            if absent:
                raise KeyError(f"arrays {absent} are missing")
            if tuple(arrays["op_names"].tolist()) != OP_NAMES:
                raise ValueError(f"op_names {arrays['op_names'].tolist()} differ from {list(OP_NAMES)}")
            lengths = {k: len(arrays[k]) if arrays[k].ndim else 0 for k in keys if k != "op_names"}
            if len(set(lengths.values())) != 1:  # a length-1 array would broadcast to every cell
                raise ValueError("its arrays disagree in length: " + ", ".join(f"{k} {n}" for k, n in lengths.items()))
            n = len(arrays["hash"])
            metrics = {name: np.full((n, len(SAMPLE_EPOCHS), 1), np.nan, np.float32) for name in METRICS}
            for j, e in enumerate(SAMPLE_EPOCHS):
                metrics["val_acc"][:, j, 0] = arrays[f"val_acc_{e}ep"]
            metrics["training_time"][:, SAMPLE_EPOCHS.index(108), 0] = arrays["training_time_108ep"]
            table = cls(
                arrays["hash"], arrays["adjacency"], arrays["ops"], arrays["num_vertices"],
                arrays["trainable_parameters"], SAMPLE_EPOCHS, metrics,
                f"{pathlib.Path(path).name} (NAS-Bench-101 sample, one run, no test accuracy)",
            )
        except (KeyError, ValueError, TypeError) as err:
            raise _table_error(
                path, f"it does not hold the sample layout ({err})",
                "arrays hash, adjacency (N,7,7), ops (N,7), num_vertices, op_names, trainable_parameters, "
                "val_acc_{4,12,36,108}ep and training_time_108ep",
            ) from err
        return table

    def save(self, path: str | os.PathLike) -> None:
        """Writes the table as a compressed npz (no pickle), byte-identical for identical tables."""
        arrays = {
            "format": np.array(CACHE_FORMAT),
            "version": np.array(CACHE_VERSION),
            "source": np.array(self.source),
            "source_fingerprint": np.array(self._fingerprint if self._fingerprint else [], dtype=np.int64),
            "hash": self._hash,
            "adjacency": self._adjacency,
            "ops": self._ops,
            "num_vertices": self._num_vertices,
            "op_names": np.array(OP_NAMES),
            "trainable_parameters": self._params,
            "epochs": np.array(self._epochs, dtype=np.int64),
        }
        arrays.update({"metric_" + name: a for name, a in self._metrics.items()})
        try:
            save_npz(path, arrays)
        except OSError as err:
            raise TableError(f"cannot write the NB101 table to {os.fspath(path)!r}: {err}") from err

    # ----------------------------------------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self._hash)

    def __repr__(self) -> str:
        return f"NB101Table({len(self)} cells, epochs={self._epochs}, runs={self.num_runs}, source={self.source!r})"

    @property
    def hashes(self) -> np.ndarray:
        """The official hashes of the cells, (N,) read-only str array; row order of every array here."""
        return self._hash

    @property
    def epochs(self) -> tuple[int, ...]:
        """The epoch budgets the table holds: (4, 12, 36, 108), or (108,) for ``nasbench_only108``."""
        return self._epochs

    @property
    def num_runs(self) -> int:
        """Run slots per cell and budget (3 in the official files, 1 in the sample)."""
        return int(self._metrics["val_acc"].shape[2])

    @property
    def trainable_parameters(self) -> np.ndarray:
        """(N,) int64 parameter counts of the full NAS-Bench-101 networks, aligned with ``hashes``."""
        return self._params

    def index_of(self, key: CellKey) -> int:
        """The row of a cell given as a ``Cell``, ``(matrix, ops)`` or official hash; ``NotInTableError`` if absent."""
        h = _key_hash(key)
        try:
            return self._index[h]
        except KeyError:
            raise NotInTableError(
                f"cell with hash {h} is not in this table ({self.source}, {len(self)} cells); a sample or the "
                f"embedded top cells hold only part of the 423,624 cells: load the full file from {OFFICIAL_URL}"
            ) from None

    def __contains__(self, key: CellKey) -> bool:
        """True when the cell (``Cell``, ``(matrix, ops)`` or hash) has results here; malformed keys raise."""
        return _key_hash(key) in self._index

    def cell(self, index: int) -> space.Cell:
        """The cell in row ``index``, as stored (an isomorphic representative in the sample)."""
        return space.from_arrays(self._adjacency[index], self._ops[index], int(self._num_vertices[index]))

    def cells(self) -> Iterator[space.Cell]:
        """Every cell, in row order."""
        for i in range(len(self)):
            yield self.cell(i)

    def _epoch_index(self, epochs: int) -> int:
        if epochs not in self._epochs:
            raise ValueError(f"epochs={epochs} is not in this table: it holds the budgets {self._epochs}")
        return self._epochs.index(epochs)

    def metric(self, name: str = "val_acc", epochs: int = 108, run: int | None = None) -> np.ndarray:
        """(N,) float64 values of ``name`` (one of :data:`METRICS`) at ``epochs``, aligned with ``hashes``.

        ``run=None`` averages the runs present (NaN where none is); an int picks that run slot.
        """
        if name not in self._metrics:
            raise ValueError(f"unknown metric {name!r}: use one of {METRICS}")
        values = self._metrics[name][:, self._epoch_index(epochs), :]
        if run is None:
            return _nan_mean(values, axis=1)
        if not 0 <= run < self.num_runs:
            raise ValueError(f"run={run} is out of range: this table has {self.num_runs} run slot(s)")
        return values[:, run].astype(np.float64)

    def query(self, key: CellKey, epochs: int = 108) -> NB101Result:
        """The results of one cell (``Cell``, ``(matrix, ops)`` with op names, or official hash) at ``epochs``."""
        return self._result(self.index_of(key), epochs)

    def _result(self, i: int, epochs: int) -> NB101Result:
        e = self._epoch_index(epochs)
        row = {name: self._metrics[name][i, e, :].astype(np.float64) for name in METRICS}
        mean = {name: float(_nan_mean(v[None], axis=1)[0]) for name, v in row.items()}
        return NB101Result(
            hash=str(self._hash[i]),
            cell=self.cell(i),
            epochs=epochs,
            trainable_parameters=int(self._params[i]),
            num_runs=self.num_runs,
            val_acc=mean["val_acc"],
            test_acc=mean["test_acc"],
            train_acc=mean["train_acc"],
            training_time=mean["training_time"],
            halfway_val_acc=mean["halfway_val_acc"],
            halfway_test_acc=mean["halfway_test_acc"],
            halfway_training_time=mean["halfway_training_time"],
            val_acc_runs=tuple(row["val_acc"].tolist()),
            test_acc_runs=tuple(row["test_acc"].tolist()),
            training_time_runs=tuple(row["training_time"].tolist()),
        )

    def top_indices(self, k: int | float, metric: str = "val_acc", epochs: int = 108) -> np.ndarray:
        """Rows of the best cells by an accuracy ``metric`` (mean over runs), best first.

        ``k`` is a count (int >= 1) or a fraction of the table (float in (0, 1], rounded up). Cells whose metric
        is NaN are never ranked; ties break by hash, so the order is deterministic.
        """
        if not metric.endswith("_acc"):
            raise ValueError(f"top ranks by an accuracy (higher is better), got {metric!r}")
        values = self.metric(metric, epochs)
        ranked = np.flatnonzero(~np.isnan(values))
        if ranked.size == 0:
            raise ValueError(f"metric {metric!r} at {epochs} epochs has no value in this table ({self.source})")
        if isinstance(k, (bool, np.bool_)):
            raise TypeError("k must be an int count or a float fraction, not a bool")
        if isinstance(k, (int, np.integer)):
            if k < 1:
                raise ValueError(f"k={k}: ask for at least one cell")
            count = int(k)
        elif isinstance(k, float) and 0.0 < k <= 1.0:
            count = math.ceil(k * len(self))
        else:
            raise ValueError(f"k={k!r}: pass a count (int >= 1) or a fraction of the table (float in (0, 1])")
        order = np.lexsort((self._hash[ranked], -values[ranked]))
        return ranked[order[:count]]

    def top(self, k: int | float, metric: str = "val_acc", epochs: int = 108) -> list[NB101Result]:
        """The best cells by an accuracy ``metric`` at ``epochs``, best first (see :meth:`top_indices`)."""
        return [self._result(int(i), epochs) for i in self.top_indices(k, metric, epochs)]

    def select(self, rows: Sequence[int] | np.ndarray, source: str | None = None) -> "NB101Table":
        """A new table with the given rows (indices into ``hashes``), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return NB101Table(
            self._hash[rows], self._adjacency[rows], self._ops[rows], self._num_vertices[rows],
            self._params[rows], self._epochs, {name: a[rows] for name, a in self._metrics.items()},
            source if source is not None else f"{len(rows)} rows of {self.source}",
        )


def _key_hash(key: CellKey) -> str:
    """The official hash of a ``Cell``, a ``(matrix, ops)`` pair or a hash string."""
    if isinstance(key, space.Cell):
        return key.hash
    if isinstance(key, str):
        if not _HASH_RE.match(key):
            raise InvalidCellError(f"{key!r} is not an official NAS-Bench-101 hash (32 lowercase hex digits)")
        return key
    if isinstance(key, tuple) and len(key) == 2:
        return space.spec_hash(*key)
    raise InvalidCellError(
        f"look up a NAS-Bench-101 cell by nb101.Cell, (matrix, ops) or official hash, got {type(key).__name__}"
    )


def _read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an npz file (no pickle), every failure as a ``TableError`` naming the file."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise _table_error(path, "no such file", "an npz written by NB101Table.save or the sample layout")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise _table_error(path, f"it is not a readable npz ({err})", "a NumPy .npz archive") from err


def _fingerprint(path: pathlib.Path) -> tuple[int, int, int]:
    """(size, CRC-32 of the first MiB, CRC-32 of the last MiB): tells a cache's source apart cheaply."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(_FINGERPRINT_BYTES)
        f.seek(max(size - _FINGERPRINT_BYTES, 0))
        tail = f.read(_FINGERPRINT_BYTES)
    return size, zlib.crc32(head), zlib.crc32(tail)


class _RecordError(ValueError):
    """One record does not follow the official layout."""


def _parse_record(raw: bytes) -> tuple[str, int, str, str, tuple[int, list[float]]]:
    """(hash, epochs, adjacency bits, ops, (parameters, 8 metrics in METRICS order)) of one official record."""
    try:
        row = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _RecordError(f"not UTF-8 JSON ({err})") from err
    if not isinstance(row, list) or len(row) != 5:
        raise _RecordError(f"not a JSON list of 5 items, got {str(row)[:80]!r}")
    module_hash, epochs, raw_adjacency, raw_operations, raw_metrics = row
    if not isinstance(module_hash, str) or not _HASH_RE.match(module_hash):
        raise _RecordError(f"module hash {module_hash!r} is not 32 lowercase hex digits")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs <= 0:
        raise _RecordError(f"epochs {epochs!r} is not a positive integer")
    if not isinstance(raw_adjacency, str) or set(raw_adjacency) - {"0", "1"}:
        raise _RecordError(f"adjacency {raw_adjacency!r} is not a string of 0/1")
    dim = math.isqrt(len(raw_adjacency))
    if dim * dim != len(raw_adjacency) or not 2 <= dim <= MAX_VERTICES:
        raise _RecordError(f"adjacency string of length {len(raw_adjacency)} is not a V x V matrix, V in 2..7")
    if not isinstance(raw_operations, str) or len(raw_operations.split(",")) != dim:
        raise _RecordError(f"operations {raw_operations!r} do not list {dim} comma-separated ops")
    if not isinstance(raw_metrics, str):
        raise _RecordError("metrics are not a base64 string")
    try:
        metrics = decode_model_metrics(base64.b64decode(raw_metrics, validate=True))
    except (binascii.Error, ValueError) as err:  # ProtobufDecodeError is a ValueError
        kind = "protobuf" if isinstance(err, ProtobufDecodeError) else "base64"
        raise _RecordError(f"metrics are not a base64 ModelMetrics protobuf ({kind}: {err})") from err
    if len(metrics.evaluation_data) < 3:
        raise _RecordError(
            f"ModelMetrics holds {len(metrics.evaluation_data)} evaluations, the official files hold 3 "
            "(start, halfway, end of training)"
        )
    if metrics.trainable_parameters is None or metrics.trainable_parameters < 0:
        raise _RecordError(f"trainable_parameters is {metrics.trainable_parameters}")
    half, final = metrics.evaluation_data[1], metrics.evaluation_data[2]
    values = [
        final.train_accuracy, final.validation_accuracy, final.test_accuracy, final.training_time,
        half.train_accuracy, half.validation_accuracy, half.test_accuracy, half.training_time,
    ]
    return module_hash, epochs, raw_adjacency, raw_operations, (metrics.trainable_parameters, values)


def _parse_tfrecord(path: pathlib.Path) -> NB101Table:
    """Parses every record of an official file, grouping the runs by hash and epoch budget."""
    index: dict[str, int] = {}
    fixed: list[tuple[str, str]] = []  # (adjacency bits, ops) of each hash, for the consistency check
    params: list[int] = []
    # Per chunk of records: (rows, epochs, (n, 8) float32 values); arrays keep the full file's 5M runs compact.
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    count = 0
    try:
        for chunk in iter_record_chunks(path):
            rows, epochs, values = [], [], []
            for raw in chunk:
                try:
                    module_hash, epoch, bits, ops, (n_params, vals) = _parse_record(raw)
                    i = index.setdefault(module_hash, len(index))
                    if i == len(fixed):
                        fixed.append((bits, ops))
                        params.append(n_params)
                    elif fixed[i] != (bits, ops) or params[i] != n_params:
                        raise _RecordError(f"hash {module_hash} repeats with a different cell or parameter count")
                except _RecordError as err:
                    raise _table_error(path, f"record {count} is malformed: {err}",
                                       "the official record layout of nasbench/api.py") from err
                rows.append(i)
                epochs.append(epoch)
                values.append(vals)
                count += 1
            chunks.append((np.asarray(rows, np.int64), np.asarray(epochs, np.int64), np.asarray(values, np.float32)))
    except OSError as err:
        raise _table_error(path, f"it cannot be read ({err})", "a readable .tfrecord file") from err
    except RecordFormatError as err:
        raise _table_error(path, f"it is not intact TFRecord data ({err})",
                           "TFRecord framing with valid CRC-32C checksums") from err
    if count == 0:
        raise _table_error(path, "it holds no record", "the official NAS-Bench-101 records")
    rows_a, epochs_a, values_a = (np.concatenate(parts) for parts in zip(*chunks))
    return _assemble(path, fixed, params, rows_a, epochs_a, values_a, np.array(list(index), dtype="<U32"))


def _assemble(
    path: pathlib.Path,
    fixed: list[tuple[str, str]],
    params: list[int],
    rows_a: np.ndarray,
    epochs: np.ndarray,
    vals: np.ndarray,
    hashes: np.ndarray,
) -> NB101Table:
    """Builds the table's padded arrays from the per-hash cells and the per-record (row, budget, values)."""
    n = len(fixed)
    try:
        ops_codes = np.full((n, MAX_VERTICES), -1, np.int8)
        adjacency = np.zeros((n, MAX_VERTICES, MAX_VERTICES), np.uint8)
        num_vertices = np.zeros(n, np.uint8)
        for i, (bits, ops) in enumerate(fixed):
            names = ops.split(",")
            dim = len(names)
            adjacency[i, :dim, :dim] = np.frombuffer(bits.encode(), np.uint8).reshape(dim, dim) - ord("0")
            ops_codes[i, :dim] = [OP_NAMES.index(op) for op in names]
            num_vertices[i] = dim
    except ValueError as err:  # OP_NAMES.index of an unknown op
        raise _table_error(path, f"a record names an unknown op ({err})", f"ops among {list(OP_NAMES)}") from err
    budgets, epoch_idx = np.unique(epochs, return_inverse=True)
    # Run slot = order of appearance among the records of the same (cell, budget), as the official lists.
    group = rows_a * len(budgets) + epoch_idx
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    first = np.searchsorted(sorted_group, sorted_group, side="left")
    run = np.empty_like(order)
    run[order] = np.arange(len(order)) - first
    num_runs = int(run.max()) + 1
    metrics = {}
    for k, name in enumerate(METRICS):
        a = np.full((n, len(budgets), num_runs), np.nan, np.float32)
        a[rows_a, epoch_idx, run] = vals[:, k]
        metrics[name] = a
    return NB101Table(
        hashes, adjacency, ops_codes, num_vertices, np.asarray(params, np.int64),
        budgets.tolist(), metrics, path.name,
    )


def load_nb101(path: str | os.PathLike, cache: str | os.PathLike | None | bool = None) -> NB101Table:
    """Loads any NAS-Bench-101 table file, by its content: an official ``.tfrecord`` (through its npz cache,
    see :meth:`NB101Table.from_tfrecord`), an npz written by :meth:`NB101Table.save`, or the sample layout."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise _table_error(path, "no such file", "an official .tfrecord, a nasi_nal NB101 npz or the sample npz")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # not a zip, hence not an npz: the official tfrecord
        return NB101Table.from_tfrecord(path, cache=cache)
    arrays = _read_npz(path)
    if "format" in arrays:
        return NB101Table.from_cache(path)
    return NB101Table.from_sample_npz(path)


def load_embedded() -> NB101Table:
    """The table shipped with nasi_nal: the 500 best cells by 108-epoch validation accuracy of the team's
    20,001-cell NAS-Bench-101 sample (one training run, no test accuracy); built by
    ``benchmarks/make_embedded_table.py``."""
    resource = importlib.resources.files("nasi_nal.tables") / "data" / EMBEDDED_FILE
    with importlib.resources.as_file(resource) as path:
        if not path.is_file():
            raise TableError(
                f"the embedded NB101 table {os.fspath(path)!r} is missing from the installed package: rebuild it "
                "with `python benchmarks/make_embedded_table.py --sample nb101_cifar10_sample20001.npz` or "
                "reinstall nasi_nal."
            )
        return NB101Table.from_cache(path)


__all__ = [
    "OFFICIAL_URL",
    "OP_NAMES",
    "METRICS",
    "NB101Result",
    "NB101Table",
    "load_nb101",
    "load_embedded",
]
