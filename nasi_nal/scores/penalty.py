"""NASI's penalised objective on NTK traces, and its constraint nu set from the candidates themselves."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from nasi_nal.errors import ScoringConfigError


def nasi_penalized(trace: float | np.ndarray, mu: float, nu: float) -> float | np.ndarray:
    """NASI's penalised objective ``R = T - mu * max(0, T - nu)`` (Shu et al. 2022, Eq. 6).

    Maximising R prefers large NTK traces (fast training, Eq. 4) but stops rewarding -- and for mu > 1 starts
    penalising -- traces above the constraint nu. Works elementwise on arrays of traces.
    """
    if not np.isfinite(mu) or mu < 0:
        raise ScoringConfigError(f"mu={mu} must be a finite number >= 0 (it weighs the penalty)")
    if not np.isfinite(nu):
        raise ScoringConfigError(f"nu={nu} must be a finite number (the trace constraint)")
    t = np.asarray(trace, np.float64)
    r = t - mu * np.maximum(0.0, t - nu)
    return float(r) if r.ndim == 0 else r


def adaptive_nu(traces: Sequence[float] | np.ndarray, quantile: float = 0.9) -> float:
    """The constraint nu set from a sample of candidates: the ``quantile`` of their traces.

    NASI treats nu as a hyper-parameter. Here it is chosen relative to the population actually searched, so
    the penalty only bites on the ``1 - quantile`` fraction of candidates with the largest traces whatever the
    network scale or normalisation. Score the sample with the same estimator, batch size and normalisation as
    the candidates the penalty is applied to.
    """
    t = np.asarray(traces, np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ScoringConfigError("adaptive_nu needs a non-empty 1-D sample of finite traces")
    if not 0.0 <= quantile <= 1.0:
        raise ScoringConfigError(f"quantile={quantile} must lie in [0, 1]")
    return float(np.quantile(t, quantile))
