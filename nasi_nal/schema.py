"""A search's configuration and result: ``SearchConfig`` in, ``SearchResult`` (JSON schema ``nasi_nal.search/1``) out."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from nasi_nal import adapters, ranking, report, scores

SCHEMA = "nasi_nal.search/1"


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Everything that determines a search's result (timings aside). Same config -> same JSON."""

    space: str = "nb101"
    method: str = "nal+nasi"
    candidates: int = 16  # proposals to score
    top_k: int | None = None  # winners reported (and trained with train=True); None: min(5, candidates)
    seed: int = 0
    cells: tuple[str, ...] = ()  # user-given cells (arch strings, JSON, NB101 hashes) ranked with the proposals
    data: str = "gaussian"  # "gaussian" (no dataset), "cifar10" (tensorflow-datasets) or a path (npz / image folder)
    labels: str = "random"  # "random" or "real" (needs real data)
    batch_size: int | None = None  # scoring batch; None: 16 for per-cell scores, NASI's 64 for the supernet
    mu: float = 2.0  # NASI's penalty weight in R = T - mu * max(0, T - nu)
    nu: float | None = None  # NASI's trace constraint; None: adaptive, the nu_quantile of the candidates' traces
    nu_quantile: float = 0.9
    unscorable: str = "fail"  # a candidate whose ranking score cannot be computed (e.g. jacob_cov of a cell whose
    # output ignores its input): "fail" stops with an error naming it; "last" ranks it after every scored candidate
    # and keeps the error in the report
    engine: str = "auto"  # scoring engine (nasi_nal.scores.ENGINES): "auto" lets nasi_nal.scores.choose pick
    scores_file: str | None = None  # precomputed scores (python -m nasi_nal.score) looked up instead of computed
    bn: str = scores.DEFAULT_BN  # batch norm while scoring: "train" (batch statistics) or "eval" (initial statistics)
    probes: int | str = scores.DEFAULT_PROBES  # Rademacher probes of the ntk_trace score, or "exact"
    inits: int = 1  # draws of each candidate's variables its scores are averaged over
    nasi_steps: int | None = None  # supernet search steps T (method "nasi" on nb201 / darts); None: NASI's 100
    table: str | None = None  # NAS-Bench table for true accuracies: nb101 tfrecord/npz cache/sample, nb201 CSV
    output: str | None = None  # JSON report path; PNGs of the winners are written beside it
    train: bool = False
    train_recipe: str | None = None  # default: the space's benchmark recipe
    train_overrides: tuple[str, ...] = ()  # "field=value" overrides of the recipe
    train_workdir: str | None = None


@dataclasses.dataclass
class Candidate:
    """One proposed cell: its identity, the scores it got, and what the table knows of it."""

    rank: int | None
    key: str  # NB101 hash, NB201 arch string, DARTS genotype JSON
    summary: str
    cell: Any
    proposal_log_prob: float | None = None
    scores: dict[str, float] = dataclasses.field(default_factory=dict)
    params: int | None = None  # trainable parameters of the full-size benchmark network
    table_accuracy: float | None = None  # percent; see SearchResult.table_metric
    errors: dict[str, str] = dataclasses.field(default_factory=dict)  # scores it could not get (unscorable="last")

    def to_json(self, cell_json: Callable[[Any], Any]) -> dict[str, Any]:
        """The candidate in a report; ``cell_json`` is its space's ``to_json`` (``nasi_nal.adapters``)."""
        return {
            "rank": self.rank, "key": self.key, "summary": self.summary, "cell": cell_json(self.cell),
            "proposal_log_prob": self.proposal_log_prob, "scores": self.scores, "params": self.params,
            "table_accuracy": self.table_accuracy, "errors": self.errors,
        }


@dataclasses.dataclass
class SearchResult:
    """What a search returns: the config, every candidate (ranked), the winners, timings and the environment."""

    config: SearchConfig
    ranking_score: str | None
    candidates: list[Candidate]
    winners: list[Candidate]
    timings: dict[str, float]
    environment: dict[str, Any]
    table_metric: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)  # method-specific (nu, supernet cost, ...)
    training: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The versioned JSON document (schema ``nasi_nal.search/1``, documented in the README)."""
        cell_json = adapters.get(self.config.space).to_json
        return {
            "schema": SCHEMA,
            "space": self.config.space,
            "config": dataclasses.asdict(self.config),
            "environment": self.environment,
            "ranking_score": self.ranking_score,
            "table_metric": self.table_metric,
            "details": self.details,
            "candidates": [c.to_json(cell_json) for c in self.candidates],
            "winners": [c.to_json(cell_json) for c in self.winners],
            "training": self.training,
            "timings": self.timings,
        }

    def table(self) -> str:
        """The winners as a plain-text table; ties in the ranking score are marked "=" and explained below it."""
        tied = {r for group in ranking.ties(self.winners, self.ranking_score) for r in group}
        headers = ["rank", "cell", self.ranking_score or "score", "params", "table acc %"]
        rows = [[f"{c.rank}=" if c.rank in tied else c.rank, c.summary,
                 c.scores.get(self.ranking_score) if self.ranking_score else None, c.params, c.table_accuracy]
                for c in self.winners]
        text = report.format_table(headers, rows)
        for group in ranking.ties(self.winners, self.ranking_score):
            rule = (f"the smaller {ranking.TIE_BREAKERS[self.ranking_score]} first, then proposal order"
                    if self.ranking_score in ranking.TIE_BREAKERS else "proposal order")
            text += (f"\nranks {', '.join(map(str, group))} tie on {self.ranking_score}; ordered by {rule}")
        return text


__all__ = ["Candidate", "SCHEMA", "SearchConfig", "SearchResult"]
