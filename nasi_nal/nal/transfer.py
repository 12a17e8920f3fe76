"""Transferring the wiring learned on NAS-Bench-101 to DARTS genotypes and NAS-Bench-201 cells.

NAL (Liang & Sun) trains its link predictor on NAS-Bench-101 and reuses it to design DARTS cells. NAS-Bench-101
puts ops on vertices (a vertex sums its inputs, then applies its op; the output vertex concatenates); DARTS and
NAS-Bench-201 put ops on edges (a node sums op(input) over its incoming edges). Our mapping (no official code
exists) reads every edge-op cell as a NAS-Bench-101 cell of the same shape, scores that cell's wiring with the
link predictor, and writes each target-space edge with the op of the vertex it enters (NB201 also takes wider
readings, below):

DARTS (``to_darts``), through 6-vertex NAS-Bench-101 cells ``input, o_1..o_4, output``:
  * DARTS intermediate node k (genotype node k + 2) is NB101 vertex k + 1; both DARTS cell inputs
    (c_{k-2} = node 0, c_{k-1} = node 1) are the NB101 input vertex, and the DARTS output (concatenation of
    nodes 2..5) is the NB101 output vertex, which also concatenates.
  * Each intermediate node keeps the two incoming edges of highest link probability, as DARTS's own derivation
    (quark0/darts ``model_search.py`` ``genotype()``) keeps the two strongest incoming edges by architecture
    weight: P(c_{k-1} -> k) = P(c_{k-2} -> k) = P(input -> vertex k + 1), P(node m -> k) =
    P(vertex m + 1 -> vertex k + 1). Ties prefer c_{k-1}, then c_{k-2}, then earlier nodes.
  * Edge ops, normal cell: the op of the entered vertex through ``DARTS_OP_MAP`` (conv3x3-bn-relu ->
    sep_conv_3x3; conv1x1-bn-relu -> skip_connect, the cheap path that in a reduction cell DARTS realises as
    FactorizedReduce, i.e. 1x1 convolutions; maxpool3x3 -> max_pool_3x3). Reduction cell: the same wiring, with
    every edge leaving a cell input (the stride-2 edges in DARTS ``model.py``) set to max_pool_3x3, because
    NAS-Bench-101 downsamples between stacks by max-pooling.
  * Genotypes are ranked by log P(ops) (expert op statistics, V = 6) + the sum of log P of the kept edges.

NAS-Bench-201 (``to_nb201``), through 4-vertex NAS-Bench-101 cells ``input, o_1, o_2, output``:
  * NB201 nodes 0..3 are NB101 vertices 0..3; an NB101 edge i -> j is the NB201 edge i -> j, and an absent one is
    'none'. 10 wirings are valid (both inner vertices on an input -> output path) and there are 9 op assignments,
    so 90 NB101 cells.
  * What NB101 computes along an edge i -> j (``model_builder.py``): leaving the input, a 1x1 conv-BN-ReLU
    projection; leaving an inner vertex, a channel truncation (the identity at equal widths); entering an inner
    vertex, the sum of its inputs and then the op of j, once; entering the output, a concatenation (the input's
    projection is added to it). An NB201 edge carries exactly one op and NB201 keeps every width equal, so one op
    has to stand for that path. The readings of a present edge (``nb201_edge_options``), the literal one first:
      - into inner vertex j: the op of j through ``NB201_OP_MAP`` (literal: conv3x3 -> nor_conv_3x3, conv1x1 ->
        nor_conv_1x1, maxpool3x3 -> avg_pool_3x3, NB201's only pooling); from the input also nor_conv_1x1 (the
        projection on that path); from inner vertex i also skip_connect (the truncation) and the op of i;
      - into the output: from the input nor_conv_1x1 (literal: the projection) or skip_connect (the projection's
        parameter-free form between equal widths); from inner vertex i skip_connect (literal: the concatenation
        passes i on) or the op of i.
    "The op of i" on an edge leaving i: NB101 applies o_i once to the sum at i and sends the result along every
    out-edge, which NB201 can express equally with o_i on i's out-edges instead of its in-edges. Each edge picks
    its reading on its own, so a wide reading is a neighbour of the literal cell, not an exact rewrite of it
    (o_i on an in-edge and on an out-edge of i applies it twice on that path).
  * The generative story: (1) an op assignment, log P(ops) of the expert op statistics (V = 4: one expert,
    add-one smoothed, so this term barely separates the 9 assignments); (2) a valid wiring, log P(A | ops) of the
    link predictor (the product over pairs, as ``generate.decode`` ranks it, so the draws follow the joint
    restricted to valid cells); (3) the literal or the wide reading, probability 1/2 each; (4) under the wide
    reading every present edge takes one of its options uniformly. A proposal's ``score`` is the log-probability
    of the derivation it records (``nb101_matrix``, ``nb101_ops``, ``reading``): log P(ops) + log P(A | ops) +
    log 1/2, minus the sum over present edges of log |options| for a wide reading.
  * Order (``literal_first``, the default): first the distinct literal readings of the NB101 cells decoded
    best-first exactly as ``generate.decode`` does (90 cells; the cells and order of the earlier literal-only
    transfer, scores lower by log 2); then the cells only wide readings reach, each recorded with its most likely
    derivation: best-first by score without ``rng``; with ``rng``, in the order of successive draws from the
    wide reading that skip cells already listed, i.e. sampled without replacement in proportion to their
    probability summed over derivations (one Gumbel key per cell from ``rng``, Gumbel top-k). The same seed gives
    the same list, and the first n cells of a longer list are the list of n. 1,404 cells are reachable with the
    default op map.
  * ``literal_first=False`` lists all 1,404 cells the same way at once (best-first, or sampled from the whole
    story), each with its most likely derivation. The literal readings lose their lead: low-probability NB101
    cells read literally give way to wide readings of likely ones. On the NB201 table this order gave the better
    proposals (``benchmarks/results/nal_nb201.md``), but it is not the default, so that the first 90 proposals
    stay what they were.

The model was trained on cells of 5 to 7 vertices mostly; its probabilities for 4- and 6-vertex cells are an
extrapolation over the relative position feature, so transferred cells are proposals, not verified optima.
"""
from __future__ import annotations

