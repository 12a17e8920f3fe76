"""Where candidates come from: the proposers a method names (``PROPOSERS``), and the user's own ``--cell`` cells.

A proposer returns distinct candidates in proposal order and a description of itself for the report. ``nasi`` is
NASI's one-shot supernet search where the space has a supernet (it returns the one cell it found, already ranked by
NASI's objective) and uniform sampling elsewhere.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from nasi_nal import adapters, datasets
from nasi_nal.errors import NasiNalError
from nasi_nal.schema import Candidate, SearchConfig

Proposal = tuple[list[Candidate], dict[str, Any]]


def candidate(space: str, cell: Any, proposal_log_prob: float | None = None, **fields: Any) -> Candidate:
    """An unranked candidate of ``space`` for ``cell``."""
    adapter = adapters.get(space)
    return Candidate(None, adapter.key(cell), adapter.summary(cell), cell, proposal_log_prob, **fields)


def user_cells(config: SearchConfig) -> list[Candidate]:
    """The ``--cell`` cells as candidates; an invalid one fails before any work with the space's own message."""
    return [candidate(config.space, adapters.parse_cell(config.space, text, config.table or "",
                                                        table_option="--table PATH"))
            for text in config.cells]


def uniform(config: SearchConfig, rng: np.random.Generator, key: jax.Array, quiet: bool) -> Proposal:
    """``config.candidates`` distinct cells drawn uniformly from the space."""
    adapter, n = adapters.get(config.space), config.candidates
    seen: dict[str, Candidate] = {}
    tries = 0
    while len(seen) < n:
        tries += 1
        if tries > 100 * n:
            raise NasiNalError(f"could not draw {n} distinct cells in {tries} samples")
        cell = adapter.sample(rng)
        if adapter.key(cell) not in seen:
            seen[adapter.key(cell)] = candidate(config.space, cell)
    return list(seen.values()), {"proposer": "uniform sampling", "samples_drawn": tries}


def nal(config: SearchConfig, rng: np.random.Generator, key: jax.Array, quiet: bool) -> Proposal:
    """The NAL GAT's best cells (NB101 directly, the other spaces through its transfer), from the shipped
    checkpoint."""
    from nasi_nal.nal import checkpoint

    n = config.candidates
    cells = adapters.get(config.space).nal_proposals(checkpoint.load_pretrained(), n, rng)
    if len(cells) < n:
        raise NasiNalError(f"the NAL transfer to {config.space} yields only {len(cells)} distinct cells; "
                           f"ask for --candidates {len(cells)} or fewer")
    return ([candidate(config.space, c, float(lp)) for c, lp in cells],
            {"proposer": "NAL graph-attention link predictor (shipped checkpoint)"})


def nasi(config: SearchConfig, rng: np.random.Generator, key: jax.Array, quiet: bool) -> Proposal:
    """NASI's Gumbel-softmax supernet search where the space has one (one cell, scored ``nasi_penalized``), else
    uniform samples for NASI's objective to rank."""
    if not adapters.get(config.space).SUPERNET:
        return uniform(config, rng, key, quiet)
    from nasi_nal import nasi as nasi_search

    images = labels = None
    inputs = "gaussian" if config.data == "gaussian" else "real"
    if inputs == "real":
        images, labels = datasets.scoring_pool(config.data, limit=datasets.POOL_SIZE)
    res = nasi_search.search(config.space, key, steps=config.nasi_steps, batch_size=config.batch_size, mu=config.mu,
                             nu="adaptive" if config.nu is None else config.nu, inputs=inputs,
                             targets=config.labels, bn=config.bn, images=images, labels=labels)
    details = {"proposer": "NASI Gumbel-softmax supernet", "steps": res.steps, "device": res.device,
               "search_wall_s": res.wall_seconds, "compile_s": res.compile_seconds, "settings": res.settings,
               "trace": float(res.trace), "nu": float(res.nu), "mu": config.mu,
               "nu_rule": "fixed" if config.nu is not None else "adaptive (see nasi_nal.nasi.configs)"}
    if config.candidates != 1 or config.top_k != 1:
        details["note"] = "the supernet search returns one architecture; --candidates and --top-k do not apply"
    return [candidate(config.space, res.cell, scores={"nasi_penalized": float(res.score)})], details


#: Proposers by name: ``(config, rng, key, quiet) -> (candidates, details)``; ``rng`` draws host-side samples,
#: ``key`` is the proposer's JAX key.
PROPOSERS: dict[str, Callable[..., Proposal]] = {"uniform": uniform, "nal": nal, "nasi": nasi}


def propose(config: SearchConfig, proposer: str, rng: np.random.Generator, key: jax.Array, quiet: bool) -> Proposal:
    """Distinct candidates in proposal order: the user's ``cells`` first, then the proposer's."""
    user = user_cells(config)
    cands, details = PROPOSERS[proposer](config, rng, key, quiet)
    seen = {c.key for c in user}
    details["user_cells"] = len(user)
    return user + [c for c in cands if c.key not in seen], details


__all__ = ["PROPOSERS", "candidate", "nal", "nasi", "propose", "uniform", "user_cells"]
