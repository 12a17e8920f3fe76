"""NAL graph encoding, expert selection, partitions and op statistics."""
import itertools

import jraph
import numpy as np
import pytest

from nasi_nal.errors import InvalidCellError
from nasi_nal.nal import data
from nasi_nal.spaces import nb101
from nal_helpers import random_cellset

OPS4 = ("input", "conv3x3-bn-relu", "maxpool3x3", "output")


def test_candidate_graph_shape_and_kinds():
    g = data.candidate_graphs([OPS4])
    assert g.n_node.tolist() == [4] and g.n_edge.tolist() == [16]
    assert g.nodes.shape == (4, data.NODE_DIM)
    np.testing.assert_array_equal(g.nodes[:, :8], nb101.node_features(OPS4))
    np.testing.assert_allclose(g.nodes[:, 8], 4 / 7)
    kinds = g.edges["kind"]
    assert np.sum(kinds == 0) == 6 and np.sum(kinds == 1) == 6 and np.sum(kinds == 2) == 4
    fwd = kinds == 0
    assert np.all(g.senders[fwd] < g.receivers[fwd])
    assert np.all(g.senders[kinds == 2] == g.receivers[kinds == 2])


def test_encoder_graph_does_not_depend_on_edges():
    """No leakage: two cells with the same ops but different wiring give the same encoder input."""
    a = np.zeros((2, 7, 7), np.uint8)
    a[0, 0, 1] = a[0, 1, 2] = a[0, 2, 3] = 1
    a[1, 0, 1] = a[1, 0, 2] = a[1, 1, 3] = a[1, 2, 3] = 1
    g0 = data.candidate_graphs([OPS4], a[:1])
    g1 = data.candidate_graphs([OPS4], a[1:])
    for field in ("nodes", "senders", "receivers", "n_node", "n_edge"):
        np.testing.assert_array_equal(getattr(g0, field), getattr(g1, field))
    np.testing.assert_array_equal(g0.edges["kind"], g1.edges["kind"])
    assert not np.array_equal(g0.edges["label"], g1.edges["label"])
    # labels are exactly the forward pairs' adjacency entries
    fwd = g1.edges["kind"] == 0
    np.testing.assert_array_equal(g1.edges["label"][fwd], a[1][g1.senders[fwd], g1.receivers[fwd]])
    assert g1.edges["label"][~fwd].sum() == 0


def test_batch_offsets_and_padding():
    ops = [OPS4, ("input", "conv1x1-bn-relu", "output")]
    g = data.pad(data.candidate_graphs(ops), 4)
    assert g.nodes.shape[0] == 4 * 7 + 1 and g.senders.shape[0] == 4 * 49 and g.n_node.shape[0] == 5
    edge_mask = jraph.get_edge_padding_mask(g)
    assert edge_mask.sum() == 16 + 9
    second = slice(16, 25)
    assert g.senders[second].min() == 4 and g.receivers[second].max() == 6
    with pytest.raises(ValueError, match="exceeds max_graphs"):
        data.pad(data.candidate_graphs(ops * 3), 4)


def test_bad_vertex_count_is_rejected():
    with pytest.raises(InvalidCellError, match="2..7 vertices"):
        data.candidate_graphs([("input",) + ("conv3x3-bn-relu",) * 6 + ("output",)])


def test_partition_is_order_free_and_seeded():
    cells = random_cellset(40)
    mask = data.training_partition(cells.hashes, 0.5, 0)
    rev = data.training_partition(cells.hashes[::-1], 0.5, 0)
    np.testing.assert_array_equal(mask, rev[::-1])
    assert 0 < mask.sum() < len(cells)
    assert not np.array_equal(mask, data.training_partition(cells.hashes, 0.5, 1))
    assert data.training_partition(cells.hashes, 1.0, 0).all()
    with pytest.raises(ValueError, match="table_fraction"):
        data.training_partition(cells.hashes, 0.0, 0)


def test_select_experts_count_fraction_and_ties():
    cells = random_cellset(40)
    top = data.select_experts(cells, 5)
    assert len(top) == 5 and np.all(np.diff(top.accuracy) <= 0)
    assert top.accuracy[-1] >= np.sort(cells.accuracy)[-5]
    assert len(data.select_experts(cells, 0.25)) == 10
    tied = data.CellSet(cells.adjacency, cells.ops, cells.num_vertices, cells.hashes, np.ones(len(cells)))
    assert data.select_experts(tied, 3).hashes == tuple(sorted(cells.hashes)[:3])
    with pytest.raises(ValueError, match="only 40"):
        data.select_experts(cells, 41)


def test_cellset_round_trip_to_cells():
    cells = random_cellset(10)
    for i in range(10):
        assert cells.cell(i).hash == cells.hashes[i]


def test_op_stats_is_a_distribution_and_round_trips():
    stats = data.OpStats.from_cells(random_cellset(40))
    assert data.OpStats.from_json(stats.to_json()) == stats
    total = sum(np.exp(stats.log_prob(ops)) for v in range(2, 8) for ops in data.enumerate_op_assignments(v))
    assert total == pytest.approx(1.0)
    a = stats.sample(np.random.default_rng(3), 10)
    assert a == stats.sample(np.random.default_rng(3), 10) and len(set(a)) == 10
    with pytest.raises(ValueError, match="distinct op assignments"):
        stats.sample(np.random.default_rng(0), 2, num_vertices=2, max_tries=50)


def test_enumerate_op_assignments():
    four = data.enumerate_op_assignments(4)
    assert len(four) == 9 and four == [("input", *p, "output") for p in itertools.product(nb101.INNER_OPS, repeat=2)]
