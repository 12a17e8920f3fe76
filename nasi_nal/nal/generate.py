"""Generating NAS-Bench-101 cells from NAL link probabilities, and scoring cells by their likelihood.

Given an op assignment (V ops: input, inner ops, output), the model gives P(i -> j) for every pair i < j,
independently given the ops (see :mod:`nasi_nal.nal.data`). The joint log-probability of an adjacency A is

    log P(A | ops) = sum_{i<j} A_ij log p_ij + (1 - A_ij) log(1 - p_ij).

Decoding enumerates adjacencies best-first by this value: start from the most likely matrix (each pair on iff
p_ij > 1/2); every other matrix differs by a set of flipped pairs whose cost is the sum of |log-odds| of the
flipped pairs, and the subsets of a sorted cost list are generated in non-decreasing total cost with a heap
(each subset exactly once: from the subset whose largest index is k, either add k + 1 or replace k by k + 1).
Only VALID cells are kept: at most 9 edges, input reaches output, and every vertex on an input -> output path
(nothing dangles, so pruning keeps the cell as decoded and V as asked). Several op assignments are merged
best-first, and cells are de-duplicated by the official NB101 hash (isomorphic cells count once, at their best
log-probability).

Op assignments come from the user, from enumeration (all 3^(V-2)), or are sampled from the experts' op
statistics stored with the model (``data.OpStats``).
"""
from __future__ import annotations

import dataclasses
import heapq
import itertools
from typing import Iterable, Iterator, Sequence

import numpy as np

from nasi_nal.errors import GenerationError, InvalidCellError
from nasi_nal.nal import data
from nasi_nal.nal.checkpoint import TrainedNAL
from nasi_nal.nal.model import edge_log_probabilities
from nasi_nal.spaces import nb101


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A generated cell with its log P(edges | ops) under the model and log P(ops) under the expert op stats."""

    cell: nb101.Cell
    log_prob: float
    op_log_prob: float

    @property
    def hash(self) -> str:
        return self.cell.hash


def _pairs(v: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(v) for j in range(i + 1, v)]


def is_valid_bits(bits: int, v: int, pairs: Sequence[tuple[int, int]]) -> bool:
    """Validity of the adjacency whose pair k = ``pairs[k]`` is on iff bit k of ``bits`` is set.

    At most 9 edges, input reaches output, every vertex on an input -> output path (equivalently: the cell is
    valid and pruning removes nothing).
    """
    if bin(bits).count("1") > nb101.MAX_EDGES:
        return False
    succ = [0] * v
    k = 0
    while bits >> k:
        if (bits >> k) & 1:
            i, j = pairs[k]
            succ[i] |= 1 << j
        k += 1
    reach = 1
    for i in range(v):
        if (reach >> i) & 1:
            reach |= succ[i]
    out = 1 << (v - 1)
    coreach = out
    for i in range(v - 2, -1, -1):
        if succ[i] & coreach:
            coreach |= 1 << i
    return bool(reach & out) and (reach & coreach) == (1 << v) - 1


def decode(log_p: np.ndarray, log_q: np.ndarray, max_expansions: int = 200_000) -> Iterator[tuple[float, np.ndarray]]:
    """Valid adjacencies of one op assignment, best-first: yields (log P(A | ops), A as (V, V) uint8).

    ``log_p`` / ``log_q`` are (V, V) arrays of log P(i -> j) and log(1 - P(i -> j)) (upper triangle used).
    A* tree search over the pairs in column order ((0,1), (0,2), (1,2), (0,3), ...): a state fixes the first d
    pairs; its cost g is the log-probability lost against the best choice per pair; the heuristic h is the least
    loss the remaining pairs must add to keep <= 9 edges (switch off the cheapest wanted edges beyond the budget),
    which never overestimates, so complete cells come out in non-increasing log-probability. A column's end
    fixes every in-edge of its vertex, so a vertex not reachable from the input is pruned there; reaching the
    output from every vertex is checked on complete cells. Stops after ``max_expansions`` states.
    """
    v = log_p.shape[0]
    pairs = [(i, j) for j in range(1, v) for i in range(j)]
    m = len(pairs)
    lp = np.array([log_p[i, j] for i, j in pairs], np.float64)
    lq = np.array([log_q[i, j] for i, j in pairs], np.float64)
    if not (np.isfinite(lp).all() and np.isfinite(lq).all()):
        raise GenerationError("link log-probabilities contain NaN or inf: the checkpoint is broken, retrain it")
    best = np.maximum(lp, lq)
    base = float(best.sum())
    on_cost = (best - lp).tolist()
    off_cost = (best - lq).tolist()
    # h[d][budget]: least loss for pairs d.. to use at most `budget` edges (drop the cheapest wanted ones).
    h = []
    for d in range(m + 1):
        wanted = sorted(off_cost[k] for k in range(d, m) if lp[k] > lq[k])
        prefix = np.concatenate([[0.0], np.cumsum(wanted)]).tolist()
        h.append([prefix[max(0, len(wanted) - b)] for b in range(nb101.MAX_EDGES + 1)])
    col_end = {k: j for k, (_, j) in enumerate(pairs) if pairs[k][0] == j - 1}  # last pair of column j
    tie = itertools.count()
    # state: (f, tie, g, d, bits, edges, reach) with reach a bitmask of vertices reachable from the input
    heap = [(h[0][nb101.MAX_EDGES], next(tie), 0.0, 0, 0, 0, 1)]
    expanded = 0
    while heap and expanded < max_expansions:
        _, _, g, d, bits, edges, reach = heapq.heappop(heap)
        expanded += 1
        if d == m:
            a = np.zeros((v, v), np.uint8)
            for k, (i, j) in enumerate(pairs):
                if (bits >> k) & 1:
                    a[i, j] = 1
            if is_valid_bits(_row_bits(a), v, _pairs(v)):
                yield base - g, a
            continue
        i, j = pairs[d]
        for on in (True, False):
            if on and edges == nb101.MAX_EDGES:
                continue
            nb = bits | (1 << d) if on else bits
            ne = edges + on
            nr = reach | (1 << j) if on and (reach >> i) & 1 else reach
            if d in col_end and not (nr >> j) & 1:
                continue  # vertex j has no in-edge from a vertex the input reaches
            ng = g + (on_cost[d] if on else off_cost[d])
            heapq.heappush(heap, (ng + h[d + 1][nb101.MAX_EDGES - ne], next(tie), ng, d + 1, nb, ne, nr))


def _row_bits(a: np.ndarray) -> int:
    """The bitmask of ``a`` over ``_pairs(V)`` (row-major pairs)."""
    return sum(1 << k for k, (i, j) in enumerate(_pairs(a.shape[0])) if a[i, j])


def tagged(stream: Iterator[tuple[float, np.ndarray]], tag: int, offset: float = 0.0
           ) -> Iterator[tuple[float, np.ndarray, int]]:
    """(log-prob + ``offset``, adjacency, ``tag``) for each item of a :func:`decode` stream, for merging streams."""
    for lp, a in stream:
        yield lp + offset, a, tag


def _check_ops(ops: Sequence[str]) -> tuple[str, ...]:
    names = tuple(nb101.canonical_op(o) for o in ops)
    if len(names) < 2 or len(names) > nb101.MAX_VERTICES or names[0] != "input" or names[-1] != "output" or any(
            o not in nb101.INNER_OPS for o in names[1:-1]):
        raise InvalidCellError(f"an op assignment is 'input', 0..5 of {nb101.INNER_OPS}, 'output'; got {names}")
    return names


def op_assignments(model: TrainedNAL, *, ops: Sequence[Sequence[str]] | None = None,
                   rng: np.random.Generator | None = None, num_assignments: int = 64,
                   num_vertices: int | None = None) -> list[tuple[str, ...]]:
    """The op assignments :func:`generate` decodes: ``ops`` if given, else ``num_assignments`` distinct ones
    sampled from the experts' op statistics with ``rng``, else all 3^(V-2) for ``num_vertices`` (default 7)."""
    if ops is not None:
        return [_check_ops(o) for o in ops]
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be a numpy.random.Generator (e.g. np.random.default_rng(0))")
        return model.op_stats.sample(rng, num_assignments, num_vertices)
    return data.enumerate_op_assignments(num_vertices or nb101.MAX_VERTICES)


