"""The NAS-Bench-101 cell space: validation, pruning, hashing, enumeration, sampling, mutation, jraph graphs.

A cell is a DAG of at most 7 vertices and 9 edges, given as an upper-triangular 0/1 adjacency matrix and one
op per vertex: ``input`` first, ``output`` last, and each inner vertex one of 1x1 conv, 3x3 conv or 3x3 max-pool
(Ying et al., 2019, "NAS-Bench-101: Towards Reproducible Neural Architecture Search", ICML).

Definitions follow the official code, google-research/nasbench:
``lib/model_spec.py`` (``ModelSpec._prune``, ``ModelSpec.hash_spec``), ``lib/graph_util.py`` (``hash_module``,
``gen_is_edge_fn``, ``is_full_dag``), ``api.py`` (``NASBench._check_spec``: the limits apply to the pruned cell),
``scripts/generate_graphs.py`` (the enumeration of the 423,624 unique cells) and the random-spec / mutation of its
regularized-evolution example (``NASBench.ipynb``).

Example:
    >>> import numpy as np
    >>> from nasi_nal.spaces import nb101
    >>> cell = nb101.sample(np.random.default_rng(0))
    >>> nb101.is_valid(cell.matrix, cell.ops), len(cell.hash)
    (True, 32)
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
from typing import Iterator, Sequence

import jraph
import numpy as np

from nasi_nal.errors import InvalidCellError

OPS: tuple[str, ...] = ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output")
INNER_OPS: tuple[str, ...] = ("conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3")
MAX_VERTICES = 7
MAX_EDGES = 9

# The order of ``config['available_ops']`` in the official code: the integer labels of its hash use it.
_HASH_OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
_ALIASES = {"conv1x1": "conv1x1-bn-relu", "conv3x3": "conv3x3-bn-relu"}
NODE_FEATURES = len(OPS) + 3  # one-hot op, topological position, is_input, is_output


def canonical_op(name: str) -> str:
    """The official op name for ``name``; the short aliases ``conv1x1`` and ``conv3x3`` are accepted."""
    if isinstance(name, str):
        if name in OPS:
            return str(name)
        if name in _ALIASES:
            return _ALIASES[name]
    raise InvalidCellError(
        f"unknown NAS-Bench-101 op {name!r}: use one of {list(OPS)} (or the aliases {sorted(_ALIASES)})"
    )


def _check_structure(matrix, ops) -> tuple[np.ndarray, tuple[str, ...]]:
    """Shape-level checks shared by every entry point; returns the matrix as uint8 and the canonical ops."""
    try:
        m = np.asarray(matrix)
    except ValueError as err:  # ragged nested lists
        raise InvalidCellError(f"adjacency matrix is not square: {err}") from err
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise InvalidCellError(f"adjacency matrix is not square (shape {m.shape}): pass a V x V matrix")
    num_vertices = m.shape[0]
    if not 2 <= num_vertices <= MAX_VERTICES:
        raise InvalidCellError(
            f"cell has {num_vertices} vertices: NAS-Bench-101 cells have 2 to {MAX_VERTICES} (input and output "
            "included)"
        )
    if m.dtype == object or not ((m == 0) | (m == 1)).all():
        values = sorted({repr(v) for v in m.ravel().tolist()})  # by repr: object entries need not be comparable
        raise InvalidCellError(f"adjacency matrix entries must be 0 or 1, got values {', '.join(values[:10])}")
    m = m.astype(np.uint8)
    lower = np.argwhere(np.tril(m) != 0)
    if lower.size:
        i, j = lower[0].tolist()
        raise InvalidCellError(
            f"adjacency matrix is not upper-triangular: entry ({i}, {j}) is 1 on or below the diagonal; edges go "
            "from a vertex to a later one (no self-loops, vertices in topological order)"
        )
    if isinstance(ops, str) or not hasattr(ops, "__len__"):
        raise InvalidCellError(f"ops must be a sequence of op names, one per vertex, got {ops!r}")
    if len(ops) != num_vertices:
        raise InvalidCellError(
            f"len(ops) is {len(ops)} but the matrix has {num_vertices} vertices: give one op per vertex"
        )
    names = tuple(canonical_op(op) for op in ops)
    if names[0] != "input":
        raise InvalidCellError(f"the first op must be 'input', got {names[0]!r}: vertex 0 is the cell's input")
    if names[-1] != "output":
        raise InvalidCellError(f"the last op must be 'output', got {names[-1]!r}: vertex V-1 is the cell's output")
    for v, op in enumerate(names[1:-1], start=1):
        if op not in INNER_OPS:
            raise InvalidCellError(
                f"inner vertex {v} has op {op!r}: 'input' and 'output' only sit at the ends, inner vertices take "
                f"one of {list(INNER_OPS)}"
            )
    return m, names


def _prune_checked(m: np.ndarray, ops: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """``ModelSpec._prune`` on an already checked cell: keep the vertices on an input -> output path."""
    num_vertices = m.shape[0]
    rows = m.tolist()
    from_input = [True] + [False] * (num_vertices - 1)
    for v in range(1, num_vertices):  # upper-triangular: every predecessor of v is already settled
        from_input[v] = any(rows[w][v] and from_input[w] for w in range(v))
    to_output = [False] * (num_vertices - 1) + [True]
    for v in range(num_vertices - 2, -1, -1):
        to_output[v] = any(rows[v][w] and to_output[w] for w in range(v + 1, num_vertices))
    if not to_output[0]:
        raise InvalidCellError(
            "no path from the input to the output: connect vertex 0 to the last vertex through the edges"
        )
    keep = [v for v in range(num_vertices) if from_input[v] and to_output[v]]
    if len(keep) == num_vertices:
        return m, ops
    return m[np.ix_(keep, keep)], tuple(ops[v] for v in keep)


def prune(matrix, ops: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Drops the vertices not on an input -> output path, as the official ``ModelSpec._prune``.

    Returns the pruned uint8 matrix and ops; raises ``InvalidCellError`` when the input cannot reach the output.
    """
    return _prune_checked(*_check_structure(matrix, ops))


