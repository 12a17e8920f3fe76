"""How candidates are ranked: the rankers a method names (``RANKERS``), the scoring step they share, and the order.

A ranker scores every candidate (``score_all``: the engines of ``nasi_nal.scores``, or a precomputed scores file)
and says which score ranks them and in which direction. Score names are rankers too: ``synflow`` ranks by
``synflow``. Equal ranking scores are broken by ``TIE_BREAKERS``, then by proposal order.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

import jax
import numpy as np

from nasi_nal import adapters, datasets, scores
from nasi_nal.errors import NasiNalError
from nasi_nal.networks import build
from nasi_nal.scores import ensemble

if TYPE_CHECKING:
    from nasi_nal.schema import Candidate, SearchConfig

SCORING_BATCH = 16  # default scoring batch of the per-cell scores


class Ranker(NamedTuple):
    """What a ranker computes for every candidate of a space, and how it ranks them.

    ``rank(config, candidates, key, quiet, details)`` scores the candidates (their ``scores`` and ``errors``) and
    returns ``(the ranking score's name, higher is better)``.
    """

    computes: Callable[[str], list[str]]
    rank: Callable[..., tuple[str, bool]]


def scoring_batch(config: SearchConfig, key: jax.Array) -> scores.Batch:
    """The one batch every candidate is scored on."""
    return datasets.scoring_batch(config.data, config.labels, config.batch_size or SCORING_BATCH, key)


def score_all(config: SearchConfig, cands: list[Candidate], names: Sequence[str], key: jax.Array, quiet: bool,
              required: Sequence[str]) -> dict[str, list[str]]:
    """Scores ``names`` of every candidate (its variables drawn from (seed, its key)); returns the engine plan.

    A candidate that a ``required`` score fails on stops the search, or with ``unscorable="last"`` keeps the error
    and ranks last; other failures are kept in the candidate's ``errors``.
    """
    from tqdm.auto import tqdm

    if config.scores_file is not None:  # checked before any work; a candidate it lacks stops the search here
        from nasi_nal import scores_file

        found = scores_file.read(config.scores_file)
        results = found.lookup([c.key for c in cands], names)
        plan = {e: [n for n in names if n in held] for e, held in found.meta["engine_plan"].items()
                if any(n in held for n in names)}
    else:
        batch = scoring_batch(config, key)
        plan = scores.choose(config.space, names, engine=config.engine)
        models = [build(config.space, c.cell, proxy=True) for c in cands]
        results = scores.iter_scores(
            models, batch, names, [scores.cell_key(config.seed, c.key) for c in cands], bn=config.bn,
            probes=config.probes, inits=config.inits, engine=config.engine, cell_names=[c.summary for c in cands])
    label = ", ".join(names) if len(names) < 3 else f"{len(names)} scores"
    for cand, result in zip(tqdm(cands, desc=f"scoring ({label})", disable=quiet, unit="cell"), results):
        failed = [n for n in required if n in result.errors]
        if failed and config.unscorable == "fail":
            raise NasiNalError(f"{result.errors[failed[0]]} (--unscorable last ranks such cells last instead)")
        cand.errors.update(result.errors)
        cand.scores.update(result.values)
    return plan


def nal_log_probs(cands: list[Candidate]) -> None:
    """``nal_log_prob``: the GAT's log-probability of each NB101 candidate (``--cell`` cells scored by it too)."""
    user = [c for c in cands if c.proposal_log_prob is None]
    if user:
        from nasi_nal import nal

        logp = nal.cell_log_likelihood(nal.load_pretrained(), [c.cell for c in user], include_ops=True)
        for c, lp in zip(user, logp):
            c.proposal_log_prob = float(lp)
    for c in cands:
        c.scores["nal_log_prob"] = c.proposal_log_prob


def nasi_objective(config: SearchConfig, cands: list[Candidate], details: dict[str, Any]) -> None:
    """NASI's penalised trace R of every candidate with a trace (nu fixed, or the candidates' quantile)."""
    scored = [c for c in cands if "nasi_trace" in c.scores]
    if not scored:
        raise NasiNalError("no candidate has a NASI trace (see each candidate's errors): nothing to rank")
    traces = np.array([c.scores["nasi_trace"] for c in scored])
    nu = config.nu if config.nu is not None else scores.adaptive_nu(traces, config.nu_quantile)
    details.update(mu=config.mu, nu=nu, nu_rule="fixed" if config.nu is not None
                   else f"adaptive: quantile {config.nu_quantile} of the candidates' NASI traces")
    for c in scored:
        c.scores["nasi_penalized"] = float(scores.nasi_penalized(c.scores["nasi_trace"], config.mu, nu))


def ensemble_scores(cands: list[Candidate], members: Sequence[str], details: dict[str, Any]) -> None:
    """Each candidate's ``ensemble`` score: AZ-NAS's log-rank sum of ``members`` over these candidates."""
    if "nal_log_prob" in members:
        nal_log_probs(cands)
    values = ensemble.log_rank_sum({m: [c.scores.get(m) for c in cands] for m in members}, scores.LOWER_IS_BETTER)
    for c, v in zip(cands, values):
        c.scores["ensemble"] = float(v)
    details["ensemble_members"] = list(members)


def _by_nal(config: SearchConfig, cands: list[Candidate], key: jax.Array, quiet: bool,
            details: dict[str, Any]) -> tuple[str, bool]:
    nal_log_probs(cands)
    return "nal_log_prob", True


def _by_ensemble(config: SearchConfig, cands: list[Candidate], key: jax.Array, quiet: bool,
                 details: dict[str, Any]) -> tuple[str, bool]:
    names = list(ensemble.members(config.space))
    details["engines"] = score_all(config, cands, names, key, quiet, required=())
    ensemble_scores(cands, names, details)
    return "ensemble", True


def _by_nasi(config: SearchConfig, cands: list[Candidate], key: jax.Array, quiet: bool,
             details: dict[str, Any]) -> tuple[str, bool]:
    details["engines"] = score_all(config, cands, ["nasi_trace"], key, quiet, required=("nasi_trace",))
    nasi_objective(config, cands, details)
    return "nasi_penalized", True


def _by_nasi_ensemble(config: SearchConfig, cands: list[Candidate], key: jax.Array, quiet: bool,
                      details: dict[str, Any]) -> tuple[str, bool]:
    names = list(ensemble.members(config.space))
    details["engines"] = score_all(config, cands, names, key, quiet, required=("nasi_trace",))
    nasi_objective(config, cands, details)
    members = ["nasi_penalized" if n == "nasi_trace" else n for n in names]
    ensemble_scores(cands, members + (["nal_log_prob"] if adapters.get(config.space).NAL_LIKELIHOOD else []),
                    details)
    return "ensemble", True


#: Rankers by name. ``nasi+ensemble``: NASI's penalised trace takes the trace's place among the ensemble's members,
#: joined by the GAT's likelihood where the space defines it (``--method nal+nasi``; README "How nal+nasi ranks").
RANKERS: dict[str, Ranker] = {
    "nal_log_prob": Ranker(lambda space: [], _by_nal),
    "ensemble": Ranker(lambda space: list(ensemble.members(space)), _by_ensemble),
    "nasi": Ranker(lambda space: ["nasi_trace"], _by_nasi),
    "nasi+ensemble": Ranker(lambda space: list(ensemble.members(space)), _by_nasi_ensemble),
}


def _by_score(name: str) -> Ranker:
    def rank(config: SearchConfig, cands: list[Candidate], key: jax.Array, quiet: bool,
             details: dict[str, Any]) -> tuple[str, bool]:
        details["engines"] = score_all(config, cands, [name], key, quiet, required=[name])
        return name, name not in scores.LOWER_IS_BETTER

    return Ranker(lambda space: [name], rank)


def get(name: str) -> Ranker:
    """The ranker ``name``: an entry of ``RANKERS`` or a score name."""
    if name in RANKERS:
        return RANKERS[name]
    if name in scores.SCORES:
        return _by_score(name)
    raise NasiNalError(f"unknown ranker {name!r}: choose one of {', '.join([*RANKERS, *sorted(scores.SCORES)])}")


#: Equal ranking scores are ordered by this score, smaller first, then by proposal order. NASI's R = T - mu max(0,
#: T - nu) gives a trace above nu the same R as one below it (with mu = 2, 2 nu - T mirrors T): of two such
#: candidates the one inside NASI's constraint (the smaller trace) ranks first.
TIE_BREAKERS = {"nasi_penalized": "nasi_trace"}


def order(cands: list[Candidate], score: str | None, higher_better: bool) -> list[Candidate]:
    """Best first by ``score``; ties by ``TIE_BREAKERS`` then proposal order; unscored candidates last."""
    if score is None:
        return list(cands)
    sign = -1.0 if higher_better else 1.0
    tie = TIE_BREAKERS.get(score)
    scored = [(i, c) for i, c in enumerate(cands) if score in c.scores]
    unscored = [c for c in cands if score not in c.scores]  # unscorable="last": after the others, in proposal order
    return [c for _, c in sorted(scored, key=lambda ic: (sign * _tie_level(ic[1].scores[score]),
                                                         ic[1].scores.get(tie, 0.0) if tie else 0.0, ic[0]))] + unscored


def _tie_level(value: float) -> float:
    """``value`` to 12 significant digits: scores equal but for float rounding (2 nu - T against T) tie."""
    return float(f"{value:.12g}")


def ties(cands: Sequence[Candidate], score: str | None) -> list[list[int]]:
    """Groups of ranks (two or more) whose ``score`` is exactly equal, among ranked candidates."""
    groups: dict[float, list[int]] = {}
    for c in cands:
        if score is not None and score in c.scores and c.rank is not None:
            groups.setdefault(_tie_level(c.scores[score]), []).append(c.rank)
    return [sorted(g) for g in groups.values() if len(g) > 1]


__all__ = ["RANKERS", "Ranker", "SCORING_BATCH", "TIE_BREAKERS", "ensemble_scores", "get", "nal_log_probs",
           "nasi_objective", "order", "score_all", "scoring_batch", "ties"]
