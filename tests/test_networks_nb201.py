"""The NAS-Bench-201 network: published parameter counts, ops, shapes, BN modes, dtype, a training step."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasi_nal.errors import InvalidCellError
from nasi_nal.networks.common import count_params
from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.networks.ops import Pool3x3, nb201_op
from nasi_nal.spaces.nb201 import OPS, Arch

KEY = jax.random.PRNGKey(0)
ALL_OPS = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
TINY = dict(channels=4, cells_per_stage=1)  # widths 4, 8, 16; one cell per stage


def fast_jit(fn, *args):
    """``fn`` compiled for ``args`` at XLA's lowest backend optimisation level: these tests run each program a few
    times, and XLA:CPU compiles the networks (their threefry initialisers above all) ~8x faster this way."""
    return jax.jit(fn).lower(*args).compile(compiler_options={"xla_backend_optimization_level": 0})


def _tiny(arch=ALL_OPS, **kw):
    return NB201Network(arch, **{**TINY, **kw})


@pytest.mark.parametrize(
    "ops, num_classes, expected",
    [
        # The official API's CIFAR-10 "params" field: 0.073306 (parameter-free cells) .. 1.531546 (all conv3x3).
        (("skip_connect",) * 6, 10, 73_306),
        (("nor_conv_3x3",) * 6, 10, 1_531_546),
        # CIFAR-100's published minimum is 0.079156 M.
        (("none",) * 6, 100, 79_156),
    ],
)
def test_parameter_counts_match_the_published_figures(ops, num_classes, expected):
    assert count_params(NB201Network(Arch(ops), num_classes=num_classes)) == expected


def test_parameter_count_follows_the_cell_formula():
    # Each conv edge adds k*k*C*C weights + 2C BN parameters per cell; 5 cells per stage at C = 16, 32, 64.
    base = count_params(NB201Network(Arch(("none",) * 6)))
    arch = Arch(("nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none", "skip_connect", "nor_conv_1x1"))
    per_cell = lambda c: 2 * (c * c + 2 * c) + (9 * c * c + 2 * c)  # noqa: E731
    assert count_params(NB201Network(arch)) == base + 5 * sum(per_cell(c) for c in (16, 32, 64))


def test_arch_string_and_arch_build_the_same_network():
    arch = Arch(("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect", "none", "nor_conv_3x3"))
    assert str(arch) == ALL_OPS
    assert set(arch.ops) == set(OPS)  # the test network below uses every op
    assert _tiny(ALL_OPS).arch == _tiny(arch).arch == arch


def test_bad_arch_is_a_clear_error():
    with pytest.raises(InvalidCellError, match="unknown op"):
        NB201Network("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(InvalidCellError, match="Arch or an arch string"):
        NB201Network(("nor_conv_3x3",) * 6)
    with pytest.raises(ValueError, match="channels"):
        NB201Network(ALL_OPS, channels=0)


@pytest.fixture(scope="module")
def tiny_variables():
    net = _tiny()
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 16, 16, 3))
    init = fast_jit(net.init, KEY, x)
    return net, x, init, init(KEY, x)


def test_shapes_every_op_and_determinism(tiny_variables):
    net, x, init, variables = tiny_variables
    cell = variables["params"]["stage0_cell0"]
    # Conv edges hold a conv + BN; none / skip / pool edges hold no parameters.
    assert cell["edge_0_1"]["Conv_0"]["kernel"].shape == (3, 3, 4, 4)
    assert cell["edge_0_2"]["Conv_0"]["kernel"].shape == (1, 1, 4, 4)
    assert cell["edge_2_3"]["BatchNorm_0"]["scale"].shape == (4,)
    assert set(cell) == {"edge_0_1", "edge_0_2", "edge_2_3"}
    assert variables["params"]["reduction_1"]["downsample"]["kernel"].shape == (1, 1, 4, 8)
    assert variables["params"]["classifier"]["kernel"].shape == (16, 10)
    # Same key, same parameters; eval mode is a pure function of (variables, x).
    jax.tree_util.tree_map(np.testing.assert_array_equal, variables, init(KEY, x))
    apply = fast_jit(net.apply, variables, x)
    logits = apply(variables, x)
    assert logits.shape == (2, 10) and logits.dtype == jnp.float32
    np.testing.assert_array_equal(logits, apply(variables, x))
    assert not np.allclose(apply(init(jax.random.PRNGKey(2), x), x), logits)


def test_ops_compute_what_the_benchmark_defines():
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 4, 4, 2))
    zero = nb201_op("none", 2)
    assert float(jnp.abs(zero.apply({}, x)).max()) == 0.0
    np.testing.assert_array_equal(nb201_op("skip_connect", 2).apply({}, x), x)
    # avg pool with count_include_pad=False: a corner averages only the 4 real pixels it covers.
    pooled = nb201_op("avg_pool_3x3", 2).apply({}, x)
    np.testing.assert_allclose(pooled[0, 0, 0], x[0, :2, :2].mean(axis=(0, 1)), rtol=1e-6)
    np.testing.assert_allclose(pooled[0, 1, 1], x[0, :3, :3].mean(axis=(0, 1)), rtol=1e-6)
    maxed = Pool3x3("max").apply({}, x)
    np.testing.assert_allclose(maxed[0, 0, 0], x[0, :2, :2].max(axis=(0, 1)))
    with pytest.raises(InvalidCellError, match="unknown NAS-Bench-201 op"):
        nb201_op("sep_conv_3x3", 2)


def test_batch_norm_train_mode_updates_stats_and_eval_mode_uses_them(tiny_variables):
    net, x, _, variables = tiny_variables
    logits, updates = fast_jit(lambda v: net.apply(v, x, train=True, mutable=["batch_stats"]), variables)(variables)
    before = jax.tree_util.tree_leaves(variables["batch_stats"])
    after = jax.tree_util.tree_leaves(updates["batch_stats"])
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    # Train mode normalises with batch statistics, eval mode with the running ones: different outputs.
    assert not np.allclose(logits, fast_jit(net.apply, variables, x)(variables, x))


def test_without_batch_norm_there_are_no_bn_layers():
    net = _tiny(batch_norm=False)
    x = jnp.ones((1, 8, 8, 3))
    shapes = jax.eval_shape(net.init, KEY, x)
    assert set(shapes) == {"params"}
    bn_params = 2 * (4 + 3 * 4 + 2 * 8 + 3 * 8 + 2 * 16 + 3 * 16 + 16)  # stem, cells, reductions, last BN
    assert count_params(_tiny()) - count_params(net) == bn_params
    # No BN, so train mode needs no mutable collection.
    assert jax.eval_shape(lambda v: net.apply(v, x, train=True), shapes).shape == (1, 10)


def test_bfloat16_computes_in_bfloat16_with_float32_params(tiny_variables):
    net, x, _, variables = tiny_variables
    half = _tiny(dtype=jnp.bfloat16)
    shapes = jax.eval_shape(half.init, KEY, x)
    assert jax.tree_util.tree_structure(shapes) == jax.tree_util.tree_structure(variables)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(shapes))
    logits, inter = fast_jit(lambda v: half.apply(v, x, capture_intermediates=True, mutable=["intermediates"]),
                             variables)(variables)
    assert inter["intermediates"]["stem_conv"]["__call__"][0].dtype == jnp.bfloat16
    assert inter["intermediates"]["stage2_cell0"]["__call__"][0].dtype == jnp.bfloat16
    assert logits.dtype == jnp.float32
    np.testing.assert_allclose(logits, fast_jit(net.apply, variables, x)(variables, x), atol=0.1, rtol=0.1)


def test_a_gradient_step_lowers_the_loss(tiny_variables):
    net, x, _, variables = tiny_variables
    labels = jnp.array([3, 7])

    def loss_fn(params, batch_stats):
        logits, updates = net.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                                    mutable=["batch_stats"])
        loss = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))
        return loss, updates["batch_stats"]

    def sgd_step(params, batch_stats):
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch_stats)
        return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads), stats, loss

    params, stats = variables["params"], variables["batch_stats"]
    step = fast_jit(sgd_step, params, stats)
    losses = []
    for _ in range(5):
        params, stats, loss = step(params, stats)
        losses.append(float(loss))
    assert losses[-1] < losses[0]
