"""Whole-space scoring: every cell of a space, of a table or of a list, scored once into a scores file.

``score_space`` (CLI: ``python -m nasi_nal.score``) scores all 15,625 NAS-Bench-201 cells, all 423,624 NAS-Bench-101
cells (``nasi_nal.spaces.nb101.enumerate_cells``), the cells of a benchmark table or of a list file, with the chosen
scores and settings, and writes one scores file (``nasi_nal.scores_file``, documented there and in the README).

* Cells and keys. Each cell is built at the chosen size (``nasi_nal.networks.build``) and draws its variables from
  ``nasi_nal.scores.cell_key(seed, its canonical key)``; every cell is scored on the batch the search draws for the
  same seed, size and data (``ranking.scoring_batch``), so a search with the same settings can look its
  candidates up in the file instead of scoring them (``--scores-file``). The engines are
  ``nasi_nal.scores.choose``'s plan (blockwise on a CPU, masked on a GPU/TPU).
* Chunks and resuming. The cells are cut into fixed chunks of ``chunk_cells``; each chunk is written, when done,
  to ``<out>.chunks/chunk_<i>.npz`` under a temporary name renamed into place, beside ``manifest.json`` (the
  settings and their digest). A rerun checks the manifest and every finished chunk against its own settings, skips
  them and scores the rest; when every chunk is there they are merged into ``<out>`` (atomically) and the chunk
  folder is removed. A kill at any moment loses at most the chunks being scored, and nothing is counted twice.
* Devices. Every local device (or the first ``devices``) takes chunks from one queue in its own thread, with the
  chunk's inputs committed to it (``jax.default_device``, ``jax.device_put``); a single device keeps the default
  placement. A cell's score does not depend on the device that scores it or on the other cells of its chunk: each
  device runs the same programs on the same shapes (tested: one device, two devices and two processes write the
  same bytes).
* Hosts. After ``jax.distributed.initialize`` (the CLI's ``--coordinator``), process ``p`` of ``P`` takes the chunks
  ``i`` with ``i % P == p``; the processes meet at barriers (``jax.experimental.multihost_utils``) before scoring and
  before process 0 merges. ``<out>`` must then be on a folder every host shares.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import numbers
import os
import pathlib
import platform
import shutil
import sys
import threading
import time
from typing import Any, Sequence

import jax
import numpy as np

from nasi_nal import scores_file
from nasi_nal.errors import InvalidCellError, NasiNalError, ScoresFileError
from nasi_nal.scores.common import DEFAULT_BN, DEFAULT_PROBES
from nasi_nal.scores_file import Columns

SPACES = ("nb201", "nb101", "darts")
CHUNK_SCHEMA = "nasi_nal.scores_chunk/1"
DEFAULT_SCORES = ("nasi_trace",)  # the search's default ranking input
CHUNK_CELLS = {"masked": 1024, "per-cell": 64}  # default cells per chunk, by whether the masked engine is planned
SEED_MAX = 2**32 - 1


@dataclasses.dataclass(frozen=True)
class CellSource:
    """The cells to score, in order: canonical ``keys``, cell objects, and each cell's ``index`` in its source."""

    space: str
    keys: list[str]
    cells: list[Any]
    index: np.ndarray
    kind: str  # "space", "table" or "list"
    file: str | None  # the table's or list's file name


@dataclasses.dataclass(frozen=True)
class SpaceScoringResult:
    """What ``score_space`` did in this process: the file, its cells and scores, and how the chunks were shared."""

    path: pathlib.Path
    cells: int
    chunks: int
    chunks_scored: int  # by this process, in this run
    chunks_reused: int  # finished before this run (and skipped)
    devices: dict[str, int]  # chunks scored per local device, in this run
    per_call: int | None  # cells per masked call, when the masked engine is planned
    failed: dict[str, int]  # per score, cells it could not be computed for (process 0; {} elsewhere)
    seconds: float


