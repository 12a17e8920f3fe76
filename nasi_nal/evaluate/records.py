"""Resumable per-cell records: one JSON line per scored cell, appended as soon as the cell is scored.

A run named ``<run>`` appends to ``<run>.jsonl.partial`` (a process among several to ``<run>.jsonl.partial.<pid>``,
so that no two append to one file); reading them back gives every cell already scored, so a rerun scores only the
rest. A run killed mid-write leaves a torn last line: that cell is simply scored again.
"""
from __future__ import annotations

import json
import pathlib
from typing import Any, TextIO

from nasi_nal.errors import DataError


def records_path(out_dir: pathlib.Path, run_name: str, process: int | None = None) -> pathlib.Path:
    """The file run ``run_name`` appends its records to; ``process``: that of one of several processes."""
    name = f"{run_name}.jsonl.partial"
    return pathlib.Path(out_dir) / (name if process is None else f"{name}.{process}")


def append_record(log: TextIO, record: dict[str, Any]) -> None:
    """Appends ``record`` to the open records file ``log`` as one line, flushed (a kill loses at most this line)."""
    log.write(json.dumps(record) + "\n")
    log.flush()


def read_records(out_dir: pathlib.Path, run_name: str) -> dict[int, dict[str, Any]]:
    """Every cell run ``run_name`` already scored, by table row: the lines of all its records files.

    A torn last line is skipped; any other line that is not JSON is an error naming the file to delete.
    """
    done: dict[int, dict[str, Any]] = {}
    for part in sorted(pathlib.Path(out_dir).glob(f"{run_name}.jsonl.partial*")):
        lines = [line for line in part.read_text().splitlines() if line.strip()]
        for i, line in enumerate(lines):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:  # a run killed mid-write: that cell is simply scored again
                    continue
                raise DataError(f"{part} line {i + 1} is not JSON: delete the file to score its cells again") from None
            done[record["row"]] = record
    return done
