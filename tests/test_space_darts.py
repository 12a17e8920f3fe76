"""DARTS space: published genotypes, validation errors, sampling, mutation, JSON, graphs."""
import collections
import json

import jraph
import numpy as np
import pytest

from nasi_nal.errors import InvalidCellError
from nasi_nal.spaces import darts


def replace_edge(genotype, cell, position, pair):
    pairs = list(getattr(genotype, cell))
    pairs[position] = pair
    return genotype._replace(**{cell: pairs})


def test_primitives_and_published_genotypes():
    assert darts.PRIMITIVES == (
        "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
        "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
    )
    assert darts.Genotype._fields == ("normal", "normal_concat", "reduce", "reduce_concat")
    for genotype in (darts.DARTS_V1, darts.DARTS_V2):
        darts.validate(genotype)
        assert genotype.normal_concat == genotype.reduce_concat == [2, 3, 4, 5]
    # spot checks against quark0/darts cnn/genotypes.py
    assert darts.DARTS_V2.normal[7] == ("dil_conv_3x3", 2)
    assert darts.DARTS_V2.reduce[-1] == ("max_pool_3x3", 1)
    assert darts.DARTS_V1.reduce[-1] == ("avg_pool_3x3", 0)
    assert [op for op, _ in darts.DARTS_V1.normal].count("skip_connect") == 3


@pytest.mark.parametrize(
    "cell, position, pair, match",
    [
        ("normal", 0, ("none", 0), "uses 'none'"),
        ("reduce", 5, ("conv_7x1_1x7", 1), "unknown op 'conv_7x1_1x7'"),
        ("normal", 0, ("sep_conv_3x3", 2), "input 2, out of range: node 2 may read only 0..1"),
        ("normal", 7, ("sep_conv_3x3", 6), "input 6, out of range: node 5 may read only 0..4"),
        ("reduce", 2, ("sep_conv_3x3", -1), "input -1, out of range"),
        ("normal", 3, ("sep_conv_3x3", 1.0), "inputs are ints"),
        ("normal", 3, ("sep_conv_3x3", True), "inputs are ints"),
        ("normal", 1, ("sep_conv_3x3", 0), "intermediate node 2 of genotype.normal takes input 0 twice"),
        ("reduce", 7, ("max_pool_3x3", 2), "intermediate node 5 of genotype.reduce takes input 2 twice"),
        ("normal", 4, ("sep_conv_3x3",), "must be an \\(op, input\\) pair"),
        ("normal", 4, "sep_conv_3x3", "must be an \\(op, input\\) pair"),
    ],
)
def test_validate_rejects_bad_edges(cell, position, pair, match):
    with pytest.raises(InvalidCellError, match=match):
        darts.validate(replace_edge(darts.DARTS_V2, cell, position, pair))


@pytest.mark.parametrize("count", [0, 6, 7, 9, 10])
def test_validate_rejects_wrong_edge_count(count):
    pairs = (darts.DARTS_V2.normal * 2)[:count]
    with pytest.raises(InvalidCellError, match=f"genotype.normal has {count} edges; a DARTS cell has 4 intermediate"):
        darts.validate(darts.DARTS_V2._replace(normal=pairs))


@pytest.mark.parametrize("concat", [[2, 3, 4], [2, 3, 4, 5, 6], [5, 4, 3, 2], [2, 3, 4, 5.0], "2345", None])
def test_validate_rejects_bad_concat(concat):
    with pytest.raises(InvalidCellError, match="genotype.reduce_concat is .*concatenates all intermediate nodes"):
        darts.validate(darts.DARTS_V2._replace(reduce_concat=concat))


def test_validate_accepts_range_concat_and_rejects_non_genotypes():
    darts.validate(darts.DARTS_V2._replace(normal_concat=range(2, 6)))
    with pytest.raises(InvalidCellError, match="expected a nasi_nal.spaces.darts.Genotype"):
        darts.validate(list(darts.DARTS_V2))
    with pytest.raises(InvalidCellError, match="must be a list of \\(op, input\\) pairs"):
        darts.validate(darts.DARTS_V2._replace(normal=None))


def test_sample_is_deterministic_and_valid():
    def draw(seed, n):
        rng = np.random.default_rng(seed)
        return [darts.sample(rng) for _ in range(n)]

    assert draw(0, 10) == draw(0, 10)
    assert draw(0, 10) != draw(1, 10)
    samples = draw(2, 400)
    ops, last_inputs = collections.Counter(), collections.Counter()
    for genotype in samples:
        darts.validate(genotype)
        for cell in (genotype.normal, genotype.reduce):
            ops.update(op for op, _ in cell)
            last_inputs.update(source for _, source in cell[6:])
            assert all(isinstance(source, int) for _, source in cell)
    assert set(ops) == set(darts.PRIMITIVES) - {"none"}
    assert set(last_inputs) == {0, 1, 2, 3, 4}  # node 5 reads from every earlier node
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        darts.sample(np.random.RandomState(0))


