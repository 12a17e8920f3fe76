"""The scores file: cells and their zero-cost scores as columns of one ``.npz``, with the settings that made them.

``python -m nasi_nal.score`` (``nasi_nal.space_scoring``) writes it for a whole space, a table's cells or a list of
cells; the search (``--scores-file``) and ``benchmarks/correlation.py`` (``--scores-file``) read it to look scores up
instead of computing them, after checking that it was made with their settings.

Schema ``nasi_nal.scores_file/1``: the arrays of one npz (no pickle; ``numpy.load(path)`` reads it):

==================================  ==================  =========================================================
member                              dtype, shape        content
==================================  ==================  =========================================================
``key``                             str (N,)            canonical key: NB101 hash, NB201 arch string, DARTS
                                                        genotype JSON; unique
``index``                           int64 (N,)          the cell's position in its source (NB201: official index;
                                                        NB101: enumeration order; a table's row; a list's order)
``score_<name>``                    float64 (N,)        one column per score, NaN where it could not be computed
``error_row``, ``error_score``,     int64, str, str     one entry per failed (cell, score): its row, the score,
``error_message``                   (E,)                why (sorted by row, then by the order of ``scores``)
``meta``                            str ()              JSON object, below
==================================  ==================  =========================================================

``meta``: ``schema``; ``space``; ``cells`` (``source``: space, table or list; ``file``; ``count``; ``sha256`` of the
keys); ``scores`` and ``lower_is_better``; ``bn``, ``probes``, ``inits``, ``seed``; ``batch`` (``size``, ``data``,
``labels``, ``sha256`` of the batch as drawn); ``network`` (``proxy``, ``overrides``, ``config``); ``engine``,
``engine_plan``, ``per_call``, ``chunk_cells``; ``platform``, ``device``; ``versions``; ``settings_digest``.
The file holds no timings, host names or device counts, and its zip entries carry a fixed date: the same settings on
the same kind of device give the same bytes, however many devices or processes scored it and however often it was
interrupted.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import pathlib
import zipfile
from typing import Any, Mapping, Sequence

import numpy as np

from nasi_nal.errors import ScoresFileError

SCHEMA = "nasi_nal.scores_file/1"
SCORE_PREFIX = "score_"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date zip stores: entries carry no time of writing


@dataclasses.dataclass(frozen=True)
class Columns:
    """The scores of a run of cells as columns: a whole file or one chunk of it."""

    keys: np.ndarray  # str (N,)
    index: np.ndarray  # int64 (N,)
    values: dict[str, np.ndarray]  # score name -> float64 (N,), NaN where the score failed
    error_row: np.ndarray  # int64 (E,)
    error_score: np.ndarray  # str (E,)
    error_message: np.ndarray  # str (E,)

    @classmethod
    def from_results(cls, keys: Sequence[str], index: Sequence[int], names: Sequence[str],
                     results: Sequence[Any]) -> "Columns":
        """Columns of ``results`` (one ``nasi_nal.scores.CellScores`` per key)."""
        rows, scores, messages = [], [], []
        values = {n: np.full(len(keys), np.nan, np.float64) for n in names}
        for row, result in enumerate(results):
            for n in names:
                if n in result.errors:
                    rows.append(row)
                    scores.append(n)
                    messages.append(result.errors[n])
                else:
                    values[n][row] = result.values[n]
        return cls(np.asarray(list(keys), dtype=str), np.asarray(index, np.int64), values,
                   np.asarray(rows, np.int64), np.asarray(scores, dtype=str), np.asarray(messages, dtype=str))

    @classmethod
    def concatenate(cls, parts: Sequence["Columns"]) -> "Columns":
        """One set of columns from consecutive parts (error rows shifted to the joined numbering)."""
        offsets = np.cumsum([0] + [len(p.keys) for p in parts])
        names = list(parts[0].values)
        return cls(np.concatenate([p.keys for p in parts]).astype(str), np.concatenate([p.index for p in parts]),
                   {n: np.concatenate([p.values[n] for p in parts]) for n in names},
                   np.concatenate([p.error_row + o for p, o in zip(parts, offsets)]).astype(np.int64),
                   np.concatenate([p.error_score for p in parts]).astype(str),
                   np.concatenate([p.error_message for p in parts]).astype(str))

    def arrays(self) -> dict[str, np.ndarray]:
        """The npz members, in the order they are written."""
        return {"key": self.keys, "index": self.index,
                **{SCORE_PREFIX + n: v for n, v in self.values.items()},
                "error_row": self.error_row, "error_score": self.error_score, "error_message": self.error_message}

    def failed(self) -> dict[str, int]:
        """Cells whose score could not be computed, per score."""
        return {n: int(np.sum(self.error_score == n)) for n in self.values}


@dataclasses.dataclass
class ScoresFile:
    """A scores file read and checked: its ``meta`` and ``columns``; :meth:`lookup` answers by canonical key."""

    path: pathlib.Path
    meta: dict[str, Any]
    columns: Columns
    _rows: dict[str, int] | None = None

    @property
    def scores(self) -> list[str]:
        return list(self.meta["scores"])

    def lookup(self, keys: Sequence[str], names: Sequence[str]) -> list[Any]:
        """One ``nasi_nal.scores.CellScores`` per key with the scores ``names``; ``ScoresFileError`` naming what the
        file lacks (a score, or cells: how many and the first) before anything is returned."""
        from nasi_nal.scores.common import CellScores

        missing_scores = [n for n in names if n not in self.columns.values]
        if missing_scores:
            raise ScoresFileError(f"scores file {self.path} has no {', '.join(missing_scores)} (it holds "
                                  f"{', '.join(self.scores)}): score them into a file with python -m nasi_nal.score")
        if self._rows is None:
            self._rows = {k: i for i, k in enumerate(self.columns.keys.tolist())}
        absent = [k for k in keys if k not in self._rows]
        if absent:
            raise ScoresFileError(f"scores file {self.path} lacks {len(absent)} of the {len(keys)} cells asked for "
                                  f"(first: {absent[0]}): score a space or list that holds them")
        errors: dict[int, dict[str, str]] = {}
        for row, score, message in zip(self.columns.error_row.tolist(), self.columns.error_score.tolist(),
                                       self.columns.error_message.tolist()):
            errors.setdefault(row, {})[score] = message
        out = []
        for k in keys:
            row = self._rows[k]
            failed = {n: m for n, m in errors.get(row, {}).items() if n in names}
            out.append(CellScores({n: float(self.columns.values[n][row]) for n in names if n not in failed}, failed))
        return out


def write(path: str | os.PathLike, columns: Columns, meta: Mapping[str, Any]) -> None:
    """Writes ``columns`` and ``meta`` (JSON) as a scores file, atomically and with reproducible bytes."""
    write_npz(path, {"meta": np.asarray(json.dumps(meta, sort_keys=True, allow_nan=False)), **columns.arrays()})


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """An ``.npz`` of ``arrays`` in the given order, deflated, every entry dated 1980-01-01 (``numpy.savez`` stamps
    the time of writing), through a temporary name renamed into place (``nasi_nal.report.atomic_path``)."""
    from nasi_nal.report import atomic_path

    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w") as zf:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.asarray(array, order="C"), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, buffer.getvalue(), compresslevel=6)


def read_meta(path: str | os.PathLike, schema: str = SCHEMA) -> dict[str, Any]:
    """The ``meta`` of a scores file (or a chunk, ``schema``), reading nothing else; ``ScoresFileError`` if absent,
    unreadable or of another schema."""
    path = pathlib.Path(path)
    with _open(path) as f:
        return _meta(path, f, schema)


def read(path: str | os.PathLike, schema: str = SCHEMA) -> ScoresFile:
    """A scores file (or chunk) read whole and checked for consistency (members, lengths, dtypes, unique keys, NaN
    exactly where an error is recorded); ``ScoresFileError`` naming the file and the problem otherwise."""
    path = pathlib.Path(path)
    with _open(path) as f:
        meta = _meta(path, f, schema)
        names = meta.get("scores")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _corrupt(path, "its meta has no list of scores")
        wanted = ["key", "index", *(SCORE_PREFIX + n for n in names), "error_row", "error_score", "error_message"]
        absent = [m for m in wanted if m not in f.files]
        if absent:
            raise _corrupt(path, f"it lacks {', '.join(absent)}")
        try:
            arrays = {m: f[m] for m in wanted}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise _corrupt(path, f"an array does not read ({exc})") from None
    columns = Columns(arrays["key"], arrays["index"], {n: arrays[SCORE_PREFIX + n] for n in names},
                      arrays["error_row"], arrays["error_score"], arrays["error_message"])
    _check_columns(path, columns, meta)
    return ScoresFile(path, meta, columns)


def check_fits(path: str | os.PathLike, meta: Mapping[str, Any], expected: Mapping[str, Any], user: str) -> None:
    """``ScoresFileError`` in one line listing every setting of ``expected`` (dotted paths into ``meta``, e.g.
    ``batch.size``) that the file at ``path`` differs in; ``user`` names who wants it ("this search")."""
    diffs = []
    for field, want in expected.items():
        have: Any = meta
        for part in field.split("."):
            have = have.get(part) if isinstance(have, Mapping) else None
        if have != want:
            diffs.append(f"{field} {have!r} there, {want!r} here")
    if diffs:
        raise ScoresFileError(f"scores file {path} was made with other settings than {user}: {'; '.join(diffs)}. "
                              "Score the cells with these settings (python -m nasi_nal.score) or match them")


def data_name(data: str) -> str:
    """How a file records a scoring batch's data: "gaussian", "cifar10", or the data file's or folder's name."""
    return data if data in ("gaussian", "cifar10") else pathlib.PurePath(data).name


