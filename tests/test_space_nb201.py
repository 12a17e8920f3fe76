"""NAS-Bench-201 space: arch strings, the official index order, sampling, mutation, graphs."""
import collections
import csv
import itertools
import random

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from nasi_nal.errors import InvalidCellError
from nasi_nal.spaces import nb201

# The three checks generate_meta_info (AutoDL-Projects exps/NAS-Bench-201/main.py) asserts after its shuffle.
OFFICIAL_INDEXED = {
    0: "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    9: "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    123: "|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
}
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_constants():
    assert nb201.OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert nb201.EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert (nb201.NUM_NODES, nb201.NUM_EDGES, nb201.NUM_ARCHS) == (4, 6, 15625)


def test_parse_format_round_trip():
    arch = nb201.parse(RESNET)
    assert arch.ops == ("nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "none", "skip_connect")
    assert nb201.format(arch) == arch.to_str() == str(arch) == RESNET
    assert nb201.format(RESNET) == RESNET  # strings are accepted where an Arch is
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = nb201.sample(rng)
        assert nb201.parse(nb201.format(arch)) == arch


def test_arch_is_hashable_value():
    a, b = nb201.Arch(["none"] * 6), nb201.Arch(("none",) * 6)
    assert a == b and hash(a) == hash(b) and isinstance(a.ops, tuple)


@pytest.mark.parametrize(
    "text, match",
    [
        ("|none~0|+|none~0|none~1|", "2 '\\+'-separated nodes"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "4 '\\+'-separated nodes"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "wrapped in '\\|'"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2", "wrapped in '\\|'"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "has 1 inputs, it needs exactly 2"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|none~3|", "has 4 inputs, it needs exactly 3"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "not of the form 'op~j'"),
        ("|~0|+|none~0|none~1|+|none~0|none~1|none~2|", "not of the form 'op~j'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "names input '1', expected 0"),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "names input '1', expected 0"),
        ("|none~0|+|none~0|none~x|+|none~0|none~1|none~2|", "names input 'x', expected 1"),
        ("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_3x3'"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|max_pool_3x3~2|", "unknown op 'max_pool_3x3'"),
        ("", "1 '\\+'-separated nodes"),
    ],
)
def test_parse_rejects_malformed(text, match):
    with pytest.raises(InvalidCellError, match=match):
        nb201.parse(text)


def test_parse_rejects_non_string():
    with pytest.raises(InvalidCellError, match="must be a str"):
        nb201.parse(["none"] * 6)


@pytest.mark.parametrize(
    "ops, match",
    [(("none",) * 5, "sequence of 6 op names"), ("none" * 6, "sequence of 6 op names"),
     (("none",) * 5 + ("conv",), "unknown NAS-Bench-201 op 'conv'")],
)
def test_arch_rejects_bad_ops(ops, match):
    with pytest.raises(InvalidCellError, match=match):
        nb201.Arch(ops)


def test_official_spot_checks():
    for index, text in OFFICIAL_INDEXED.items():
        assert nb201.format(nb201.index_to_arch(index)) == text
        assert nb201.arch_to_index(text) == index


def test_index_order_is_the_official_shuffle():
    """Independent reimplementation: gen_all's order (itertools.product) shuffled by the stdlib's Random(88)."""
    enumeration = [nb201.Arch(ops) for ops in itertools.product(nb201.OPS, repeat=nb201.NUM_EDGES)]
    random.Random(88).shuffle(enumeration)
    assert nb201.all_archs() == enumeration


def test_index_bijection():
    archs = nb201.all_archs()
    assert len(archs) == len(set(archs)) == nb201.NUM_ARCHS
    assert all(nb201.arch_to_index(a) == i for i, a in enumerate(archs))
    assert nb201.index_to_arch(np.int64(15624)) == archs[-1]


@pytest.mark.parametrize("index", [-1, 15625, 1.0, True, "3"])
def test_index_to_arch_rejects_bad_index(index):
    with pytest.raises(InvalidCellError, match="index"):
        nb201.index_to_arch(index)


def test_arch_to_index_rejects_non_arch():
    with pytest.raises(InvalidCellError, match="expected a nasi_nal.spaces.nb201.Arch"):
        nb201.arch_to_index(("none",) * 6)


def test_index_order_matches_reference_csv(reference_file):
    """Every one of the 15,625 rows of the benchmark's own listing, in both directions."""
    path = reference_file("nb201_cifar10.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == nb201.NUM_ARCHS
    archs = nb201.all_archs()
    for row in rows:
        index = int(row["index"])
        assert nb201.format(archs[index]) == row["arch_str"]
        assert nb201.arch_to_index(nb201.parse(row["arch_str"])) == index


def test_sample_is_deterministic_and_covers_the_space():
    def draw(seed, n):
        rng = np.random.default_rng(seed)
        return [nb201.sample(rng) for _ in range(n)]

    assert draw(1, 20) == draw(1, 20)
    assert draw(1, 20) != draw(2, 20)
    rng = np.random.default_rng(3)
    samples = [nb201.sample(rng) for _ in range(1000)]
    for edge in range(nb201.NUM_EDGES):
        counts = collections.Counter(a.ops[edge] for a in samples)
        assert set(counts) == set(nb201.OPS)
        assert min(counts.values()) > 150  # uniform: 200 expected per op
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        nb201.sample(np.random.RandomState(0))


EXPECTED_LINKS = {
    (0, 1), (0, 2), (0, 4),  # input -> ops on (1,0), (2,0), (3,0)
    (1, 3), (1, 5),  # op (1,0) -> ops reading node 1: (2,1), (3,1)
    (2, 6), (3, 6),  # ops into node 2 -> op (3,2)
    (4, 7), (5, 7), (6, 7),  # ops into node 3 -> output
}


def test_to_graph_encoding():
    graph = nb201.to_graph(RESNET)
    assert graph.nodes.shape == (8, len(nb201.NODE_LABELS)) and graph.nodes.dtype == np.float32
    labels = [nb201.NODE_LABELS[i] for i in graph.nodes.argmax(axis=1)]
    assert labels == ["input", "nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "none", "skip_connect", "output"]
    assert np.all(graph.nodes.sum(axis=1) == 1)
    links = list(zip(graph.senders.tolist(), graph.receivers.tolist()))
    assert set(links) == EXPECTED_LINKS and len(links) == len(EXPECTED_LINKS)
    assert links == sorted(links) and all(s < r for s, r in links)
    assert graph.senders.dtype == graph.receivers.dtype == np.int32
    assert graph.n_node.tolist() == [8] and graph.n_edge.tolist() == [10]
    assert graph.edges is None and graph.globals is None


def test_to_graph_is_one_to_one_and_batches_under_one_trace():
    rng = np.random.default_rng(0)
    archs = list({nb201.sample(rng) for _ in range(6)})
    graphs = [nb201.to_graph(a) for a in archs]
    assert len({g.nodes.tobytes() for g in graphs}) == len(archs)
    traces = []

    @jax.jit
    def op_mass(graph: jraph.GraphsTuple) -> jax.Array:
        traces.append(1)
        return jax.ops.segment_sum(graph.nodes[graph.senders], graph.receivers, num_segments=graph.nodes.shape[0])

    for arch, graph in zip(archs, graphs):
        out = op_mass(graph)
        # the output node receives exactly the 3 ops into feature map 3
        np.testing.assert_allclose(out[7], jnp.asarray(graph.nodes[4:7].sum(axis=0)))
    assert len(traces) == 1
    batch = jraph.batch_np(graphs)
    assert batch.n_node.tolist() == [8] * len(archs) and batch.senders.shape == (10 * len(archs),)
