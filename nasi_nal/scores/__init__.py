"""Zero-cost scores at initialization: NASI's NTK trace, TE-NAS's condition number and the baselines.

Every score has one signature, ``score(model, variables, batch, key, name=None) -> float`` (``ScoreFn``):
``model`` a Flax module ``__call__(x, train)``, ``variables`` its initialized variables, ``batch`` a ``Batch``
(``make_batch`` makes the real / Gaussian-input and real / random-label modes), ``key`` a ``jax.random`` key
(for scores that sample; those here are deterministic given the batch) and ``name`` the cell, named in errors.
Larger is better for every score but ``ntk_cond`` (TE-NAS prefers small condition numbers).

Example:
  >>> key = jax.random.PRNGKey(0)
  >>> batch = make_batch(key, 32, inputs="gaussian", targets="random")
  >>> variables = model.init(key, batch.inputs[:1], train=False)
  >>> get_score("nasi_trace")(model, variables, batch, key, name="|nor_conv_3x3~0|+...")
"""
from __future__ import annotations

from nasi_nal.errors import UnknownScoreError
from nasi_nal.scores.baselines import flops, grad_norm, jacob_cov, nwot, params, snip, synflow
from nasi_nal.scores.common import ScoreFn
from nasi_nal.scores.data import Batch, gaussian_batch, make_batch, normalize_cifar10
from nasi_nal.scores.ntk import (
    adaptive_nu,
    nasi_penalized,
    nasi_trace,
    ntk_condition_number,
    ntk_gram,
    ntk_trace,
    ntk_trace_score,
)

SCORES: dict[str, ScoreFn] = {
    "ntk_trace": ntk_trace_score,
    "nasi_trace": nasi_trace,
    "ntk_cond": ntk_condition_number,
    "params": params,
    "flops": flops,
    "grad_norm": grad_norm,
    "snip": snip,
    "synflow": synflow,
    "jacob_cov": jacob_cov,
    "nwot": nwot,
}

#: Scores for which a smaller value predicts a better network.
LOWER_IS_BETTER = frozenset({"ntk_cond"})


def get_score(name: str) -> ScoreFn:
    """The registered score called ``name``; ``UnknownScoreError`` lists the known names otherwise."""
    try:
        return SCORES[name]
    except KeyError:
        raise UnknownScoreError(f"unknown score {name!r}: choose one of {', '.join(sorted(SCORES))}") from None


__all__ = [
    "LOWER_IS_BETTER", "SCORES", "Batch", "ScoreFn", "adaptive_nu", "flops", "gaussian_batch", "get_score",
    "grad_norm", "jacob_cov", "make_batch", "nasi_penalized", "nasi_trace", "normalize_cifar10",
    "ntk_condition_number", "ntk_gram", "ntk_trace", "ntk_trace_score", "nwot", "params", "snip", "synflow",
]
