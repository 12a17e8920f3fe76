"""Rank correlation of scores with accuracy: Spearman and Kendall, each with a percentile-bootstrap 95% interval."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from scipy import stats

from nasi_nal.scores import LOWER_IS_BETTER


def bootstrap_ci(x: np.ndarray, y: np.ndarray, fn: Callable[[np.ndarray, np.ndarray], Any],
                 rng: np.random.Generator, reps: int = 1000) -> list[float]:
    """Percentile 95% interval of the rank correlation ``fn`` (e.g. ``scipy.stats.spearmanr``) over ``reps``
    resamples of the cells."""
    values = []
    for _ in range(reps):
        idx = rng.integers(0, len(x), len(x))
        values.append(fn(x[idx], y[idx]).statistic)
    return [float(v) for v in np.nanpercentile(values, [2.5, 97.5])]


def summarize(records: Sequence[dict[str, Any]], scores: Sequence[str], seed: int) -> dict[str, dict[str, Any]]:
    """Score name -> its Spearman and Kendall correlation with accuracy over ``records``, with bootstrap intervals.

    A record holds ``accuracy`` and ``scores`` (name -> value, None where the score failed on that cell). Each
    entry counts the cells used and failed; with fewer than 3 cells, or a constant score or accuracy, its
    correlations are None and ``note`` says why. The intervals' resamples are drawn from ``seed``.
    """
    rng = np.random.default_rng(seed)
    acc_all = np.array([r["accuracy"] for r in records], np.float64)
    out = {}
    for name in scores:
        ok = [i for i, r in enumerate(records) if r["scores"].get(name) is not None and np.isfinite(acc_all[i])]
        entry = {"cells": len(ok), "failed": len(records) - len(ok), "lower_is_better": name in LOWER_IS_BETTER}
        s = np.array([records[i]["scores"][name] for i in ok], np.float64)
        a = acc_all[ok]
        if len(ok) < 3:
            entry.update(spearman=None, kendall=None, note="fewer than 3 scored cells")
        elif np.ptp(s) == 0 or np.ptp(a) == 0:
            entry.update(spearman=None, kendall=None, note="constant score or accuracy over these cells")
        else:
            entry["spearman"] = float(stats.spearmanr(s, a).statistic)
            entry["kendall"] = float(stats.kendalltau(s, a).statistic)
            entry["spearman_ci95"] = bootstrap_ci(s, a, stats.spearmanr, rng)
            entry["kendall_ci95"] = bootstrap_ci(s, a, stats.kendalltau, rng)
        out[name] = entry
    return out
