"""Search methods as (proposer, ranker) pairs: ``METHODS[name]``, and every score name as a method of its own.

The command line, the benchmark table and the notebooks read this registry; a new method is one entry (with
``register``), its parts taken from ``nasi_nal.proposers.PROPOSERS`` and ``nasi_nal.ranking.RANKERS`` or a score.
"""
from __future__ import annotations

from typing import NamedTuple

from nasi_nal import adapters, proposers, ranking, scores
from nasi_nal.errors import NasiNalError


class Method(NamedTuple):
    """Who proposes the candidates (a ``PROPOSERS`` name) and what ranks them (a ``RANKERS`` name or a score name;
    None: proposal order, nothing scored)."""

    proposer: str
    ranker: str | None
    doc: str = ""


METHODS: dict[str, Method] = {
    "nal+nasi": Method("nal", "nasi+ensemble", "NAL's proposals ranked by the ensemble with NASI's objective"),
    "nal": Method("nal", "nal_log_prob", "NAL's proposals ranked by the GAT's log-probability (nothing is built)"),
    "nasi": Method("nasi", "nasi", "NASI's one-shot supernet search; NB101: uniform samples by NASI's objective"),
    "ensemble": Method("uniform", "ensemble", "uniform samples ranked by the ensemble"),
    "random": Method("uniform", None, "uniform samples in sampling order (the random-search baseline)"),
}


def register(name: str, method: Method) -> None:
    """Adds ``method`` as ``name`` (its proposer and ranker must exist); refuses a name already taken."""
    if name in names():
        raise NasiNalError(f"method {name!r} exists already")
    if method.proposer not in proposers.PROPOSERS:
        raise NasiNalError(f"unknown proposer {method.proposer!r}: choose one of {', '.join(proposers.PROPOSERS)}")
    if method.ranker is not None:
        ranking.get(method.ranker)
    METHODS[name] = method


def names() -> tuple[str, ...]:
    """Every accepted method: the registry's, then each score name."""
    return tuple(METHODS) + tuple(sorted(s for s in scores.SCORES if s not in METHODS))


def get(name: str) -> Method:
    """The method ``name``; a score name is uniform samples ranked by that score."""
    if name in METHODS:
        return METHODS[name]
    if name in scores.SCORES:
        return Method("uniform", name, f"uniform samples ranked by {name}")
    raise NasiNalError(f"unknown method {name!r}: choose one of {', '.join(names())}")


def one_shot(name: str, space: str) -> bool:
    """Whether ``name`` on ``space`` is NASI's supernet search, which returns one cell it ranked itself."""
    return get(name).proposer == "nasi" and adapters.get(space).SUPERNET


def computed(name: str, space: str) -> list[str]:
    """The scores method ``name`` computes for every candidate on ``space`` (empty: it scores no network)."""
    ranker = get(name).ranker
    return [] if ranker is None or one_shot(name, space) else ranking.get(ranker).computes(space)


__all__ = ["METHODS", "Method", "computed", "get", "names", "one_shot", "register"]
