"""Zero-cost baselines, one calling convention: ``score(model, variables, batch, key, name=None) -> float``.

Each follows the definition of the paper (and official code) its docstring names. Batch norm is in eval mode
with its initial statistics, as for the NTK scores (``nasi_nal.scores.common``); the PyTorch reference code runs
BN in train mode, so absolute values differ from published ones while the definitions are the same.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.networks.common import ReLU, count_params
from nasi_nal.scores.common import (
    Variables,
    apply_fn,
    check_batch,
    check_finite,
    compiled,
    cross_entropy,
    enable_x64,
    weight_leaves,
)
from nasi_nal.scores.data import Batch


def params(model: nn.Module, variables: Variables, batch: Batch, key: jax.Array | None = None,
           name: str | None = None) -> float:
    """Number of trainable parameters (``nasi_nal.networks.common.count_params``), the size baseline of
    Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021 (``params``)."""
    return float(count_params(model, (1, *batch.inputs.shape[1:])))


def _jaxpr_macs(jaxpr: Any) -> int:
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
            total += repeat * _jaxpr_macs(sub)
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


def flops(model: nn.Module, variables: Variables, batch: Batch, key: jax.Array | None = None,
          name: str | None = None) -> float:
    """Multiply-accumulates of one example's forward pass, counted from the jaxpr (not XLA's cost analysis).

    Counts every convolution and matrix product (``conv_general_dilated``, ``dot_general``), i.e. conv and
    dense layers, one multiply-add = one FLOP as NAS-Bench-201's and DARTS' counters report "FLOPs"; element-
    wise ops, pooling and BN are not counted. The jaxpr count is exact and the same on every backend, whereas
    XLA's ``cost_analysis`` depends on the compiler's fusion and its format changed across JAX versions.
    The ``flops`` baseline of Abdelfattah et al. (ICLR 2021).
    """
    x1 = jax.ShapeDtypeStruct((1, *batch.inputs.shape[1:]), jnp.float32)
    closed = jax.make_jaxpr(lambda v, x: model.apply(v, x, train=False))(variables, x1)
    return float(_jaxpr_macs(closed.jaxpr))


def _loss_grads(model: nn.Module) -> Callable:
    def run(variables: Variables, batch: Batch) -> Any:
        f = apply_fn(model, variables)
        return jax.grad(lambda p: cross_entropy(f(p, batch.inputs), batch.labels))(variables["params"])

    return run


def grad_norm(model: nn.Module, variables: Variables, batch: Batch, key: jax.Array | None = None,
              name: str | None = None) -> float:
    """Sum over conv/dense weights of the Frobenius norm of d L / d W, L the mean cross-entropy of the batch.

    Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021 (mohsaied/zero-cost-nas,
    ``measures/grad_norm.py``: ``layer.weight.grad.norm()`` summed over Conv2d and Linear layers).
    """
    check_batch(batch, "grad_norm")
    grads = compiled(_loss_grads, model)(variables, batch)
    value = sum(float(jnp.linalg.norm(g.reshape(-1))) for g in weight_leaves(grads))
    return check_finite(value, "grad_norm", name)


def snip(model: nn.Module, variables: Variables, batch: Batch, key: jax.Array | None = None,
         name: str | None = None) -> float:
    """SNIP saliency summed over conv/dense weights: sum |W * d L / d W|.

    Lee, Ajanthan, Torr, "SNIP: Single-shot Network Pruning based on Connection Sensitivity", ICLR 2019, as a
    network score in Abdelfattah et al. (ICLR 2021, ``measures/snip.py``).
    """
    check_batch(batch, "snip")
    grads = compiled(_loss_grads, model)(variables, batch)
    pairs = zip(weight_leaves(variables["params"]), weight_leaves(grads))
    value = sum(float(jnp.sum(jnp.abs(w * g))) for w, g in pairs)
    return check_finite(value, "snip", name)


def _without_bn(model: nn.Module, variables: Variables, input_shape: tuple, key: jax.Array) -> tuple[nn.Module, Any]:
    """The same network with ``batch_norm=False``, carrying the given weights over by parameter path.

    A parameter that exists only without BN (e.g. a conv bias that BN made redundant) keeps the BN-free
    network's own initialization from ``key``; a parameter whose shape changed is an error.
    """
    if "batch_stats" not in variables and not getattr(model, "batch_norm", False):
        return model, variables["params"]
    if not hasattr(model, "batch_norm"):
        raise ValueError(
            f"synflow needs the network without batch norm, but {type(model).__name__} has no `batch_norm` "
            "field: give the module a field `batch_norm: bool = True` that drops every BN layer when False"
        )
    plain = model.clone(batch_norm=False)
    fresh = plain.init(key, jnp.zeros(input_shape), train=False)["params"]
    given = {jax.tree_util.keystr(p): w for p, w in jax.tree_util.tree_flatten_with_path(variables["params"])[0]}
    flat, structure = jax.tree_util.tree_flatten_with_path(fresh)
    leaves = []
    for path, own in flat:
        leaf = given.get(jax.tree_util.keystr(path), own)
        if leaf.shape != own.shape:
            raise ValueError(
                f"synflow: parameter {jax.tree_util.keystr(path)} has shape {own.shape} in "
                f"{type(model).__name__}(batch_norm=False) but {leaf.shape} in the given variables: name the "
                "network's layers so they keep their names when batch norm is dropped"
            )
        leaves.append(leaf)
    return plain, jax.tree_util.tree_unflatten(structure, leaves)


def _synflow_grads(model: nn.Module) -> Callable:
    def run(params: Any, x: jax.Array) -> Any:
        return jax.grad(lambda p: jnp.sum(model.apply({"params": p}, x, train=False)))(params)

    return run


def synflow(model: nn.Module, variables: Variables, batch: Batch, key: jax.Array | None = None,
            name: str | None = None) -> float:
    """SynFlow: sum over conv/dense weights of |W * d R / d W|, R = sum of the outputs of the linearised network.

    Tanaka et al., "Pruning neural networks without any data by iteratively conserving synaptic flow",
    NeurIPS 2020, as the network score of Abdelfattah et al. (ICLR 2021, ``measures/synflow.py``): the network
    *without batch norm* (``model.clone(batch_norm=False)``, same weights), every parameter replaced by its
    absolute value, one all-ones input, in float64 (the product over layers overflows float32 in deep cells; a
    network with a compute ``dtype`` field is cloned with ``dtype=float64``).
    Only the input's shape is taken from ``batch``; ``key`` initializes parameters that exist only without BN.
    """
    shape = (1, *batch.inputs.shape[1:])
    key = jax.random.PRNGKey(0) if key is None else key
    plain, plain_params = _without_bn(model, variables, shape, key)
    if hasattr(plain, "dtype"):  # a network that casts to its compute dtype would run this in float32
        plain = plain.clone(dtype=jnp.float64)
    with enable_x64():
        abs_params = jax.tree_util.tree_map(lambda w: jnp.abs(jnp.asarray(w, jnp.float64)), plain_params)
        grads = compiled(_synflow_grads, plain)(abs_params, jnp.ones(shape, jnp.float64))
        pairs = zip(weight_leaves(abs_params), weight_leaves(grads))
        value = sum(float(jnp.sum(jnp.abs(w * g))) for w, g in pairs)
    return check_finite(value, "synflow", name)


def _input_jacobian(model: nn.Module) -> Callable:
    def run(variables: Variables, x: jax.Array) -> jax.Array:
        f = apply_fn(model, variables)
        one = jax.grad(lambda xi: jnp.sum(f(variables["params"], xi[None])))
        return jax.vmap(one)(x).reshape(x.shape[0], -1)

    return run


def jacob_cov(model: nn.Module, variables: Variables, batch: Batch, key: jax.Array | None = None,
              name: str | None = None) -> float:
    """Jacobian covariance: -sum_i [log(v_i + k) + 1 / (v_i + k)], k = 1e-5, v the eigenvalues of the correlation
    matrix of the per-example input Jacobians of the summed logits.

    Mellor et al., "Neural Architecture Search without Training", arXiv v1 (2020), as implemented by
    Abdelfattah et al. (ICLR 2021, ``measures/jacob_cov.py``: ``np.corrcoef`` then ``eval_score``). Eigenvalues
    by ``eigvalsh`` in float64 on host.
    """
    check_batch(batch, "jacob_cov")
    return jacob_cov_value(compiled(_input_jacobian, model)(variables, batch.inputs), name)


def jacob_cov_value(jacobians: jax.Array | np.ndarray, name: str | None = None) -> float:
    """``jacob_cov`` from the (N, D) per-example input Jacobians (float64 on host)."""
    jac = np.asarray(jacobians, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(jac)
    if not np.all(np.isfinite(corr)):
        return check_finite(np.nan, "jacob_cov", name)
    v = np.linalg.eigvalsh(corr)
    k = 1e-5
    return check_finite(-np.sum(np.log(v + k) + 1.0 / (v + k)), "jacob_cov", name)


def _is_relu(module: nn.Module, method_name: str) -> bool:
    return isinstance(module, ReLU) and method_name == "__call__"


def hamming_kernels(state: Any, n: int) -> list[jax.Array]:
    """NASWOT's kernel c c^T + (1 - c)(1 - c)^T of every ReLU output captured in ``state["intermediates"]``.

    c is the (n, units) binary code; entries count units, so they are exact in float32 up to 2^24 units.
    """
    kernels = []
    for out in jax.tree_util.tree_leaves(state.get("intermediates", {})):
        c = (out > 0).reshape(n, -1).astype(jnp.float32)
        kernels.append(c @ c.T + (1.0 - c) @ (1.0 - c).T)
    return kernels


def _relu_kernels(model: nn.Module) -> Callable:
    def run(variables: Variables, x: jax.Array) -> jax.Array:
        _, state = model.apply(variables, x, train=False, capture_intermediates=_is_relu, mutable=["intermediates"])
        kernels = hamming_kernels(state, x.shape[0])
        if not kernels:
            raise ValueError(
                f"nwot: {type(model).__name__} applies no nasi_nal.networks.common.ReLU module; apply every ReLU "
                "through that module so its activation codes can be captured"
            )
        return jnp.stack(kernels)

    return run


def nwot(model: nn.Module, variables: Variables, batch: Batch, key: jax.Array | None = None,
         name: str | None = None) -> float:
    """NASWOT: log |K_H|, K_H[i, j] = number of ReLU units on which examples i and j share their binary code.

    Mellor, Turner, Storkey, Crowley, "Neural Architecture Search without Training", ICML 2021 (v2 score;
    BayesWatch/nas-without-training: a hook on every ReLU adds ``x x^T + (1 - x)(1 - x)^T`` of the binary codes,
    then ``slogdet``). Codes are captured from every ``nasi_nal.networks.common.ReLU`` with
    ``capture_intermediates``; per-layer kernels are summed and ``slogdet`` taken in float64 on host. A singular
    K_H (two examples with identical codes everywhere) raises ``NonFiniteScoreError``.
    """
    check_batch(batch, "nwot")
    return nwot_value(compiled(_relu_kernels, model)(variables, batch.inputs), name)


def nwot_value(per_layer: jax.Array | np.ndarray, name: str | None = None) -> float:
    """``nwot`` from the (L, N, N) per-ReLU-layer Hamming kernels: log |sum of layers| in float64 on host."""
    per_layer = np.asarray(per_layer, np.float64)
    sign, logdet = np.linalg.slogdet(per_layer.sum(axis=0))
    return check_finite(logdet if sign > 0 else -np.inf, "nwot", name)
