"""Pieces every network shares: the ReLU module scores hook into, and counting parameters and multiply-adds."""
from __future__ import annotations

from typing import Any, Sequence

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


def is_relu(module: nn.Module, method_name: str) -> bool:
    """``capture_intermediates`` filter that records the output of every :class:`ReLU`."""
    return isinstance(module, ReLU) and method_name == "__call__"


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


def count_macs(model: nn.Module, variables: Any, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one example's forward pass (``input_shape`` without the batch), from the jaxpr.

    Counts every convolution and matrix product, i.e. conv and dense layers, one multiply-add = one FLOP as
    NAS-Bench-201's and DARTS' counters report "FLOPs"; element-wise ops, pooling and BN are not counted. The jaxpr
    count is exact and the same on every backend, whereas XLA's ``cost_analysis`` depends on the compiler's fusion.
    """
    x1 = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    shapes = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.asarray(a).dtype), variables)
    closed = jax.make_jaxpr(lambda v, x: model.apply(v, x, train=False))(shapes, x1)
    return jaxpr_macs(closed.jaxpr)


def jaxpr_macs(jaxpr: Any) -> int:
    """Multiply-accumulates of every ``conv_general_dilated`` and ``dot_general`` in a jaxpr, sub-jaxprs included."""
    total = 0
    for eqn in jaxpr.eqns:
        prim = eqn.primitive.name
        if prim == "conv_general_dilated":
            rhs = eqn.invars[1].aval.shape
            out = eqn.outvars[0].aval.shape
            out_features = rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
            # each output element: kh * kw * (C_in / groups) multiply-adds; rhs holds C_in / groups already
            total += int(np.prod(out)) * int(np.prod(rhs)) // int(out_features)
        elif prim == "dot_general":
            (lhs_contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += int(np.prod(eqn.outvars[0].aval.shape)) * int(np.prod([lhs[d] for d in lhs_contract]))
        repeat = int(eqn.params.get("length", 1)) if prim == "scan" else 1
        for sub in _sub_jaxprs(eqn.params):
            total += repeat * jaxpr_macs(sub)
    return total


def _sub_jaxprs(eqn_params: dict) -> list:
    subs = []
    for value in eqn_params.values():
        for v in value if isinstance(value, (tuple, list)) else (value,):
            if hasattr(v, "eqns"):
                subs.append(v)
            elif hasattr(v, "jaxpr") and hasattr(v.jaxpr, "eqns"):  # ClosedJaxpr
                subs.append(v.jaxpr)
    return subs
