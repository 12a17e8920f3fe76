"""What the search needs of each space, one module per space: ``ADAPTERS[name]`` is that module.

Every adapter module defines the same names (the space's side of a search):

- ``TITLE``: the space's name in messages;
- ``key(cell)``: the canonical key (unique per cell: NB101 hash, NB201 arch string, DARTS genotype JSON);
- ``summary(cell)``: a short label for tables; ``to_json(cell)``: the cell in a search report;
- ``parse(text, table, table_option)``: a cell from its text form (``table`` resolves NB101 hashes);
- ``sample(rng)``: a uniform random cell; ``draw(cell, path, title)``: PNG picture(s) of a cell;
- ``load_table(path)``: ``(lookup cell -> accuracy %, description)``, or None where no table is known;
- ``HAS_TABLE``: a results table exists for the space; ``TRAIN_RECIPE``: the trainer recipe of its winners;
- ``nal_proposals(model, n, rng)``: the NAL GAT's ``(cell, log-probability or transfer score)`` proposals;
- ``NAL_LIKELIHOOD``: the GAT's likelihood is defined on the space's cells; ``SUPERNET``: NASI's one-shot
  supernet search exists for it.

A new space is one module here and one entry in ``ADAPTERS``.
"""
from __future__ import annotations

import pathlib
from types import ModuleType
from typing import Any

from nasi_nal.adapters import darts, nb101, nb201
from nasi_nal.errors import ConfigError, InvalidCellError

ADAPTERS: dict[str, ModuleType] = {"nb101": nb101, "nb201": nb201, "darts": darts}


def spaces() -> tuple[str, ...]:
    """Every space a search accepts."""
    return tuple(ADAPTERS)


def get(space: str) -> ModuleType:
    """The adapter module of ``space``; ``ConfigError`` naming the choices for an unknown one."""
    if space not in ADAPTERS:
        raise ConfigError(f"unknown space {space!r}: choose one of {', '.join(ADAPTERS)}")
    return ADAPTERS[space]


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
    """The space's cell object (``nb101.Cell``, ``nb201.Arch``, ``darts.Genotype``) for ``cell`` text or a file.

    Raises ``InvalidCellError`` naming the problem; the spaces' own validators check the content. An NB101 hash is
    looked up in ``nb101_table`` (default: the embedded table); ``table_option`` is how the caller's user passes
    another table (the trainer's field, the search's ``--table PATH``), for the message of an unknown hash.
    """
    if not cell:
        raise ConfigError("no cell given: set cell=... (or --cell) to a cell of the chosen space, or pass a "
                          "search output with --search-output")
    if space not in ADAPTERS:
        raise ConfigError(f"space={space!r} is not one of {tuple(ADAPTERS)}")
    return ADAPTERS[space].parse(read_text(cell), nb101_table, table_option)


def draw_cell(space: str, cell: Any, path: str | pathlib.Path, title: str = "") -> list[pathlib.Path]:
    """PNG picture(s) of a cell: one file (NB101, NB201) or ``<stem>_normal.png`` and ``<stem>_reduce.png``
    (DARTS)."""
    return get(space).draw(cell, pathlib.Path(path), title)


__all__ = ["ADAPTERS", "draw_cell", "get", "parse_cell", "read_text", "spaces"]