def _validated(matrix, ops) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, tuple[str, ...]]:
    """Checks a cell fully; returns (matrix, ops, pruned matrix, pruned ops)."""
    m, names = _check_structure(matrix, ops)
    pm, pops = _prune_checked(m, names)
    edges = int(pm.sum())
    if edges > MAX_EDGES:
        raise InvalidCellError(
            f"cell has {edges} edges after pruning: NAS-Bench-101 allows at most {MAX_EDGES}; remove edges"
        )
    return m, names, pm, pops


def validate(matrix, ops: Sequence[str]) -> None:
    """Raises ``InvalidCellError`` naming the problem unless (matrix, ops) is a NAS-Bench-101 cell.

    Checks: square 0/1 upper-triangular matrix of 2..7 vertices, one known op per vertex with ``input`` first and
    ``output`` last only, a path from input to output, and at most 9 edges. As in the official
    ``NASBench._check_spec``, the edge limit applies to the pruned cell (dangling edges do not count).
    """
    _validated(matrix, ops)


def is_valid(matrix, ops: Sequence[str]) -> bool:
    """True when ``validate`` accepts the cell."""
    try:
        _validated(matrix, ops)
    except InvalidCellError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _vertex_seed(out_degree: int, in_degree: int, label: int) -> str:
    return hashlib.md5(str((out_degree, in_degree, label)).encode("utf-8")).hexdigest()


def _hash_module(m: np.ndarray, labeling: Sequence[int]) -> str:
    """The official ``graph_util.hash_module``: Weisfeiler-Lehman-style MD5 hash of a labelled DAG.

    Same strings, same MD5s, same number of rounds (V) as the official code, so the digests match the dataset's.
    """
    num_vertices = m.shape[0]
    rows = m.tolist()
    ins = [[w for w in range(num_vertices) if rows[w][v]] for v in range(num_vertices)]
    outs = [[w for w in range(num_vertices) if rows[v][w]] for v in range(num_vertices)]
    hashes = [_vertex_seed(len(outs[v]), len(ins[v]), int(labeling[v])) for v in range(num_vertices)]
    for _ in range(num_vertices):
        hashes = [
            hashlib.md5(
                (
                    "".join(sorted([hashes[w] for w in ins[v]]))
                    + "|"
                    + "".join(sorted([hashes[w] for w in outs[v]]))
                    + "|"
                    + hashes[v]
                ).encode("utf-8")
            ).hexdigest()
            for v in range(num_vertices)
        ]
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


def _hash_pruned(m: np.ndarray, ops: Sequence[str]) -> str:
    labeling = [-1] + [_HASH_OPS.index(op) for op in ops[1:-1]] + [-2]
    return _hash_module(m, labeling)


