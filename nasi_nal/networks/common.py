"""Pieces every network shares: the ReLU module scores hook into, and parameter counting."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class ReLU(nn.Module):
    """ReLU as a module, so scores can capture every activation code with ``capture_intermediates``.

    ``nn.relu`` is a plain function that Flax cannot intercept; NASWOT (Mellor et al., 2021) needs the binary
    code of every ReLU, so all networks in this package apply their ReLUs through this module.
    """

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.relu(x)


def count_params(module: nn.Module, input_shape: Sequence[int] = (1, 32, 32, 3)) -> int:
    """Number of trainable parameters (the ``params`` collection), from shapes only (``jax.eval_shape``).

    Batch-norm running statistics live in ``batch_stats`` and are not counted, as TensorFlow does not count them
    among trainable variables; batch-norm scale and offset are, as TF's ``gamma`` and ``beta`` are trainable
    (``tf.layers.batch_normalization`` defaults to ``center=scale=True``). Counted this way, ``NB101Network``
    matches NAS-Bench-101's ``trainable_parameters`` (``benchmarks/nb101_param_fidelity.py``). Every network's
    ``__call__`` must accept ``train``.
    """
    x = jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32)
    shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), jnp.zeros(x.shape, x.dtype), train=False))
    return num_params(shapes["params"])


def num_params(params: object) -> int:
    """Number of entries in a parameter pytree (arrays or shape structs)."""
    return int(sum(np.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(params)))
