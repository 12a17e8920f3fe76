"""Byte-reproducible, atomic npz writing (``np.savez_compressed`` stamps the current time into the zip)."""
from __future__ import annotations

import io
import os
import pathlib
import secrets
import zipfile
from typing import Mapping

import numpy as np

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Writes ``arrays`` as a compressed npz readable by ``np.load(allow_pickle=False)``.

    Entries are written in sorted key order with a fixed timestamp, so the same arrays give the same bytes
    (a table shipped in the package stays diff-free when rebuilt). The file is written beside ``path`` and moved
    into place, so a crash never leaves a half-written cache behind.
    """
    path = pathlib.Path(path)
    # Not tempfile.mkstemp: its files are private (0600) and os.replace would carry that mode over.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(arrays):
                array = np.asarray(arrays[name])
                if array.dtype.hasobject:
                    raise TypeError(f"array {name!r} has dtype object, which npz can store only with pickle")
                payload = io.BytesIO()
                np.lib.format.write_array(payload, array, allow_pickle=False)
                info = zipfile.ZipInfo(name + ".npy", date_time=_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, payload.getvalue())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