def spec_hash(matrix, ops: Sequence[str]) -> str:
    """The official 32-hex module hash (``ModelSpec.hash_spec``) of a valid cell: the key of the dataset.

    Invariant under isomorphism (renumbering inner vertices) and under pruning; labels are ``[-1]`` for the input,
    the op's index in ``['conv3x3-bn-relu', 'conv1x1-bn-relu', 'maxpool3x3']``, and ``[-2]`` for the output.
    """
    _, _, pm, pops = _validated(matrix, ops)
    return _hash_pruned(pm, pops)


@dataclasses.dataclass(frozen=True, eq=False)
class Cell:
    """A valid NAS-Bench-101 cell: uint8 V x V adjacency (read-only) and canonical op names.

    Equal and hashable by content (two isomorphic cells with different numbering are different ``Cell`` objects
    but share ``.hash``). It need not be pruned; ``.pruned()`` gives the cell the official code trains.
    """

    matrix: np.ndarray
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        m, names, _, _ = _validated(self.matrix, self.ops)
        m = m.copy()
        m.setflags(write=False)
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "ops", names)

    @classmethod
    def _trusted(cls, m: np.ndarray, ops: tuple[str, ...], spec: str | None = None) -> "Cell":
        """Builds a cell from parts this module has already validated (skips the checks)."""
        cell = object.__new__(cls)
        m = np.array(m, dtype=np.uint8)
        m.setflags(write=False)
        object.__setattr__(cell, "matrix", m)
        object.__setattr__(cell, "ops", tuple(ops))
        if spec is not None:
            cell.__dict__["hash"] = spec
        return cell

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cell):
            return NotImplemented
        return self.ops == other.ops and np.array_equal(self.matrix, other.matrix)

    def __hash__(self) -> int:
        return hash((self.matrix.shape, self.matrix.tobytes(), self.ops))

    def __repr__(self) -> str:
        return f"Cell(matrix={self.matrix.tolist()}, ops={self.ops})"

    @functools.cached_property
    def hash(self) -> str:
        """The official module hash (see ``spec_hash``)."""
        return _hash_pruned(*_prune_checked(self.matrix, self.ops))

    @property
    def num_vertices(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.matrix.sum())

    def pruned(self) -> "Cell":
        """This cell without the vertices off every input -> output path (``ModelSpec._prune``)."""
        return Cell._trusted(*_prune_checked(self.matrix, self.ops), spec=self.__dict__.get("hash"))

    def to_arrays(self, max_vertices: int = MAX_VERTICES) -> tuple[np.ndarray, np.ndarray]:
        """The padded layout of the shared sample: (max_vertices, max_vertices) uint8 adjacency, int8 op codes
        into ``OPS`` with -1 pads. Inverse of ``from_arrays``."""
        if max_vertices < self.num_vertices:
            raise InvalidCellError(f"cannot pad a {self.num_vertices}-vertex cell to {max_vertices} vertices")
        adjacency = np.zeros((max_vertices, max_vertices), dtype=np.uint8)
        adjacency[: self.num_vertices, : self.num_vertices] = self.matrix
        codes = np.full(max_vertices, -1, dtype=np.int8)
        codes[: self.num_vertices] = [OPS.index(op) for op in self.ops]
        return adjacency, codes


def from_arrays(adjacency, ops_codes, num_vertices: int) -> Cell:
    """Decodes one row of the padded layout (as in the shared NB101 sample npz) into a ``Cell``.

    ``adjacency`` is (M, M) zero-padded past ``num_vertices``; ``ops_codes`` (M,) indexes ``OPS`` with -1 pads.
    """
    adjacency = np.asarray(adjacency)
    codes = np.asarray(ops_codes)
    n = int(num_vertices)
    if adjacency.ndim != 2 or codes.ndim != 1 or not n <= min(adjacency.shape[0], codes.shape[0]):
        raise InvalidCellError(
            f"padded row has adjacency {adjacency.shape} and ops {codes.shape} for num_vertices={n}: pass one row "
            "(an (M, M) adjacency and (M,) op codes, M >= num_vertices), not the whole batch"
        )
    if adjacency[n:, :].any() or adjacency[:, n:].any() or (codes[n:] != -1).any():
        raise InvalidCellError(
            f"padding past num_vertices={n} is not empty (zero edges, op code -1): check num_vertices"
        )
    bad = [int(c) for c in codes[:n] if not 0 <= int(c) < len(OPS)]
    if bad:
        raise InvalidCellError(f"op codes {bad} are not indices into OPS {list(OPS)}")
    return Cell(adjacency[:n, :n], tuple(OPS[int(c)] for c in codes[:n]))


