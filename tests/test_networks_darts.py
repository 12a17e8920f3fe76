"""The DARTS networks: published parameter counts, every op, auxiliary head, drop path, BN modes, dtype, training."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasi_nal.errors import InvalidCellError
from nasi_nal.networks.darts import DartsCifarNetwork, DartsImageNetNetwork, count_darts_params, drop_path
from nasi_nal.networks.ops import FactorizedReduce, Pool3x3, darts_op
from nasi_nal.spaces.darts import DARTS_V2, OPS, Genotype

KEY = jax.random.PRNGKey(0)


def fast_jit(fn, *args):
    """``fn`` compiled for ``args`` at XLA's lowest backend optimisation level: these tests run each program a few
    times, and XLA:CPU compiles the networks (their threefry initialisers above all) ~8x faster this way."""
    return jax.jit(fn).lower(*args).compile(compiler_options={"xla_backend_optimization_level": 0})

# Every op of the final DARTS space, in both cells; the reduction cell has a strided skip (FactorizedReduce),
# strided pools and convs, and an identity skip.
ALL_OPS = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("dil_conv_3x3", 0), ("dil_conv_5x5", 2),
            ("max_pool_3x3", 1), ("avg_pool_3x3", 3), ("skip_connect", 0), ("sep_conv_3x3", 4)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("avg_pool_3x3", 1), ("skip_connect", 0), ("sep_conv_5x5", 2),
            ("dil_conv_3x3", 1), ("skip_connect", 2), ("dil_conv_5x5", 0), ("sep_conv_3x3", 3)],
    reduce_concat=[2, 3, 4, 5],
)
# 3 layers: reduction cells 1 and 2; the auxiliary head reads cell 2's 8x8 output of a 32x32 image.
TINY = dict(channels=4, layers=3)


def test_darts_v2_cifar10_has_the_published_3_3m_parameters():
    net = DartsCifarNetwork(DARTS_V2)
    n = count_darts_params(net)
    assert n == 3_349_342  # DARTS' count_parameters_in_MB logs 3.349342
    assert round(n / 1e6, 1) == 3.3  # Liu et al. 2019, Table 1
    assert count_darts_params(net, auxiliary=True) > n


def test_darts_v2_imagenet_mobile_has_the_published_4_7m_parameters():
    net = DartsImageNetNetwork(DARTS_V2)
    n = count_darts_params(net)
    assert n == 4_718_752
    assert round(n / 1e6, 1) == 4.7  # Liu et al. 2019, Table 3
    # 224x224 images: logits in eval mode, auxiliary logits (7x7 head input) in train mode.
    x = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
    shapes = jax.eval_shape(net.init, KEY, x)
    logits, state = jax.eval_shape(
        lambda v, x: net.apply(v, x, train=True, mutable=["batch_stats", "intermediates"]), shapes, x)
    assert logits.shape == (1, 1000)
    assert state["intermediates"]["aux_logits"][0].shape == (1, 1000)


def test_op_parameter_counts_follow_the_pytorch_definitions():
    c = 6
    x = jnp.zeros((1, 8, 8, c))

    def n_params(op, strides=1, **kw):
        return sum(np.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(
            jax.eval_shape(darts_op(op, c, strides, **kw).init, KEY, x).get("params", {})))

    sep = lambda k: 2 * (k * k * c + c * c + 2 * c)  # noqa: E731 - (depthwise, pointwise, BN) twice
    dil = lambda k: k * k * c + c * c + 2 * c  # noqa: E731
    assert n_params("sep_conv_3x3") == sep(3) and n_params("sep_conv_5x5") == sep(5)
    assert n_params("dil_conv_3x3") == dil(3) and n_params("dil_conv_5x5") == dil(5)
    assert n_params("sep_conv_3x3", affine=False) == sep(3) - 4 * c  # the search supernet's non-affine BNs
    assert n_params("skip_connect", 2) == c * c + 2 * c  # FactorizedReduce: two 1x1 convs to c/2 each, BN
    for op in ("skip_connect", "max_pool_3x3", "avg_pool_3x3"):
        assert n_params(op) == 0
    for op in OPS:
        assert jax.eval_shape(lambda: darts_op(op, c, 2).init_with_output(KEY, x)[0]).shape == (1, 4, 4, c)
    zero = darts_op("none", c, 2).apply({}, jnp.ones((1, 8, 8, c)))
    assert zero.shape == (1, 4, 4, c) and float(jnp.abs(zero).max()) == 0.0
    with pytest.raises(InvalidCellError, match="unknown DARTS op"):
        darts_op("nor_conv_3x3", c, 1)


def test_factorized_reduce_is_darts_shifted_pair_of_convs():
    x = jax.random.normal(KEY, (2, 6, 6, 3))
    op = FactorizedReduce(4, batch_norm=False)
    params = fast_jit(op.init, KEY, x)(KEY, x)
    relu = jax.nn.relu(x)
    conv = lambda v, k: jax.lax.conv_general_dilated(  # noqa: E731
        v, k, (2, 2), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    expected = jnp.concatenate([conv(relu, params["params"]["Conv_0"]["kernel"]),
                                conv(relu[:, 1:, 1:], params["params"]["Conv_1"]["kernel"])], axis=-1)
    np.testing.assert_allclose(op.apply(params, x), expected, rtol=1e-5, atol=1e-6)


def test_pools_exclude_padding_and_can_carry_the_search_bn():
    x = jax.random.normal(KEY, (1, 4, 4, 2))
    avg = Pool3x3("avg", 2).apply({}, x)
    np.testing.assert_allclose(avg[0, 0, 0], x[0, :2, :2].mean(axis=(0, 1)), rtol=1e-6)
    assert avg.shape == (1, 2, 2, 2)
    searched = darts_op("max_pool_3x3", 2, 1, pool_bn=True)
    variables = searched.init(KEY, x)
    assert "params" not in variables and variables["batch_stats"]["BatchNorm_0"]["mean"].shape == (2,)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(InvalidCellError):
        DartsCifarNetwork(Genotype(DARTS_V2.normal[:6], [2, 3, 4], DARTS_V2.reduce, [2, 3, 4, 5]))
    with pytest.raises(ValueError, match="drop_path_rate"):
        DartsCifarNetwork(DARTS_V2, drop_path_rate=1.0)
    with pytest.raises(ValueError, match="auxiliary head"):  # 16x16 images leave 4x4 features for the head
        jax.eval_shape(DartsCifarNetwork(DARTS_V2, **TINY).init, KEY, jnp.zeros((1, 16, 16, 3)))


@pytest.fixture(scope="module")
def tiny():
    """The tiny all-ops network, its variables, and one compiled training step that returns the logits too."""
    net = DartsCifarNetwork(ALL_OPS, **TINY)
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 32, 32, 3))
    labels = jnp.array([1, 8])
    init = fast_jit(net.init, KEY, x)
    variables = init(KEY, x)

    def xent(logits):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))

    def loss_fn(params, batch_stats, key, rate):
        logits, state = net.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                                  drop_path_rate=rate, rngs={"dropout": key}, mutable=["batch_stats", "intermediates"])
        aux = state["intermediates"]["aux_logits"][0]
        # DARTS' objective: main loss + 0.4 * auxiliary loss.
        return xent(logits) + 0.4 * xent(aux), (state["batch_stats"], logits, aux)

    def step(params, batch_stats, key, rate):
        (loss, (stats, logits, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch_stats, key,
                                                                                         rate)
        return jax.tree_util.tree_map(lambda p, g: p - 0.05 * g, params, grads), stats, loss, logits, aux

    rate = jnp.float32(0.2)
    compiled = fast_jit(step, variables["params"], variables["batch_stats"], KEY, rate)
    return net, x, init, variables, lambda p, s, k, r: compiled(p, s, k, jnp.float32(r))


def test_every_op_is_built_and_the_tree_does_not_depend_on_the_init_mode(tiny):
    net, x, _, variables, _ = tiny
    params = variables["params"]
    assert set(params) == {"stem_conv", "stem_bn", "cell0", "cell1", "cell2", "aux_head", "classifier"}
    normal, reduce = params["cell0"], params["cell1"]
    ops_with_params = lambda edges: {f"op{i}_{op}" for i, (op, src) in enumerate(edges)  # noqa: E731
                                     if "conv" in op or (op == "skip_connect" and src < 2 and edges is ALL_OPS.reduce)}
    assert set(normal) - {"preprocess0", "preprocess1"} == ops_with_params(ALL_OPS.normal)
    assert set(reduce) - {"preprocess0", "preprocess1"} == ops_with_params(ALL_OPS.reduce)
    assert "op2_skip_connect" in reduce  # the strided skip is a FactorizedReduce
    assert reduce["op3_sep_conv_5x5"]["Conv_0"]["kernel"].shape == (5, 5, 1, 8)  # depthwise
    assert params["cell2"]["preprocess0"]["Conv_0"]["kernel"].shape == (1, 1, 16, 8)  # FactorizedReduce halves
    assert params["classifier"]["kernel"].shape == (4 * 16, 10)
    train_init = jax.eval_shape(lambda: net.init({"params": KEY, "dropout": KEY}, x, train=True))
    assert jax.tree_util.tree_structure(train_init) == jax.tree_util.tree_structure(variables)


def test_auxiliary_logits_drop_path_and_determinism(tiny):
    net, x, init, variables, step = tiny
    params, stats = variables["params"], variables["batch_stats"]
    k1, k2 = jax.random.PRNGKey(3), jax.random.PRNGKey(4)
    *_, logits, aux = step(params, stats, k1, 0.2)
    assert logits.shape == (2, 10) and logits.dtype == jnp.float32
    assert aux.shape == (2, 10)
    np.testing.assert_array_equal(logits, step(params, stats, k1, 0.2)[3])  # same dropout key, same output
    assert not np.allclose(logits, step(params, stats, k2, 0.2)[3])  # drop path draws from the 'dropout' stream
    np.testing.assert_allclose(step(params, stats, k1, 0.0)[3], step(params, stats, k2, 0.0)[3], rtol=1e-6)

    evaluate = fast_jit(lambda v: net.apply(v, x, mutable=["intermediates"]), variables)
    eval_logits, eval_state = evaluate(variables)  # no rng: eval mode draws nothing
    assert not eval_state  # no auxiliary logits outside training
    np.testing.assert_array_equal(eval_logits, evaluate(variables)[0])
    jax.tree_util.tree_map(np.testing.assert_array_equal, init(KEY, x), variables)  # same key, same parameters


def test_drop_path_zeroes_whole_samples_and_keeps_the_mean():
    x = jnp.ones((4000, 2, 2, 3))
    y = fast_jit(drop_path, x, 0.25, KEY)(x, 0.25, KEY)
    per_sample = np.asarray(y).reshape(4000, -1)
    assert set(np.unique(per_sample)) <= {0.0, np.float32(1 / 0.75)}
    assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))  # one decision per sample
    assert abs(per_sample.mean() - 1.0) < 0.05


def test_a_gradient_step_lowers_the_loss(tiny):
    _, _, _, variables, step = tiny
    params, stats = variables["params"], variables["batch_stats"]
    losses = []
    for _ in range(5):
        params, stats, loss, _, _ = step(params, stats, KEY, 0.0)
        losses.append(float(loss))
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_without_batch_norm_and_in_bfloat16(tiny):
    _, x, _, variables, _ = tiny
    plain = DartsCifarNetwork(ALL_OPS, batch_norm=False, **TINY)
    shapes = jax.eval_shape(plain.init, KEY, x)
    assert set(shapes) == {"params"}
    assert not any("BatchNorm" in str(path) for path, _ in jax.tree_util.tree_flatten_with_path(shapes)[0])
    half = DartsCifarNetwork(ALL_OPS, dtype=jnp.bfloat16, **TINY)
    half_shapes = jax.eval_shape(half.init, KEY, x)
    assert jax.tree_util.tree_structure(half_shapes) == jax.tree_util.tree_structure(variables)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(half_shapes))
    logits, inter = jax.eval_shape(
        lambda v: half.apply(v, x, capture_intermediates=True, mutable=["intermediates"]), variables)
    assert logits.dtype == jnp.float32
    assert inter["intermediates"]["cell2"]["__call__"][0].dtype == jnp.bfloat16