import dataclasses
import heapq
import itertools
from typing import Mapping

import numpy as np

from nasi_nal.errors import GenerationError, InvalidCellError
from nasi_nal.nal import data
from nasi_nal.nal.checkpoint import TrainedNAL
from nasi_nal.nal.generate import decode, tagged
from nasi_nal.nal.model import edge_log_probabilities
from nasi_nal.spaces import darts, nb201

DARTS_OP_MAP: dict[str, str] = {
    "conv3x3-bn-relu": "sep_conv_3x3",
    "conv1x1-bn-relu": "skip_connect",
    "maxpool3x3": "max_pool_3x3",
}
NB201_OP_MAP: dict[str, str] = {
    "conv3x3-bn-relu": "nor_conv_3x3",
    "conv1x1-bn-relu": "nor_conv_1x1",
    "maxpool3x3": "avg_pool_3x3",
}
REDUCE_INPUT_OP = "max_pool_3x3"
READING_LOG_PROB = float(np.log(0.5))  # literal or wide reading of an NB101 cell (module docstring)


@dataclasses.dataclass(frozen=True)
class DartsProposal:
    """A DARTS genotype derived from a 6-vertex NB101 op assignment, with its score and that assignment."""

    genotype: darts.Genotype
    score: float
    nb101_ops: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class NB201Proposal:
    """An NB201 cell, its score, and the derivation the score is of: a 4-vertex NB101 cell (adjacency + ops) and
    its ``reading``, "literal" or "wide" (module docstring)."""

    arch: nb201.Arch
    score: float
    nb101_matrix: np.ndarray
    nb101_ops: tuple[str, ...]
    reading: str


def _check_map(op_map: Mapping[str, str], allowed: tuple[str, ...], space: str) -> dict[str, str]:
    op_map = dict(op_map)
    if set(op_map) != set(DARTS_OP_MAP):
        raise InvalidCellError(f"op_map must map exactly {sorted(DARTS_OP_MAP)} to {space} ops, got {sorted(op_map)}")
    bad = [op for op in op_map.values() if op not in allowed]
    if bad:
        raise InvalidCellError(f"op_map targets {bad} are not {space} ops: use {allowed}")
    return op_map


