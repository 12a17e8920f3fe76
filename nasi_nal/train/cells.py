"""Which network to train: a cell given as text (or a file holding it), or the winners of a ``search`` output.

Accepted forms, by space:

* ``nb101``: a 32-hex module hash (looked up in a NAS-Bench-101 table: ``nb101_table=PATH``, else the table
  shipped with nasi_nal), or JSON ``{"matrix": [[0, 1, ...], ...], "ops": ["input", ..., "output"]}``.
* ``nb201``: the official arch string ``|nor_conv_3x3~0|+|...|``.
* ``darts``: genotype JSON (``nasi_nal.spaces.darts.to_json``) or a name defined there, e.g. ``DARTS_V2``.

A ``search`` output is JSON with at least ``{"space": "nb201", "winners": [{"cell": ...}, ...]}`` where each
``cell`` is one of the forms above (a JSON object may stand for the JSON text).
"""
from __future__ import annotations

import json
import pathlib
import re
from typing import Any

from nasi_nal.errors import ConfigError, InvalidCellError

_HASH = re.compile(r"^[0-9a-f]{32}$")


def read_text(cell: str) -> str:
    """``cell`` itself, or the contents of the ``.json`` or ``.txt`` file it names."""
    if len(cell) >= 4096 or "\n" in cell or pathlib.PurePath(cell).suffix not in {".json", ".txt"}:
        return cell.strip()
    try:
        path = pathlib.Path(cell).expanduser()
        text = path.read_text(encoding="utf-8") if path.is_file() else None
    except (OSError, RuntimeError, ValueError) as exc:  # unknown ~user, a name too long, a NUL, not UTF-8
        raise InvalidCellError(f"cell file {cell!r} cannot be read ({exc}): pass the cell itself or a readable "
                               "file") from None
    if text is None:
        raise InvalidCellError(f"cell file {cell!r} does not exist: pass the cell itself or an existing file")
    return text.strip()


def parse_cell(space: str, cell: str, nb101_table: str = "", table_option: str = "nb101_table=PATH") -> Any:
    """The space's cell object (``nb101.Cell``, ``nb201.Arch``, ``darts.Genotype``) for ``cell`` text.

    Raises ``InvalidCellError`` naming the problem; the spaces' own validators check the content. An NB101 hash is
    looked up in ``nb101_table`` (default: the embedded table); ``table_option`` is how the caller's user passes
    another table (the trainer's field, the search's ``--table PATH``), for the message of an unknown hash.
    """
    if not cell:
        raise ConfigError("no cell given: set cell=... (or --cell) to a cell of the chosen space, or pass a "
                          "search output with --search-output")
    text = read_text(cell)
    if space == "nb101":
        from nasi_nal.spaces import nb101

        if _HASH.match(text):
            from nasi_nal.tables import nb101 as table_lib

            table = table_lib.load_nb101(nb101_table) if nb101_table else table_lib.load_embedded()
            if text not in table:
                raise InvalidCellError(f"NB101 hash {text} is not in the table {table.source!r} ({len(table)} cells): "
                                       f"pass {table_option} to the full NAS-Bench-101 file, or give the cell as "
                                       "matrix+ops JSON")
            return table.cell(table.index_of(text))
        data = _json_object(text, 'NB101 cell JSON {"matrix": [[...]], "ops": [...]} or a 32-hex hash')
        if set(data) != {"matrix", "ops"}:
            raise InvalidCellError(f'NB101 cell JSON needs exactly the keys "matrix" and "ops", got {sorted(data)}')
        if not isinstance(data["ops"], list):
            raise InvalidCellError(f'NB101 cell JSON needs "ops" as a list of op names, got {data["ops"]!r:.80}')
        return nb101.Cell(data["matrix"], tuple(data["ops"]))
    if space == "nb201":
        from nasi_nal.spaces import nb201

        return nb201.parse(text)
    if space == "darts":
        from nasi_nal.spaces import darts

        named = getattr(darts, text, None) if text.isidentifier() else None
        if isinstance(named, darts.Genotype):
            return named
        return darts.from_json(text)
    raise ConfigError(f"space={space!r} is not one of ('nb101', 'nb201', 'darts')")


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: nested deeper than Python's stack
        raise InvalidCellError(f"cell {text[:80]!r} does not parse as JSON ({exc}); expected {what}") from None
    if not isinstance(data, dict):
        raise InvalidCellError(f"cell {text[:80]!r} is not a JSON object; expected {what}")
    return data


def winners(search_output: str | pathlib.Path) -> tuple[str, list[str]]:
    """(space, cell texts) of a search output's winners, best first as the file lists them."""
    path = pathlib.Path(search_output)
    if not path.is_file():
        raise ConfigError(f"search output {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"search output {path} is not JSON ({exc})") from None
    if not isinstance(data, dict) or "space" not in data or not isinstance(data.get("winners"), list):
        raise ConfigError(f'search output {path} needs {{"space": ..., "winners": [{{"cell": ...}}, ...]}}')
    cells = []
    for i, entry in enumerate(data["winners"]):
        if not isinstance(entry, dict) or "cell" not in entry:
            raise ConfigError(f'search output {path}: winners[{i}] has no "cell"')
        c = entry["cell"]
        cells.append(c if isinstance(c, str) else json.dumps(c))
    if not cells:
        raise ConfigError(f"search output {path} lists no winners")
    return str(data["space"]), cells