def generate(model: TrainedNAL, n: int, *, ops: Sequence[Sequence[str]] | None = None,
             rng: np.random.Generator | None = None, num_assignments: int = 64, num_vertices: int | None = None,
             exclude: Iterable[str] = (), max_expansions: int = 100_000) -> list[Candidate]:
    """``n`` distinct valid cells, best-first by log P(edges | ops), over the op assignments of
    :func:`op_assignments`. Cells whose hash is in ``exclude`` (e.g. ``model.expert_hashes``) are skipped.

    Deterministic: the same arguments (and ``rng`` seed) give the same list. Raises ``GenerationError`` when
    fewer than ``n`` distinct valid cells exist for the assignments (or within ``max_expansions`` each).

    Example:
        >>> model = checkpoint.load_pretrained()
        >>> cands = generate(model, 100, rng=np.random.default_rng(0))
        >>> cands[0].cell, cands[0].log_prob
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    assignments = op_assignments(model, ops=ops, rng=rng, num_assignments=num_assignments,
                                 num_vertices=num_vertices)
    logs = edge_log_probabilities(model.config, model.params, assignments)
    streams = [tagged(decode(log_p, log_q, max_expansions), idx) for idx, (log_p, log_q) in enumerate(logs)]
    excluded = set(exclude)
    seen: set[str] = set()
    out: list[Candidate] = []
    for lp, a, idx in heapq.merge(*streams, key=lambda item: (-item[0], item[2])):
        cell = nb101.Cell(a, assignments[idx])
        h = cell.hash
        if h in seen or h in excluded:
            continue
        seen.add(h)
        out.append(Candidate(cell, float(lp), model.op_stats.log_prob(assignments[idx])))
        if len(out) == n:
            return out
    raise GenerationError(
        f"only {len(out)} distinct valid cells found for {len(assignments)} op assignment(s), asked for {n}: "
        "give more op assignments (num_assignments, or larger cells), fewer exclusions, or a larger max_expansions"
    )


def cell_log_likelihood(model: TrainedNAL, cells: Sequence[nb101.Cell] | data.CellSet,
                        include_ops: bool = False) -> np.ndarray:
    """log P(edges | ops) of each (pruned) cell under the model; plus log P(ops) of the expert op statistics
    when ``include_ops`` (a likelihood over the whole space, comparable across op assignments)."""
    cellset = cells if isinstance(cells, data.CellSet) else data.cellset_from_cells(cells)
    op_seqs = [cellset.op_names(i) for i in range(len(cellset))]
    out = np.empty(len(cellset))
    for i, (log_p, log_q) in enumerate(edge_log_probabilities(model.config, model.params, op_seqs)):
        v = log_p.shape[0]
        iu = np.triu_indices(v, 1)
        a = cellset.adjacency[i, :v, :v][iu].astype(bool)
        out[i] = np.where(a, log_p[iu], log_q[iu]).sum()
        if include_ops:
            out[i] += model.op_stats.log_prob(op_seqs[i])
    return out