def darts_cell(log_p: np.ndarray, ops: tuple[str, ...], op_map: Mapping[str, str],
               reduction: bool) -> tuple[list[tuple[str, int]], float]:
    """The DARTS cell (8 (op, input) pairs) of one 6-vertex op assignment and the sum of log P of its edges."""
    cell: list[tuple[str, int]] = []
    total = 0.0
    for k in range(darts.NUM_INTERMEDIATE):
        v = k + 1
        # (log P, tie rank, DARTS input index): c_{k-1} before c_{k-2} before earlier nodes
        options = [(log_p[0, v], 0, 1), (log_p[0, v], 1, 0)]
        options += [(log_p[m + 1, v], 2 + m, m + 2) for m in range(k)]
        chosen = sorted(options, key=lambda o: (-o[0], o[1]))[:2]
        for lp, _, src in chosen:
            op = REDUCE_INPUT_OP if reduction and src < darts.NUM_INPUTS else op_map[ops[v]]
            cell.append((op, src))
            total += float(lp)
    return cell, total


def to_darts(model: TrainedNAL, n: int = 1, op_map: Mapping[str, str] = DARTS_OP_MAP) -> list[DartsProposal]:
    """The ``n`` best DARTS genotypes (distinct normal cells) over all 81 six-vertex op assignments.

    See the module docstring for the mapping. Every returned genotype passes ``darts.validate``.
    """
    op_map = _check_map(op_map, darts.OPS, "DARTS")
    assignments = data.enumerate_op_assignments(6)
    logs = edge_log_probabilities(model.config, model.params, assignments)
    ranked = []
    for ops, (log_p, _) in zip(assignments, logs):
        normal, edge_score = darts_cell(log_p, ops, op_map, reduction=False)
        reduce, _ = darts_cell(log_p, ops, op_map, reduction=True)
        genotype = darts.Genotype(normal=normal, normal_concat=[2, 3, 4, 5], reduce=reduce,
                                  reduce_concat=[2, 3, 4, 5])
        darts.validate(genotype)
        ranked.append(DartsProposal(genotype, edge_score + model.op_stats.log_prob(ops), ops))
    ranked.sort(key=lambda p: -p.score)  # stable: ties keep enumeration order
    out, seen = [], set()
    for proposal in ranked:
        key = tuple(proposal.genotype.normal)
        if key not in seen:
            seen.add(key)
            out.append(proposal)
        if len(out) == n:
            break
    return out


def nb201_edge_options(from_node: int, to_node: int, ops: tuple[str, ...],
                       op_map: Mapping[str, str] = NB201_OP_MAP) -> tuple[str, ...]:
    """The NB201 ops a present edge ``from_node -> to_node`` of a 4-vertex NB101 cell with ``ops`` may take, the
    literal reading first (module docstring)."""
    if not 0 <= from_node < to_node <= 3 or len(ops) != 4:
        raise InvalidCellError(f"an edge i -> j of a 4-vertex NAS-Bench-101 cell has 0 <= i < j <= 3 and 4 ops, got "
                               f"{from_node} -> {to_node} with {len(ops)} ops")
    if to_node < 3:
        options = [op_map[ops[to_node]], "nor_conv_1x1" if from_node == 0 else "skip_connect"]
    else:
        options = ["nor_conv_1x1", "skip_connect"] if from_node == 0 else ["skip_connect"]
    if from_node > 0:
        options.append(op_map[ops[from_node]])
    return tuple(dict.fromkeys(options))


def _edge_options(matrix: np.ndarray, ops: tuple[str, ...], op_map: Mapping[str, str]) -> list[tuple[str, ...]]:
    """Per NB201 edge (``nb201.EDGES`` order) its options, ``("none",)`` where the NB101 cell has no edge."""
    if matrix.shape != (4, 4) or len(ops) != 4:
        raise InvalidCellError(f"NB201 transfer needs a 4-vertex NAS-Bench-101 cell, got {len(ops)} vertices")
    return [nb201_edge_options(i, j, ops, op_map) if matrix[i, j] else ("none",) for j, i in nb201.EDGES]


