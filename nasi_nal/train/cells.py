"""Which networks to train from a ``search`` output: its winners' cells, best first.

A ``search`` output is JSON with at least ``{"space": "nb201", "winners": [{"cell": ...}, ...]}`` where each
``cell`` is a form ``nasi_nal.adapters.parse_cell`` reads (a JSON object may stand for the JSON text):

* ``nb101``: a 32-hex module hash (looked up in a NAS-Bench-101 table: ``nb101_table=PATH``, else the table
  shipped with nasi_nal), or JSON ``{"matrix": [[0, 1, ...], ...], "ops": ["input", ..., "output"]}``.
* ``nb201``: the official arch string ``|nor_conv_3x3~0|+|...|``.
* ``darts``: genotype JSON (``nasi_nal.spaces.darts.to_json``) or a name defined there, e.g. ``DARTS_V2``.
"""
from __future__ import annotations

import json
import pathlib

from nasi_nal.errors import ConfigError


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
