"""The combined ranker ``ensemble``: AZ-NAS's rank aggregation of zero-cost scores, with no weight fitted.

AZ-NAS (Lee & Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search", CVPR 2024; its code
cvlab-yonsei/AZ-NAS, ``NB201/tss_general.ipynb``) ranks the N candidates under each member score (1 = worst,
N = best; ties share their mean rank) and sums log(rank / N) over the members. The logarithm punishes a candidate
that any member ranks near the bottom far more than it rewards a top rank, so a candidate must be good on every
member. Nothing is fitted: every member weighs the same, and none is chosen or weighted by benchmark accuracy.

The ensemble is a ranking of a set of candidates, so a candidate's value depends on the others it is ranked with;
its members are per-cell scores. A candidate a member could not score (e.g. ``jacob_cov`` of a network whose
output ignores its input) takes that member's lowest rank, the place ``--unscorable last`` gives it in a ranking by
that member alone; its error stays in the candidate's report.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from nasi_nal.errors import ScoringConfigError
from nasi_nal.scores.definitions import STAGE_SCORES

#: The members: AZ-NAS's four (expressivity, progressivity, trainability, and complexity as ``flops``), the
#: zero-cost baselines whose information the gradient norms lack (``synflow``, ``nwot``, ``jacob_cov``), and NASI's
#: trace as the one member of the gradient-magnitude family (``grad_norm``, ``snip`` and the NTK trace rank cells
#: alike: Spearman 0.93-0.98 with it on NAS-Bench-201, ``benchmarks/results/proxy_sizes/``). The search's
#: ``nal+nasi`` puts NASI's penalised objective in the trace's place and, on NAS-Bench-101, adds the NAL model's
#: log-likelihood.
MEMBERS = ("nasi_trace", "synflow", "nwot", "jacob_cov", "expressivity", "progressivity", "trainability", "flops")


def members(space: str | None) -> tuple[str, ...]:
    """:data:`MEMBERS` computable in ``space``: the stage scores need NB201/NB101 networks (tapes)."""
    return MEMBERS if space in ("nb201", "nb101") else tuple(m for m in MEMBERS if m not in STAGE_SCORES)


def ranks(values: Sequence[float | None], higher_is_better: bool = True) -> np.ndarray:
    """1 (worst) .. N (best) ranks of ``values``, ties sharing their mean rank; ``None``/NaN values rank lowest
    (sharing the lowest ranks among themselves)."""
    v = np.array([np.nan if x is None else float(x) for x in values], np.float64)
    missing = ~np.isfinite(v)
    key = np.where(missing, -np.inf, v if higher_is_better else -v)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    out = np.empty(len(v), np.float64)
    start = 0
    while start < len(v):  # average ranks over runs of equal keys
        stop = start + 1
        while stop < len(v) and sorted_key[stop] == sorted_key[start]:
            stop += 1
        out[order[start:stop]] = (start + stop + 1) / 2.0
        start = stop
    return out


def log_rank_sum(members: Mapping[str, Sequence[float | None]], lower_is_better: frozenset[str] | set[str] = frozenset(),
                 ) -> np.ndarray:
    """sum over members of log(rank / N) for each of the N candidates (AZ-NAS's aggregation); larger is better.

    Args:
      members: score name -> the N candidates' values (None or NaN where the score failed).
      lower_is_better: members for which a smaller value is better (e.g. ``ntk_cond``).
    """
    if not members:
        raise ScoringConfigError("the ensemble needs at least one member score")
    lengths = {len(v) for v in members.values()}
    if len(lengths) != 1:
        raise ScoringConfigError(f"ensemble members score different numbers of candidates: {sorted(lengths)}")
    n = lengths.pop()
    total = np.zeros(n, np.float64)
    for name, values in members.items():
        total += np.log(ranks(values, name not in lower_is_better) / n)
    return total


__all__ = ["MEMBERS", "log_rank_sum", "members", "ranks"]
