"""Training recipes as data: one frozen config per benchmark schedule, every field overridable by ``key=value``.

Each recipe starts with the command that runs it and the number to expect, in the manner of flax
``examples/imagenet/configs`` and big_vision configs. Variants change a few fields of a base recipe
(``dataclasses.replace``), so the difference between two schedules reads off the code.

Example:
    >>> from nasi_nal.train import recipes
    >>> cfg = recipes.apply_overrides(recipes.get_recipe("nb201"), ["epochs=2", "data_source=npz"])
    >>> cfg.epochs, cfg.optimizer
    (2, 'sgd')
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import typing
from typing import Any, Callable, Iterable, Mapping

from nasi_nal.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Fields that change the trajectory are checked on ``--resume``."""

    recipe: str = ""
    # --- what to train -------------------------------------------------------------------------------------
    space: str = ""  # "nb101" | "nb201" | "darts"; empty when a module is passed to train_and_evaluate
    nb101_table: str = ""  # NAS-Bench-101 table file for hash look-ups (default: the table shipped with nasi_nal)
    cell: str = ""  # NB101 hash / matrix+ops JSON, NB201 arch string, DARTS genotype JSON, or a path to one
    proxy: bool = False  # the reduced (proxy) network of the builder instead of the benchmark's full one
    batch_norm: bool = True
    model_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # extra build() keywords
    # --- data ----------------------------------------------------------------------------------------------
    dataset: str = "cifar10"  # tfds name: cifar10 | cifar100 | imagenet2012
    data_source: str = "tfds"  # "tfds" | "npz" (x_train, y_train, x_test, y_test) | "folder" (train/<class>/*)
    data_dir: str = ""  # tfds data_dir, the .npz file, or the image-folder root
    manual_dir: str = ""  # tfds manual download dir (imagenet2012 needs the ILSVRC tars there)
    download: bool = False  # let tfds download and prepare; off by default so a missing set is an error
    num_classes: int = 10
    image_size: int = 32  # side of the (square) training images
    stream: bool = False  # stream from the host (ImageNet) instead of holding the set on the device
    max_train_examples: int = 0  # 0 = all; a prefix, for smoke runs
    max_test_examples: int = 0
    validation_holdout: int = 0  # the last N training images become a validation set (NB101 holds out 10k)
    # --- augmentation (inside the jitted step for in-memory data) ------------------------------------------
    crop_padding: int = 4  # zero-pad then random crop back to image_size (0 = off)
    flip: bool = True  # random horizontal flip
    cutout: int = 0  # side of the zeroed square (DeVries & Taylor 2017), 0 = off
    # --- optimisation --------------------------------------------------------------------------------------
    epochs: int = 1
    batch_size: int = 256  # global batch, split over all devices
    eval_batch_size: int = 500
    optimizer: str = "sgd"  # "sgd" | "rmsprop"
    learning_rate: float = 0.1
    lr_schedule: str = "cosine"  # "cosine" (per step, to 0) | "exponential_epoch" (lr * rate**epoch)
    lr_decay_rate: float = 0.97  # for exponential_epoch
    warmup_epochs: int = 0  # linear warm-up from 0 (whole epochs)
    zero_lr_first_step: bool = False  # NAS-Bench-101 trains with lr 0 at step 0
    momentum: float = 0.9
    nesterov: bool = False
    rmsprop_decay: float = 0.9
    rmsprop_eps: float = 1.0
    rmsprop_initial_scale: float = 1.0  # TF1 starts the RMS accumulator at 1, PyTorch at 0
    weight_decay: float = 0.0  # coupled L2 (grad += wd * w), as TF's l2_loss and PyTorch's SGD weight_decay
    grad_clip_norm: float = 0.0  # global-norm clipping before weight decay, 0 = off
    label_smoothing: float = 0.0
    drop_path: float = 0.0  # DARTS drop-path probability, raised linearly from 0 over the run
    aux_weight: float = 0.0  # weight of the auxiliary head's loss (DARTS), 0 = ignore the head
    dtype: str = "float32"  # compute dtype: float32 | bfloat16 (parameters stay float32)
    seed: int = 0
    # --- bookkeeping ---------------------------------------------------------------------------------------
    checkpoint_every_epochs: int = 1  # 0 = only at the end (and every_steps if set)
    checkpoint_every_steps: int = 0  # 0 = off
    keep_checkpoints: int = 2
    tensorboard: bool = True
    distributed: bool = False  # call jax.distributed.initialize() (multi-host; reads the cluster from env)


# Fields that never change the numbers a run produces: a resumed run may change them freely.
BOOKKEEPING_FIELDS = frozenset(
    {"checkpoint_every_epochs", "checkpoint_every_steps", "keep_checkpoints", "tensorboard", "distributed",
     "data_dir", "manual_dir", "download", "eval_batch_size", "recipe", "nb101_table"}
)