def edge_changes(parent, child):
    return [
        (cell, i, a, b)
        for cell in ("normal", "reduce")
        for i, (a, b) in enumerate(zip(getattr(parent, cell), getattr(child, cell)))
        if a != b
    ]


def test_json_round_trip_and_hand_written_form():
    rng = np.random.default_rng(3)
    for genotype in (darts.DARTS_V1, darts.DARTS_V2, darts.sample(rng), darts.sample(rng)):
        text = darts.to_json(genotype)
        assert darts.from_json(text) == genotype
        assert json.loads(text)["normal_concat"] == [2, 3, 4, 5]
    hand_written = """
    {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
                ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2]],
     "normal_concat": [2, 3, 4, 5],
     "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
                ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]],
     "reduce_concat": [2, 3, 4, 5]}
    """
    loaded = darts.from_json(hand_written)
    assert loaded == darts.DARTS_V2 and isinstance(loaded.normal[0], tuple)


def test_json_errors():
    good = json.loads(darts.to_json(darts.DARTS_V2))
    with pytest.raises(InvalidCellError, match="does not parse"):
        darts.from_json("{'normal': []}")
    with pytest.raises(InvalidCellError, match="must be an object"):
        darts.from_json(json.dumps([good["normal"]]))
    with pytest.raises(InvalidCellError, match="missing \\['reduce_concat'\\], unknown \\[\\]"):
        darts.from_json(json.dumps({k: v for k, v in good.items() if k != "reduce_concat"}))
    with pytest.raises(InvalidCellError, match="missing \\[\\], unknown \\['notes'\\]"):
        darts.from_json(json.dumps({**good, "notes": "x"}))
    bad = {**good, "reduce": good["reduce"][:7] + [["none", 1]]}
    with pytest.raises(InvalidCellError, match="genotype.reduce\\[7\\].*uses 'none'"):
        darts.from_json(json.dumps(bad))
    with pytest.raises(InvalidCellError, match="genotype.normal\\[0\\] .* must be an \\(op, input\\) pair"):
        darts.from_json(json.dumps({**good, "normal": ["sep_conv_3x3"] * 8}))
    with pytest.raises(InvalidCellError, match="uses 'none'"):
        darts.to_json(replace_edge(darts.DARTS_V2, "normal", 3, ("none", 1)))


def links(graph):
    return list(zip(graph.senders.tolist(), graph.receivers.tolist()))


def test_to_graph_normal_cell_of_darts_v2():
    graph = darts.to_graph(darts.DARTS_V2)
    labels = [darts.NODE_LABELS[i] for i in graph.nodes.argmax(axis=1)]
    assert labels == ["c_{k-2}", "c_{k-1}"] + [op for op, _ in darts.DARTS_V2.normal] + ["output"]
    assert graph.nodes.shape == (11, 11) and np.all(graph.nodes.sum(axis=1) == 1)
    # inputs: (sep 0)(sep 1) | (sep 0)(sep 1) | (sep 1)(skip 0) | (skip 0)(dil 2) -> op nodes 2..9
    expected = {(0, 2), (1, 3), (0, 4), (1, 5), (1, 6), (0, 7), (0, 8), (2, 9), (3, 9)}
    expected |= {(op_node, 10) for op_node in range(2, 10)}
    assert set(links(graph)) == expected and len(links(graph)) == len(expected)
    assert links(graph) == sorted(links(graph)) and all(s < r for s, r in links(graph))
    assert graph.n_node.tolist() == [11] and graph.n_edge.tolist() == [17]
    assert graph.edges is None and graph.globals is None


def test_to_graph_reduce_cell_and_errors():
    graph = darts.to_graph(darts.DARTS_V1, cell="reduce")
    labels = [darts.NODE_LABELS[i] for i in graph.nodes.argmax(axis=1)]
    assert labels[2:10] == [op for op, _ in darts.DARTS_V1.reduce]
    # reduce of V1 reads node 2 three times (edges 2, 5, 6): each read is 2 links from op nodes 2 and 3
    assert graph.n_edge.tolist() == [8 + 3 + 8]
    assert {(2, 4), (3, 4), (2, 7), (3, 7), (2, 8), (3, 8)} <= set(links(graph))
    with pytest.raises(InvalidCellError, match="cell must be one of"):
        darts.to_graph(darts.DARTS_V1, cell="reduction")
    with pytest.raises(InvalidCellError, match="out of range"):
        darts.to_graph(replace_edge(darts.DARTS_V1, "reduce", 0, ("max_pool_3x3", 3)), cell="reduce")


def test_to_graph_batches_random_cells():
    rng = np.random.default_rng(0)
    graphs = [darts.to_graph(darts.sample(rng), cell) for cell in ("normal", "reduce") for _ in range(5)]
    assert all(16 <= int(g.n_edge[0]) <= 22 for g in graphs)
    batch = jraph.batch_np(graphs)
    assert batch.n_node.tolist() == [11] * 10 and int(batch.n_edge.sum()) == batch.senders.shape[0]