def load_cells(space: str, *, table: str | os.PathLike | None = None, cell_list: str | os.PathLike | None = None,
               first: int | None = None, quiet: bool = True) -> CellSource:
    """The cells of the whole ``space`` (NB201: official index order; NB101: the official enumeration order), of a
    benchmark ``table`` (NB201 results CSV, NB101 tfrecord/npz) or of a ``cell_list`` file (one cell per line in any
    form ``nasi_nal.adapters.parse_cell`` reads; blank lines and ``#`` comments skipped). ``first`` keeps only
    the first cells. A cell listed twice (same canonical key) is refused: it would be scored twice."""
    from nasi_nal.spaces import nb101, nb201

    if space not in SPACES:
        raise NasiNalError(f"unknown space {space!r}: choose one of {', '.join(SPACES)}")
    if table is not None and cell_list is not None:
        raise NasiNalError("pass --table or --list, not both")
    if table is not None:
        cells, kind, name = _table_cells(space, table), "table", pathlib.Path(table).name
    elif cell_list is not None:
        cells, kind, name = _list_cells(space, cell_list), "list", pathlib.Path(cell_list).name
    elif space == "nb201":
        cells, kind, name = list(enumerate(nb201.all_archs())), "space", None
    elif space == "nb101":
        if not quiet and first is None:
            print("enumerating the 423,624 NAS-Bench-101 cells (about a minute and a half)", file=sys.stderr,
                  flush=True)
        cells, kind, name = list(enumerate(itertools.islice(nb101.enumerate_cells(), first))), "space", None
    else:
        raise NasiNalError("DARTS has no enumerable space: pass --list FILE with one genotype per line")
    if first is not None:
        cells = cells[:first]
    keys = [_canonical(space, c) for _, c in cells]
    seen: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k in seen:
            raise NasiNalError(f"{name}: cell {i + 1} repeats cell {seen[k] + 1} ({k[:80]}): list each cell once")
        seen[k] = i
    return CellSource(space, keys, [c for _, c in cells], np.asarray([i for i, _ in cells], np.int64), kind, name)


def _canonical(space: str, cell: Any) -> str:
    from nasi_nal.spaces import darts, nb201

    if space == "nb101":
        return cell.hash
    if space == "nb201":
        return nb201.format(cell)
    return darts.to_json(cell)


def _table_cells(space: str, path: str | os.PathLike) -> list[tuple[int, Any]]:
    from nasi_nal import tables

    if space == "nb201":
        table = tables.load_nb201(path, partial=True)
        return list(zip(table.indices.tolist(), table.archs()))
    if space == "nb101":
        table = tables.load_nb101(path)
        return [(i, table.cell(i)) for i in range(len(table))]
    raise NasiNalError("DARTS has no benchmark table: pass --list FILE with one genotype per line")


def _list_cells(space: str, path: str | os.PathLike) -> list[tuple[int, Any]]:
    from nasi_nal.adapters import parse_cell

    path = pathlib.Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise NasiNalError(f"cell list {path} cannot be read ({exc}): pass a text file with one cell per line") \
            from None
    cells = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            cells.append((len(cells), parse_cell(space, text, table_option="a matrix+ops JSON line")))
        except NasiNalError as exc:
            raise InvalidCellError(f"cell list {path} line {number}: {exc}") from None
    if not cells:
        raise NasiNalError(f"cell list {path} holds no cells: write one cell per line")
    return cells


