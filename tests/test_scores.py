"""Zero-cost scores on tiny test-only Flax models: closed forms, brute force, determinism and clear failures."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasi_nal.errors import BackendUnavailableError, NonFiniteScoreError, ScoringConfigError, UnknownScoreError
from nasi_nal.networks.common import ReLU
from nasi_nal.scores import (
    SCORES,
    Batch,
    adaptive_nu,
    flops,
    gaussian_batch,
    get_score,
    grad_norm,
    jacob_cov,
    make_batch,
    nasi_penalized,
    nasi_trace,
    ntk_condition_number,
    ntk_gram,
    ntk_trace,
    nwot,
    params,
    snip,
    synflow,
)
from nasi_nal.scores.common import compiled
from nasi_nal.scores.definitions import STAGE_SCORES


class Linear(nn.Module):
    """f(x) = W vec(x) + b."""

    classes: int = 3

    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dense(self.classes)(x.reshape(x.shape[0], -1))


class MLP(nn.Module):
    classes: int = 3

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = x.reshape(x.shape[0], -1)
        x = ReLU()(nn.Dense(7)(x))
        return nn.Dense(self.classes)(x)


class TinyCNN(nn.Module):
    """conv-BN-ReLU x2, global pool, dense: BN and common.ReLU like the benchmark networks."""

    classes: int = 4
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x, train: bool = False):
        for width in (4, 6):
            x = nn.Conv(width, (3, 3), use_bias=False)(x)
            if self.batch_norm:
                x = nn.BatchNorm(use_running_average=not train)(x)
            x = ReLU()(x)
        return nn.Dense(self.classes)(jnp.mean(x, axis=(1, 2)))


def _setup(model, n=5, shape=(4, 4, 2), seed=0):
    k_init, k_batch = jax.random.split(jax.random.PRNGKey(seed))
    batch = gaussian_batch(k_batch, n, shape, num_classes=3)
    return model.init(k_init, batch.inputs[:1], train=False), batch


def _train_mode(model, variables, p, x):
    return model.apply({**variables, "params": p}, x, train=True, mutable=["batch_stats"])[0]


def _brute_trace(model, variables, x, output=None, bn="eval"):
    def f(p):
        if bn == "train":
            out = _train_mode(model, variables, p, x)
        else:
            out = model.apply({**variables, "params": p}, x, train=False)
        return out if output is None else out[:, output]

    jac = jax.jit(jax.jacrev(f))(variables["params"])
    return float(sum(jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(jac)))


def test_linear_model_trace_has_closed_form():
    model = Linear(classes=3)
    variables, batch = _setup(model)
    sq = np.sum(np.asarray(batch.inputs, np.float64).reshape(5, -1) ** 2, axis=1)
    expected = float(np.sum(sq + 1.0)) * 3
    for bn in ("train", "eval"):  # no batch norm: both modes are the same function
        assert ntk_trace(model, variables, batch.inputs, probes="exact", bn=bn) == pytest.approx(expected, rel=1e-5)
    assert ntk_trace(model, variables, batch.inputs, probes="exact", output=1) == pytest.approx(expected / 3, rel=1e-5)
    per = ntk_trace(model, variables, batch.inputs, probes="exact", normalize="sample_output")
    assert per == pytest.approx(expected / (5 * 3), rel=1e-5)


@pytest.mark.parametrize(("chunk_size", "output"), [(1, None), (2, None), (8, None), (3, 2)])
def test_chunked_trace_equals_brute_force_jacobian(chunk_size, output):
    model = MLP()
    variables, batch = _setup(model)
    expected = _brute_trace(model, variables, batch.inputs, output)
    got = ntk_trace(model, variables, batch.inputs, probes="exact", output=output, chunk_size=chunk_size)
    assert got == pytest.approx(expected, rel=1e-5)


def test_eval_mode_trace_is_per_example():
    model = TinyCNN()
    variables, batch = _setup(model, n=3, shape=(4, 4, 2))
    expected = _brute_trace(model, variables, batch.inputs)
    assert ntk_trace(model, variables, batch.inputs, probes="exact", bn="eval", chunk_size=2) == pytest.approx(
        expected, rel=1e-5)
    # eval-mode BN: one example's kernel does not depend on the rest of the batch
    first = ntk_trace(model, variables, batch.inputs[:1], probes="exact", bn="eval")
    assert first == pytest.approx(_brute_trace(model, variables, batch.inputs[:1]), rel=1e-5)


def test_train_mode_trace_is_of_the_whole_batch_function():
    model = TinyCNN()
    variables, batch = _setup(model, n=3, shape=(4, 4, 2))
    expected = _brute_trace(model, variables, batch.inputs, bn="train")
    got = ntk_trace(model, variables, batch.inputs, probes="exact", bn="train", chunk_size=5)
    assert got == pytest.approx(expected, rel=1e-5)
    assert abs(expected - _brute_trace(model, variables, batch.inputs)) > 1e-3 * expected  # the modes differ


def test_probe_estimate_is_unbiased_and_its_error_falls_like_one_over_sqrt_k():
    model = TinyCNN()
    variables, batch = _setup(model, n=4, shape=(4, 4, 2))
    exact = ntk_trace(model, variables, batch.inputs, probes="exact")
    errors = {}
    for k in (4, 256):
        estimates = np.array([ntk_trace(model, variables, batch.inputs, probes=k, key=jax.random.PRNGKey(s))
                              for s in range(24)])
        errors[k] = float(np.sqrt(np.mean((estimates / exact - 1.0) ** 2)))
        assert abs(estimates.mean() / exact - 1.0) < 4 * errors[k] / np.sqrt(24)  # unbiased within 4 std errors
    assert 4.0 < errors[4] / errors[256] < 16.0  # sqrt(256 / 4) = 8
    with pytest.raises(ScoringConfigError, match="key="):
        ntk_trace(model, variables, batch.inputs, probes=4)
    with pytest.raises(ScoringConfigError, match="probes"):
        ntk_trace(model, variables, batch.inputs, probes=0, key=jax.random.PRNGKey(0))
    with pytest.raises(ScoringConfigError, match="batch-norm mode"):
        ntk_trace(model, variables, batch.inputs, probes="exact", bn="batch")


def test_nasi_trace_is_squared_norm_of_mean_loss_gradient():
    model = MLP()
    variables, batch = _setup(model)

    def loss(p):
        logits = model.apply({"params": p}, batch.inputs)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(5), batch.labels])

    grads = jax.grad(loss)(variables["params"])
    expected = float(sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(grads)))
    assert nasi_trace(model, variables, batch) == pytest.approx(expected, rel=1e-5)


def test_nasi_penalty_and_adaptive_nu():
    assert nasi_penalized(3.0, mu=2.0, nu=5.0) == 3.0
    assert nasi_penalized(7.0, mu=2.0, nu=5.0) == pytest.approx(7.0 - 2.0 * 2.0)
    np.testing.assert_allclose(nasi_penalized(np.array([1.0, 9.0]), mu=1.0, nu=4.0), [1.0, 4.0])
    assert adaptive_nu(np.arange(11.0), quantile=0.9) == pytest.approx(9.0)
    with pytest.raises(ValueError, match="finite"):
        adaptive_nu([1.0, np.nan])


def test_condition_number_from_brute_force_gram():
    model = MLP()
    variables, batch = _setup(model, n=4)
    jac = jax.jacrev(lambda p: jnp.sum(model.apply({"params": p}, batch.inputs), axis=1))(variables["params"])
    flat = np.concatenate([np.asarray(j, np.float64).reshape(4, -1) for j in jax.tree_util.tree_leaves(jac)], 1)
    gram = flat @ flat.T
    np.testing.assert_allclose(ntk_gram(model, variables, batch.inputs, chunk_size=3), gram, rtol=1e-5)
    eig = np.linalg.eigvalsh(gram)
    assert ntk_condition_number(model, variables, batch) == pytest.approx(eig[-1] / eig[0], rel=1e-3)


@pytest.mark.parametrize("bn", ["train", "eval"])
def test_gram_of_a_batch_norm_network_in_both_modes(bn):
    model = TinyCNN()
    variables, batch = _setup(model, n=3, shape=(4, 4, 2))

    def summed(p):
        if bn == "train":
            return jnp.sum(_train_mode(model, variables, p, batch.inputs), axis=1)
        return jnp.sum(model.apply({**variables, "params": p}, batch.inputs), axis=1)

    jac = jax.jacrev(summed)(variables["params"])
    flat = np.concatenate([np.asarray(j, np.float64).reshape(3, -1) for j in jax.tree_util.tree_leaves(jac)], 1)
    np.testing.assert_allclose(ntk_gram(model, variables, batch.inputs, bn=bn, chunk_size=2), flat @ flat.T,
                               rtol=1e-4, atol=1e-7)


def test_rank_deficient_gram_fails_naming_the_cell():
    model = MLP()
    variables, batch = _setup(model, n=3)
    twins = Batch(jnp.concatenate([batch.inputs[:2], batch.inputs[:1]]), batch.labels)
    with pytest.raises(NonFiniteScoreError, match="cell-7"):
        ntk_condition_number(model, variables, twins, name="cell-7")


def test_overflow_raises_instead_of_ranking_inf():
    model = MLP()
    variables, batch = _setup(model)
    huge = jax.tree_util.tree_map(lambda w: w * 1e30, variables)
    with pytest.raises(NonFiniteScoreError, match=r"ntk_trace.*\|nor_conv_3x3~0\|"):
        ntk_trace(model, huge, batch.inputs, probes="exact", name="|nor_conv_3x3~0|")
    with pytest.raises(NonFiniteScoreError, match="nasi_trace"):
        nasi_trace(model, huge, batch, name="big")


@pytest.mark.parametrize("score", sorted(set(SCORES) - STAGE_SCORES))  # stage scores: test_scores_engines.py
def test_every_score_is_bitwise_deterministic_and_finite(score):
    model = TinyCNN()
    key = jax.random.PRNGKey(3)
    values = []
    for _ in range(2):
        variables, batch = _setup(model, n=6, shape=(6, 6, 2), seed=1)
        values.append(get_score(score)(model, variables, batch, key, name="tiny"))
    assert np.isfinite(values[0])
    assert values[0] == values[1]


def test_one_compilation_per_architecture():
    traces = []

    class Counted(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            traces.append(1)  # runs at init and on every trace, never on a cached call
            return nn.Dense(2)(x.reshape(x.shape[0], -1))

    model = Counted()
    for seed in range(4):
        variables, batch = _setup(model, seed=seed)
        before = len(traces)
        ntk_trace(model, variables, batch.inputs, key=jax.random.PRNGKey(seed))
        if seed == 0:
            first = len(traces) - before
        else:
            assert len(traces) == before  # compiled once, reused for new weights and inputs
    assert first >= 1
    assert compiled.__doc__


def test_get_score_unknown_name_lists_known_ones():
    with pytest.raises(UnknownScoreError, match="nasi_trace.*ntk_trace"):
        get_score("ntk-trace")


def test_neural_tangents_backend_fails_clearly_without_the_lane():
    try:
        import neural_tangents  # noqa: F401
    except Exception:
        model = Linear()
        variables, batch = _setup(model)
        with pytest.raises(BackendUnavailableError, match="ntk_lane"):
            ntk_trace(model, variables, batch.inputs, probes="exact", backend="neural_tangents")
    else:
        pytest.skip("neural_tangents imports here: tests/test_ntk_oracle.py covers this backend")


def test_make_batch_modes():
    key = jax.random.PRNGKey(0)
    b = make_batch(key, 4, inputs="gaussian", targets="random", input_shape=(5, 5, 3), num_classes=7)
    assert b.inputs.shape == (4, 5, 5, 3) and b.inputs.dtype == jnp.float32
    assert b.labels.shape == (4,) and int(b.labels.max()) < 7
    pool = np.arange(10 * 2 * 2 * 3, dtype=np.uint8).reshape(10, 2, 2, 3)
    labels = np.arange(10) % 3
    real = make_batch(key, 5, images=pool, labels=labels)
    picked = [int(np.argmax(np.all(pool.reshape(10, -1)[:, :1] == row, axis=1)))
              for row in np.asarray(real.inputs * np.array([63.0, 62.1, 66.7]) + np.array([125.3, 123.0, 113.9]))
              .round().reshape(5, -1)[:, :1]]
    assert len(set(picked)) == 5
    np.testing.assert_array_equal(np.asarray(real.labels), labels[picked])
    shuffled = make_batch(key, 5, images=pool, labels=labels, targets="random", num_classes=3)
    np.testing.assert_array_equal(np.asarray(shuffled.inputs), np.asarray(real.inputs))
    with pytest.raises(ValueError, match="images="):
        make_batch(key, 4)
    with pytest.raises(ValueError, match="larger than the pool"):
        make_batch(key, 11, images=pool, labels=labels)
    with pytest.raises(ValueError, match="mode"):
        make_batch(key, 4, inputs="uniform")


def test_params_and_flops_of_known_layers():
    model = TinyCNN(classes=4, batch_norm=False)
    variables, batch = _setup(model, n=2, shape=(6, 6, 2))
    assert params(model, variables, batch) == 3 * 3 * 2 * 4 + 3 * 3 * 4 * 6 + (6 * 4 + 4)
    # SAME padding keeps 6x6: conv1 36*4 outputs x 18 MACs, conv2 36*6 x 36 MACs, dense 4 x 6
    assert flops(model, variables, batch) == 36 * 4 * 18 + 36 * 6 * 36 + 4 * 6


def test_grad_norm_and_snip_by_hand():
    model = MLP()
    variables, batch = _setup(model)

    def loss(p):
        logits = model.apply({"params": p}, batch.inputs)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(5), batch.labels])

    g = jax.grad(loss)(variables["params"])
    p = variables["params"]
    kernels = [("Dense_0", "kernel"), ("Dense_1", "kernel")]
    expected_gn = sum(float(jnp.linalg.norm(g[a][b])) for a, b in kernels)
    expected_snip = sum(float(jnp.sum(jnp.abs(g[a][b] * p[a][b]))) for a, b in kernels)
    assert grad_norm(model, variables, batch) == pytest.approx(expected_gn, rel=1e-5)
    assert snip(model, variables, batch) == pytest.approx(expected_snip, rel=1e-5)


def test_synflow_linear_closed_form_and_bn_removal():
    model = Linear(classes=3)
    variables, batch = _setup(model)
    # R = sum_k (sum_d |W_dk| + |b_k|) on an all-ones input, so dR/dW = 1 and synflow = sum |W|
    expected = float(np.sum(np.abs(np.asarray(variables["params"]["Dense_0"]["kernel"], np.float64))))
    assert synflow(model, variables, batch) == pytest.approx(expected, rel=1e-12)

    cnn = TinyCNN()
    variables, batch = _setup(cnn, n=2, shape=(6, 6, 2))
    plain = TinyCNN(batch_norm=False)
    plain_params = {k: v for k, v in variables["params"].items() if not k.startswith("BatchNorm")}
    assert synflow(cnn, variables, batch) == synflow(plain, {"params": plain_params}, batch)

    class NoField(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            return nn.BatchNorm(use_running_average=True)(x).reshape(x.shape[0], -1)

    v = NoField().init(jax.random.PRNGKey(0), batch.inputs[:1])
    with pytest.raises(ValueError, match="batch_norm"):
        synflow(NoField(), v, batch)


def test_synflow_survives_float32_overflow():
    class Deep(nn.Module):
        batch_norm: bool = False

        @nn.compact
        def __call__(self, x, train: bool = False):
            x = x.reshape(x.shape[0], -1)
            for _ in range(20):
                x = nn.Dense(64, kernel_init=nn.initializers.constant(4.0))(x)
            return x

    model = Deep()
    variables, batch = _setup(model, n=1, shape=(8,))
    value = synflow(model, variables, batch)
    assert value > 3.4e38  # beyond float32's range: computed in float64


def test_nwot_matches_numpy_hamming_kernel():
    model = MLP()
    variables, batch = _setup(model, n=5)
    hidden = model.apply(variables, batch.inputs, capture_intermediates=True, mutable=["intermediates"])[1]
    codes = np.asarray(hidden["intermediates"]["ReLU_0"]["__call__"][0] > 0, np.float64).reshape(5, -1)
    k = codes @ codes.T + (1 - codes) @ (1 - codes).T
    expected = np.linalg.slogdet(k)[1]
    assert nwot(model, variables, batch) == pytest.approx(expected, rel=1e-9)
    twins = Batch(jnp.concatenate([batch.inputs[:4], batch.inputs[:1]]), batch.labels)
    with pytest.raises(NonFiniteScoreError, match="nwot.*twin"):
        nwot(model, variables, twins, name="twin")
    with pytest.raises(ValueError, match="common.ReLU"):
        nwot(Linear(), Linear().init(jax.random.PRNGKey(0), batch.inputs[:1]), batch)


def test_jacob_cov_matches_numpy_definition():
    model = MLP()
    variables, batch = _setup(model, n=5)
    jac = jax.vmap(jax.grad(lambda xi: jnp.sum(model.apply(variables, xi[None]))))(batch.inputs)
    corr = np.corrcoef(np.asarray(jac, np.float64).reshape(5, -1))
    v = np.linalg.eigvalsh(corr)
    expected = -np.sum(np.log(v + 1e-5) + 1.0 / (v + 1e-5))
    assert jacob_cov(model, variables, batch) == pytest.approx(expected, rel=1e-4)
