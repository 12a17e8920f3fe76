"""Tests of the NAS-Bench-101 cell space (nasi_nal.spaces.nb101).

``tests/data/nb101_hash_sample220.npz`` holds 220 rows cut from the team's reference file
``nb101_cifar10_sample20001.npz`` (real NAS-Bench-101 hashes; its ``source`` and ``rows`` arrays name them), so the
hash reproduction runs even where the reference data is absent.
"""
import collections
import importlib.util
import itertools
import json
import pathlib

import jraph
import numpy as np
import pytest

from nasi_nal.errors import InvalidCellError
from nasi_nal.spaces import nb101

FIXTURE = pathlib.Path(__file__).resolve().parent / "data" / "nb101_hash_sample220.npz"
SAMPLE = "nb101_cifar10_sample20001.npz"

# The cell of shared/data/README.md (published: hash 00005c14..., 8,555,530 parameters).
README_MATRIX = np.array(
    [
        [0, 1, 0, 0, 1, 1, 0],
        [0, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 1],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ]
)
README_OPS = ("input", "conv3x3", "maxpool3x3", "conv3x3", "conv3x3", "conv1x1", "output")
README_HASH = "00005c142e6f48ac74fdcf73e3439874"

C1, C3, MP = nb101.INNER_OPS


@pytest.fixture(scope="module")
def fixture_rows():
    """The shipped 220-row cut of the reference sample, as arrays."""
    return dict(np.load(FIXTURE, allow_pickle=False))


@pytest.fixture(scope="module")
def cells_up_to_5():
    return list(nb101.enumerate_cells(5))


def _rows(data, indices):
    for i in indices:
        yield data["hash"][i], nb101.from_arrays(data["adjacency"][i], data["ops"][i], data["num_vertices"][i])


def _topological_permutations(cell):
    """Every renumbering of the inner vertices that keeps the matrix upper-triangular."""
    v = cell.num_vertices
    for inner in itertools.permutations(range(1, v - 1)):
        perm = [0, *inner, v - 1]  # new vertex i is old vertex perm[i]
        matrix = cell.matrix[np.ix_(perm, perm)]
        if not np.tril(matrix).any():
            yield matrix, tuple(cell.ops[p] for p in perm)


# --- ops and validation ---------------------------------------------------------------------------------------


def test_constants():
    assert nb101.OPS == ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output")
    assert nb101.INNER_OPS == nb101.OPS[1:4]
    assert (nb101.MAX_VERTICES, nb101.MAX_EDGES) == (7, 9)


def test_canonical_op_aliases_and_unknown():
    assert nb101.canonical_op("conv1x1") == "conv1x1-bn-relu"
    assert nb101.canonical_op("conv3x3") == "conv3x3-bn-relu"
    assert nb101.canonical_op("maxpool3x3") == "maxpool3x3"
    with pytest.raises(InvalidCellError, match=r"unknown NAS-Bench-101 op 'conv5x5'.*maxpool3x3"):
        nb101.canonical_op("conv5x5")
    with pytest.raises(InvalidCellError, match="unknown NAS-Bench-101 op 3"):
        nb101.canonical_op(3)


CHAIN = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])


@pytest.mark.parametrize(
    "matrix, ops, message",
    [
        (np.zeros((3, 4)), ("input", C1, "output"), "not square"),
        ([[0, 1], [0]], ("input", "output"), "not square"),
        (np.zeros((8, 8), int), ("input",) + (C1,) * 6 + ("output",), "8 vertices"),
        (np.zeros((1, 1), int), ("input",), "1 vertices"),
        ([[0, 2, 0], [0, 0, 1], [0, 0, 0]], ("input", C1, "output"), "0 or 1"),
        ([[0, 1, 0], [0, 0, 1], [1, 0, 0]], ("input", C1, "output"), r"not upper-triangular: entry \(2, 0\)"),
        ([[0, 1, 0], [0, 1, 1], [0, 0, 0]], ("input", C1, "output"), r"not upper-triangular: entry \(1, 1\)"),
        (np.triu(np.ones((7, 7), int), 1), ("input",) + (C3,) * 5 + ("output",), "21 edges after pruning"),
        (CHAIN, ("input", "output"), "len\\(ops\\) is 2 but the matrix has 3"),
        (CHAIN, None, "ops must be a sequence of op names"),
        (CHAIN, ("input", "conv5x5", "output"), "unknown NAS-Bench-101 op 'conv5x5'"),
        (CHAIN, (C1, "input", "output"), "first op must be 'input'"),
        (CHAIN, ("input", C1, C3), "last op must be 'output'"),
        (CHAIN, ("input", "output", "output"), "inner vertex 1 has op 'output'"),
        (np.pad(CHAIN, ((0, 1), (0, 1))), ("input", "input", C1, "output"), "inner vertex 1 has op 'input'"),
        ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ("input", C1, "output"), "no path from the input to the output"),
        (np.zeros((2, 2), int), ("input", "output"), "no path"),
    ],
)
def test_validate_errors_name_the_problem(matrix, ops, message):
    with pytest.raises(InvalidCellError, match=message):
        nb101.validate(matrix, ops)
    assert not nb101.is_valid(matrix, ops)