def check_for_search(config: Any, names: Sequence[str], batch_size: int) -> dict[str, Any]:
    """The meta of ``config.scores_file`` (a ``SearchConfig``), after checking that it holds ``names`` (the scores
    the search ranks by) computed with the search's settings: space, batch norm, probes, initializations, seed,
    batch (``batch_size``, data, labels), the proxy network, and the engine when one is forced."""
    path = config.scores_file
    if not names:
        raise ScoresFileError(f"--scores-file holds scores to rank candidates by, but --method {config.method} on "
                              f"{config.space} scores no candidate: drop --scores-file or choose a scored method")
    meta = read_meta(path)
    check_fits(path, meta, {"space": config.space, "bn": config.bn, "probes": config.probes, "inits": config.inits,
                            "seed": config.seed, "batch.size": batch_size, "batch.data": data_name(config.data),
                            "batch.labels": config.labels, "network.proxy": True, "network.overrides": {}},
               "this search")
    missing = [n for n in names if n not in meta["scores"]]
    if missing:
        raise ScoresFileError(f"scores file {path} has no {', '.join(missing)} (it holds {', '.join(meta['scores'])}),"
                              " which this search ranks by: score them into a file with python -m nasi_nal.score "
                              f"--scores {','.join(names)}")
    if config.engine != "auto":
        other = [n for n in names if n not in meta["engine_plan"].get(config.engine, [])]
        if other:
            raise ScoresFileError(f"scores file {path} computed {', '.join(other)} with {meta['engine_plan']}, not "
                                  f"with --engine {config.engine}: pass --engine auto or score the file with --engine "
                                  f"{config.engine}")
    return meta