def score_space(
    space: str,
    out: str | os.PathLike,
    *,
    scores: Sequence[str] = DEFAULT_SCORES,
    table: str | os.PathLike | None = None,
    cell_list: str | os.PathLike | None = None,
    first: int | None = None,
    bn: str = DEFAULT_BN,
    probes: int | str = DEFAULT_PROBES,
    inits: int = 1,
    batch_size: int = 16,
    data: str = "gaussian",
    labels: str = "random",
    proxy: bool = True,
    overrides: dict[str, int] | None = None,
    seed: int = 0,
    engine: str = "auto",
    chunk_cells: int | None = None,
    per_call: int | str = "auto",
    devices: int | None = None,
    quiet: bool = True,
) -> SpaceScoringResult:
    """Scores every cell of ``space`` (or of ``table`` / ``cell_list``) and writes the scores file ``out``.

    Args:
      space: "nb201", "nb101" or "darts" (DARTS: a ``cell_list`` only).
      out: the scores file to write (``.npz``); chunks go to ``<out>.chunks/`` until the merge.
      scores: score names (``nasi_nal.scores.SCORES``).
      table, cell_list, first: which cells (:func:`load_cells`); default the whole space.
      bn, probes, inits: as ``nasi_nal.scores.iter_scores``.
      batch_size, data, labels: the scoring batch, drawn as the search draws it: ``data`` "gaussian", "cifar10" or
        a path (npz / image folder), ``labels`` "random" or "real".
      proxy, overrides: network size (``nasi_nal.networks.build``: the proxy, else the benchmark's size) and field
        overrides (integers).
      seed: seed of the batch and of every cell's key.
      engine: "auto" or one engine (``nasi_nal.scores.ENGINES``).
      chunk_cells: cells per chunk (default 1024 with the masked engine, else 64; a resumed run keeps the first
        run's).
      per_call: cells per masked call, or "auto" (``nasi_nal.scores.masked.cells_per_call``: from device memory).
      devices: use the first ``devices`` local devices (default all).
      quiet: no progress bar.

    Bad settings, cells, data, an ``out`` of other settings or chunks of other settings raise a ``NasiNalError``
    before anything is scored or written.
    """
    from nasi_nal.scores import choose

    start = time.perf_counter()
    out = pathlib.Path(out)
    overrides = dict(overrides or {})
    names, config = _check_settings(space, out, scores, bn, probes, inits, batch_size, data, labels, overrides, seed,
                                     chunk_cells, per_call, devices, first)
    plan = choose(space, names, engine=engine)
    first_model = _build(space, _example_cell(space), proxy, overrides)  # bad overrides fail before the cells load
    source = load_cells(space, table=table, cell_list=cell_list, first=first, quiet=quiet)
    batch = _search_batch(config)
    settings = _settings(source, names, bn, probes, inits, seed, batch_size, data, labels, batch, proxy, overrides,
                         plan)
    digest = _digest(settings)
    local = jax.local_devices()[: devices or None]
    masked_planned = "masked" in plan
    chunk_dir = out.with_name(out.name + ".chunks")
    chunk_cells = _chunk_cells(chunk_dir, digest, chunk_cells, CHUNK_CELLS["masked" if masked_planned else "per-cell"])
    n_chunks = math.ceil(len(source.keys) / chunk_cells)
    if out.exists():
        meta = scores_file.read_meta(out)
        if meta.get("settings_digest") != digest:
            raise ScoresFileError(f"{out} already holds scores of other settings (digest {meta.get('settings_digest')}"
                                  f", {digest} here): choose another --out or delete it")
        if jax.process_index() == 0:
            shutil.rmtree(chunk_dir, ignore_errors=True)
        return SpaceScoringResult(out, len(source.keys), n_chunks, 0, n_chunks, {}, meta.get("per_call"),
                                  scores_file.read(out).columns.failed(), time.perf_counter() - start)
    calls = _per_call(per_call, plan, first_model, batch, names, bn, probes, chunk_cells, local[0])
    meta = dict(settings, schema=scores_file.SCHEMA, engine=engine, per_call=calls, chunk_cells=chunk_cells,
                lower_is_better=[n for n in names if n in _lower_is_better()], device=_device_name(local[0]),
                versions=_versions(), settings_digest=digest)
    manifest = {"schema": CHUNK_SCHEMA, "settings_digest": digest, "chunk_cells": chunk_cells, "chunks": n_chunks,
                "settings": settings}
    processes, me = jax.process_count(), jax.process_index()
    if me == 0:
        _prepare(chunk_dir, manifest)
    _barrier("nasi_nal.score: chunk folder ready", processes)
    _check_manifest(chunk_dir, manifest)
    mine = list(range(me, n_chunks, processes))
    done = {i for i in mine if _chunk_done(chunk_dir, i, n_chunks, digest, _chunk_keys(source, i, chunk_cells))}
    todo = [i for i in mine if i not in done]
    job = _Job(source, names, proxy, overrides, batch, seed, bn, probes, inits, engine, calls, chunk_cells, n_chunks,
               chunk_dir, digest)
    counts = _score_chunks(job, todo, sum(_chunk_size(source, i, chunk_cells) for i in mine),
                           sum(_chunk_size(source, i, chunk_cells) for i in done), local, quiet,
                           f"{space} cells" + (f" (process {me} of {processes})" if processes > 1 else ""))
    _barrier("nasi_nal.score: chunks scored", processes)
    failed: dict[str, int] = {}
    if me == 0:
        columns = _merge(job)
        scores_file.write(out, columns, meta)
        shutil.rmtree(chunk_dir, ignore_errors=True)
        failed = columns.failed()
    _barrier("nasi_nal.score: merged", processes)
    return SpaceScoringResult(out, len(source.keys), n_chunks, len(todo), len(done), counts,
                              calls if masked_planned else None, failed, time.perf_counter() - start)


