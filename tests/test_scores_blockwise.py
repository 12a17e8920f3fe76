"""The blockwise engine computes what the joint engine computes, in both batch-norm modes, and compiles nothing for a
new cell."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasi_nal.errors import ScoringConfigError
from nasi_nal.networks.build import build
from nasi_nal.networks.nb101 import NB101Network
from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.scores import SCORES, blockwise, choose, joint, make_batch
from nasi_nal.scores.common import cross_entropy, enable_x64, network_fn
from nasi_nal.scores.definitions import STAGE_SCORES
from nasi_nal.spaces import darts, nb201

# every op, each on a path to the output (so its backward runs too)
ALL_OPS = "|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
# node 1 feeds nothing (its only consumers are `none`), and the output node sums a conv and a skip
DEAD_NODE = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def _tiny(arch: str, **kw) -> NB201Network:
    return NB201Network(arch, channels=4, cells_per_stage=1, **kw)


def test_init_variables_have_the_network_tree_and_are_deterministic():
    model = _tiny(ALL_OPS)
    key = jax.random.PRNGKey(3)
    variables = blockwise.init_variables(model, key)
    expected = jax.eval_shape(lambda: model.init(key, jnp.zeros((1, 32, 32, 3)), train=False))
    assert jax.tree_util.tree_structure(variables) == jax.tree_util.tree_structure(expected)
    assert jax.tree_util.tree_map(lambda a: a.shape, variables) == jax.tree_util.tree_map(lambda a: a.shape, expected)
    again = blockwise.init_variables(model, key)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(variables),
                                                    jax.tree_util.tree_leaves(again)))
    other = blockwise.init_variables(model, jax.random.PRNGKey(4))
    assert not np.array_equal(other["params"]["stem_conv"]["kernel"], variables["params"]["stem_conv"]["kernel"])


@pytest.mark.parametrize(("arch", "bn"), [(ALL_OPS, "train"), (ALL_OPS, "eval"), (DEAD_NODE, "train"),
                                          (ALL_NONE, "train")])
def test_loss_gradients_equal_autodiff_of_the_network(arch, bn):
    model = _tiny(arch)
    key = jax.random.PRNGKey(0)
    batch = make_batch(key, 6, inputs="gaussian", targets="random")
    variables = model.init(key, batch.inputs[:1], train=False)
    f = network_fn(model, variables, bn)
    expected = jax.grad(lambda p: cross_entropy(f(p, batch.inputs), batch.labels))(variables["params"])
    got = blockwise.loss_gradients(model, variables, batch, bn)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(dict(expected))
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_loss_gradients_are_exact_in_float64():
    model = _tiny(ALL_OPS, dtype=jnp.float64)
    with enable_x64():
        key = jax.random.PRNGKey(1)
        batch = make_batch(key, 4, inputs="gaussian", targets="random")
        batch = batch._replace(inputs=batch.inputs.astype(jnp.float64))
        variables = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64),
                                           model.init(key, batch.inputs[:1], train=False))
        f = network_fn(model, variables, "eval")  # the tape's arithmetic; train mode is checked in float32 above
        expected = jax.grad(lambda p: cross_entropy(f(p, batch.inputs), batch.labels))(variables["params"])
        got = blockwise.loss_gradients(model, variables, batch, "eval")
        for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected)):
            assert a.dtype == jnp.float64
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


# DEAD_NODE and ALL_NONE are slow-marked here: their zero-contribution paths are checked by the gradient tests
@pytest.mark.parametrize("bn", ["train", "eval"])
@pytest.mark.parametrize("arch", [ALL_OPS, pytest.param(DEAD_NODE, marks=pytest.mark.slow),
                                  pytest.param(ALL_NONE, marks=pytest.mark.slow)])
def test_blockwise_scores_equal_the_joint_engine(arch, bn):
    model = _tiny(arch)
    key = jax.random.PRNGKey(2)
    batch = make_batch(key, 8, inputs="gaussian", targets="random")
    names = sorted(set(SCORES) - STAGE_SCORES)  # every score the joint engine runs, probes from the same key
    variables, fast = blockwise.score_cell(model, None, batch, names, key=key, bn=bn)
    _, slow = joint.score_cell(model, variables, batch, names, key=key, bn=bn)
    assert set(fast.values) | set(fast.errors) == set(names)
    assert fast.errors.keys() == slow.errors.keys()
    for name in fast.values:
        assert fast.values[name] == pytest.approx(slow.values[name], rel=1e-3), name


# NB101: a 3-way output concatenation, truncations (vertex 1 is wider than the vertices it feeds), a max-pool,
# both projections; a chain; the input wired straight to the output (the cell is one projection)
NB101_CELLS = {
    "concat": ([[0, 1, 0, 0, 1], [0, 0, 1, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
               ("input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output")),
    "chain": ([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
              ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "output")),
    "projection": ([[0, 1], [0, 0]], ("input", "output")),
}


# the chain's pieces (vertex ops, a projection, no concatenation) are all in "concat": slow-marked
@pytest.mark.parametrize("cell", [pytest.param(c, marks=pytest.mark.slow) if c == "chain" else c
                                  for c in sorted(NB101_CELLS)])
@pytest.mark.parametrize("bn", ["train", "eval"])
def test_nb101_blockwise_equals_the_joint_engine(cell, bn):
    stacks = 2 if cell == "concat" else 1  # one down-sampling suffices
    model = NB101Network(*NB101_CELLS[cell], stem_channels=4, num_stacks=stacks, cells_per_stack=1)
    key = jax.random.PRNGKey(6)
    batch = make_batch(key, 6, inputs="gaussian", targets="random")
    variables = blockwise.init_variables(model, key)
    expected = jax.eval_shape(lambda: model.init(key, jnp.zeros((1, 32, 32, 3)), train=False))
    assert jax.tree_util.tree_map(lambda a: a.shape, variables) == jax.tree_util.tree_map(lambda a: a.shape, expected)
    names = sorted(set(SCORES) - STAGE_SCORES)
    _, fast = blockwise.score_cell(model, variables, batch, names, key=key, bn=bn)
    _, slow = joint.score_cell(model, variables, batch, names, key=key, bn=bn)
    assert fast.errors.keys() == slow.errors.keys() and set(fast.values) | set(fast.errors) == set(names)
    for name in fast.values:
        assert fast.values[name] == pytest.approx(slow.values[name], rel=1e-3), name
    f = network_fn(model, variables, bn)
    grads = jax.grad(lambda p: cross_entropy(f(p, batch.inputs), batch.labels))(variables["params"])
    for a, b in zip(jax.tree_util.tree_leaves(blockwise.loss_gradients(model, variables, batch, bn)),
                    jax.tree_util.tree_leaves(grads)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_blockwise_refuses_what_it_cannot_lay_out():
    key = jax.random.PRNGKey(0)
    batch = make_batch(key, 2, inputs="gaussian", targets="random")
    darts_net = build("darts", darts.DARTS_V2, proxy=True, channels=4, layers=5)
    with pytest.raises(TypeError, match="DartsCifarNetwork"):
        blockwise.score_cell(darts_net, None, batch, ["grad_norm"], key=key)
    with pytest.raises(ScoringConfigError, match="engine='joint'"):
        choose("darts", ["grad_norm"], engine="blockwise")


@pytest.mark.parametrize("bn", ["train", "eval"])
def test_a_new_cell_compiles_nothing_once_its_blocks_have_compiled(bn):
    key = jax.random.PRNGKey(0)
    batch = make_batch(key, 4, inputs="gaussian", targets="random")
    names = ["grad_norm", "nasi_trace", "ntk_trace", "jacob_cov", "nwot", "synflow", "params", "flops"]
    blockwise.score_cell(_tiny(ALL_OPS), None, batch, names, key=key, bn=bn)  # compiles every block at this size
    compiles = []

    def listen(event: str, duration: float, **kw) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        _, scores = blockwise.score_cell(_tiny(DEAD_NODE), None, batch, names, key=jax.random.PRNGKey(1), bn=bn)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert not scores.errors
    assert compiles == []
