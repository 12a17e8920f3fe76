"""Every zero-cost score, defined once: the network quantity it needs, its device reduction, its host finish.

A :class:`Score` needs one :class:`Quantity` of the network at initialization. An engine
(``nasi_nal.scores.joint``, ``blockwise``, ``masked``; ``oracle`` for the exact NTK) computes that quantity its own
way, applies the score's ``reduce`` to it on the device (inside whatever program it compiles), and hands the small
result to the score's ``finish``, which makes the float on the host in float64. So what a score *is* lives here
alone, and engines are interchangeable executors of these definitions.

The quantities, for the batch function F(theta, X) -> (N, K) in the chosen batch-norm mode
(``nasi_nal.scores.common``):

* ``loss_grad``: (params, g) with g = dL/dtheta, L the batch's mean cross-entropy (one backward pass);
* ``ntk_trace``: tr(J J^T), J = dF/dtheta -- exactly (N * K backward passes; per example in eval mode) or by
  k Rademacher probes, E ||J^T v||^2 (k backward passes);
* ``ntk_gram``: the (N, N) Gram matrix of the gradients of each example's summed logits (TE-NAS);
* ``input_grad``: d(sum of F)/dX, (N, D);
* ``relu_codes``: the (L, N, N) NASWOT Hamming kernels of the L ReLU layers;
* ``synflow``: (|theta|, dR/d|theta|) of the network without BN in float64, R the sum of its outputs on ones;
* ``params``, ``flops``: from shapes and the jaxpr, on the host.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax.numpy as jnp
import numpy as np

from nasi_nal.errors import UnknownScoreError
from nasi_nal.scores.common import check_finite, tree_sq_norm, weight_leaves


class Quantity:
    """Names of the network quantities engines compute (see the module docstring)."""

    LOSS_GRAD = "loss_grad"
    NTK_TRACE = "ntk_trace"
    NTK_GRAM = "ntk_gram"
    INPUT_GRAD = "input_grad"
    RELU_CODES = "relu_codes"
    SYNFLOW = "synflow"
    PARAMS = "params"
    FLOPS = "flops"


class Context(NamedTuple):
    """What finishing a score may need besides its reduced arrays."""

    batch_size: int
    num_outputs: int
    cell: str | None = None


class Score(NamedTuple):
    """One score.

    Attributes:
      name: its registry name.
      needs: the :class:`Quantity` it is computed from.
      reduce: device side, traced inside an engine's program: (params, gradients) -> array for ``loss_grad`` and
        ``synflow``; None for the other quantities, which reach ``finish`` as the engine computes them. Every
        reduction is additive over parts of the parameter tree (per-leaf terms that ``finish`` sums), so an engine
        that holds the gradients block by block may reduce each block and concatenate.
      finish: host side: (reduced array as NumPy, Context) -> the score, finite or ``NonFiniteScoreError``.
      lower_is_better: True when a smaller value predicts a better network.
      reference: the paper and code the definition follows.
    """

    name: str
    needs: str
    reduce: Callable[[Any, Any], Any] | None
    finish: Callable[[np.ndarray, Context], float]
    lower_is_better: bool = False
    reference: str = ""


# ------------------------------------------------------------------------------------------ device reductions


def _stack(terms: list) -> jnp.ndarray:
    return jnp.stack(terms) if terms else jnp.zeros((0,), jnp.float32)


def kernel_norms(params: Any, grads: Any) -> jnp.ndarray:
    """||dW||_F of every conv/dense kernel."""
    return _stack([jnp.sqrt(jnp.sum(jnp.square(g))) for g in weight_leaves(grads)])


def kernel_saliencies(params: Any, grads: Any) -> jnp.ndarray:
    """sum |W * dW| of every conv/dense kernel (SNIP's saliency; SynFlow's on |W| and its own gradient)."""
    return _stack([jnp.sum(jnp.abs(w * g)) for w, g in zip(weight_leaves(params), weight_leaves(grads))])


def nasi_trace_of(params: Any, grads: Any) -> jnp.ndarray:
    """NASI's NTK-trace estimator from the mean-loss gradient: ||dL/dtheta||^2 over every parameter (Eq. 5).

    The one formula of ``nasi_trace``: the scoring engines and the NASI supernet search all call it.
    """
    return tree_sq_norm(grads)


# --------------------------------------------------------------------------------------------- host finishes


def _total(score: str) -> Callable[[np.ndarray, Context], float]:
    def finish(value: np.ndarray, ctx: Context) -> float:
        return check_finite(float(np.sum(np.asarray(value, np.float64))), score, ctx.cell)

    return finish


def _ntk_trace(value: np.ndarray, ctx: Context) -> float:
    """The trace normalised per sample and per output: the mean squared gradient norm of one logit of one example."""
    return check_finite(float(value) / (ctx.batch_size * ctx.num_outputs), "ntk_trace", ctx.cell)


def ntk_cond_value(gram: np.ndarray, ctx: Context) -> float:
    """lambda_max / lambda_min of the (N, N) NTK Gram matrix, ``eigvalsh`` in float64.

    A smallest eigenvalue below N * float32 eps * lambda_max (rank-deficient: duplicate inputs, or a batch larger
    than the parameter count) has no finite condition number: ``NonFiniteScoreError`` naming the cell.
    """
    eig = np.linalg.eigvalsh(np.asarray(gram, np.float64))
    singular = eig[0] <= eig[-1] * len(eig) * np.finfo(np.float32).eps
    return check_finite(np.inf if singular else eig[-1] / eig[0], "ntk_cond", ctx.cell)


def jacob_cov_value(jacobians: np.ndarray, ctx: Context) -> float:
    """-sum_i [log(v_i + k) + 1 / (v_i + k)], k = 1e-5, v the eigenvalues of the correlation matrix of the rows of
    the (N, D) input Jacobians (``np.corrcoef`` then ``eigvalsh`` in float64, as ``measures/jacob_cov.py``)."""
    jac = np.asarray(jacobians, np.float64).reshape(len(jacobians), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(jac)
    if not np.all(np.isfinite(corr)):
        return check_finite(np.nan, "jacob_cov", ctx.cell)
    v = np.linalg.eigvalsh(corr)
    k = 1e-5
    return check_finite(-np.sum(np.log(v + k) + 1.0 / (v + k)), "jacob_cov", ctx.cell)


def nwot_value(per_layer: np.ndarray, ctx: Context) -> float:
    """log |sum of the (L, N, N) per-ReLU-layer Hamming kernels|, ``slogdet`` in float64; singular -> error."""
    sign, logdet = np.linalg.slogdet(np.asarray(per_layer, np.float64).sum(axis=0))
    return check_finite(logdet if sign > 0 else -np.inf, "nwot", ctx.cell)


def _as_float(score: str) -> Callable[[np.ndarray, Context], float]:
    return lambda value, ctx: check_finite(float(value), score, ctx.cell)


# ---------------------------------------------------------------------------------------------- the registry

_ZC = "Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021 (mohsaied/zero-cost-nas"

SCORES: dict[str, Score] = {s.name: s for s in (
    Score("ntk_trace", Quantity.NTK_TRACE, None, _ntk_trace,
          reference="NASI (Shu et al., ICLR 2022) Eq. 4: the NTK trace, normalised per example and logit"),
    Score("nasi_trace", Quantity.LOSS_GRAD, nasi_trace_of, _total("nasi_trace"),
          reference="NASI (Shu et al., ICLR 2022) Eq. 5: ||d mean-loss / d theta||^2"),
    Score("ntk_cond", Quantity.NTK_GRAM, None, ntk_cond_value, lower_is_better=True,
          reference="TE-NAS (Chen et al., ICLR 2021), VITA-Group/TENAS get_ntk_n"),
    Score("params", Quantity.PARAMS, None, _as_float("params"), reference=f"{_ZC})"),
    Score("flops", Quantity.FLOPS, None, _as_float("flops"), reference=f"{_ZC}); multiply-adds from the jaxpr"),
    Score("grad_norm", Quantity.LOSS_GRAD, kernel_norms, _total("grad_norm"),
          reference=f"{_ZC}, measures/grad_norm.py)"),
    Score("snip", Quantity.LOSS_GRAD, kernel_saliencies, _total("snip"),
          reference=f"Lee et al., SNIP, ICLR 2019, as {_ZC}, measures/snip.py)"),
    Score("synflow", Quantity.SYNFLOW, kernel_saliencies, _total("synflow"),
          reference=f"Tanaka et al., NeurIPS 2020, as {_ZC}, measures/synflow.py): no BN, |W|, ones, float64"),
    Score("jacob_cov", Quantity.INPUT_GRAD, None, jacob_cov_value,
          reference=f"Mellor et al., arXiv v1 2020, as {_ZC}, measures/jacob_cov.py)"),
    Score("nwot", Quantity.RELU_CODES, None, nwot_value,
          reference="Mellor et al., NAS without Training, ICML 2021 (BayesWatch/nas-without-training)"),
)}

#: Scores for which a smaller value predicts a better network.
LOWER_IS_BETTER = frozenset(name for name, s in SCORES.items() if s.lower_is_better)


def get(name: str) -> Score:
    """The definition of ``name``; ``UnknownScoreError`` listing the known names otherwise."""
    try:
        return SCORES[name]
    except KeyError:
        raise UnknownScoreError(f"unknown score {name!r}: choose one of {', '.join(sorted(SCORES))}") from None


def check_names(names: Any) -> list[str]:
    """``names`` as a list, after checking every one is a registered score (unknown ones fail before any work)."""
    names = list(names)
    unknown = sorted(set(names) - set(SCORES))
    if unknown:
        raise UnknownScoreError(f"unknown score(s) {unknown}: choose from {', '.join(sorted(SCORES))}")
    return names


__all__ = ["Context", "LOWER_IS_BETTER", "Quantity", "SCORES", "Score", "check_names", "get", "jacob_cov_value",
           "kernel_norms", "kernel_saliencies", "nasi_trace_of", "ntk_cond_value", "nwot_value"]
