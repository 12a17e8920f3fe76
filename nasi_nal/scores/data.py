"""Scoring batches: real or Gaussian inputs, real or random labels (NASI's label- and data-agnostic modes).

NASI (Shu et al., ICLR 2022, Sec. 4.2) shows that its NTK-trace estimator needs neither the true labels nor
the true data: labels drawn uniformly at random and inputs drawn i.i.d. from a standard Gaussian rank
architectures about as well. ``make_batch`` builds all four combinations from one key, so a benchmark can
switch modes with two strings and the Gaussian mode needs no dataset at all.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

# Per-channel CIFAR-10 mean and std (RGB, on the 0..255 scale), as NAS-Bench-201 normalizes its inputs
# (D-X-Y/AutoDL-Projects, lib/datasets/get_dataset_with_transform.py).
CIFAR10_MEAN = (125.3, 123.0, 113.9)
CIFAR10_STD = (63.0, 62.1, 66.7)

INPUT_MODES = ("real", "gaussian")
LABEL_MODES = ("real", "random")


class Batch(NamedTuple):
    """A scoring batch (a pytree): ``inputs`` (N, H, W, C) float32 NHWC and integer ``labels`` (N,)."""

    inputs: jax.Array
    labels: jax.Array


def normalize_cifar10(images: np.ndarray | jax.Array) -> jax.Array:
    """uint8 NHWC images -> float32, standardized per channel with NAS-Bench-201's CIFAR-10 mean and std."""
    images = jnp.asarray(images, jnp.float32)
    return (images - jnp.asarray(CIFAR10_MEAN, jnp.float32)) / jnp.asarray(CIFAR10_STD, jnp.float32)


def gaussian_batch(
    key: jax.Array, batch_size: int, input_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10
) -> Batch:
    """NASI's data- and label-agnostic batch: i.i.d. N(0, 1) inputs and uniform random labels."""
    k_x, k_y = jax.random.split(key)
    inputs = jax.random.normal(k_x, (batch_size, *input_shape), jnp.float32)
    labels = jax.random.randint(k_y, (batch_size,), 0, num_classes, jnp.int32)
    return Batch(inputs, labels)


def make_batch(
    key: jax.Array,
    batch_size: int,
    *,
    images: np.ndarray | jax.Array | None = None,
    labels: np.ndarray | jax.Array | None = None,
    inputs: str = "real",
    targets: str = "real",
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
) -> Batch:
    """A batch of ``batch_size`` examples in one of NASI's four modes.

    Args:
      key: ``jax.random`` key; split into one key for the example draw, one for Gaussian inputs, one for labels.
      batch_size: number of examples.
      images: (M, H, W, C) pool to draw real inputs from (uint8 images are normalized with
        ``normalize_cifar10``; float images are used as given). Needed when ``inputs="real"``.
      labels: (M,) integer labels of ``images``. Needed when ``targets="real"``.
      inputs: ``"real"`` (draw ``batch_size`` distinct images from the pool) or ``"gaussian"`` (i.i.d. N(0, 1)).
      targets: ``"real"`` (the drawn images' labels) or ``"random"`` (uniform over ``num_classes``).
      input_shape: (H, W, C) of Gaussian inputs.
      num_classes: range of random labels.

    Returns:
      A ``Batch``.
    """
    if inputs not in INPUT_MODES:
        raise ValueError(f"inputs={inputs!r} is not a mode: use one of {INPUT_MODES}")
    if targets not in LABEL_MODES:
        raise ValueError(f"targets={targets!r} is not a mode: use one of {LABEL_MODES}")
    k_pick, k_x, k_y = jax.random.split(key, 3)
    if inputs == "real" and images is None:
        raise ValueError("inputs='real' needs images=: pass a pool of images, or use inputs='gaussian'")
    if targets == "real" and labels is None:
        raise ValueError("targets='real' needs labels=: pass the pool's labels, or use targets='random'")
    if inputs == "real" or targets == "real":
        pool = int(np.shape(images if images is not None else labels)[0])
        if images is not None and labels is not None and np.shape(labels)[0] != pool:
            raise ValueError(f"{np.shape(labels)[0]} labels for {pool} images: pass one label per image")
        if batch_size > pool:
            raise ValueError(f"batch_size={batch_size} is larger than the pool of {pool} examples: pass more")
        pick = np.asarray(jax.random.choice(k_pick, pool, (batch_size,), replace=False))
    if inputs == "real":
        x = np.asarray(images)[pick]
        x = normalize_cifar10(x) if x.dtype == np.uint8 else jnp.asarray(x, jnp.float32)
        input_shape = x.shape[1:]
    else:
        x = jax.random.normal(k_x, (batch_size, *input_shape), jnp.float32)
    if targets == "real":
        y = jnp.asarray(np.asarray(labels)[pick], jnp.int32)
    else:
        y = jax.random.randint(k_y, (batch_size,), 0, num_classes, jnp.int32)
    return Batch(x, y)
