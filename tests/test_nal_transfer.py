"""NAL transfer of learned wiring to DARTS genotypes and NAS-Bench-201 cells."""
import numpy as np
import pytest

from nasi_nal.errors import InvalidCellError
from nasi_nal.nal import transfer
from nasi_nal.spaces import darts, nb201

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
        assert nb201.parse(str(p.arch)) == p.arch
    assert [p.arch for p in transfer.to_nb201(model, n=5)] == [p.arch for p in props]
    every = transfer.to_nb201(model, n=None)  # all the distinct cells there are; asking for one more fails
    assert [p.arch for p in every[:5]] == [p.arch for p in props] and len({p.arch for p in every}) == len(every)
    with pytest.raises(InvalidCellError, match=f"only {len(every)} distinct"):
        transfer.to_nb201(model, n=len(every) + 1)


def test_bad_op_map():
    with pytest.raises(InvalidCellError, match="not DARTS ops"):
        transfer.to_darts(untrained_model(), op_map={**transfer.DARTS_OP_MAP, "maxpool3x3": "max_pool_9x9"})
