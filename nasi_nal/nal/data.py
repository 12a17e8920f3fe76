"""Expert cells and their encoding as padded jraph candidate graphs for the NAL link predictor.

What the encoder sees (the leakage question). The model predicts the edges of a NAS-Bench-101 cell, so the graph
it encodes must not contain those edges. Each cell is encoded as its *candidate graph*: the V vertices with the
features of ``nasi_nal.spaces.nb101.node_features`` (op one-hot, topological position / (V-1), is_input,
is_output) plus V / 7, connected by EVERY ordered pair (i, j), i != j, and a self-loop per vertex. Edge features
say only the direction class (forward i < j, backward i > j, self). The edge set is therefore identical for all
cells with V vertices: it carries no information about which edges the cell has. The targets are the forward
pairs i < j (the upper triangle), labelled 1 where the cell has the edge i -> j and 0 otherwise; the negatives
are the absent upper-triangular pairs of the same expert cells. The predictor thus models P(edges | ops,
positions) with edges conditionally independent given the node embeddings.

Cells travel as :class:`CellSet` (the shared-sample layout: (N, 7, 7) padded adjacency, int8 op codes into
``nb101.OPS``). Graph batches are padded with ``jraph.pad_with_graphs`` to sizes fixed by the number of graphs,
so each batch size compiles once.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
from typing import Iterable, Sequence

import jraph
import numpy as np

from nasi_nal.errors import InvalidCellError
from nasi_nal.spaces import nb101

MAX_V = 7
NUM_KINDS = 3  # edge direction classes: 0 forward (i < j, the prediction targets), 1 backward, 2 self-loop
NODE_DIM = 9  # nb101.node_features (8) + V / 7
EDGES_PER_GRAPH = MAX_V * MAX_V  # all ordered pairs and self-loops of a 7-vertex cell


@dataclasses.dataclass(frozen=True)
class CellSet:
    """NAS-Bench-101 cells as arrays (the shared-sample layout) with an optional accuracy per cell.

    adjacency: (N, 7, 7) uint8, upper-triangular, zero past ``num_vertices``; ops: (N, 7) int8 codes into
    ``nb101.OPS``, -1 past ``num_vertices``; num_vertices: (N,) int; hashes: official NB101 hashes;
    accuracy: (N,) float (108-epoch validation accuracy where known) or None.
    """

    adjacency: np.ndarray
    ops: np.ndarray
    num_vertices: np.ndarray
    hashes: tuple[str, ...]
    accuracy: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.hashes)

    def subset(self, index: np.ndarray | Sequence[int]) -> "CellSet":
        """The cells at ``index`` (integer positions or a boolean mask), in that order."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return CellSet(
            adjacency=self.adjacency[index],
            ops=self.ops[index],
            num_vertices=self.num_vertices[index],
            hashes=tuple(self.hashes[i] for i in index),
            accuracy=None if self.accuracy is None else self.accuracy[index],
        )

    def cell(self, i: int) -> nb101.Cell:
        """Row ``i`` as an ``nb101.Cell``."""
        return nb101.from_arrays(self.adjacency[i], self.ops[i], int(self.num_vertices[i]))

    def op_names(self, i: int) -> tuple[str, ...]:
        """The op names of row ``i``."""
        return tuple(nb101.OPS[c] for c in self.ops[i, : int(self.num_vertices[i])])


def cellset_from_cells(cells: Iterable[nb101.Cell], accuracy: Sequence[float] | None = None) -> CellSet:
    """Packs ``nb101.Cell`` objects into a :class:`CellSet`, pruned (the form the benchmark trains and hashes)."""
    cells = [c.pruned() for c in cells]
    n = len(cells)
    adjacency = np.zeros((n, MAX_V, MAX_V), np.uint8)
    ops = np.full((n, MAX_V), -1, np.int8)
    num_vertices = np.zeros(n, np.int64)
    for row, cell in enumerate(cells):
        v = len(cell.ops)
        adjacency[row, :v, :v] = cell.matrix
        ops[row, :v] = [nb101.OPS.index(nb101.canonical_op(o)) for o in cell.ops]
        num_vertices[row] = v
    acc = None if accuracy is None else np.asarray(accuracy, np.float64)
    return CellSet(adjacency, ops, num_vertices, tuple(c.hash for c in cells), acc)


def cellset_from_table(table, metric: str = "val_acc", epochs: int = 108) -> CellSet:
    """Every cell of an ``nasi_nal.tables.nb101.NB101Table`` (pruned) with its mean ``metric`` at ``epochs``."""
    n = len(table)
    adjacency = np.zeros((n, MAX_V, MAX_V), np.uint8)
    ops = np.full((n, MAX_V), -1, np.int8)
    num_vertices = np.zeros(n, np.int64)
    for row, cell in enumerate(table.cells()):
        cell = cell.pruned()
        adjacency[row], ops[row] = cell.to_arrays(MAX_V)
        num_vertices[row] = cell.num_vertices
    return CellSet(adjacency, ops, num_vertices, tuple(table.hashes.tolist()), table.metric(metric, epochs))