def _open(path: pathlib.Path) -> Any:
    if not path.is_file():
        raise ScoresFileError(f"scores file {path} does not exist: make one with python -m nasi_nal.score")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise _corrupt(path, f"it is not an npz ({exc})") from None


def _meta(path: pathlib.Path, f: Any, schema: str) -> dict[str, Any]:
    if "meta" not in f.files:
        raise _corrupt(path, "it has no meta entry")
    try:
        meta = json.loads(str(f["meta"]))
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise _corrupt(path, f"its meta does not read as JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("schema") != schema:
        found = meta.get("schema") if isinstance(meta, dict) else None
        raise _corrupt(path, f"its schema is {found!r}, not {schema!r}")
    return meta


def _check_columns(path: pathlib.Path, c: Columns, meta: Mapping[str, Any]) -> None:
    n = len(c.keys)
    if c.keys.dtype.kind != "U" or c.keys.ndim != 1 or c.index.dtype != np.int64 or c.index.shape != (n,):
        raise _corrupt(path, "key and index are not a str and an int64 column of one length")
    if meta.get("cells", {}).get("count", n) != n:
        raise _corrupt(path, f"it holds {n} cells, its meta says {meta['cells']['count']}")
    if len(np.unique(c.keys)) != n:
        raise _corrupt(path, "a key occurs twice")
    for name, v in c.values.items():
        if v.dtype != np.float64 or v.shape != (n,):
            raise _corrupt(path, f"score_{name} is not a float64 column of {n} cells")
    e = len(c.error_row)
    if (c.error_row.dtype != np.int64 or c.error_score.shape != (e,) or c.error_message.shape != (e,)
            or (e and (c.error_row.min() < 0 or c.error_row.max() >= n))
            or set(c.error_score.tolist()) - set(c.values)):
        raise _corrupt(path, "its error columns do not match its cells")
    for name, v in c.values.items():
        if not np.array_equal(np.flatnonzero(np.isnan(v)), np.sort(c.error_row[c.error_score == name])):
            raise _corrupt(path, f"score_{name} is NaN where no error is recorded, or the reverse")


def _corrupt(path: pathlib.Path, problem: str) -> ScoresFileError:
    return ScoresFileError(f"{path} is not a readable scores file: {problem}. Delete it and score again "
                           "(python -m nasi_nal.score)")


__all__ = ["Columns", "SCHEMA", "ScoresFile", "check_fits", "check_for_search", "data_name", "read", "read_meta",
           "write", "write_npz"]