def nb101() -> TrainConfig:
    """NAS-Bench-101 (Ying et al., 2019): ``python -m nasi_nal.train --recipe nb101 --cell HASH``.

    google-research/nasbench ``lib/config.py`` and ``lib/model_builder.py``: 108 epochs, batch 256, RMSProp
    (decay 0.9, momentum 0.9, epsilon 1.0), lr 0.1 x 2 TPU shards = 0.2 with cosine decay by step and lr 0 at
    step 0, L2 1e-4 on every trainable variable; 40k train / 10k validation split of the CIFAR-10 train set.
    Expect about 94.3% test accuracy for the best cell (table mean; a single run varies by a few tenths).
    """
    return TrainConfig(
        recipe="nb101", space="nb101", epochs=108, batch_size=256, optimizer="rmsprop", learning_rate=0.2,
        lr_schedule="cosine", zero_lr_first_step=True, momentum=0.9, rmsprop_decay=0.9, rmsprop_eps=1.0,
        rmsprop_initial_scale=1.0, weight_decay=1e-4, validation_holdout=10_000,
    )


def nb201() -> TrainConfig:
    """NAS-Bench-201 (Dong & Yang, 2020), 200 epochs: ``python -m nasi_nal.train --recipe nb201 --cell '|...|'``.

    D-X-Y/AutoDL-Projects ``configs/nas-benchmark/hyper-opts/200E.config``: SGD Nesterov momentum 0.9, lr 0.1
    cosine to 0, weight decay 5e-4, batch 256, random crop (pad 4) + flip. Expect 94.37% (best cell, CIFAR-10).
    """
    return TrainConfig(
        recipe="nb201", space="nb201", epochs=200, batch_size=256, optimizer="sgd", learning_rate=0.1,
        lr_schedule="cosine", momentum=0.9, nesterov=True, weight_decay=5e-4,
    )


def nb201_12ep() -> TrainConfig:
    """NAS-Bench-201's 12-epoch schedule (``hyper-opts/12E.config``): the 200-epoch recipe cut to 12 epochs."""
    return dataclasses.replace(nb201(), recipe="nb201_12ep", epochs=12)


def darts_cifar() -> TrainConfig:
    """DARTS evaluation on CIFAR-10 (Liu et al., 2019): ``--recipe darts_cifar --cell genotype.json``.

    quark0/darts ``cnn/train.py``: 600 epochs, batch 96, SGD momentum 0.9, lr 0.025 cosine to 0, weight decay
    3e-4, cutout 16, drop path 0.2 (raised linearly over the run), auxiliary weight 0.4, gradient clip 5.
    Expect about 97.2% for the DARTS (2nd order) genotype.
    """
    return TrainConfig(
        recipe="darts_cifar", space="darts", epochs=600, batch_size=96, optimizer="sgd", learning_rate=0.025,
        lr_schedule="cosine", momentum=0.9, weight_decay=3e-4, cutout=16, drop_path=0.2, aux_weight=0.4,
        grad_clip_norm=5.0,
    )


def darts_imagenet() -> TrainConfig:
    """DARTS mobile setting on ImageNet (quark0/darts ``cnn/train_imagenet.py``): 250 epochs, batch 128.

    SGD momentum 0.9, lr 0.1 decayed by 0.97 every epoch, weight decay 3e-5, label smoothing 0.1, auxiliary
    weight 0.4, gradient clip 5, 224px random-resized crops + flip, streamed from the host. Expect about 73.3%.
    Needs ``data_dir``/``manual_dir`` for tfds ``imagenet2012`` or an image folder.
    """
    return TrainConfig(
        recipe="darts_imagenet", space="darts", dataset="imagenet2012", num_classes=1000, image_size=224,
        stream=True, crop_padding=0, epochs=250, batch_size=128, eval_batch_size=250, optimizer="sgd",
        learning_rate=0.1, lr_schedule="exponential_epoch", lr_decay_rate=0.97, momentum=0.9, weight_decay=3e-5,
        label_smoothing=0.1, aux_weight=0.4, grad_clip_norm=5.0,
    )


RECIPES: dict[str, Callable[[], TrainConfig]] = {
    "nb101": nb101, "nb201": nb201, "nb201_12ep": nb201_12ep, "darts_cifar": darts_cifar,
    "darts_imagenet": darts_imagenet,
}