def hash_unit(cell_hash: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by (hash, salt): order-free, table-free partitions of cells.

    The same cell lands on the same side whichever table (the shared sample or the official file) it comes from
    and in whatever order the table lists it, so the cells a model trained on can always be told apart.
    """
    digest = hashlib.sha256(f"{salt}:{cell_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def training_partition(hashes: Sequence[str], fraction: float, split_seed: int) -> np.ndarray:
    """Boolean mask of the cells that experts may be drawn from (True) vs. held back for evaluation (False)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"table_fraction must be in (0, 1], got {fraction}")
    return np.array([hash_unit(h, f"partition{split_seed}") < fraction for h in hashes], dtype=bool)


def select_experts(cells: CellSet, top: float | int) -> CellSet:
    """The best cells by accuracy: ``top`` >= 1 is a count, 0 < ``top`` < 1 a fraction of ``cells``.

    Ties at the threshold are broken by hash, so the choice does not depend on table order.
    """
    if cells.accuracy is None:
        raise ValueError("select_experts needs accuracies: build the CellSet from a table (cellset_from_table)")
    if top <= 0:
        raise ValueError(f"top must be a count >= 1 or a fraction in (0, 1), got {top}")
    k = int(top) if top >= 1 else max(1, int(round(top * len(cells))))
    if k > len(cells):
        raise ValueError(f"top={top} asks for {k} expert cells but only {len(cells)} are available")
    if np.isnan(cells.accuracy).any():
        raise ValueError("some cells have no accuracy (NaN): choose an epoch budget the table has")
    order = sorted(range(len(cells)), key=lambda i: (-float(cells.accuracy[i]), cells.hashes[i]))
    return cells.subset(np.array(order[:k]))


def holdout_mask(hashes: Sequence[str], fraction: float, split_seed: int) -> np.ndarray:
    """Boolean mask of expert cells held out (for link AUC/AP and early stopping), fixed by hash and seed."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    return np.array([hash_unit(h, f"holdout{split_seed}") < fraction for h in hashes], dtype=bool)


def _templates() -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per vertex count V: senders, receivers and direction class of the complete candidate graph."""
    out = {}
    for v in range(2, MAX_V + 1):
        s, r = np.meshgrid(np.arange(v), np.arange(v), indexing="ij")
        s, r = s.ravel(), r.ravel()
        kind = np.where(s < r, 0, np.where(s > r, 1, 2))
        out[v] = (s.astype(np.int32), r.astype(np.int32), kind.astype(np.int32))
    return out


_TEMPLATES = _templates()


def encode_nodes(ops: Sequence[str]) -> np.ndarray:
    """(V, 9) float32 node features: ``nb101.node_features(ops)`` and V / 7 (cell size is not otherwise visible)."""
    feats = nb101.node_features(tuple(ops))
    v = feats.shape[0]
    return np.concatenate([feats, np.full((v, 1), v / MAX_V, np.float32)], axis=1).astype(np.float32)


def candidate_graphs(op_seqs: Sequence[Sequence[str]], adjacency: np.ndarray | None = None) -> jraph.GraphsTuple:
    """A batch of candidate graphs (see the module docstring), unpadded.

    ``edges`` is a dict: ``kind`` (int32 direction class), ``label`` (float32, adjacency[i, j] for forward pairs,
    0 elsewhere; all 0 when ``adjacency`` is None, e.g. at generation time).
    """
    nodes, senders, receivers, kinds, labels, n_node, n_edge = [], [], [], [], [], [], []
    offset = 0
    for row, ops in enumerate(op_seqs):
        v = len(ops)
        if v < 2 or v > MAX_V:
            raise InvalidCellError(f"a NAS-Bench-101 cell has 2..7 vertices, got {v} ops {tuple(ops)}")
        s, r, kind = _TEMPLATES[v]
        nodes.append(encode_nodes(ops))
        senders.append(s + offset)
        receivers.append(r + offset)
        kinds.append(kind)
        labels.append(
            np.zeros(len(s), np.float32)
            if adjacency is None
            else (adjacency[row][s, r] * (kind == 0)).astype(np.float32)
        )
        n_node.append(v)
        n_edge.append(len(s))
        offset += v
    return jraph.GraphsTuple(
        nodes=np.concatenate(nodes),
        edges={"kind": np.concatenate(kinds), "label": np.concatenate(labels)},
        senders=np.concatenate(senders),
        receivers=np.concatenate(receivers),
        n_node=np.array(n_node, np.int32),
        n_edge=np.array(n_edge, np.int32),
        globals=None,
    )


def pad(graph: jraph.GraphsTuple, max_graphs: int) -> jraph.GraphsTuple:
    """Pads a batch of at most ``max_graphs`` candidate graphs to the fixed sizes of ``max_graphs`` 7-vertex cells."""
    if graph.n_node.shape[0] > max_graphs:
        raise ValueError(f"batch of {graph.n_node.shape[0]} graphs exceeds max_graphs={max_graphs}")
    return jraph.pad_with_graphs(
        graph, n_node=max_graphs * MAX_V + 1, n_edge=max_graphs * EDGES_PER_GRAPH, n_graph=max_graphs + 1
    )


