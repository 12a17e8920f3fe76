"""Every check of a search's config, run before any work: a bad option is one ``NasiNalError`` naming the fix."""
from __future__ import annotations

import math
import numbers
import pathlib
from typing import Any, Callable

import jax

from nasi_nal import adapters, datasets, methods, proposers, report, scores
from nasi_nal.errors import NasiNalError
from nasi_nal.ranking import SCORING_BATCH
from nasi_nal.schema import SearchConfig
from nasi_nal.scores.common import check_bn, check_probes, draw_keys

DATA_MODES = ("gaussian", "cifar10")
SEED_MAX = 2**32 - 1  # jax.random.PRNGKey keeps 32 bits of a seed: larger seeds would share keys
NUM_CLASSES = 10  # classifier outputs of the scored networks (networks.build's default)
DEFAULT_RECIPES = {space: adapter.TRAIN_RECIPE for space, adapter in adapters.ADAPTERS.items()}


def validate(config: SearchConfig) -> None:
    """Raises ``NasiNalError`` for the first thing wrong with ``config`` (its ``top_k`` already filled in)."""
    if config.space not in adapters.ADAPTERS:
        raise NasiNalError(f"unknown space {config.space!r}: choose one of {', '.join(adapters.spaces())}")
    method = methods.get(config.method)
    adapter = adapters.get(config.space)
    _check_numbers(config)
    if not 1 <= config.top_k <= config.candidates:
        raise NasiNalError(f"--top-k {config.top_k} must lie between 1 and --candidates ({config.candidates})")
    if config.unscorable not in ("fail", "last"):
        raise NasiNalError(f"--unscorable {config.unscorable!r}: choose 'fail' or 'last'")
    scores.choose(config.space, methods.computed(config.method, config.space), engine=config.engine)
    check_bn(config.bn)
    check_probes(config.probes)
    draw_keys(jax.random.PRNGKey(0), config.inits)
    if config.labels not in ("random", "real"):
        raise NasiNalError(f"unknown labels mode {config.labels!r}: choose 'random' or 'real'")
    if config.labels == "real" and config.data == "gaussian":
        raise NasiNalError("--labels real needs real data: pass --data cifar10 or --data PATH")
    if config.output is not None:
        report.check_writable(config.output)
    proposers.user_cells(config)
    if config.train:
        train_config(config)
    if config.cells and method.ranker == "nal_log_prob" and not adapter.NAL_LIKELIHOOD:
        raise NasiNalError(f"--method {config.method} ranks --cell cells by the GAT's NAS-Bench-101 likelihood, "
                           f"which the one-way transfer to {config.space} does not define: use --method nal+nasi or "
                           "a score name")
    if config.table is not None and not adapter.HAS_TABLE:
        raise NasiNalError(f"--table is not available for the {adapter.TITLE} space: {adapter.TITLE} has no "
                           "tabular benchmark")
    check_data(config)
    if config.scores_file is not None:
        from nasi_nal import scores_file

        scores_file.check_for_search(config, methods.computed(config.method, config.space),
                                     config.batch_size or SCORING_BATCH)


def _check_numbers(config: SearchConfig) -> None:
    """Every numeric option in its range, integers as integers and reals finite (a NaN would pass any ``<``)."""
    _check_integer("--candidates", config.candidates, 1)
    _check_integer("--top-k", config.top_k, 1)
    _check_integer("--seed", config.seed, 0, SEED_MAX)
    if config.batch_size is not None:
        _check_integer("--batch-size", config.batch_size, 2)
    if config.nasi_steps is not None:
        _check_integer("--nasi-steps", config.nasi_steps, 1)
    _check_real("--mu", config.mu, ">= 0", lambda v: v >= 0)
    if config.nu is not None:
        _check_real("--nu", config.nu, "> 0", lambda v: v > 0)
    _check_real("nu_quantile", config.nu_quantile, "in [0, 1]", lambda v: 0 <= v <= 1)
    if methods.one_shot(config.method, config.space):
        supernet_settings(config)


def _check_integer(option: str, value: Any, low: int, high: int | None = None) -> None:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and low <= value
    if not ok or (high is not None and value > high):
        allowed = f"an integer in {low}..{high}" if high is not None else f"an integer >= {low}"
        raise NasiNalError(f"{option} {value!r}: pass {allowed}")


def _check_real(option: str, value: Any, allowed: str, in_range: Callable[[float], bool]) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not in_range(value):
        raise NasiNalError(f"{option} {value!r}: pass a finite number {allowed}")


def supernet_settings(config: SearchConfig) -> Any:
    """The NASI supernet's settings for this search (``nasi.configs`` checks them)."""
    from nasi_nal.nasi import configs

    overrides = {"steps": config.nasi_steps, "batch_size": config.batch_size, "mu": config.mu, "nu": config.nu}
    return configs.get_config(config.space, **{k: v for k, v in overrides.items() if v is not None})


def check_data(config: SearchConfig) -> None:
    """Reads ``--data``'s scoring pool now, so a bad data set (arrays, shapes, labels, a folder's contents, too few
    images for the batch) fails before any work rather than after the proposals."""
    if config.data == "gaussian":
        return
    if config.data not in DATA_MODES and not pathlib.Path(config.data).exists():
        raise NasiNalError(f"--data {config.data!r} is neither 'gaussian', 'cifar10' nor an existing path "
                           "(an .npz with x_train/y_train or an image folder with train/<class>/*)")
    images, labels = datasets.scoring_pool(config.data, limit=datasets.POOL_SIZE)
    one_shot = methods.one_shot(config.method, config.space)
    batch = supernet_settings(config).batch_size if one_shot else config.batch_size or SCORING_BATCH
    if len(images) < batch:
        raise NasiNalError(f"--data {config.data!r} holds {len(images)} training images, fewer than the scoring batch "
                           f"of {batch}: pass a smaller --batch-size or more images")
    if config.labels == "real" and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise NasiNalError(f"--data {config.data!r}: labels span {labels.min()}..{labels.max()}, but the scored "
                           f"networks have {NUM_CLASSES} classes (labels 0..{NUM_CLASSES - 1}); use --labels random")


def train_config(config: SearchConfig) -> Any:
    """The trainer config for the winners (recipe + overrides), checked before the search starts."""
    from nasi_nal import train

    recipe = config.train_recipe or DEFAULT_RECIPES[config.space]
    return train.apply_overrides(train.get_recipe(recipe), [*config.train_overrides, f"space={config.space}"])


__all__ = ["DATA_MODES", "check_data", "supernet_settings", "train_config", "validate"]
