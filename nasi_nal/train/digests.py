"""sha256 records of checkpoint step folders: written once orbax has committed a step, checked before it is restored.

Orbax checks neither the bytes it reads back nor that a step folder is whole: flipped bytes in a data file can
restore silently as wrong numbers, and a deletion killed half-way leaves a step folder with some files gone. So each
step folder gets a record, ``nasi_nal_sha256.json``, of the size and sha256 of every other file in it, written after
orbax's commit; a step counts as saved once its record exists.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
from typing import Any

FILE = "nasi_nal_sha256.json"
FORMAT = "nasi_nal.checkpoint_sha256/1"
_CHUNK = 1 << 20


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(f".{FILE}") and p.name != FILE)


def write(folder: pathlib.Path) -> None:
    """Records every file of the step folder ``folder`` (written to a temporary name, then renamed into place)."""
    files = {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in _files(folder)}
    tmp = folder / f".{FILE}.partial"
    tmp.write_text(json.dumps({"format": FORMAT, "files": files}, indent=1) + "\n")
    os.replace(tmp, folder / FILE)


def recorded(folder: pathlib.Path) -> bool:
    """Whether ``folder`` has a record (readable or not)."""
    return (folder / FILE).is_file()


def _read(folder: pathlib.Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / FILE).read_text())
        files = data["files"]
        return files if data["format"] == FORMAT and isinstance(files, dict) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def complete(folder: pathlib.Path) -> bool:
    """Whether ``folder`` has a readable record and every file it lists (a cheap check: nothing is hashed)."""
    files = _read(folder)
    return files is not None and all((folder / name).is_file() for name in files)


def mismatch(folder: pathlib.Path) -> str | None:
    """How the step folder ``folder`` differs from its record, in a few words; None when every file matches."""
    if not recorded(folder):
        return f"has no sha256 record ({FILE}) to check it against (written by an older nasi_nal?)"
    files = _read(folder)
    if files is None:
        return f"has an unreadable sha256 record ({FILE})"
    for name, entry in files.items():
        path = folder / name
        if not path.is_file():
            return f"lacks {name}, which its sha256 record lists"
        size = path.stat().st_size
        if size != entry.get("bytes"):
            return f"does not match its sha256 record ({name} has {size} bytes, {entry.get('bytes')} when saved)"
        if _sha256(path) != entry.get("sha256"):
            return f"does not match its sha256 record ({name} changed after it was saved)"
    return None