def cellset_graphs(cells: CellSet) -> jraph.GraphsTuple:
    """Candidate graphs of every cell in ``cells`` with their edge labels, unpadded."""
    return candidate_graphs([cells.op_names(i) for i in range(len(cells))], cells.adjacency)


@dataclasses.dataclass(frozen=True)
class OpStats:
    """How expert cells assign ops: counts of vertex numbers and of inner ops per (V, inner position).

    ``vertex_counts[V]`` counts experts with V vertices; ``op_counts[V][k][o]`` counts experts with V vertices
    whose inner vertex k (vertex k + 1) has op ``nb101.INNER_OPS[o]``. Probabilities use add-one (Laplace)
    smoothing, so an op assignment never seen among experts keeps a finite, documented log-probability.
    """

    vertex_counts: dict[int, int]
    op_counts: dict[int, list[list[int]]]

    @classmethod
    def from_cells(cls, cells: CellSet) -> "OpStats":
        """Counts over ``cells`` (the training experts)."""
        vertex_counts = {v: 0 for v in range(2, MAX_V + 1)}
        op_counts = {v: [[0] * len(nb101.INNER_OPS) for _ in range(v - 2)] for v in range(2, MAX_V + 1)}
        for i in range(len(cells)):
            names = cells.op_names(i)
            v = len(names)
            vertex_counts[v] += 1
            for k, name in enumerate(names[1:-1]):
                op_counts[v][k][nb101.INNER_OPS.index(name)] += 1
        return cls(vertex_counts, op_counts)

    def to_json(self) -> dict:
        """A JSON-ready dict (string keys)."""
        return {"vertex_counts": {str(v): c for v, c in self.vertex_counts.items()},
                "op_counts": {str(v): c for v, c in self.op_counts.items()}}

    @classmethod
    def from_json(cls, obj: dict) -> "OpStats":
        """Inverse of :meth:`to_json`."""
        return cls({int(v): int(c) for v, c in obj["vertex_counts"].items()},
                   {int(v): [[int(x) for x in row] for row in c] for v, c in obj["op_counts"].items()})

    def vertex_log_prob(self, v: int) -> float:
        """log P(V = v) among experts (add-one smoothed over V = 2..7)."""
        total = sum(self.vertex_counts.values()) + len(self.vertex_counts)
        return float(np.log((self.vertex_counts[v] + 1) / total))

    def inner_log_probs(self, v: int) -> np.ndarray:
        """(V - 2, 3) log P(op | V, inner position), add-one smoothed."""
        counts = np.asarray(self.op_counts[v], np.float64).reshape(v - 2, len(nb101.INNER_OPS)) + 1.0
        return np.log(counts / counts.sum(axis=1, keepdims=True))

    def log_prob(self, ops: Sequence[str]) -> float:
        """log P(V) + sum_k log P(op_k | V, k): the experts' factorised distribution over op assignments."""
        names = tuple(nb101.canonical_op(o) for o in ops)
        v = len(names)
        if v < 2 or v > MAX_V or names[0] != "input" or names[-1] != "output":
            raise InvalidCellError(f"op assignment must be input, 0..5 inner ops, output; got {names}")
        table = self.inner_log_probs(v)
        inner = [nb101.INNER_OPS.index(o) for o in names[1:-1]]
        return self.vertex_log_prob(v) + float(sum(table[k, o] for k, o in enumerate(inner)))

    def sample(self, rng: np.random.Generator, count: int, num_vertices: int | None = None,
               max_tries: int = 10000) -> list[tuple[str, ...]]:
        """``count`` distinct op assignments drawn from the smoothed expert distribution, in draw order.

        ``num_vertices`` fixes V instead of drawing it. Raises when ``count`` distinct ones are not found in
        ``max_tries`` draws (e.g. more than exist for a small V).
        """
        sizes = np.arange(2, MAX_V + 1)
        pv = np.exp([self.vertex_log_prob(int(v)) for v in sizes])
        pv = pv / pv.sum()
        seen: dict[tuple[str, ...], None] = {}
        for _ in range(max_tries):
            v = int(num_vertices) if num_vertices is not None else int(rng.choice(sizes, p=pv))
            probs = np.exp(self.inner_log_probs(v))
            inner = [nb101.INNER_OPS[int(rng.choice(len(nb101.INNER_OPS), p=row / row.sum()))] for row in probs]
            seen.setdefault(("input", *inner, "output"), None)
            if len(seen) == count:
                return list(seen)
        raise ValueError(f"found only {len(seen)} distinct op assignments in {max_tries} draws, asked for {count}: "
                         "ask for fewer or fix num_vertices to a larger cell size")


def enumerate_op_assignments(num_vertices: int) -> list[tuple[str, ...]]:
    """All 3^(V-2) op assignments of a V-vertex cell, in lexicographic order of ``nb101.INNER_OPS``."""
    if not 2 <= num_vertices <= MAX_V:
        raise InvalidCellError(f"a NAS-Bench-101 cell has 2..7 vertices, got {num_vertices}")
    return [("input", *inner, "output") for inner in itertools.product(nb101.INNER_OPS, repeat=num_vertices - 2)]