def test_validate_accepts_cells_and_counts_edges_after_pruning():
    nb101.validate(README_MATRIX, README_OPS)
    nb101.validate([[0, 1], [0, 0]], ["input", "output"])
    assert nb101.is_valid(README_MATRIX.astype(bool), README_OPS)
    # 10 edges, but vertex 4 dangles (no way to the output): 8 edges after pruning, valid as in NASBench._check_spec.
    m = np.zeros((7, 7), int)
    for i, j in [(0, 1), (0, 2), (0, 3), (1, 2), (2, 3), (3, 5), (5, 6), (1, 6), (0, 4), (1, 4)]:
        m[i, j] = 1
    assert m.sum() == 10
    nb101.validate(m, ("input",) + (C3,) * 5 + ("output",))
    m[4, 5] = 1  # now vertex 4 is on a path: 11 edges count
    with pytest.raises(InvalidCellError, match="11 edges after pruning"):
        nb101.validate(m, ("input",) + (C3,) * 5 + ("output",))


# --- pruning (cases of the official nasbench/tests/model_spec_test.py) ---------------------------------------


@pytest.mark.parametrize(
    "matrix",
    [CHAIN, [[0, 1, 1], [0, 0, 1], [0, 0, 0]], [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]],
)
def test_prune_noop(matrix):
    ops = ("input",) + (C1,) * (len(matrix) - 2) + ("output",)
    pruned, pruned_ops = nb101.prune(matrix, ops)
    np.testing.assert_array_equal(pruned, matrix)
    assert pruned_ops == ops and pruned.dtype == np.uint8


