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
* ``stage_features``: the entropy of each stage feature's channel spectrum (AZ-NAS's expressivity, per stage);
* ``stage_jacobians``: for each pair of consecutive stages, the largest singular value of the channel map
  E[g_in g_out^T] of a Rademacher cotangent g_out pulled back through the stage (AZ-NAS's trainability, per pair);
* ``params``, ``flops``: from shapes and the jaxpr, on the host.

The stage quantities need the network laid out as stages (``nasi_nal.networks.tape``: NB201 and NB101 networks).
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
    STAGE_FEATURES = "stage_features"
    STAGE_JACOBIANS = "stage_jacobians"
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


def feature_entropy(feature: np.ndarray) -> float:
    """Entropy of the normalised eigenvalues of a stage feature's channel covariance (over examples and pixels).

    AZ-NAS's per-stage expressivity (cvlab-yonsei/AZ-NAS ``NB201/ZeroShotProxy/compute_az_nas_score.py``): high when
    the features spread over many channel directions. Float64 on the host.
    """
    x = np.asarray(feature, np.float64).reshape(-1, np.shape(feature)[-1])
    x = x - x.mean(axis=0, keepdims=True)
    s = np.linalg.eigvalsh(x.T @ x / x.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant feature gives NaN, refused by the score
        p = s / s.sum()
    return float(np.sum(-p * np.log(p + 1e-8)))


def stage_jacobian_score(g_in: np.ndarray | None, g_out: np.ndarray) -> float:
    """AZ-NAS's per-stage trainability, -s - 1/s + 2 with s the largest singular value of E[g_in g_out^T].

    ``g_out`` (N, H, W, C_out) is a Rademacher cotangent of the stage's output, ``g_in`` its pull-back to the stage's
    input (None: no path, i.e. zeros); a stage that halves the resolution has ``g_in`` pixel-unshuffled to the
    output's grid. The score is 0 at s = 1 (the stage preserves gradient norms) and falls as s leaves 1; a stage
    that is the identity scores -inf, as in AZ-NAS.
    """
    g_out = np.asarray(g_out, np.float64)
    g_in = np.zeros_like(g_out) if g_in is None else np.asarray(g_in, np.float64)
    if g_in.shape == g_out.shape and np.array_equal(g_in, g_out):
        return -np.inf
    n, h, w, c = g_in.shape
    stride = h // g_out.shape[1]
    if stride > 1:  # pixel unshuffle: (N, H, W, C) -> (N, H/s, W/s, s*s*C)
        g_in = g_in.reshape(n, h // stride, stride, w // stride, stride, c).transpose(0, 1, 3, 2, 4, 5)
        g_in = g_in.reshape(n, h // stride, w // stride, stride * stride * c)
    a, b = g_in.reshape(-1, g_in.shape[-1]), g_out.reshape(-1, g_out.shape[-1])
    s = float(np.linalg.svd(a.T @ b / b.shape[0], compute_uv=False).max())
    return -s - 1.0 / (s + 1e-6) + 2.0


def _expressivity(value: np.ndarray, ctx: Context) -> float:
    return check_finite(float(np.sum(value)), "expressivity", ctx.cell)


def _progressivity(value: np.ndarray, ctx: Context) -> float:
    return check_finite(float(np.min(np.diff(value))), "progressivity", ctx.cell)


def _trainability(value: np.ndarray, ctx: Context) -> float:
    return check_finite(float(np.mean(value)), "trainability", ctx.cell)


def _as_float(score: str) -> Callable[[np.ndarray, Context], float]:
    return lambda value, ctx: check_finite(float(value), score, ctx.cell)


# ---------------------------------------------------------------------------------------------- the registry

_ZC = "Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021 (mohsaied/zero-cost-nas"
_AZ = "Lee & Ham, AZ-NAS, CVPR 2024 (cvlab-yonsei/AZ-NAS, NB201/ZeroShotProxy/compute_az_nas_score.py)"

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
    Score("expressivity", Quantity.STAGE_FEATURES, None, _expressivity,
          reference=f"{_AZ}: the sum over stages of the feature spectrum's entropy"),
    Score("progressivity", Quantity.STAGE_FEATURES, None, _progressivity,
          reference=f"{_AZ}: the smallest increase of the feature spectrum's entropy from one stage to the next"),
    Score("trainability", Quantity.STAGE_JACOBIANS, None, _trainability,
          reference=f"{_AZ}: the mean over stages of -s - 1/s + 2, s the stage Jacobian's largest singular value"),
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


#: Scores that need the network laid out as stages (``nasi_nal.networks.tape``), which the blockwise engine runs.
STAGE_SCORES = frozenset(name for name, s in SCORES.items()
                         if s.needs in (Quantity.STAGE_FEATURES, Quantity.STAGE_JACOBIANS))

__all__ = ["Context", "LOWER_IS_BETTER", "Quantity", "SCORES", "STAGE_SCORES", "Score", "check_names",
           "feature_entropy", "get", "jacob_cov_value", "kernel_norms", "kernel_saliencies", "nasi_trace_of",
           "ntk_cond_value", "nwot_value", "stage_jacobian_score"]
