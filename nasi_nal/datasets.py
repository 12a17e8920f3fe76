"""Image data sets on disk: ``.npz`` arrays, image folders (``<split>/<class>/*``) and tensorflow-datasets.

The readers the trainer's input pipeline and the search's scoring images share, and the scoring pool: the few
hundred real images a search draws its scoring batches from.
"""
from __future__ import annotations

import pathlib
from typing import Any, Sequence

import jax
import numpy as np

from nasi_nal import scores
from nasi_nal.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
POOL_SIZE = 512  # real images loaded to draw scoring batches from


def existing_path(path: str, what: str) -> pathlib.Path:
    """``path`` as a Path; ``DataError`` naming ``what`` it should be when it is empty or absent."""
    if not path:
        raise DataError(f"data_dir is empty: set data_dir=PATH to {what}")
    p = pathlib.Path(path).expanduser()
    if not p.exists():
        raise DataError(f"data_dir {str(p)!r} does not exist: set data_dir to {what}")
    return p


def class_names(split_dir: pathlib.Path) -> list[str]:
    """The sorted class sub-folders of an image-folder split."""
    if not split_dir.is_dir():
        raise DataError(f"{split_dir} is not a folder: an image-folder data set needs train/<class>/* and "
                        "test/<class>/* (e.g. the extracted cifar10_jpeg_q75 tree)")
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{split_dir} has no class sub-folders; expected {split_dir}/<class>/<image>")
    return classes


def folder_files(split_dir: pathlib.Path, classes: Sequence[str]) -> tuple[list[pathlib.Path], np.ndarray]:
    """Every image file of a split with its label (the index of its class in ``classes``), sorted per class."""
    found = class_names(split_dir)
    if found != list(classes):
        raise DataError(f"{split_dir} has classes {found} but train/ has {list(classes)}; both splits need the "
                        "same class folders")
    files, labels = [], []
    for label, name in enumerate(classes):
        members = sorted(p for p in (split_dir / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += members
        labels += [label] * len(members)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {split_dir}")
    return files, np.asarray(labels, np.int32)


def decode_image(path: pathlib.Path) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), np.uint8)
    except OSError as exc:
        raise DataError(f"cannot decode image {path}: {exc}") from exc


def tfds_source(dataset: str, split: str, data_dir: str = "", download: bool = False, manual_dir: str = "") -> Any:
    """A random-access tfds source (``tfds.data_source``: no TensorFlow needed for array_record data)."""
    import tensorflow_datasets as tfds

    kwargs: dict[str, Any] = {}
    if manual_dir:
        kwargs["download_and_prepare_kwargs"] = {
            "download_config": tfds.download.DownloadConfig(manual_dir=manual_dir)}
    try:
        return tfds.data_source(dataset, split=split, data_dir=data_dir or None, download=download, **kwargs)
    except Exception as exc:  # tfds raises assorted types for "not prepared", "no such dataset", bad paths
        raise DataError(
            f"tensorflow-datasets could not open {dataset!r} split {split!r} ({type(exc).__name__}: {exc}). "
            "Prepare it first (download=true, or for imagenet2012 the ILSVRC tars in manual_dir), point data_dir "
            "at its tfds folder, or use data_source=npz / data_source=folder with data_dir=PATH") from exc


def scoring_pool(source: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` training images (uint8 NHWC) and labels, spread evenly over the split, for scoring batches.

    ``source`` is ``"cifar10"`` (a prepared tensorflow-datasets copy), an ``.npz`` with ``x_train``/``y_train``, or an
    image-folder root with ``train/<class>/*``. Zero-cost scores need a few hundred images, not the whole set.
    """
    if source == "cifar10":
        data = tfds_source("cifar10", "train")
        rows = np.linspace(0, len(data) - 1, min(limit, len(data))).astype(int)
        examples = [data[int(i)] for i in rows]
        return (np.stack([np.asarray(ex["image"], np.uint8) for ex in examples]),
                np.asarray([int(ex["label"]) for ex in examples], np.int32))
    path = existing_path(source, "an .npz with x_train/y_train or an image folder with train/<class>/*")
    if path.is_dir():
        files, labels = folder_files(path / "train", class_names(path / "train"))
        rows = np.linspace(0, len(files) - 1, min(limit, len(files))).astype(int)
        images = [decode_image(files[i]) for i in rows]
        if len({im.shape for im in images}) > 1:
            raise DataError(f"images under {path / 'train'} differ in size ({sorted({im.shape for im in images})}): "
                            "scoring batches need images of one size, e.g. CIFAR-10's 32x32")
        return np.stack(images), labels[rows]
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x_train" not in f.files or "y_train" not in f.files:
                raise DataError(f"{path} lacks x_train/y_train (it has {sorted(f.files)}): pass an .npz holding "
                                "uint8 NHWC training images and their integer labels")
            x, y = np.asarray(f["x_train"]), np.asarray(f["y_train"])
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} as an .npz data set ({exc}); pickled arrays are refused") from exc
    if x.ndim != 4 or x.shape[-1] != 3 or y.shape != (len(x),) or not len(x):
        raise DataError(f"{path}: x_train {x.shape} / y_train {y.shape} are not (N, H, W, 3) images with N labels")
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{path}: x_train has dtype {x.dtype}; pass uint8 images (0..255, normalized as CIFAR-10) or "
                        "float images (used as given)")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: y_train has dtype {y.dtype}; pass integer labels")
    rows = np.linspace(0, len(x) - 1, min(limit, len(x))).astype(int)
    return x[rows], y[rows].astype(np.int32)


def scoring_batch(data: str, labels: str, size: int, key: jax.Array) -> Any:
    """The one batch every candidate of a search is scored on (NASI's data/label modes): Gaussian inputs with
    random labels for ``data="gaussian"``, else ``size`` images of ``data``'s pool with ``labels`` real or random."""
    if data == "gaussian":
        return scores.make_batch(key, size, inputs="gaussian", targets="random")
    images, targets = scoring_pool(data, limit=POOL_SIZE)
    return scores.make_batch(key, size, images=images, labels=targets, inputs="real", targets=labels)


__all__ = ["IMAGE_SUFFIXES", "POOL_SIZE", "class_names", "decode_image", "existing_path", "folder_files",
           "scoring_batch", "scoring_pool", "tfds_source"]