@pytest.mark.parametrize(
    "matrix, ops, expected_ops",
    [
        # islands
        ([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]], ("input", C1, C3, "output"), ("input", C1, "output")),
        (
            [[0, 1, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
            ("input", C1, C3, MP, "output"),
            ("input", C1, "output"),
        ),
        # dangling: a dead end from the input, a vertex the input never reaches
        ([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ("input", C1, C3, "output"), ("input", C3, "output")),
        ([[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ("input", C1, C3, "output"), ("input", C3, "output")),
    ],
)
def test_prune_removes_vertices_off_every_path(matrix, ops, expected_ops):
    pruned, pruned_ops = nb101.prune(matrix, ops)
    np.testing.assert_array_equal(pruned, CHAIN)
    assert pruned_ops == expected_ops


@pytest.mark.parametrize(
    "matrix",
    [
        [[0, 0], [0, 0]],
        [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
        [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    ],
)
def test_prune_disconnected_raises(matrix):
    ops = ("input",) + (C1,) * (len(matrix) - 2) + ("output",)
    with pytest.raises(InvalidCellError, match="no path from the input to the output"):
        nb101.prune(matrix, ops)


# --- hash -----------------------------------------------------------------------------------------------------


def test_hash_of_the_published_cell():
    assert nb101.spec_hash(README_MATRIX, README_OPS) == README_HASH
    cell = nb101.Cell(README_MATRIX, README_OPS)
    assert cell.hash == README_HASH
    assert cell.ops[1] == "conv3x3-bn-relu"  # aliases are stored canonically


def test_hash_reproduces_the_shipped_fixture(fixture_rows):
    data = fixture_rows
    assert tuple(data["op_names"].tolist()) == nb101.OPS
    assert len(data["hash"]) == 220
    for expected, cell in _rows(data, range(len(data["hash"]))):
        assert cell.hash == expected
        assert nb101.spec_hash(cell.matrix, cell.ops) == expected


def test_hash_reproduces_the_reference_sample(reference_file):
    data = dict(np.load(reference_file(SAMPLE), allow_pickle=False))
    for expected, cell in _rows(data, range(300)):
        assert cell.hash == expected


@pytest.mark.slow
def test_hash_reproduces_the_whole_reference_sample(reference_file):
    data = dict(np.load(reference_file(SAMPLE), allow_pickle=False))
    mismatches = [i for i, (h, cell) in enumerate(_rows(data, range(len(data["hash"])))) if cell.hash != h]
    assert len(data["hash"]) == 20001 and mismatches == []


def test_hash_is_invariant_under_inner_renumbering(fixture_rows):
    data = fixture_rows
    cells = [nb101.Cell(README_MATRIX, README_OPS)] + [c for _, c in _rows(data, range(len(data["hash"])))][-40:]
    renumbered = 0
    for cell in cells:
        for matrix, ops in _topological_permutations(cell):
            assert nb101.spec_hash(matrix, ops) == cell.hash
            renumbered += not np.array_equal(matrix, cell.matrix) or ops != cell.ops
    assert renumbered >= 20  # the check saw many genuinely different numberings


def test_hash_changes_with_an_op_or_an_edge():
    base = nb101.spec_hash(README_MATRIX, README_OPS)
    for v in range(1, 6):
        for op in nb101.INNER_OPS:
            ops = list(README_OPS)
            if nb101.canonical_op(ops[v]) == op:
                continue
            ops[v] = op
            assert nb101.spec_hash(README_MATRIX, ops) != base
    m = README_MATRIX.copy()
    m[0, 5], m[0, 6] = 0, 1  # move an edge: still 9 edges, every vertex on a path
    assert nb101.spec_hash(m, README_OPS) != base


def test_hash_ignores_pruned_parts():
    m = np.zeros((7, 7), int)
    for i, j in [(0, 1), (1, 2), (2, 3), (3, 6), (1, 4), (0, 5)]:  # chain to the output; 4 and 5 are dead ends
        m[i, j] = 1
    ops = ("input", C1, C3, MP, C3, C1, "output")
    pruned, pruned_ops = nb101.prune(m, ops)
    np.testing.assert_array_equal(pruned, np.eye(5, k=1, dtype=int))
    assert pruned_ops == ("input", C1, C3, MP, "output")
    assert nb101.spec_hash(m, ops) == nb101.spec_hash(pruned, pruned_ops)


# --- Cell and the padded layout -------------------------------------------------------------------------------


def test_cell_equality_hashing_and_immutability():
    a = nb101.Cell(README_MATRIX, README_OPS)
    b = nb101.Cell(README_MATRIX.tolist(), list(README_OPS))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.matrix.dtype == np.uint8 and a.num_vertices == 7 and a.num_edges == 9
    with pytest.raises(ValueError):
        a.matrix[0, 6] = 1
    with pytest.raises(AttributeError):
        a.ops = ()
    matrix, ops = next(m for m in _topological_permutations(a) if not np.array_equal(m[0], a.matrix))
    c = nb101.Cell(matrix, ops)
    assert c != a and c.hash == a.hash  # isomorphic, different numbering
    with pytest.raises(InvalidCellError, match="no path"):
        nb101.Cell(np.zeros((3, 3), int), ("input", C1, "output"))


def test_cell_pruned():
    cell = nb101.Cell([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ("input", C1, C3, "output"))
    pruned = cell.pruned()
    assert pruned == nb101.Cell(CHAIN, ("input", C3, "output")) and pruned.hash == cell.hash


def test_padded_arrays_round_trip_and_errors():
    cell = nb101.Cell(CHAIN, ("input", MP, "output"))
    adjacency, codes = cell.to_arrays()
    assert adjacency.shape == (7, 7) and adjacency.dtype == np.uint8
    assert codes.tolist() == [0, 3, 4, -1, -1, -1, -1] and codes.dtype == np.int8
    assert nb101.from_arrays(adjacency, codes, 3) == cell
    with pytest.raises(InvalidCellError, match="padding past num_vertices=2 is not empty"):
        nb101.from_arrays(adjacency, codes, 2)
    bad = codes.copy()
    bad[1] = 7
    with pytest.raises(InvalidCellError, match=r"op codes \[7\]"):
        nb101.from_arrays(adjacency, bad, 3)
    with pytest.raises(InvalidCellError, match="pass one row"):
        nb101.from_arrays(adjacency[None], codes[None], 3)


# --- enumeration ----------------------------------------------------------------------------------------------


def test_enumerate_up_to_five_vertices_matches_published_counts(cells_up_to_5):
    cells = cells_up_to_5
    counts = collections.Counter(c.num_vertices for c in cells)
    assert [counts[v] for v in range(2, 6)] == [1, 6, 84, 2441]
    assert len({c.hash for c in cells}) == len(cells)
    # Representatives as the official generate_graphs.py emits them: the first V=3 matrix is the chain.
    assert cells[0] == nb101.Cell([[0, 1], [0, 0]], ("input", "output"))
    assert cells[1] == nb101.Cell(CHAIN, ("input", "conv3x3-bn-relu", "output"))
    for cell in cells[::50]:  # carried hashes are the real ones, cells are valid and already pruned
        assert nb101.spec_hash(cell.matrix, cell.ops) == cell.hash
        assert cell.pruned() == cell


def test_enumerate_contains_the_fixture_cells_up_to_five_vertices(fixture_rows, cells_up_to_5):
    data = fixture_rows
    small = {h for h, v in zip(data["hash"].tolist(), data["num_vertices"].tolist()) if v <= 5}
    assert len(small) == 137
    assert small <= {c.hash for c in cells_up_to_5}


def test_enumerate_rejects_bad_sizes():
    with pytest.raises(InvalidCellError, match="max_vertices=8"):
        next(nb101.enumerate_cells(8))


def _load_benchmark():
    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "enumerate_nb101.py"
    spec = importlib.util.spec_from_file_location("enumerate_nb101", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_enumeration_benchmark_small(tmp_path, capsys):
    out = tmp_path / "enum.json"
    assert _load_benchmark().main(["--max-vertices", "4", "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["counts_by_vertices"] == {"2": 1, "3": 6, "4": 84} and result["matches_published"]
    assert "total: 91" in capsys.readouterr().out


@pytest.mark.slow
def test_enumeration_benchmark_full_space(tmp_path):
    out = tmp_path / "enum.json"
    assert _load_benchmark().main(["--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["total"] == result["unique_hashes"] == 423_624
    assert list(result["counts_by_vertices"].values()) == [1, 6, 84, 2441, 62010, 359082]


# --- sampling and mutation ------------------------------------------------------------------------------------


def test_sample_is_deterministic_valid_and_pruned():
    first = [nb101.sample(np.random.default_rng(7)) for _ in range(2)]
    assert first[0] == first[1]
    rng = np.random.default_rng(0)
    cells = [nb101.sample(rng) for _ in range(200)]
    for cell in cells:
        nb101.validate(cell.matrix, cell.ops)
        assert cell.pruned() == cell and cell.num_edges <= 9
    assert len({c.hash for c in cells}) > 100  # pruning favours small cells, so repeats are common
    assert len({c.num_vertices for c in cells}) >= 5
    small = nb101.sample(np.random.default_rng(1), num_vertices=3)
    assert small.num_vertices <= 3


def test_sample_rejects_bad_arguments():
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        nb101.sample(0)
    with pytest.raises(InvalidCellError, match="num_vertices=8"):
        nb101.sample(np.random.default_rng(0), num_vertices=8)


# --- graphs ---------------------------------------------------------------------------------------------------


def test_node_features():
    features = nb101.node_features(README_OPS)
    assert features.shape == (7, 8) and features.dtype == np.float32
    np.testing.assert_array_equal(features[:, :5].argmax(1), [0, 2, 3, 2, 2, 1, 4])
    np.testing.assert_array_equal(features[:, :5].sum(1), np.ones(7))
    np.testing.assert_allclose(features[:, 5], np.arange(7) / 6)
    np.testing.assert_array_equal(features[:, 6], [1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(features[:, 7], [0, 0, 0, 0, 0, 0, 1])
    with pytest.raises(InvalidCellError, match="unknown"):
        nb101.node_features(["input", "conv7x7", "output"])


def test_to_graph():
    cell = nb101.Cell(README_MATRIX, README_OPS)
    graph = nb101.to_graph(cell)
    assert isinstance(graph, jraph.GraphsTuple) and graph.edges is None and graph.globals is None
    np.testing.assert_array_equal(graph.nodes, nb101.node_features(cell.ops))
    assert graph.senders.dtype == graph.receivers.dtype == np.int32
    assert graph.n_node.tolist() == [7] and graph.n_edge.tolist() == [9]
    assert sorted(zip(graph.senders.tolist(), graph.receivers.tolist())) == [tuple(e) for e in np.argwhere(README_MATRIX)]
    raw = nb101.to_graph(README_MATRIX, README_OPS)
    np.testing.assert_array_equal(raw.senders, graph.senders)
    partial = nb101.to_graph(np.zeros((4, 4), int), ("input", C1, C3, "output"))  # no edges yet: still a graph
    assert partial.n_edge.tolist() == [0] and partial.nodes.shape == (4, 8)
    with pytest.raises(TypeError, match="takes no ops"):
        nb101.to_graph(cell, README_OPS)
    with pytest.raises(InvalidCellError, match="upper-triangular"):
        nb101.to_graph(README_MATRIX.T, README_OPS)