def _check_generator(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng)}")


def sample(rng: np.random.Generator, num_vertices: int = MAX_VERTICES) -> Cell:
    """A random valid cell, pruned, by the official ``random_spec`` rejection sampling.

    Draws a random 0/1 upper-triangular ``num_vertices`` matrix and random inner ops until the cell is valid
    (input reaches output, at most 9 edges after pruning). This is uniform over the valid (matrix, ops) draws, the
    distribution of the NAS-Bench-101 random-search baseline, not uniform over the 423,624 unique cells: pruning
    makes it favour small cells (about 0.3% of samples keep all 7 vertices, against 85% of the unique cells).
    For uniform draws over unique cells, index ``list(enumerate_cells())`` with ``rng.integers``.
    """
    _check_generator(rng)
    if not 2 <= num_vertices <= MAX_VERTICES:
        raise InvalidCellError(f"num_vertices={num_vertices}: NAS-Bench-101 cells have 2 to {MAX_VERTICES}")
    while True:
        m = np.triu(rng.integers(0, 2, size=(num_vertices, num_vertices), dtype=np.uint8), k=1)
        inner = rng.integers(0, len(INNER_OPS), size=num_vertices)
        ops = ("input",) + tuple(INNER_OPS[i] for i in inner[1:-1]) + ("output",)
        try:
            _, _, pm, pops = _validated(m, ops)
        except InvalidCellError:
            continue
        return Cell._trusted(pm, pops)


