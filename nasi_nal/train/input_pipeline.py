"""Training data: loaders for tfds / ``.npz`` / image folders, on-device augmentation, and a host stream for ImageNet.

CIFAR-size sets are held on the device as uint8 and augmented inside the jitted step (pad-and-crop, flip,
cutout) from an explicit key, as in the benchmarks' own pipelines (nasbench ``lib/cifar.py``, AutoDL-Projects
``get_datasets``, DARTS ``utils._data_transforms_cifar10``). ImageNet-size sets are streamed from the host with
random-resized crops drawn from a ``numpy.random.Generator`` seeded by (seed, epoch, example), so a resumed run
sees the same images. Nothing here downloads unless ``download=True``: missing data is a ``DataError``.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import pathlib
from typing import Any, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.datasets import class_names, decode_image, existing_path, folder_files, tfds_source
from nasi_nal.errors import DataError
from nasi_nal.train.recipes import TrainConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class InMemoryData:
    """A whole data set as uint8 NHWC arrays, with the per-channel statistics used to normalise it."""

    x_train: np.ndarray  # (N, H, W, 3) uint8
    y_train: np.ndarray  # (N,) int32
    x_val: np.ndarray  # (V, H, W, 3), V = validation_holdout (may be 0)
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: tuple[float, float, float]  # in [0, 1] pixel units, from the training images
    std: tuple[float, float, float]


def load_in_memory(config: TrainConfig) -> InMemoryData:
    """Reads the configured source, checks shapes and labels, splits off the validation hold-out."""
    if config.data_source == "npz":
        x_tr, y_tr, x_te, y_te = _load_npz(existing_path(config.data_dir, "the .npz file"))
    elif config.data_source == "folder":
        root = existing_path(config.data_dir, "the image-folder root (holding train/ and test/)")
        classes = class_names(root / "train")
        x_tr, y_tr = _load_folder_split(root / "train", classes, config.image_size)
        x_te, y_te = _load_folder_split(root / "test", classes, config.image_size)
    else:
        x_tr, y_tr, x_te, y_te = _load_tfds_arrays(config)
    if config.max_train_examples:
        x_tr, y_tr = x_tr[: config.max_train_examples], y_tr[: config.max_train_examples]
    if config.max_test_examples:
        x_te, y_te = x_te[: config.max_test_examples], y_te[: config.max_test_examples]
    for name, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        _check_arrays(name, x, y, config)
    hold = config.validation_holdout
    if hold >= len(x_tr):
        raise DataError(f"validation_holdout={hold} leaves no training images (the train split has {len(x_tr)}); "
                        "lower validation_holdout")
    cut = len(x_tr) - hold
    x_val, y_val = x_tr[cut:], y_tr[cut:]
    x_tr, y_tr = x_tr[:cut], y_tr[:cut]
    pixels = x_tr.reshape(-1, 3).astype(np.float64) / 255.0
    mean = tuple(float(v) for v in pixels.mean(axis=0))
    std = tuple(float(v) for v in pixels.std(axis=0))
    return InMemoryData(x_tr, y_tr, x_val, y_val, x_te, y_te, mean, std)


def _load_npz(path: pathlib.Path) -> tuple[np.ndarray, ...]:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise DataError(f"{path} lacks arrays {missing}; an .npz data set needs x_train, y_train, x_test, "
                                f"y_test (uint8 NHWC images, integer labels); it has {sorted(f.files)}")
            return tuple(np.asarray(f[k]) for k in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} as an .npz data set ({exc}); pickled arrays are refused") from exc


def _check_arrays(name: str, x: np.ndarray, y: np.ndarray, config: TrainConfig) -> None:
    want = (config.image_size, config.image_size, 3)
    if x.ndim != 4 or x.shape[1:] != want or x.dtype != np.uint8:
        raise DataError(f"{name} images have shape {x.shape} and dtype {x.dtype}; expected (N, {want[0]}, "
                        f"{want[1]}, 3) uint8 (NHWC). Set image_size to the images' side or convert them")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{name} labels have shape {y.shape} and dtype {y.dtype}; expected ({len(x)},) integers")
    if len(x) == 0:
        raise DataError(f"the {name} split is empty")
    if y.min() < 0 or y.max() >= config.num_classes:
        raise DataError(f"{name} labels span [{y.min()}, {y.max()}] but num_classes={config.num_classes}; "
                        "set num_classes to the number of classes")


def _load_folder_split(split_dir: pathlib.Path, classes: Sequence[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    files, labels = folder_files(split_dir, classes)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        images = list(pool.map(decode_image, files))
    bad = next((f for f, im in zip(files, images) if im.shape != (size, size, 3)), None)
    if bad is not None:
        shape = images[files.index(bad)].shape
        raise DataError(f"{bad} is {shape}, not ({size}, {size}, 3): in-memory folder data must all be "
                        f"image_size={size} squares; set image_size or use stream=true for larger images")
    return np.stack(images), labels


def _load_tfds_arrays(config: TrainConfig) -> tuple[np.ndarray, ...]:
    out = []
    for split in ("train", "test"):
        source = tfds_source(config.dataset, split, config.data_dir, config.download, config.manual_dir)
        images = np.stack([np.asarray(ex["image"], np.uint8) for ex in source])
        labels = np.asarray([int(ex["label"]) for ex in source], np.int32)
        out += [images, labels]
    return tuple(out)


# --------------------------------------------------------------------------------------------------------------
# On-device augmentation (pure, jittable; one key per example so the result does not depend on sharding).
# --------------------------------------------------------------------------------------------------------------


def normalize(images: jax.Array, mean: Sequence[float], std: Sequence[float], dtype: Any = jnp.float32) -> jax.Array:
    """uint8 NHWC -> (x / 255 - mean) / std in ``dtype``."""
    x = images.astype(jnp.float32) / 255.0
    return ((x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)).astype(dtype)


def augment(key: jax.Array, images: jax.Array, *, crop_padding: int, flip: bool, cutout: int,
            mean: Sequence[float], std: Sequence[float], dtype: Any = jnp.float32) -> jax.Array:
    """Pad-and-random-crop, random horizontal flip, normalise, then cutout, one key per image.

    The order follows torchvision as the benchmarks used it: zero-pad the raw image, crop, flip, normalise,
    and cut out after normalisation (DARTS ``utils.Cutout`` zeroes the normalised tensor).
    """
    keys = jax.random.split(key, images.shape[0])

    def one(k: jax.Array, img: jax.Array) -> jax.Array:
        k_crop, k_flip, k_cut = jax.random.split(k, 3)
        h, w, _ = img.shape
        if crop_padding:
            p = crop_padding
            padded = jnp.pad(img, ((p, p), (p, p), (0, 0)))
            dy, dx = jax.random.randint(k_crop, (2,), 0, 2 * p + 1)
            img = jax.lax.dynamic_slice(padded, (dy, dx, 0), (h, w, img.shape[2]))
        if flip:
            img = jnp.where(jax.random.bernoulli(k_flip), img[:, ::-1, :], img)
        x = normalize(img, mean, std, jnp.float32)
        if cutout:
            cy, cx = jax.random.randint(k_cut, (2,), 0, jnp.array([h, w]))
            ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
            half = cutout // 2  # DARTS utils.Cutout: rows [cy - L//2, cy + L//2), clipped at the border
            inside = (ys >= cy - half) & (ys < cy + half) & (xs >= cx - half) & (xs < cx + half)
            x = jnp.where(inside[..., None], 0.0, x)
        return x.astype(dtype)

    return jax.vmap(one)(keys, images)


# --------------------------------------------------------------------------------------------------------------
# Host stream (ImageNet): random access source -> decoded, cropped uint8 batches.
# --------------------------------------------------------------------------------------------------------------


class FolderSource:
    """Random access over an image-folder split: ``len`` and ``[i] -> (uint8 HWC image, label)``."""

    def __init__(self, split_dir: pathlib.Path, classes: Sequence[str]):
        self.files, self.labels = folder_files(split_dir, classes)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return decode_image(self.files[i]), int(self.labels[i])


class TfdsSource:
    """Random access over a tfds split (``tfds.data_source``)."""

    def __init__(self, config: TrainConfig, split: str):
        self.source = tfds_source(config.dataset, split, config.data_dir, config.download, config.manual_dir)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        ex = self.source[i]
        return np.asarray(ex["image"], np.uint8), int(ex["label"])


def open_stream_sources(config: TrainConfig) -> tuple[Any, Any]:
    """(train, test) random-access sources for streamed training."""
    if config.data_source == "folder":
        root = existing_path(config.data_dir, "the image-folder root (holding train/ and test/)")
        classes = class_names(root / "train")
        return FolderSource(root / "train", classes), FolderSource(root / "test", classes)
    if config.data_source == "tfds":
        return TfdsSource(config, "train"), TfdsSource(config, "validation")
    raise DataError("stream=true reads data_source=folder or data_source=tfds; an .npz set fits in memory, "
                    "so set stream=false")


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), Image.BILINEAR), np.uint8)


def random_resized_crop(img: np.ndarray, size: int, rng: np.random.Generator,
                        scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)
                        ) -> np.ndarray:
    """torchvision ``RandomResizedCrop`` (as DARTS ImageNet training uses it), drawn from ``rng``."""
    h, w = img.shape[:2]
    area = h * w
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
        cw, ch = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            return _resize(img[y: y + ch, x: x + cw], (size, size))
    side = min(h, w)  # fallback of torchvision: a centre crop
    y, x = (h - side) // 2, (w - side) // 2
    return _resize(img[y: y + side, x: x + side], (size, size))


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    """Resize the short side to size/0.875 then crop the centre (the standard ImageNet evaluation)."""
    h, w = img.shape[:2]
    short = int(round(size / 0.875))
    scale = short / min(h, w)
    img = _resize(img, (max(size, int(round(h * scale))), max(size, int(round(w * scale)))))
    h, w = img.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return img[y: y + size, x: x + size]


def stream_train_batches(source: Any, config: TrainConfig, epoch: int, start: int, steps: int, order: np.ndarray,
                         workers: int = 8) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches ``start..steps-1`` of an epoch whose example order is ``order``, decoded on ``workers`` threads.

    Each example's crop and flip come from ``default_rng([seed, epoch, index])``: independent of the batch it
    falls in and of where a run was resumed.
    """
    bs = config.batch_size

    def load(i: int) -> tuple[np.ndarray, int]:
        rng = np.random.default_rng([config.seed, epoch, int(i)])
        img, label = source[int(i)]
        img = random_resized_crop(img, config.image_size, rng)
        if config.flip and rng.random() < 0.5:
            img = img[:, ::-1]
        return img, label

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for s in range(start, steps):
            items = list(pool.map(load, order[s * bs: (s + 1) * bs]))
            yield np.stack([im for im, _ in items]), np.asarray([lb for _, lb in items], np.int32)


def stream_eval_batches(source: Any, size: int, batch: int, workers: int = 8
                        ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The whole split, centre-cropped, in batches of ``batch`` (the last one may be short)."""

    def load(i: int) -> tuple[np.ndarray, int]:
        img, label = source[i]
        return center_crop(img, size), label

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(source), batch):
            items = list(pool.map(load, range(start, min(start + batch, len(source)))))
            yield np.stack([im for im, _ in items]), np.asarray([lb for _, lb in items], np.int32)
