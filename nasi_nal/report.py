"""The end of the pipeline: the printed ranking, the versioned JSON file and a picture of each winning cell.

A report is written as one set: the JSON and its pictures are drawn into a temporary folder beside the target and
moved into place together at the end, replacing the pictures of an earlier report at the same path. An interrupted
run (Ctrl-C, a crash) therefore leaves an earlier report as it was and nothing half-written. Every file is written
to a temporary name and renamed, and gets the permissions of any new file (the umask).
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import secrets
import shutil
import tempfile
from typing import Any, Iterator, Sequence

import numpy as np

from nasi_nal.errors import NasiNalError


def check_writable(path: str | os.PathLike) -> pathlib.Path:
    """Fails now, before any work, when ``path`` cannot be written (missing folder, no permission, a directory)."""
    path = pathlib.Path(path)
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    if path.is_dir():
        raise NasiNalError(f"output path {path} is a directory: pass a file name such as {path / 'search.json'}")
    if not folder.is_dir():
        raise NasiNalError(f"output folder {folder} does not exist: create it or choose another --output path")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".nasi_nal_check_"):
            pass
    except OSError as e:
        raise NasiNalError(f"cannot write to {folder} ({e.strerror}): choose another --output path") from e
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yields a fresh temporary path beside ``path``; it replaces ``path`` only when the block completes.

    The block creates the file (``open``, ``savefig``, ...), so it gets the umask's permissions, not the private
    0600 of ``tempfile.mkstemp``.
    """
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, payload: Any) -> None:
    """Writes ``payload`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False, allow_nan=False) + "\n")


def picture_name(path: str | os.PathLike, rank: int) -> str:
    """The file name of the picture of the rank-``rank`` winner of the report at ``path``."""
    return f"{pathlib.Path(path).stem}_rank{rank}.png"


def is_picture_of(path: str | os.PathLike, name: str) -> bool:
    """Whether the file ``name`` is a picture of the report at ``path``: ``<stem>_rank<k>.png`` or, for cells
    drawn in parts (DARTS), ``<stem>_rank<k>_<part>.png``."""
    stem = re.escape(pathlib.Path(path).stem)
    return re.fullmatch(rf"{stem}_rank\d+(_[a-z]+)?\.png", name) is not None


def report_files(path: str | os.PathLike) -> list[pathlib.Path]:
    """The report at ``path`` and its pictures, as they are on disk now."""
    path = pathlib.Path(path)
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    pictures = [p for p in folder.iterdir() if is_picture_of(path, p.name)] if folder.is_dir() else []
    return sorted([path] if path.exists() else []) + sorted(pictures)


@contextlib.contextmanager
def output_set(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yields an empty folder beside ``path`` to write a report into (the JSON as ``path``'s name, its pictures as
    :func:`picture_name` says); when the block completes, the set replaces the report at ``path`` and its pictures.

    The earlier report is moved aside first and moved back if anything (Ctrl-C included) stops the replacement,
    so the folder holds either the earlier set or the new one, never a mix.
    """
    path = pathlib.Path(path)
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    staging = pathlib.Path(tempfile.mkdtemp(dir=folder, prefix=f".{path.name}.", suffix=".partial"))
    new = staging / "new"
    new.mkdir()
    try:
        yield new
        aside = staging / "earlier"
        aside.mkdir()
        earlier = report_files(path)
        placed: list[pathlib.Path] = []
        try:
            for p in earlier:
                os.replace(p, aside / p.name)
            for p in sorted(new.iterdir(), key=lambda p: p.name == path.name):  # the JSON last
                os.replace(p, folder / p.name)
                placed.append(folder / p.name)
        except BaseException:
            for p in placed:
                p.unlink(missing_ok=True)
            for p in earlier:
                if (aside / p.name).exists():
                    os.replace(aside / p.name, p)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with right-aligned numbers, for terminals and logs."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(isinstance(r[i], (int, float, np.number)) or r[i] is None for r in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}" if abs(value) >= 1e4 or abs(value) < 1e-2 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def draw_dag(path: str | os.PathLike, labels: Sequence[str], edges: Sequence[tuple[int, int]],
             edge_labels: Sequence[str] | None = None, title: str = "") -> None:
    """Draws a cell as a left-to-right DAG (nodes in topological columns) into a PNG, atomically.

    ``labels[i]`` names node i, ``edges`` are (from, to) pairs with from < to, ``edge_labels`` optionally names
    the operation on each edge (NAS-Bench-201 and DARTS put operations on edges, NAS-Bench-101 on nodes).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    depth = [0] * n
    for a, b in sorted(edges, key=lambda e: e[1]):
        depth[b] = max(depth[b], depth[a] + 1)
    columns: dict[int, list[int]] = {}
    for i in range(n):
        columns.setdefault(depth[i], []).append(i)
    pos = {}
    for d, nodes in columns.items():
        for k, i in enumerate(nodes):
            pos[i] = (d * 2.2, (k - (len(nodes) - 1) / 2) * 1.3)
    width = 2.2 * (max(depth) + 1) + 1
    height = 1.3 * max(len(v) for v in columns.values()) + 1.2
    fig, ax = plt.subplots(figsize=(max(4.0, width), max(2.5, height)))
    for k, (a, b) in enumerate(edges):
        (xa, ya), (xb, yb) = pos[a], pos[b]
        ax.annotate("", xy=(xb, yb), xytext=(xa, ya),
                    arrowprops=dict(arrowstyle="-|>", color="0.35", shrinkA=18, shrinkB=18,
                                    connectionstyle="arc3,rad=0.12"))
        if edge_labels:
            ax.text((xa + xb) / 2, (ya + yb) / 2 + 0.12, edge_labels[k], fontsize=7, ha="center", color="tab:blue")
    for i, label in enumerate(labels):
        x, y = pos[i]
        ax.text(x, y, label, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round,pad=0.35", fc="#f3f0e6", ec="0.3"))
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    ax.set_xlim(-1.2, width - 0.8)
    ax.set_ylim(-height / 2, height / 2)
    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
