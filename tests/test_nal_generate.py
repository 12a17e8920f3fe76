"""NAL decoding: validity under every constraint, best-first order, de-duplication, determinism, likelihood."""
import itertools

import numpy as np
import pytest

from nasi_nal.errors import GenerationError, InvalidCellError
from nasi_nal.nal import generate
from nasi_nal.nal.generate import _pairs, decode, is_valid_bits
from nasi_nal.spaces import nb101

from nal_helpers import random_cellset, untrained_model


def _official_valid(a, v):
    """Valid, and pruning keeps every vertex (the space module's own rules)."""
    ops = ["input"] + ["conv3x3-bn-relu"] * (v - 2) + ["output"]
    if not nb101.is_valid(a, ops):
        return False
    return nb101.prune(a, ops)[0].shape[0] == v


@pytest.mark.parametrize("v", [2, 3, 4, 5])
def test_bit_validity_matches_space_module_exhaustively(v):
    pairs = _pairs(v)
    for bits in range(1 << len(pairs)):
        a = np.zeros((v, v), np.uint8)
        for k, (i, j) in enumerate(pairs):
            a[i, j] = (bits >> k) & 1
        assert is_valid_bits(bits, v, pairs) == _official_valid(a, v), a


def test_bit_validity_edge_limit_at_seven_vertices():
    pairs = _pairs(7)
    chain = [pairs.index((i, i + 1)) for i in range(6)]
    bits = sum(1 << k for k in chain)
    extra = [k for k in range(21) if k not in chain]
    assert is_valid_bits(bits | sum(1 << k for k in extra[:3]), 7, pairs)  # 9 edges
    assert not is_valid_bits(bits | sum(1 << k for k in extra[:4]), 7, pairs)  # 10 edges


def _joint(a, lp, lq):
    iu = np.triu_indices(a.shape[0], 1)
    return np.where(a[iu] == 1, lp[iu], lq[iu]).sum()


def _random_logs(v, seed):
    z = np.random.default_rng(seed).normal(0, 2, (v, v))
    return -np.logaddexp(0, -z), -np.logaddexp(0, z)


@pytest.mark.parametrize("v,seed", [(4, 0), (5, 1), (5, 2)])
def test_decode_is_exhaustive_best_first_and_valid(v, seed):
    lp, lq = _random_logs(v, seed)
    out = list(decode(lp, lq))
    pairs = _pairs(v)
    expected = []
    for bits in range(1 << len(pairs)):
        if is_valid_bits(bits, v, pairs):
            a = np.zeros((v, v), np.uint8)
            for k, (i, j) in enumerate(pairs):
                a[i, j] = (bits >> k) & 1
            expected.append(_joint(a, lp, lq))
    assert len(out) == len(expected)
    scores = [s for s, _ in out]
    assert all(a >= b - 1e-9 for a, b in zip(scores, scores[1:]))
    np.testing.assert_allclose(scores, sorted(expected, reverse=True), atol=1e-9)
    for s, a in out:
        assert _official_valid(a, v)
        assert s == pytest.approx(_joint(a, lp, lq))
    assert len({a.tobytes() for _, a in out}) == len(out)


def test_decode_respects_edge_limit_when_model_wants_every_edge():
    lp, lq = np.full((7, 7), np.log(0.99)), np.full((7, 7), np.log(0.01))
    out = list(itertools.islice(decode(lp, lq), 50))
    assert len(out) == 50
    for _, a in out:
        assert a.sum() <= 9 and _official_valid(a, 7)


def test_decode_rejects_nan():
    lp, lq = _random_logs(4, 0)
    lp[0, 1] = np.nan
    with pytest.raises(GenerationError, match="NaN"):
        next(decode(lp, lq))


def test_generate_distinct_valid_deterministic():
    model = untrained_model()
    a = generate.generate(model, 30, rng=np.random.default_rng(0), num_assignments=8)
    b = generate.generate(model, 30, rng=np.random.default_rng(0), num_assignments=8)
    assert [c.hash for c in a] == [c.hash for c in b]
    assert [c.log_prob for c in a] == [c.log_prob for c in b]
    assert len({c.hash for c in a}) == 30
    assert all(x.log_prob >= y.log_prob for x, y in zip(a, a[1:]))
    for c in a:
        nb101.validate(c.cell.matrix, c.cell.ops)
        assert c.cell.pruned().num_vertices == c.cell.num_vertices
        assert c.cell.num_edges <= 9
        assert c.op_log_prob == pytest.approx(model.op_stats.log_prob(c.cell.ops))
    assert [c.hash for c in generate.generate(model, 30, rng=np.random.default_rng(1), num_assignments=8)] != \
        [c.hash for c in a]


def test_generate_user_ops_exclusion_and_shortfall():
    model = untrained_model()
    ops = [("input", "conv3x3-bn-relu", "maxpool3x3", "output")]
    cands = generate.generate(model, 3, ops=ops)
    assert all(c.cell.ops == ops[0] for c in cands)
    again = generate.generate(model, 2, ops=ops, exclude=[cands[0].hash])
    assert cands[0].hash not in {c.hash for c in again} and again[0].hash == cands[1].hash
    with pytest.raises(GenerationError, match="only 1 distinct"):
        generate.generate(model, 2, ops=[("input", "output")])
    with pytest.raises(InvalidCellError, match="op assignment"):
        generate.generate(model, 1, ops=[("input", "output", "conv3x3-bn-relu")])


def test_generate_dedupes_isomorphic_cells():
    model = untrained_model()
    # Swapping the two inner ops gives isomorphic cells whenever the two branches are parallel.
    ops = [("input", "conv3x3-bn-relu", "maxpool3x3", "output"), ("input", "maxpool3x3", "conv3x3-bn-relu", "output")]
    cands = generate.generate(model, 10, ops=ops)
    assert len({c.hash for c in cands}) == 10


def test_cell_log_likelihood_matches_edge_probabilities():
    model = untrained_model()
    cells = random_cellset(5, seed=4)
    ll = generate.cell_log_likelihood(model, cells)
    from nasi_nal.nal.model import edge_log_probabilities
    for i in range(5):
        (lp, lq), = edge_log_probabilities(model.config, model.params, [cells.op_names(i)])
        v = int(cells.num_vertices[i])
        assert ll[i] == pytest.approx(_joint(cells.adjacency[i, :v, :v], lp, lq))
    joint = generate.cell_log_likelihood(model, [cells.cell(i) for i in range(5)], include_ops=True)
    np.testing.assert_allclose(joint - ll, [model.op_stats.log_prob(cells.op_names(i)) for i in range(5)])