def nb201_arch(matrix: np.ndarray, ops: tuple[str, ...], op_map: Mapping[str, str] = NB201_OP_MAP) -> nb201.Arch:
    """The literal NB201 reading of a 4-vertex NB101 cell (module docstring); edge order is ``nb201.EDGES``."""
    return nb201.Arch(tuple(options[0] for options in _edge_options(matrix, ops, op_map)))


def _readings(cells: list[tuple[float, np.ndarray, tuple[str, ...]]], op_map: Mapping[str, str],
              exclude: set[nb201.Arch]) -> tuple[list[NB201Proposal], np.ndarray]:
    """The cells outside ``exclude`` that the literal and wide readings of ``cells`` (log P(ops) + log P(A | ops),
    adjacency, ops) reach, in first-reached order, each with its most likely derivation; and each one's
    log-probability summed over its derivations."""
    best: dict[nb201.Arch, NB201Proposal] = {}
    log_mass: dict[nb201.Arch, float] = {}

    def add(proposal: NB201Proposal) -> None:
        arch = proposal.arch
        if arch in exclude:
            return
        if arch not in best or proposal.score > best[arch].score:
            best[arch] = proposal
        log_mass[arch] = float(np.logaddexp(log_mass.get(arch, -np.inf), proposal.score))

    for score, matrix, ops in cells:
        options = _edge_options(matrix, ops, op_map)
        literal = nb201.Arch(tuple(o[0] for o in options))
        add(NB201Proposal(literal, score + READING_LOG_PROB, matrix, ops, "literal"))
        wide = score + READING_LOG_PROB - float(np.log([len(o) for o in options]).sum())
        for edge_ops in itertools.product(*options):
            add(NB201Proposal(nb201.Arch(edge_ops), wide, matrix, ops, "wide"))
    return list(best.values()), np.array([log_mass[a] for a in best])


def to_nb201(model: TrainedNAL, n: int | None = 1, op_map: Mapping[str, str] = NB201_OP_MAP, *,
             rng: np.random.Generator | None = None, literal_first: bool = True) -> list[NB201Proposal]:
    """``n`` distinct NB201 cells (``None``: every cell that can be derived, 1,404 with the default op map).

    ``literal_first``: the literal readings of valid 4-vertex NB101 cells decoded best-first, then the cells only
    wide readings reach; otherwise all cells at once. Either way the cells that follow are ordered best-first by
    score without ``rng`` and sampled in proportion to their probability with it (module docstring). The same
    ``rng`` seed gives the same cells; asking for more cells than can be derived raises ``GenerationError``.
    """
    op_map = _check_map(op_map, tuple(o for o in nb201.OPS if o not in ("none", "skip_connect")), "NAS-Bench-201")
    if n is not None and n < 1:
        raise GenerationError(f"n must be >= 1 (or None for every cell that can be derived), got {n}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    assignments = data.enumerate_op_assignments(4)
    logs = edge_log_probabilities(model.config, model.params, assignments)
    streams = [tagged(decode(log_p, log_q), idx, model.op_stats.log_prob(ops))
               for idx, (ops, (log_p, log_q)) in enumerate(zip(assignments, logs))]
    cells = [(float(score), a, assignments[idx])
             for score, a, idx in heapq.merge(*streams, key=lambda item: (-item[0], item[2]))]
    out: list[NB201Proposal] = []
    seen: set[nb201.Arch] = set()
    if literal_first:
        for score, a, ops in cells:
            arch = nb201_arch(a, ops, op_map)
            if arch not in seen:
                seen.add(arch)
                out.append(NB201Proposal(arch, score + READING_LOG_PROB, a, ops, "literal"))
            if len(out) == n:
                return out
    rest, log_mass = _readings(cells, op_map, seen)
    if n is not None and n > len(out) + len(rest):
        raise GenerationError(f"only {len(out) + len(rest)} distinct NAS-Bench-201 cells can be derived from "
                              f"4-vertex NAS-Bench-101 cells, asked for {n}: ask for {len(out) + len(rest)} or fewer")
    keys = np.array([p.score for p in rest]) if rng is None else log_mass + rng.gumbel(size=len(rest))
    out += [rest[k] for k in np.argsort(-keys, kind="stable")]
    return out if n is None else out[:n]
