"""The files an evaluation reads: data files found by name in ``$NASI_NAL_DATA``, and CIFAR-10 images to draw a
scoring batch from."""
from __future__ import annotations

import io
import os
import pathlib
import tarfile

import numpy as np

from nasi_nal.errors import DataError


def data_file(name: str | os.PathLike | None, default: str | None = None) -> pathlib.Path:
    """``name`` (else ``default``) as a path, or as a file inside ``$NASI_NAL_DATA``; a clear error when neither
    exists."""
    name = name or default
    if name is None:
        raise DataError("no data file given")
    path = pathlib.Path(name)
    if path.is_file():
        return path
    folder = os.environ.get("NASI_NAL_DATA")
    if folder and (pathlib.Path(folder) / name).is_file():
        return pathlib.Path(folder) / name
    raise DataError(f"data file {str(name)!r} not found: pass its path, or set NASI_NAL_DATA to the folder holding it")


def load_images(path: pathlib.Path, pool: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """(images uint8 NHWC, labels, description) from the exact-pixel npz (``x_train``/``y_train``) or the JPEG
    image-folder tarball (``train/<class>/*.jpg``: ``pool`` images drawn with ``rng``; the description says the
    pixels are lossy)."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            return f["x_train"], f["y_train"].astype(np.int32), f"{path.name} (exact CIFAR-10 pixels)"
    from PIL import Image

    with tarfile.open(path, "r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.split("/")[-3:][0] == "train"),
                         key=lambda m: m.name)
        classes = sorted({m.name.split("/")[-2] for m in members})
        chosen = sorted(rng.choice(len(members), min(pool, len(members)), replace=False))
        images, labels = [], []
        for i in chosen:
            data = tar.extractfile(members[i]).read()
            images.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.uint8))
            labels.append(classes.index(members[i].name.split("/")[-2]))
    note = f"{path.name} ({len(images)} training images; LOSSY JPEG q75, not the exact CIFAR-10 pixels)"
    return np.stack(images), np.asarray(labels, np.int32), note
