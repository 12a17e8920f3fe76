"""NAS-Bench-101 for the search: ops on the vertices of a DAG of up to 7 vertices and 9 edges."""
from __future__ import annotations

import json
import pathlib
import re
from typing import Any, Callable

import numpy as np

from nasi_nal import report
from nasi_nal.errors import InvalidCellError
from nasi_nal.spaces import nb101

TITLE = "NAS-Bench-101"
HAS_TABLE = True  # and one ships with the package: a search looks its cells up without --table
TRAIN_RECIPE = "nb101"
NAL_LIKELIHOOD = True
SUPERNET = False  # no fixed edge set to relax: method nasi ranks uniform samples by NASI's objective
_HASH = re.compile(r"^[0-9a-f]{32}$")
_SHORT = {"conv1x1-bn-relu": "c1", "conv3x3-bn-relu": "c3", "maxpool3x3": "mp"}


def key(cell: nb101.Cell) -> str:
    return cell.hash


def summary(cell: nb101.Cell) -> str:
    edges = int(np.sum(cell.matrix))
    return f"{cell.hash[:8]} {len(cell.ops)}v/{edges}e " + "-".join(_SHORT[o] for o in cell.ops[1:-1])


def to_json(cell: nb101.Cell) -> Any:
    return {"matrix": cell.matrix.tolist(), "ops": list(cell.ops)}


def parse(text: str, table: str, table_option: str) -> nb101.Cell:
    """A 32-hex module hash (looked up in ``table``, default the embedded one) or matrix+ops JSON."""
    if _HASH.match(text):
        from nasi_nal.tables import nb101 as table_lib

        found = table_lib.load_nb101(table) if table else table_lib.load_embedded()
        if text not in found:
            raise InvalidCellError(f"NB101 hash {text} is not in the table {found.source!r} ({len(found)} cells): "
                                   f"pass {table_option} to the full NAS-Bench-101 file, or give the cell as "
                                   "matrix+ops JSON")
        return found.cell(found.index_of(text))
    data = _json_object(text, 'NB101 cell JSON {"matrix": [[...]], "ops": [...]} or a 32-hex hash')
    if set(data) != {"matrix", "ops"}:
        raise InvalidCellError(f'NB101 cell JSON needs exactly the keys "matrix" and "ops", got {sorted(data)}')
    if not isinstance(data["ops"], list):
        raise InvalidCellError(f'NB101 cell JSON needs "ops" as a list of op names, got {data["ops"]!r:.80}')
    return nb101.Cell(data["matrix"], tuple(data["ops"]))


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: nested deeper than Python's stack
        raise InvalidCellError(f"cell {text[:80]!r} does not parse as JSON ({exc}); expected {what}") from None
    if not isinstance(data, dict):
        raise InvalidCellError(f"cell {text[:80]!r} is not a JSON object; expected {what}")
    return data


def sample(rng: np.random.Generator) -> nb101.Cell:
    return nb101.sample(rng)


def draw(cell: nb101.Cell, path: pathlib.Path, title: str) -> list[pathlib.Path]:
    edges = [(int(i), int(j)) for i, j in zip(*np.nonzero(cell.matrix))]
    report.draw_dag(path, list(cell.ops), edges, title=title)
    return [path]


def load_table(path: str | None) -> tuple[Callable[[nb101.Cell], float | None], str]:
    """Look-up cell -> accuracy (percent; None when the table lacks the cell) and the metric's description;
    without ``path`` the package's embedded table."""
    from nasi_nal import tables

    table = tables.load_nb101(path) if path else tables.load_embedded()
    source = path or "the embedded table (500 best cells of a 20,001-cell NAS-Bench-101 sample, one run)"
    metric = "test_acc" if bool(np.isfinite(table.metric("test_acc", 108)).any()) else "val_acc"

    def lookup(cell: nb101.Cell) -> float | None:
        if cell.hash not in table:
            return None
        value = getattr(table.query(cell.hash, 108), metric)
        return None if value is None or not np.isfinite(value) else 100.0 * float(value)

    runs = f"mean over {table.num_runs} runs" if table.num_runs > 1 else "one run"
    return lookup, f"NAS-Bench-101 {metric} after 108 epochs ({runs}) from {source}"


def nal_proposals(model: Any, n: int, rng: np.random.Generator) -> list[tuple[nb101.Cell, float]]:
    """The GAT's ``n`` best cells with their log-probability (edges and ops)."""
    from nasi_nal.nal import generate

    return [(p.cell, p.log_prob + p.op_log_prob) for p in generate.generate(model, n, rng=rng)]
