"""The engine chooser and the one driver: which engine scores what, per-cell keys, averaged initializations."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from nasi_nal.errors import ScoringConfigError, UnknownScoreError
from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.scores import SCORES, cell_key, choose, definitions, draw_keys, iter_scores, make_batch, score_cell
from nasi_nal.scores.masked import MASKED_SCORES

CELLS = (
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
)


def _tiny(arch: str) -> NB201Network:
    return NB201Network(arch, channels=4, cells_per_stage=1)


def test_every_score_is_defined_once_with_what_it_needs():
    assert set(SCORES) == {"ntk_trace", "nasi_trace", "ntk_cond", "params", "flops", "grad_norm", "snip", "synflow",
                           "jacob_cov", "nwot", "expressivity", "progressivity", "trainability"}
    quantities = {v for k, v in vars(definitions.Quantity).items() if not k.startswith("_")}
    for name, score in SCORES.items():
        assert score.name == name and score.needs in quantities and score.reference
        assert (score.reduce is not None) == (score.needs in ("loss_grad", "synflow"))
    assert [n for n, s in SCORES.items() if s.lower_is_better] == ["ntk_cond"]


def test_choose_maps_space_backend_and_scores_to_engines():
    names = ["nasi_trace", "nwot", "params"]
    assert choose("nb201", names, backend="cpu") == {"blockwise": names}
    assert choose("nb101", names, backend="cpu") == {"blockwise": names}
    assert choose("darts", names, backend="gpu") == {"joint": names}
    assert choose(None, names, backend="cpu") == {"joint": names}
    assert choose("nb201", names, backend="gpu") == {"masked": ["nasi_trace"], "blockwise": ["nwot", "params"]}
    assert choose("nb201", names, backend="gpu", many=False) == {"blockwise": names}  # given variables: per cell
    assert choose("nb201", ["nwot"], engine="joint") == {"joint": ["nwot"]}
    assert set(MASKED_SCORES) < set(SCORES)
    with pytest.raises(ScoringConfigError, match="not darts: use engine='joint'"):
        choose("darts", names, engine="blockwise")
    with pytest.raises(ScoringConfigError, match=r"not \['nwot', 'params'\]"):
        choose("nb201", names, engine="masked")
    with pytest.raises(ScoringConfigError, match="choose one of"):
        choose("nb201", names, engine="fast")
    with pytest.raises(UnknownScoreError, match="bogus"):
        choose("nb201", ["bogus"])


def test_cell_keys_depend_on_the_seed_and_the_cell_only():
    assert np.array_equal(cell_key(0, CELLS[0]), cell_key(0, CELLS[0]))
    assert not np.array_equal(cell_key(0, CELLS[0]), cell_key(1, CELLS[0]))
    assert not np.array_equal(cell_key(0, CELLS[0]), cell_key(0, CELLS[1]))
    draws = draw_keys(cell_key(0, CELLS[0]), 3)
    assert np.array_equal(draws[0], cell_key(0, CELLS[0])) and len({tuple(np.asarray(k)) for k in draws}) == 3
    with pytest.raises(ScoringConfigError, match="inits=0"):
        draw_keys(draws[0], 0)


def test_a_cells_scores_do_not_depend_on_its_neighbours_and_inits_average_draws():
    batch = make_batch(jax.random.PRNGKey(0), 4, inputs="gaussian", targets="random")
    names = ["grad_norm", "ntk_trace"]

    def scores(archs, **kw):
        results = iter_scores([_tiny(a) for a in archs], batch, names, [cell_key(3, a) for a in archs], **kw)
        return {a: r.values for a, r in zip(archs, results)}

    alone = scores(CELLS[:1])
    crowded = scores([CELLS[2], CELLS[1], CELLS[0]])
    assert crowded[CELLS[0]] == alone[CELLS[0]]
    assert crowded[CELLS[2]] != crowded[CELLS[0]]

    averaged = scores(CELLS[:1], inits=2)[CELLS[0]]
    draws = [score_cell(_tiny(CELLS[0]), None, batch, names, k)[1].values
             for k in draw_keys(cell_key(3, CELLS[0]), 2)]
    assert draws[0] == alone[CELLS[0]]
    for n in names:
        assert averaged[n] == pytest.approx(np.mean([d[n] for d in draws]), rel=1e-12)


def test_stage_scores_follow_azs_definitions():
    rng = np.random.default_rng(0)
    g = rng.choice([-1.0, 1.0], (2, 4, 4, 3))
    assert definitions.stage_jacobian_score(g, g) == -np.inf  # an identity stage
    assert definitions.stage_jacobian_score(g.copy() * 1.0 + 0.0, g) == -np.inf
    # a stage that scales its input by c: E[g_in g_out^T] = c * E[g g^T], largest singular value ~ c
    for c in (0.5, 2.0):
        s = np.linalg.svd(c * g.reshape(-1, 3).T @ g.reshape(-1, 3) / 32, compute_uv=False).max()
        assert definitions.stage_jacobian_score(c * g, g) == pytest.approx(-s - 1 / (s + 1e-6) + 2)
    # a down-sampling stage: the input's 2x2 pixels are unshuffled into channels before the product
    wide = rng.normal(size=(2, 8, 8, 3))
    assert np.isfinite(definitions.stage_jacobian_score(wide, g))
    assert definitions.stage_jacobian_score(None, g) < -1e5  # no path: zero pull-back, as AZ-NAS's x * 0
    x = rng.normal(size=(50, 8, 8, 3)) * np.array([1.0, 1.0, 1e-9])  # two of three channel directions used
    assert definitions.feature_entropy(x) == pytest.approx(np.log(2), abs=0.02)
    assert definitions.feature_entropy(rng.normal(size=(50, 8, 8, 3))) == pytest.approx(np.log(3), abs=0.02)


@pytest.mark.parametrize("bn", ["train", "eval"])
def test_the_tapes_stage_features_and_pullbacks_are_the_networks(bn):
    from nasi_nal.networks.nb201 import NB201Cell
    from nasi_nal.networks.ops import ResNetBasicblock
    from nasi_nal.networks.tape import tape
    from nasi_nal.scores import blockwise
    from nasi_nal.scores.common import forward

    model = _tiny(CELLS[0])
    batch = make_batch(jax.random.PRNGKey(0), 4, inputs="gaussian", targets="random")
    variables = blockwise.init_variables(model, jax.random.PRNGKey(1))
    t = tape(model)
    fwd = blockwise._run_forward(t, variables, batch.inputs, bn, pullback=True, codes=False)
    stages = (NB201Cell, ResNetBasicblock)
    _, state = model.apply(variables, batch.inputs, train=bn == "train", mutable=["intermediates", "batch_stats"],
                           capture_intermediates=lambda m, name: isinstance(m, stages) and name == "__call__")
    outputs = [leaf for leaf in jax.tree_util.tree_leaves(state["intermediates"])]
    assert len(t.features) == 1 + len(outputs) == 3 * model.cells_per_stage + 3
    for node in t.features[1:]:  # the captured leaves come sorted by module name: match each node to one of them
        assert any(o.shape == fwd.nodes[node].shape and np.allclose(fwd.nodes[node], o, rtol=1e-5, atol=1e-6)
                   for o in outputs)
    # the pull-back through one cell is that cell's VJP
    cell = NB201Cell(model.arch, model.channels)
    cell_vars = {c: v["stage0_cell0"] for c, v in variables.items() if "stage0_cell0" in v}
    into, out = t.features[0], t.features[1]
    y, vjp = jax.vjp(lambda x: forward(cell, cell_vars, x, bn)[0], fwd.nodes[into])
    np.testing.assert_allclose(y, fwd.nodes[out], rtol=1e-5, atol=1e-6)
    g = jax.random.rademacher(jax.random.PRNGKey(2), y.shape, np.float32)
    g_in, _ = blockwise._run_backward(t, fwd.pullbacks, g, params=False, start=out, stop=into)
    np.testing.assert_allclose(g_in, vjp(g)[0], rtol=1e-4, atol=1e-5)


def test_the_ensemble_sums_log_ranks_and_ranks_failures_lowest():
    from nasi_nal.scores import ensemble

    np.testing.assert_array_equal(ensemble.ranks([3.0, 1.0, 2.0, 2.0]), [4.0, 1.0, 2.5, 2.5])
    np.testing.assert_array_equal(ensemble.ranks([3.0, None, float("nan"), 5.0]), [3.0, 1.5, 1.5, 4.0])
    np.testing.assert_array_equal(ensemble.ranks([3.0, 1.0], higher_is_better=False), [1.0, 2.0])
    total = ensemble.log_rank_sum({"a": [1.0, 2.0, 3.0], "ntk_cond": [1.0, 2.0, 3.0]}, {"ntk_cond"})
    np.testing.assert_allclose(total, np.log([1 / 3, 2 / 3, 1.0]) + np.log([1.0, 2 / 3, 1 / 3]))
    with pytest.raises(ScoringConfigError, match="different numbers"):
        ensemble.log_rank_sum({"a": [1.0], "b": [1.0, 2.0]})
    assert ensemble.members("darts") == tuple(m for m in ensemble.MEMBERS if m not in definitions.STAGE_SCORES)
    assert set(ensemble.members("nb201")) <= set(SCORES)
    with pytest.raises(ScoringConfigError, match="laid out as stages"):
        choose("darts", ["expressivity"])


def test_nb101_stage_features_are_the_stem_and_module_outputs():
    from nasi_nal.networks.nb101 import NB101Cell, NB101Network
    from nasi_nal.networks.tape import tape
    from nasi_nal.scores import blockwise

    matrix = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    model = NB101Network(matrix, ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "output"],
                         stem_channels=8, num_stacks=2, cells_per_stack=1)
    batch = make_batch(jax.random.PRNGKey(0), 4, inputs="gaussian", targets="random")
    variables = blockwise.init_variables(model, jax.random.PRNGKey(1))
    t = tape(model)
    fwd = blockwise._run_forward(t, variables, batch.inputs, "train", pullback=False, codes=False)
    _, state = model.apply(variables, batch.inputs, train=True, mutable=["intermediates", "batch_stats"],
                           capture_intermediates=lambda m, name: isinstance(m, NB101Cell) and name == "__call__")
    modules = jax.tree_util.tree_leaves(state["intermediates"])
    assert len(t.features) == 1 + len(modules) == 3
    for node, expected in zip(t.features[1:], modules):  # stack0_module0, stack1_module0: name order is tape order
        np.testing.assert_allclose(fwd.nodes[node], expected, rtol=1e-5, atol=1e-6)
    _, result = blockwise.score_cell(model, variables, batch, ["expressivity", "progressivity", "trainability"],
                                     jax.random.PRNGKey(2))
    assert not result.errors and np.isfinite(list(result.values.values())).all()
