"""Zero-cost scores at initialization: NASI's NTK trace, TE-NAS's condition number and the baselines.

The package reads as definitions plus engines:

* ``definitions``: every score once -- the network quantity it needs, its device reduction, its host finish and
  whether lower is better (:data:`SCORES`, the name -> definition registry);
* ``joint``, ``blockwise``, ``masked``, ``oracle``: engines that compute those quantities (one program per network;
  blocks compiled once per space; many cells per call; neural-tangents);
* ``engines``: :func:`choose` maps (space, backend, score names) to engines, and :func:`iter_scores` /
  :func:`score_cell` are the one way callers score cells;
* ``common``: the network function with its batch-norm mode (train mode, batch statistics, by default), keys,
  checks; ``data``: scoring batches; ``functions``: one function per score; ``penalty``: NASI's objective.

Every score function has one signature, ``score(model, variables, batch, key, name=None) -> float``; larger is
better for every score but ``ntk_cond``.

Example:
  >>> key = cell_key(0, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
  >>> batch = make_batch(jax.random.PRNGKey(0), 64, inputs="gaussian", targets="random")
  >>> variables, result = score_cell(model, None, batch, ["nasi_trace", "synflow"], key)
"""
from __future__ import annotations

from nasi_nal.scores.common import (
    BN_MODES,
    DEFAULT_BN,
    DEFAULT_PROBES,
    CellScores,
    cell_key,
    draw_keys,
)
from nasi_nal.scores.data import Batch, gaussian_batch, make_batch, normalize_cifar10
from nasi_nal.scores.definitions import LOWER_IS_BETTER, SCORES, Score
from nasi_nal.scores.engines import ENGINES, choose, iter_scores, score_cell
from nasi_nal.scores.functions import (
    ScoreFn,
    flops,
    grad_norm,
    jacob_cov,
    nasi_trace,
    ntk_condition_number,
    ntk_gram,
    ntk_trace,
    ntk_trace_score,
    nwot,
    params,
    score_function,
    snip,
    synflow,
)
from nasi_nal.scores.penalty import adaptive_nu, nasi_penalized


def get_score(name: str) -> ScoreFn:
    """The function of the registered score ``name``; ``UnknownScoreError`` lists the known names otherwise."""
    return score_function(name)


__all__ = [
    "BN_MODES", "Batch", "CellScores", "DEFAULT_BN", "DEFAULT_PROBES", "ENGINES", "LOWER_IS_BETTER", "SCORES",
    "Score", "ScoreFn", "adaptive_nu", "cell_key", "choose", "draw_keys", "flops", "gaussian_batch", "get_score",
    "grad_norm", "iter_scores", "jacob_cov", "make_batch", "nasi_penalized", "nasi_trace", "normalize_cifar10",
    "ntk_condition_number", "ntk_gram", "ntk_trace", "ntk_trace_score", "nwot", "params", "score_cell",
    "score_function", "snip", "synflow",
]
