"""NAL transfer of learned wiring to DARTS genotypes and NAS-Bench-201 cells."""
import hashlib

import numpy as np
import pytest

import nasi_nal
from nasi_nal.errors import GenerationError, InvalidCellError, NasiNalError
from nasi_nal.nal import checkpoint, generate, transfer
from nasi_nal.spaces import darts, nb101, nb201

from nal_helpers import untrained_model


def test_to_darts_valid_distinct_and_mapped():
    model = untrained_model()
    props = transfer.to_darts(model, n=3)
    assert len(props) == 3 and len({tuple(p.genotype.normal) for p in props}) == 3
    assert props[0].score >= props[1].score >= props[2].score
    for p in props:
        darts.validate(p.genotype)
        assert {op for op, _ in p.genotype.normal} <= set(transfer.DARTS_OP_MAP.values())
        assert all(op == "max_pool_3x3" for op, src in p.genotype.reduce if src < 2)
        assert [src for _, src in p.genotype.normal] == [src for _, src in p.genotype.reduce]
        assert sorted(src for _, src in p.genotype.normal[:2]) == [0, 1]  # node 2 can only take both inputs
    assert [p.genotype for p in transfer.to_darts(model, n=3)] == [p.genotype for p in props]


def test_darts_cell_keeps_two_most_likely_inputs():
    log_p = np.full((6, 6), np.log(0.1))
    log_p[1, 4] = np.log(0.9)  # node 3 (vertex 4) strongly wants node 2's... vertex 1 = DARTS node 2
    log_p[3, 4] = np.log(0.8)  # and vertex 3 = DARTS node 4
    ops = ("input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "output")
    cell, score = transfer.darts_cell(log_p, ops, transfer.DARTS_OP_MAP, reduction=False)
    assert cell[6:8] == [("sep_conv_3x3", 2), ("sep_conv_3x3", 4)]
    assert cell[2:4] == [("skip_connect", 1), ("skip_connect", 0)]  # tie: c_{k-1} first
    assert score == pytest.approx(np.log(0.9) + np.log(0.8) + 6 * np.log(0.1))


def test_nb201_mapping_of_a_hand_cell():
    a = np.array([[0, 1, 0, 1], [0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]], np.uint8)
    ops = ("input", "conv3x3-bn-relu", "maxpool3x3", "output")
    arch = transfer.nb201_arch(a, ops)
    # EDGES order: (1,0) (2,0) (2,1) (3,0) (3,1) (3,2)
    assert arch.ops == ("nor_conv_3x3", "none", "avg_pool_3x3", "nor_conv_1x1", "skip_connect", "none")


def test_to_nb201_distinct_sorted_deterministic():
    model = untrained_model()
    props = transfer.to_nb201(model, n=5)
    assert len({p.arch for p in props}) == 5
    assert all(x.score >= y.score for x, y in zip(props, props[1:]))
    for p in props:
        assert nb201.parse(str(p.arch)) == p.arch and p.reading == "literal"
    assert [p.arch for p in transfer.to_nb201(model, n=5)] == [p.arch for p in props]
    every = transfer.to_nb201(model, n=None)  # all the distinct cells there are; asking for one more fails
    assert [p.arch for p in every[:5]] == [p.arch for p in props] and len({p.arch for p in every}) == len(every)
    with pytest.raises(GenerationError, match=f"only {len(every)} distinct .* ask for {len(every)} or fewer"):
        transfer.to_nb201(model, n=len(every) + 1)


def test_to_nb201_widened_yields_1000_valid_cells_deterministic_per_seed():
    model = untrained_model()
    literal = transfer.to_nb201(model, n=90)
    props = transfer.to_nb201(model, n=1000, rng=np.random.default_rng(0))
    assert len({p.arch for p in props}) == 1000
    assert [p.arch for p in props[:90]] == [p.arch for p in literal]  # the literal readings come first
    assert {p.reading for p in props[:90]} == {"literal"} and {p.reading for p in props[90:]} == {"wide"}
    again = transfer.to_nb201(model, n=1000, rng=np.random.default_rng(0))
    assert [(p.arch, p.score) for p in again] == [(p.arch, p.score) for p in props]
    longer = transfer.to_nb201(model, n=None, rng=np.random.default_rng(0))
    assert len(longer) == 1404 and [p.arch for p in longer[:1000]] == [p.arch for p in props]
    other = transfer.to_nb201(model, n=1000, rng=np.random.default_rng(1))
    assert [p.arch for p in other[90:]] != [p.arch for p in props[90:]]
    tail = [p.score for p in longer[90:]]
    assert np.mean(tail[:200]) > np.mean(tail[-200:]) + 0.5  # draws follow the probabilities (shuffled: +-0.1)
    best_first = [p.score for p in transfer.to_nb201(model, n=None)[90:]]
    assert best_first == sorted(best_first, reverse=True) and sorted(best_first) == sorted(tail)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        transfer.to_nb201(model, n=100, rng=0)
    with pytest.raises(GenerationError, match="n must be >= 1"):
        transfer.to_nb201(model, n=0)


def test_to_nb201_joint_order_lists_the_same_cells_by_probability():
    model = untrained_model()
    literal_first = transfer.to_nb201(model, n=None)
    best_first = transfer.to_nb201(model, n=None, literal_first=False)
    assert {p.arch for p in best_first} == {p.arch for p in literal_first} and len(best_first) == 1404
    scores = [p.score for p in best_first]
    assert scores == sorted(scores, reverse=True) and best_first[0].arch == literal_first[0].arch
    sampled = transfer.to_nb201(model, n=300, rng=np.random.default_rng(2), literal_first=False)
    assert [p.arch for p in sampled] == [p.arch for p in transfer.to_nb201(
        model, n=None, rng=np.random.default_rng(2), literal_first=False)[:300]]
    assert len({p.arch for p in sampled}) == 300
    with pytest.raises(GenerationError, match="ask for 1404 or fewer"):
        transfer.to_nb201(model, n=1405, literal_first=False)


@pytest.mark.parametrize("literal_first", [True, False])
def test_nb201_proposals_are_readings_of_their_nb101_cell_with_its_log_probability(literal_first):
    model = untrained_model()
    props = transfer.to_nb201(model, n=None, rng=np.random.default_rng(3), literal_first=literal_first)
    cells = [nb101.Cell(p.nb101_matrix, p.nb101_ops) for p in props]
    edge_lp = generate.cell_log_likelihood(model, cells, include_ops=True)
    for p, lp in zip(props, edge_lp):
        assert nb201.parse(str(p.arch)) == p.arch
        options = [transfer.nb201_edge_options(i, j, p.nb101_ops) if p.nb101_matrix[i, j] else ("none",)
                   for j, i in nb201.EDGES]
        assert all(op in opts for op, opts in zip(p.arch.ops, options))
        expected = lp + np.log(0.5)
        if p.reading == "literal":
            assert p.arch == transfer.nb201_arch(p.nb101_matrix, p.nb101_ops)
        else:
            expected -= sum(np.log(len(opts)) for opts in options)
        assert p.score == pytest.approx(expected, abs=1e-4)


def test_nb201_edge_options():
    ops = ("input", "conv3x3-bn-relu", "maxpool3x3", "output")
    assert transfer.nb201_edge_options(0, 1, ops) == ("nor_conv_3x3", "nor_conv_1x1")
    assert transfer.nb201_edge_options(1, 2, ops) == ("avg_pool_3x3", "skip_connect", "nor_conv_3x3")
    assert transfer.nb201_edge_options(0, 3, ops) == ("nor_conv_1x1", "skip_connect")
    assert transfer.nb201_edge_options(2, 3, ops) == ("skip_connect", "avg_pool_3x3")
    same = ("input", "conv1x1-bn-relu", "conv1x1-bn-relu", "output")
    assert transfer.nb201_edge_options(0, 1, same) == ("nor_conv_1x1",)
    assert transfer.nb201_edge_options(1, 2, same) == ("nor_conv_1x1", "skip_connect")
    with pytest.raises(InvalidCellError, match="0 <= i < j <= 3"):
        transfer.nb201_edge_options(2, 1, ops)


# The 90 literal readings of the shipped checkpoint before the transfer was widened (sha256 of the arch strings
# joined by newlines), so widening it cannot reorder or change them.
SHIPPED_LITERAL_SHA256 = "ba80eea56112bce9110b760dc31bcaaa87f05642546c996031a22449b884a1b4"


def test_shipped_checkpoint_keeps_its_best_first_literal_cells():
    props = transfer.to_nb201(checkpoint.load_pretrained(), n=1000, rng=np.random.default_rng(0))
    assert str(props[0].arch) == ("|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|"
                                  "skip_connect~2|")
    text = "\n".join(str(p.arch) for p in props[:90])
    assert hashlib.sha256(text.encode()).hexdigest() == SHIPPED_LITERAL_SHA256
    assert props[0].score == pytest.approx(-7.8474 + np.log(0.5), abs=1e-3)
    joint = transfer.to_nb201(checkpoint.load_pretrained(), n=90, literal_first=False)
    assert joint[0].arch == props[0].arch and sum(p.reading == "wide" for p in joint) == 45  # literal lead lost


def test_nal_search_on_nb201_takes_200_candidates_per_seed():
    result = nasi_nal.search(space="nb201", method="nal", candidates=200, top_k=3, seed=5)
    keys = [c.key for c in result.candidates]
    assert len(set(keys)) == 200 and all(nb201.format(nb201.parse(k)) == k for k in keys)
    again = nasi_nal.search(space="nb201", method="nal", candidates=200, top_k=3, seed=5)
    assert [c.key for c in again.candidates] == keys
    other = nasi_nal.search(space="nb201", method="nal", candidates=200, top_k=3, seed=6)
    assert {c.key for c in other.candidates} != set(keys)
    literal = {str(p.arch) for p in transfer.to_nb201(checkpoint.load_pretrained(), n=90)}
    assert literal <= set(keys) and literal <= {c.key for c in other.candidates}
    with pytest.raises(NasiNalError, match="yields only 1404 distinct cells; ask for --candidates 1404 or fewer"):
        nasi_nal.search(space="nb201", method="nal", candidates=1405, top_k=3)


def test_bad_op_map():
    with pytest.raises(InvalidCellError, match="not DARTS ops"):
        transfer.to_darts(untrained_model(), op_map={**transfer.DARTS_OP_MAP, "maxpool3x3": "max_pool_9x9"})