def get_recipe(name: str) -> TrainConfig:
    """The named recipe's config; ``ConfigError`` naming the known recipes otherwise."""
    if name not in RECIPES:
        close = difflib.get_close_matches(name, RECIPES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown recipe {name!r}; known recipes: {', '.join(sorted(RECIPES))}.{hint}")
    return RECIPES[name]()


_TYPES = typing.get_type_hints(TrainConfig)
SEED_MAX = 2**32 - 1  # jax.random.PRNGKey keeps 32 bits of a seed: larger seeds would share keys
_WANT = {bool: "true/false", int: "an integer", float: "a number", str: "text"}


def _parse_value(key: str, text: str) -> Any:
    kind = _TYPES[key]
    try:
        if kind is bool:
            low = text.strip().lower()
            if low not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(text)
            return low in {"true", "1", "yes"}
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if kind is str:
            return text
        value = json.loads(text)  # Mapping: a JSON object, never eval
        if not isinstance(value, dict):
            raise ValueError(text)
        return value
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python's stack
        raise ConfigError(f"config field {key!r} needs {_WANT.get(kind, 'a JSON object')}, got {text!r:.200}") from None


def _has_type(value: Any, kind: Any) -> bool:
    if kind is bool or kind is str:
        return isinstance(value, kind)
    if kind is int or kind is float:
        return isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    return isinstance(value, Mapping)


def apply_overrides(config: TrainConfig, overrides: Iterable[str] | Mapping[str, Any]) -> TrainConfig:
    """A copy of ``config`` with ``key=value`` strings (CLI) or a mapping of typed values applied.

    Unknown keys raise ``ConfigError`` naming the closest field; values are parsed by the field's type
    (JSON for ``model_overrides``), never evaluated as code.
    """
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    changes: dict[str, Any] = {}
    items = overrides.items() if isinstance(overrides, Mapping) else (_split(o) for o in overrides)
    for key, value in items:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown config field {key!r}.{hint} Fields: {', '.join(sorted(fields))}")
        changes[key] = _parse_value(key, value) if isinstance(value, str) and _TYPES[key] is not str else value
    return validate(dataclasses.replace(config, **changes))


def _split(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. epochs=12)")
    key, value = text.split("=", 1)
    return key.strip(), value


def validate(config: TrainConfig) -> TrainConfig:
    """Checks choices and ranges so a bad field fails before any data is read."""
    choices = {
        "optimizer": ("sgd", "rmsprop"), "lr_schedule": ("cosine", "exponential_epoch"),
        "data_source": ("tfds", "npz", "folder"), "dtype": ("float32", "bfloat16"),
    }
    for key, allowed in choices.items():
        if getattr(config, key) not in allowed:
            raise ConfigError(f"config field {key}={getattr(config, key)!r} is not one of {allowed}")
    if config.space and config.space not in ("nb101", "nb201", "darts"):
        raise ConfigError(f"space={config.space!r} is not one of ('nb101', 'nb201', 'darts')")
    for key, kind in _TYPES.items():  # typed values (a mapping) are not parsed, so check their types
        value = getattr(config, key)
        if not _has_type(value, kind):
            raise ConfigError(f"config field {key!r} needs {_WANT.get(kind, 'a JSON object')}, got {value!r:.200}")
        if kind is float and not math.isfinite(value):
            raise ConfigError(f"config field {key}={value} must be a finite number")
    for key in ("epochs", "batch_size", "eval_batch_size", "num_classes", "image_size"):
        if getattr(config, key) <= 0:
            raise ConfigError(f"config field {key} must be positive, got {getattr(config, key)}")
    for key in ("max_train_examples", "max_test_examples", "validation_holdout", "crop_padding", "cutout",
                "warmup_epochs", "checkpoint_every_epochs", "checkpoint_every_steps", "keep_checkpoints",
                "weight_decay", "grad_clip_norm", "aux_weight", "rmsprop_initial_scale"):
        if getattr(config, key) < 0:
            raise ConfigError(f"config field {key}={getattr(config, key)} must be >= 0")
    for key in ("learning_rate", "rmsprop_eps", "lr_decay_rate"):
        if getattr(config, key) <= 0:
            raise ConfigError(f"config field {key}={getattr(config, key)} must be > 0")
    for key in ("momentum", "rmsprop_decay", "label_smoothing", "drop_path"):
        if not 0.0 <= getattr(config, key) < 1.0:
            raise ConfigError(f"config field {key}={getattr(config, key)} must be in [0, 1)")
    if not 0 <= config.seed <= SEED_MAX:
        raise ConfigError(f"config field seed={config.seed} must be an integer in 0..{SEED_MAX}")
    return config


def to_dict(config: TrainConfig) -> dict[str, Any]:
    """The config as JSON-ready data (written beside every run and into its checkpoints)."""
    out = dataclasses.asdict(config)
    out["model_overrides"] = dict(config.model_overrides)
    return out