def _full_dag_masks(num_vertices: int) -> np.ndarray:
    """Bit strings (official ``gen_is_edge_fn`` layout) of the full DAGs with at most 9 edges, ascending.

    ``is_full_dag``: every vertex but the output has an out-edge and every vertex but the input an in-edge,
    which for an upper-triangular matrix means every vertex lies on an input -> output path.
    """
    num_bits = num_vertices * (num_vertices - 1) // 2
    bits = np.arange(2**num_bits, dtype=np.int64)
    keep = np.ones(bits.shape, dtype=bool)
    edges = np.zeros(bits.shape, dtype=np.int64)
    for k in range(num_bits):
        edges += (bits >> k) & 1
    keep &= edges <= MAX_EDGES
    for v in range(num_vertices):
        # Edge x -> y is bit x + y (y - 1) / 2.
        out_mask = sum(1 << (v + y * (y - 1) // 2) for y in range(v + 1, num_vertices))
        in_mask = sum(1 << (x + v * (v - 1) // 2) for x in range(v))
        if v < num_vertices - 1:
            keep &= (bits & out_mask) != 0
        if v > 0:
            keep &= (bits & in_mask) != 0
    return bits[keep]


def _mask_to_matrix(bits: int, num_vertices: int) -> np.ndarray:
    m = np.zeros((num_vertices, num_vertices), dtype=np.uint8)
    for y in range(1, num_vertices):
        for x in range(y):
            m[x, y] = (bits >> (x + y * (y - 1) // 2)) & 1
    return m


def _canonical_keys(m: np.ndarray, labelings: np.ndarray) -> np.ndarray:
    """An exact isomorphism key for each labeling (rows of ``labelings``, inner labels) of the DAG ``m``.

    The key is the lexicographic minimum of (adjacency bits, label digits) over all renumberings of the inner
    vertices (input and output stay put), computed for all labelings at once: two labelled cells of the same size
    get the same key exactly when they are isomorphic.
    """
    num_vertices = m.shape[0]
    inner = np.array(list(itertools.permutations(range(1, num_vertices - 1))), dtype=np.int64)  # (P, V-2)
    perms = np.concatenate(
        [np.zeros((len(inner), 1), np.int64), inner, np.full((len(inner), 1), num_vertices - 1)], axis=1
    )
    permuted = m[perms[:, :, None], perms[:, None, :]].reshape(len(perms), -1).astype(np.int64)  # (P, V*V)
    adjacency_codes = permuted @ (np.int64(1) << np.arange(num_vertices * num_vertices, dtype=np.int64))
    automorphic = perms[adjacency_codes == adjacency_codes.min()]  # renumberings reaching the minimal matrix
    digits = len(_HASH_OPS) ** np.arange(num_vertices - 2, dtype=np.int64)
    label_codes = labelings[:, automorphic[:, 1:-1] - 1] @ digits  # (L, A)
    return adjacency_codes.min() * len(_HASH_OPS) ** (num_vertices - 2) + label_codes.min(axis=1)


def enumerate_cells(max_vertices: int = MAX_VERTICES) -> Iterator[Cell]:
    """Yields every unique (by hash) valid pruned cell with at most ``max_vertices`` vertices.

    Follows the official ``generate_graphs.py``: for V = 2..max_vertices, every bit string of the upper triangle
    that makes a full DAG with at most 9 edges, every inner labeling in ``itertools.product`` order, first
    occurrence of each hash kept; it yields the same representatives in the same order, 423,624 cells for 7
    vertices. Isomorphic repeats are skipped by an exact canonical form (``_canonical_keys``, vectorized over
    labelings) so the official MD5 hash is computed once per kept cell instead of ~3 times as often; every kept
    hash is checked to be new, which re-verifies the official claim that the hash has no collisions here.
    Each yielded cell carries its hash (``cell.hash`` costs nothing).
    """
    if not 2 <= max_vertices <= MAX_VERTICES:
        raise InvalidCellError(f"max_vertices={max_vertices}: NAS-Bench-101 cells have 2 to {MAX_VERTICES}")
    seen_hashes: set[str] = set()
    for num_vertices in range(2, max_vertices + 1):
        labelings = np.array(list(itertools.product(range(len(_HASH_OPS)), repeat=num_vertices - 2)), np.int64)
        seen_keys: set[int] = set()
        for bits in _full_dag_masks(num_vertices).tolist():
            m = _mask_to_matrix(bits, num_vertices)
            keys, first = np.unique(_canonical_keys(m, labelings), return_index=True)
            for index, key in sorted(zip(first.tolist(), keys.tolist())):
                if key in seen_keys:
                    continue
                seen_keys.add(key)
                labels = labelings[index].tolist()
                spec = _hash_module(m, [-1] + labels + [-2])
                if spec in seen_hashes:
                    raise RuntimeError(
                        f"hash collision: non-isomorphic cells share the official hash {spec}; the official "
                        "enumeration's no-false-positive claim does not hold for this implementation"
                    )
                seen_hashes.add(spec)
                ops = ("input",) + tuple(_HASH_OPS[i] for i in labels) + ("output",)
                yield Cell._trusted(m, ops, spec=spec)


def node_features(ops: Sequence[str]) -> np.ndarray:
    """float32 (V, 8) vertex features: one-hot over ``OPS`` (5), position / (V - 1), is_input, is_output.

    Vertex order is a topological order (the matrix is upper-triangular), so the position is the vertex index.
    """
    names = [canonical_op(op) for op in ops]
    num_vertices = len(names)
    if num_vertices < 2:
        raise InvalidCellError(f"a cell has at least 2 vertices (input and output), got ops {list(ops)}")
    features = np.zeros((num_vertices, NODE_FEATURES), dtype=np.float32)
    features[np.arange(num_vertices), [OPS.index(op) for op in names]] = 1.0
    features[:, len(OPS)] = np.arange(num_vertices, dtype=np.float32) / (num_vertices - 1)
    features[:, len(OPS) + 1] = [op == "input" for op in names]
    features[:, len(OPS) + 2] = [op == "output" for op in names]
    return features


def to_graph(cell_or_matrix, ops: Sequence[str] | None = None) -> jraph.GraphsTuple:
    """A one-graph ``jraph.GraphsTuple`` of a cell: nodes = ``node_features``, one edge per matrix entry i -> j.

    ``senders``/``receivers`` are int32 in row-major order of the matrix; ``edges`` and ``globals`` are None.
    A raw (matrix, ops) pair only needs to be structurally sound (square, 0/1, upper-triangular, known ops in
    place), so partial cells, e.g. during link prediction, convert too.
    """
    if isinstance(cell_or_matrix, Cell):
        if ops is not None:
            raise TypeError("to_graph(cell) takes no ops: the Cell carries its own")
        m, names = cell_or_matrix.matrix, cell_or_matrix.ops
    else:
        if ops is None:
            raise TypeError("to_graph(matrix, ops) needs the ops of the matrix's vertices")
        m, names = _check_structure(cell_or_matrix, ops)
    senders, receivers = np.nonzero(m)
    return jraph.GraphsTuple(
        nodes=node_features(names),
        edges=None,
        senders=senders.astype(np.int32),
        receivers=receivers.astype(np.int32),
        n_node=np.array([m.shape[0]], dtype=np.int32),
        n_edge=np.array([senders.size], dtype=np.int32),
        globals=None,
    )