def _check_settings(space: str, out: pathlib.Path, scores: Sequence[str], bn: str, probes: int | str, inits: int,
                    batch_size: int, data: str, labels: str, overrides: dict[str, int], seed: int,
                    chunk_cells: int | None, per_call: int | str, devices: int | None,
                    first: int | None) -> tuple[list[str], Any]:
    """Every option checked before any work; the search config whose batch the file's cells are scored on."""
    from nasi_nal import report
    from nasi_nal.schema import SearchConfig
    from nasi_nal.scores import definitions
    from nasi_nal.validate import check_data
    from nasi_nal.scores.common import check_bn, check_probes

    if space not in SPACES:
        raise NasiNalError(f"unknown space {space!r}: choose one of {', '.join(SPACES)}")
    names = definitions.check_names(list(scores))
    if not names:
        raise NasiNalError("no scores given: pass --scores with one or more score names")
    if len(set(names)) != len(names):
        raise NasiNalError(f"--scores {','.join(names)} names a score twice")
    check_bn(bn)
    check_probes(probes)
    _integer("--inits", inits, 1)
    _integer("--batch-size", batch_size, 2)
    _integer("--seed", seed, 0, SEED_MAX)
    for option, value in (("--chunk-cells", chunk_cells), ("--devices", devices), ("--first", first)):
        if value is not None:
            _integer(option, value, 1)
    if per_call != "auto":
        _integer("--per-call", per_call, 1)
    if devices is not None and devices > len(jax.local_devices()):
        raise NasiNalError(f"--devices {devices}: this process has {len(jax.local_devices())} local device(s)")
    for field, value in overrides.items():
        _integer(f"--override {field}", value, 1)
    if labels not in ("random", "real"):
        raise NasiNalError(f"unknown labels mode {labels!r}: choose 'random' or 'real'")
    if labels == "real" and data == "gaussian":
        raise NasiNalError("--labels real needs real data: pass --data cifar10 or --data PATH")
    if out.suffix != ".npz":
        raise NasiNalError(f"--out {out}: a scores file is an .npz; name it e.g. {out.with_suffix('.npz').name}")
    report.check_writable(out)
    method = names[0]  # a score method: the search config then draws the per-cell scoring batch
    config = SearchConfig(space=space, method=method, data=data, labels=labels, batch_size=batch_size, seed=seed)
    check_data(config)
    return names, config


