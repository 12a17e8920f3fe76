"""Transferring the wiring learned on NAS-Bench-101 to DARTS genotypes and NAS-Bench-201 cells.

NAL (Liang & Sun) trains its link predictor on NAS-Bench-101 and reuses it to design DARTS cells. NAS-Bench-101
puts ops on vertices (a vertex sums its inputs, then applies its op; the output vertex concatenates); DARTS and
NAS-Bench-201 put ops on edges (a node sums op(input) over its incoming edges). Our mapping (no official code
exists) reads every edge-op cell as a NAS-Bench-101 cell of the same shape, scores that cell's wiring with the
link predictor, and writes each target-space edge with the op of the vertex it enters:

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
  * NB201 nodes 0..3 are NB101 vertices 0..3. The NB101 cells are decoded best-first exactly as
    ``generate.decode`` does (valid cells only), ranked by log P(ops) + log P(edges | ops).
  * Edge (i -> j) absent in the NB101 cell -> 'none'. Present, into an inner vertex j -> the op of j through
    ``NB201_OP_MAP`` (conv3x3 -> nor_conv_3x3, conv1x1 -> nor_conv_1x1, maxpool3x3 -> avg_pool_3x3, NB201's only
    pooling). Present, into the output: from the input -> nor_conv_1x1 (NB101 projects the input to the output
    with a 1x1 convolution), from an inner vertex -> skip_connect (NB101 passes it on unchanged).

The model was trained on cells of 5 to 7 vertices mostly; its probabilities for 4- and 6-vertex cells are an
extrapolation over the relative position feature, so transferred cells are proposals, not verified optima.
"""
from __future__ import annotations

import dataclasses
import heapq
from typing import Mapping

import numpy as np

from nasi_nal.errors import InvalidCellError
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


@dataclasses.dataclass(frozen=True)
class DartsProposal:
    """A DARTS genotype derived from a 6-vertex NB101 op assignment, with its score and that assignment."""

    genotype: darts.Genotype
    score: float
    nb101_ops: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class NB201Proposal:
    """An NB201 cell derived from a 4-vertex NB101 cell (adjacency + ops), with its score."""

    arch: nb201.Arch
    score: float
    nb101_matrix: np.ndarray
    nb101_ops: tuple[str, ...]


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


def nb201_arch(matrix: np.ndarray, ops: tuple[str, ...], op_map: Mapping[str, str] = NB201_OP_MAP) -> nb201.Arch:
    """The NB201 cell of a 4-vertex NB101 cell (module docstring); edge order is ``nb201.EDGES``."""
    if matrix.shape != (4, 4) or len(ops) != 4:
        raise InvalidCellError(f"NB201 transfer needs a 4-vertex NAS-Bench-101 cell, got {len(ops)} vertices")
    out = []
    for to_node, from_node in nb201.EDGES:
        if not matrix[from_node, to_node]:
            out.append("none")
        elif to_node < 3:
            out.append(op_map[ops[to_node]])
        else:
            out.append("nor_conv_1x1" if from_node == 0 else "skip_connect")
    return nb201.Arch(tuple(out))


def to_nb201(model: TrainedNAL, n: int | None = 1, op_map: Mapping[str, str] = NB201_OP_MAP) -> list[NB201Proposal]:
    """The ``n`` best distinct NB201 cells (``None``: all that can be derived), from valid 4-vertex NB101 cells
    decoded best-first (module docstring)."""
    op_map = _check_map(op_map, tuple(o for o in nb201.OPS if o not in ("none", "skip_connect")), "NAS-Bench-201")
    assignments = data.enumerate_op_assignments(4)
    logs = edge_log_probabilities(model.config, model.params, assignments)
    streams = [tagged(decode(log_p, log_q), idx, model.op_stats.log_prob(ops))
               for idx, (ops, (log_p, log_q)) in enumerate(zip(assignments, logs))]
    out, seen = [], set()
    for score, a, idx in heapq.merge(*streams, key=lambda item: (-item[0], item[2])):
        arch = nb201_arch(a, assignments[idx], op_map)
        if arch not in seen:
            seen.add(arch)
            out.append(NB201Proposal(arch, float(score), a, assignments[idx]))
        if len(out) == n:
            return out
    if n is None:
        return out
    raise InvalidCellError(f"only {len(out)} distinct NAS-Bench-201 cells can be derived from 4-vertex cells, "
                           f"asked for {n}")
