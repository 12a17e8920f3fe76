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


NODE_FONT, LABEL_FONT, TITLE_FONT = 8, 7, 9  # points
NODE_PAD, LABEL_PAD = 0.35, 0.15  # background box padding, in units of the font size
MARGIN = 0.15  # inches around the drawing and between a label and whatever it must not touch
ARC_BASE, ARC_STEP = 0.5, 0.28  # inches: height of an arc over one skipped node, added per further node


def draw_dag(path: str | os.PathLike, labels: Sequence[str], edges: Sequence[tuple[int, int]],
             edge_labels: Sequence[str] | None = None, title: str = "") -> None:
    """Draws a cell as a DAG into a PNG, atomically (see :func:`dag_figure`)."""
    import matplotlib.pyplot as plt

    fig = dag_figure(labels, edges, edge_labels, title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def dag_figure(labels: Sequence[str], edges: Sequence[tuple[int, int]], edge_labels: Sequence[str] | None = None,
               title: str = "") -> Any:
    """A matplotlib figure of a cell as a DAG: nodes in their (topological) order on a line, each edge to the next
    node straight and each longer edge an arc over the nodes it skips, above or below by its first node's parity and
    higher the more it skips, so no edge runs through a node.

    ``labels[i]`` names node i, ``edges`` are (from, to) pairs with from < to, ``edge_labels`` optionally names the
    operation on each edge (NAS-Bench-201 and DARTS put operations on edges, NAS-Bench-101 on nodes; an empty name
    draws no label). Arrows end at the border of the box they point to, and each label sits on its own edge at the
    first point along it where its box overlaps no node and no other label. Text, node and label objects carry gids
    (``node i``, ``edge k: a->b``) for tests.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    fig = plt.figure()
    renderer = fig.canvas.get_renderer()

    def size(text: str, font: float, pad: float) -> tuple[float, float]:  # inches, background box included
        t = fig.text(0, 0, text, fontsize=font)
        box = t.get_window_extent(renderer)
        t.remove()
        edge = 2 * pad * font / 72
        return box.width / fig.dpi + edge, box.height / fig.dpi + edge

    node_sizes = [size(label, NODE_FONT, NODE_PAD) for label in labels]
    names = list(edge_labels) if edge_labels else [""] * len(edges)
    label_sizes = [size(name, LABEL_FONT, LABEL_PAD) if name else (0.0, 0.0) for name in names]
    gap = max([w for w, _ in label_sizes] + [0.25]) + 2 * MARGIN  # room for a label between neighbours
    xs = [MARGIN + node_sizes[0][0] / 2]
    for (w0, _), (w1, _) in zip(node_sizes, node_sizes[1:]):
        xs.append(xs[-1] + w0 / 2 + gap + w1 / 2)
    centers = [np.array([x, 0.0]) for x in xs]
    nodes = [_box(c, w, h) for c, (w, h) in zip(centers, node_sizes)]

    curves, seen = [], {}
    for a, b in edges:
        k = seen[(a, b)] = seen.get((a, b), -1) + 1  # repeated edges (DARTS) bend further, alternately
        span = b - a
        peak = 0.0 if span == 1 else ARC_BASE + ARC_STEP * (span - 2)
        side = 1.0 if a % 2 == 0 else -1.0
        if k:
            peak, side = peak + 0.3 * ((k + 1) // 2), side * (-1) ** k
        curves.append(_trimmed(_arc(centers[a], centers[b], side * peak), nodes[a], nodes[b]))

    taken = list(nodes)
    placed = []
    for curve, (w, h) in zip(curves, label_sizes):
        if not w:
            placed.append(None)
            continue
        spots = [_box(curve[int(f * (len(curve) - 1))], w, h) for f in (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8)]
        spot = next((s for s in spots if not any(_overlap(s, t, MARGIN / 3) for t in taken)), spots[0])
        taken.append(spot)
        placed.append(spot)

    boxes = taken + [c for curve in curves for c in (_box(p, 0, 0) for p in curve[:: max(len(curve) // 20, 1)])]
    x0, y0 = min(bx[0] for bx in boxes) - MARGIN, min(bx[1] for bx in boxes) - MARGIN
    x1, y1 = max(bx[2] for bx in boxes) + MARGIN, max(bx[3] for bx in boxes) + MARGIN
    title_height = size(title, TITLE_FONT, 0.2)[1] if title else 0.0
    fig.set_size_inches(x1 - x0, y1 - y0 + title_height)
    ax = fig.add_axes((0, 0, 1, (y1 - y0) / (y1 - y0 + title_height)))  # one data unit is one inch
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_axis_off()
    for k, ((a, b), curve, name, spot) in enumerate(zip(edges, curves, names, placed)):
        gid = f"edge {k}: {a}->{b}"
        ax.add_patch(FancyArrowPatch(path=Path(curve), arrowstyle="-|>,head_length=0.5,head_width=0.22",
                                     mutation_scale=12, color="0.35", lw=1.0, shrinkA=0, shrinkB=0, gid=gid))
        if spot is not None:
            ax.text((spot[0] + spot[2]) / 2, (spot[1] + spot[3]) / 2, name, ha="center", va="center",
                    fontsize=LABEL_FONT, color="tab:blue", gid=gid, zorder=3,
                    bbox=dict(boxstyle=f"round,pad={LABEL_PAD}", fc="white", ec="none"))
    for i, (label, (x, y)) in enumerate(zip(labels, centers)):
        ax.text(x, y, label, ha="center", va="center", fontsize=NODE_FONT, gid=f"node {i}", zorder=4,
                bbox=dict(boxstyle=f"round,pad={NODE_PAD}", fc="#f3f0e6", ec="0.3"))
    if title:
        fig.suptitle(title, fontsize=TITLE_FONT, y=1.0, va="top")
    return fig


def _box(center: np.ndarray, w: float, h: float) -> tuple[float, float, float, float]:
    return center[0] - w / 2, center[1] - h / 2, center[0] + w / 2, center[1] + h / 2


def _overlap(a: Sequence[float], b: Sequence[float], margin: float) -> bool:
    return a[0] < b[2] + margin and b[0] < a[2] + margin and a[1] < b[3] + margin and b[1] < a[3] + margin


def _inside(points: np.ndarray, box: Sequence[float]) -> np.ndarray:
    return (points[:, 0] >= box[0]) & (points[:, 0] <= box[2]) & (points[:, 1] >= box[1]) & (points[:, 1] <= box[3])


def _arc(a: np.ndarray, b: np.ndarray, peak: float, n: int = 2000) -> np.ndarray:
    """(n, 2) points of the quadratic Bezier curve from a to b whose middle lies ``peak`` above their midpoint."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    control = (a + b) / 2 + np.array([0.0, 2 * peak])
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * control + t ** 2 * b


def _trimmed(curve: np.ndarray, start: Sequence[float], end: Sequence[float]) -> np.ndarray:
    """The part of ``curve`` between leaving the box ``start`` and reaching the box ``end`` (so the arrowhead ends
    at the border of its target, not under it)."""
    first = int(np.flatnonzero(_inside(curve, start))[-1]) + 1
    last = int(np.flatnonzero(_inside(curve, end))[0])
    return np.concatenate([curve[first:last - 1:20], curve[last - 1:last]])  # fine sampling, few vertices