def _integer(option: str, value: Any, low: int, high: int | None = None) -> None:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low
    if not ok or (high is not None and value > high):
        allowed = f"an integer in {low}..{high}" if high is not None else f"an integer >= {low}"
        raise NasiNalError(f"{option} {value!r}: pass {allowed}")


def _build(space: str, cell: Any, proxy: bool, overrides: dict[str, int]) -> Any:
    from nasi_nal.networks import build

    return build(space, cell, proxy=proxy, **overrides)


def _example_cell(space: str) -> Any:
    """A cell of ``space`` to build the network of before the cells are loaded (checks size overrides early)."""
    from nasi_nal.spaces import darts, nb101, nb201

    if space == "nb201":
        return nb201.index_to_arch(0)
    if space == "nb101":
        return nb101.Cell([[0, 1], [0, 0]], ("input", "output"))
    return darts.DARTS_V2


def _search_batch(config: Any) -> Any:
    """The batch a search with ``config`` scores its candidates on: its key is the second half of the seed's
    split (``pipeline.search``), its images the search's pool."""
    from nasi_nal import ranking

    return ranking.scoring_batch(config, jax.random.split(jax.random.PRNGKey(config.seed))[1])


def _settings(source: CellSource, names: list[str], bn: str, probes: int | str, inits: int, seed: int,
              batch_size: int, data: str, labels: str, batch: Any, proxy: bool, overrides: dict[str, int],
              plan: dict[str, list[str]]) -> dict[str, Any]:
    """Everything that decides the scores of a file: the part of its meta that its settings digest covers."""
    from nasi_nal.networks import PROXY_CONFIGS

    arrays = [np.asarray(a) for a in batch]
    fields = {**(PROXY_CONFIGS[source.space] if proxy else {}), **overrides}
    return {
        "space": source.space,
        "cells": {"source": source.kind, "file": source.file, "count": len(source.keys),
                  "sha256": hashlib.sha256("\n".join(source.keys).encode()).hexdigest()},
        "scores": names, "bn": bn, "probes": probes, "inits": inits, "seed": seed,
        "batch": {"size": batch_size, "data": scores_file.data_name(data), "labels": labels,
                  "sha256": hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest()},
        "network": {"proxy": proxy, "overrides": overrides, "fields": fields},
        "engine_plan": plan,
        "platform": jax.default_backend(),
    }


def _digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _lower_is_better() -> tuple[str, ...]:
    from nasi_nal.scores import LOWER_IS_BETTER

    return tuple(LOWER_IS_BETTER)


def _device_name(device: Any) -> str:
    return f"{device.platform}: {device.device_kind}"


def _versions() -> dict[str, str]:
    import flax
    import jaxlib

    from nasi_nal import __version__

    return {"nasi_nal": __version__, "python": platform.python_version(), "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "flax": flax.__version__, "numpy": np.__version__}


def _chunk_cells(chunk_dir: pathlib.Path, digest: str, asked: int | None, default: int) -> int:
    """Cells per chunk: as asked, else as the unfinished run in ``chunk_dir`` had them, else ``default``."""
    manifest = _read_manifest(chunk_dir)
    if manifest is None or manifest.get("settings_digest") != digest:
        return asked or default  # other settings are refused with the manifest's differences (_check_manifest)
    if asked is not None and asked != manifest["chunk_cells"]:
        raise ScoresFileError(f"{chunk_dir} holds chunks of {manifest['chunk_cells']} cells: resume with "
                              f"--chunk-cells {manifest['chunk_cells']} (or delete the folder to start over)")
    return int(manifest["chunk_cells"])


def _read_manifest(chunk_dir: pathlib.Path) -> dict[str, Any] | None:
    path = chunk_dir / "manifest.json"
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ScoresFileError(f"{path} does not read ({exc}): delete {chunk_dir} to start over") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != CHUNK_SCHEMA:
        raise ScoresFileError(f"{path} is not a chunk manifest of {CHUNK_SCHEMA}: delete {chunk_dir} to start over")
    return manifest


def _check_manifest(chunk_dir: pathlib.Path, manifest: dict[str, Any]) -> None:
    found = _read_manifest(chunk_dir)
    if found is None:
        raise ScoresFileError(f"{chunk_dir}/manifest.json is missing: with several hosts, --out must be on a "
                              "folder every host shares")
    if found.get("settings_digest") != manifest["settings_digest"]:
        want, have = dict(_flat(manifest["settings"])), dict(_flat(found.get("settings", {})))
        diffs = [f"{k} {_short(have.get(k))} there, {_short(want.get(k))} here" for k in sorted(set(want) | set(have))
                 if have.get(k) != want.get(k)]
        raise ScoresFileError(f"{chunk_dir} holds chunks of other settings ({'; '.join(diffs) or 'digest differs'}):"
                              " rerun with those settings to finish them, or delete the folder to start over")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "...'"


def _flat(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every leaf of a nested dict (an empty dict is a leaf)."""
    out = []
    for k, v in tree.items():
        out += _flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else [(f"{prefix}{k}", v)]
    return out


def _prepare(chunk_dir: pathlib.Path, manifest: dict[str, Any]) -> None:
    """Process 0: the chunk folder with its manifest, checked against ours if it exists; the temporary files of a
    killed run removed (no other process writes before the first barrier)."""
    from nasi_nal.report import write_json

    chunk_dir.mkdir(exist_ok=True)
    if _read_manifest(chunk_dir) is None:
        write_json(chunk_dir / "manifest.json", manifest)
    _check_manifest(chunk_dir, manifest)
    for stale in chunk_dir.glob(".*.partial"):
        stale.unlink(missing_ok=True)


def _chunk_path(chunk_dir: pathlib.Path, i: int, n_chunks: int) -> pathlib.Path:
    return chunk_dir / f"chunk_{i:0{max(5, len(str(n_chunks - 1)))}d}.npz"


def _chunk_size(source: CellSource, i: int, chunk_cells: int) -> int:
    return min(chunk_cells, len(source.keys) - i * chunk_cells)


def _chunk_keys(source: CellSource, i: int, chunk_cells: int) -> list[str]:
    return source.keys[i * chunk_cells:(i + 1) * chunk_cells]


def _chunk_done(chunk_dir: pathlib.Path, i: int, n_chunks: int, digest: str, keys: list[str]) -> bool:
    """Whether chunk ``i`` is finished; ``ScoresFileError`` when its file is corrupt or of other settings or cells."""
    path = _chunk_path(chunk_dir, i, n_chunks)
    if not path.exists():
        return False
    _read_chunk(path, i, digest, keys)
    return True


def _read_chunk(path: pathlib.Path, i: int, digest: str, keys: list[str]) -> Columns:
    chunk = scores_file.read(path, CHUNK_SCHEMA)
    if chunk.meta.get("settings_digest") != digest or chunk.meta.get("chunk") != i \
            or chunk.columns.keys.tolist() != keys:
        raise ScoresFileError(f"{path} was written for other settings or cells: delete it to score its cells again")
    return chunk.columns


def _per_call(per_call: int | str, plan: dict[str, list[str]], model: Any, batch: Any, names: list[str], bn: str,
              probes: int | str, chunk_cells: int, device: Any) -> int | None:
    """Cells per masked call (None without the masked engine): as asked or from memory, at most a chunk, and even
    across a chunk (1024 cells with room for 300 per call: 4 calls of 256, not 300, 300, 300 and 124 padded)."""
    if "masked" not in plan:
        return None
    from nasi_nal.scores import masked

    limit = per_call if per_call != "auto" else masked.cells_per_call(
        model, batch, plan["masked"], bn=bn, probes=probes, device=device)
    calls = math.ceil(chunk_cells / min(int(limit), chunk_cells))
    return math.ceil(chunk_cells / calls)


@dataclasses.dataclass(frozen=True)
class _Job:
    source: CellSource
    names: list[str]
    proxy: bool
    overrides: dict[str, int]
    batch: Any
    seed: int
    bn: str
    probes: int | str
    inits: int
    engine: str
    per_call: int | None
    chunk_cells: int
    n_chunks: int
    chunk_dir: pathlib.Path
    digest: str


def _score_chunks(job: _Job, todo: list[int], total: int, initial: int, devices: list[Any], quiet: bool,
                  desc: str) -> dict[str, int]:
    """Scores the chunks ``todo``, each device taking the next from one queue in its own thread; returns the chunks
    each device scored. The first failure stops every device after its current chunk and is raised."""
    from tqdm import tqdm

    queue = collections.deque(todo)
    lock = threading.Lock()
    failures: list[BaseException] = []
    counts = {_device_id(d): 0 for d in devices}
    bar = tqdm(total=total, initial=initial, desc=desc, unit="cell", disable=quiet, smoothing=0.1)

    def work(device: Any) -> None:
        place = len(devices) > 1  # one device: the default placement, which reuses what this process compiled
        try:
            with jax.default_device(device) if place else contextlib.nullcontext():
                batch = jax.device_put(job.batch, device) if place else job.batch
                while True:
                    with lock:
                        if failures or not queue:
                            return
                        i = queue.popleft()
                    _write_chunk(job, i, _score_chunk(job, i, batch), _device_id(device))
                    with lock:
                        counts[_device_id(device)] += 1
                        bar.update(_chunk_size(job.source, i, job.chunk_cells))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            with lock:
                failures.append(exc)

    try:
        if len(devices) == 1:
            work(devices[0])
        else:
            threads = [threading.Thread(target=work, args=(d,), daemon=True) for d in devices]
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
    finally:
        bar.close()
    if failures:
        raise failures[0]
    return counts


def _device_id(device: Any) -> str:
    return f"{device.platform}:{device.id}"


def _score_chunk(job: _Job, i: int, batch: Any) -> Columns:
    """Chunk ``i``'s cells scored on the current default device."""
    from nasi_nal.scores import cell_key, iter_scores

    lo, hi = i * job.chunk_cells, min((i + 1) * job.chunk_cells, len(job.source.keys))
    keys = job.source.keys[lo:hi]
    models = [_build(job.source.space, c, job.proxy, job.overrides) for c in job.source.cells[lo:hi]]
    results = list(iter_scores(models, batch, job.names, [cell_key(job.seed, k) for k in keys], bn=job.bn,
                               probes=job.probes, inits=job.inits, engine=job.engine, per_call=job.per_call or 1,
                               cell_names=keys, space=job.source.space))
    return Columns.from_results(keys, job.source.index[lo:hi], job.names, results)


def _write_chunk(job: _Job, i: int, columns: Columns, device: str) -> None:
    meta = {"schema": CHUNK_SCHEMA, "settings_digest": job.digest, "chunk": i, "scores": job.names,
            "cells": {"count": len(columns.keys)}, "device": device}
    scores_file.write(_chunk_path(job.chunk_dir, i, job.n_chunks), columns, meta)


def _merge(job: _Job) -> Columns:
    """Every chunk, checked again, joined in order."""
    parts = []
    for i in range(job.n_chunks):
        path = _chunk_path(job.chunk_dir, i, job.n_chunks)
        if not path.exists():
            raise ScoresFileError(f"{path} is missing after every process finished: with several hosts, --out must "
                                  "be on a folder every host shares; rerun to score it")
        parts.append(_read_chunk(path, i, job.digest, _chunk_keys(job.source, i, job.chunk_cells)))
    return Columns.concatenate(parts)


def _barrier(name: str, processes: int) -> None:
    if processes > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


__all__ = ["CellSource", "SPACES", "SpaceScoringResult", "load_cells", "score_space"]
