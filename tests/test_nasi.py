"""NASI search: straight-through samples, the supernets, toy spaces with a known answer, determinism, compile-once."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasi_nal import nasi
from nasi_nal.errors import ConfigError
from nasi_nal.nasi import ARCH
from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.scores import gaussian_batch, nasi_penalized
from nasi_nal.spaces import darts as darts_space
from nasi_nal.spaces import nb201 as nb201_space

SCALES = (0.5, 1.0, 2.0, 4.0)


class ToySuperNet(nn.Module):
    """One edge choosing a scale c_k of a shared linear map: T grows like c_k^2, so op 3 has the largest trace."""

    @nn.compact
    def __call__(self, x, train=False):
        w = self.variable(ARCH, "edge", lambda: jnp.full((1, len(SCALES)), 1 / len(SCALES))).value
        h = nn.Dense(16, use_bias=False)(x.reshape(x.shape[0], -1))
        h = sum(w[0, k] * c * h for k, c in enumerate(SCALES))
        return nn.Dense(10)(h)


TOY = nasi.get_config("nb201", steps=30, batch_size=8, input_shape=(4, 4, 1), nu=1e9)


def toy_choice(seed, **overrides):
    run, variables = nasi.run_search(ToySuperNet(), jax.random.PRNGKey(seed), dataclasses.replace(TOY, **overrides))
    return int(np.argmax(run.alpha["edge"][0])), run, variables


def toy_traces(variables, seed=0):
    batch = gaussian_batch(jax.random.PRNGKey(seed), 8, (4, 4, 1))
    return np.asarray([float(nasi.supernet_trace(ToySuperNet(), variables, {"edge": jnp.eye(4)[k][None]}, batch,
                                                 "train"))
                       for k in range(4)])


def test_straight_through_sample_is_one_hot_forward_with_gradient_for_every_op():
    alpha = {"a": jnp.zeros((6, 5)), "b": jnp.zeros((14, 8))}
    w = nasi.straight_through_sample(jax.random.PRNGKey(0), alpha, 1.0)
    for leaf in w.values():
        np.testing.assert_allclose(np.sort(np.asarray(leaf), axis=-1)[:, :-1], 0.0, atol=1e-6)
        np.testing.assert_allclose(np.asarray(leaf).max(axis=-1), 1.0, atol=1e-6)
    # A functional that weighs each op differently: every logit, including op 0 ('none'), gets a gradient.
    g = jax.grad(lambda a: jnp.sum(nasi.straight_through_sample(jax.random.PRNGKey(0), a, 1.0)["a"]
                                   * jnp.arange(5.0)))(alpha)
    assert np.all(np.abs(np.asarray(g["a"])) > 0)


def test_penalty_matches_the_scores_package():
    t = np.asarray([1.0, 5.0, 10.0, 50.0])
    np.testing.assert_allclose(np.asarray(nasi.penalized(jnp.asarray(t), 2.0, 8.0)), nasi_penalized(t, 2.0, 8.0))


def test_nb201_supernet_with_one_hot_weights_is_the_benchmark_network():
    arch = nb201_space.parse("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    supernet = nasi.NB201SuperNet(channels=2, cells_per_stage=1)
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 3))
    variables = supernet.init(jax.random.PRNGKey(0), x)
    onehot = jnp.asarray(np.eye(5)[[nb201_space.OPS.index(op) for op in arch.ops]], jnp.float32)
    out = jax.jit(supernet.apply)({**variables, ARCH: {"cell": onehot}}, x)
    # The same weights in the benchmark network: keep each edge's chosen op, renamed edge_j_i.
    chosen = {f"edge_{s}_{t}_{op}": f"edge_{s}_{t}" for (t, s), op in zip(nb201_space.EDGES, arch.ops)}

    def rename(tree):
        return {k: ({chosen[e]: v for e, v in sub.items() if e in chosen} if k.startswith("stage") else sub)
                for k, sub in tree.items()}

    net_vars = {name: rename(tree) for name, tree in variables.items() if name != ARCH}
    expected = jax.jit(NB201Network(arch, channels=2, cells_per_stage=1).apply)(net_vars, x)
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_toy_search_picks_the_largest_trace_when_nu_is_large():
    for seed in (0, 1):
        choice, run, variables = toy_choice(seed)
        traces = toy_traces(variables)
        assert np.argmax(traces) == 3 and traces[3] > 3 * traces[2]
        assert choice == 3, run.alpha


def test_toy_search_penalty_flips_the_choice():
    for seed in (0, 1):
        _, _, variables = toy_choice(seed, steps=1)  # same key, same initial weights: read the ops' traces first
        traces = toy_traces(variables)
        assert traces[3] > 8 * traces[1]
        # nu between the traces of ops 0 and 1: with mu = 2, op 3 (the pick without penalty) has R far below 0.
        nu = float(np.sqrt(traces[0] * traces[1]))
        choice, run, _ = toy_choice(seed, nu=nu)
        rewards = nasi_penalized(traces, 2.0, nu)
        assert choice in (0, 1), run.alpha
        assert rewards[choice] > rewards[3]


def test_search_is_deterministic_and_compiles_once():
    first, _, _ = toy_choice(5, steps=12)
    counts = nasi.trace_counts()
    _, run_a, _ = toy_choice(5, steps=12)
    _, run_b, _ = toy_choice(6, steps=12)
    assert nasi.trace_counts() == counts  # same shapes: the cached program served all three
    np.testing.assert_array_equal(run_a.alpha["edge"], toy_choice(5, steps=12)[1].alpha["edge"])
    assert run_a.compile_seconds == 0.0
    assert not np.array_equal(run_a.alpha["edge"], run_b.alpha["edge"])


def test_adaptive_nu_is_a_quantile_of_sampled_traces():
    low = toy_choice(0, nu="adaptive", nu_quantile=0.0, steps=4)[1].nu
    high = toy_choice(0, nu="adaptive", nu_quantile=1.0, steps=4)[1].nu
    assert 0 < low < high  # the smallest and largest trace of the same sampled architectures


def test_data_modes_run_without_a_dataset():
    images = np.random.default_rng(0).integers(0, 256, (40, 4, 4, 1), dtype=np.uint8)
    labels = np.random.default_rng(1).integers(0, 10, 40)
    for mode in ({"inputs": "gaussian", "targets": "random"}, {"inputs": "real", "targets": "random"},
                 {"inputs": "real", "targets": "real"}):
        run, _ = nasi.run_search(ToySuperNet(), jax.random.PRNGKey(0), dataclasses.replace(TOY, steps=4, **mode),
                                 images=images, labels=labels)
        assert np.all(np.isfinite(run.traces)) and run.traces.shape == (4,)
    with pytest.raises(ValueError, match="images"):
        nasi.run_search(ToySuperNet(), jax.random.PRNGKey(0), dataclasses.replace(TOY, inputs="real"))


@pytest.mark.slow  # compiling the NB201 supernet's second-order program takes minutes on a shared 2-core CPU
def test_nb201_search_returns_a_cell_score_and_cost():
    config = nasi.get_config("nb201", channels=2, input_shape=(8, 8, 3), nu_samples=2)
    result = nasi.search("nb201", jax.random.PRNGKey(0), steps=2, batch_size=4, config=config)
    assert nb201_space.parse(result.cell_str) == result.cell
    assert result.alpha["cell"].shape == (6, 5) and result.steps == 2 and result.device.startswith("cpu")
    assert np.isfinite(result.score) and result.trace > 0 and result.wall_seconds >= result.run_seconds > 0
    assert result.cell == nasi.derive_nb201(result.alpha)


def test_derive_darts_follows_darts_genotype():
    rng = np.random.default_rng(0)
    for _ in range(20):
        alpha = {"normal": rng.normal(size=(14, 8)), "reduce": rng.normal(size=(14, 8))}
        alpha["normal"][:, 0] += 5.0  # 'none' strongest everywhere: still excluded
        darts_space.validate(nasi.derive_darts(alpha))
    alpha = {"normal": np.zeros((14, 8)), "reduce": np.zeros((14, 8))}
    alpha["normal"][0, 4] = 3.0  # node 2 <- input 0: sep_conv_3x3
    alpha["normal"][1, 6] = 2.0  # node 2 <- input 1: dil_conv_3x3
    genotype = nasi.derive_darts(alpha)
    assert genotype.normal[:2] == [("sep_conv_3x3", 0), ("dil_conv_3x3", 1)]


def test_config_errors_name_the_setting():
    with pytest.raises(ConfigError, match="mu"):
        nasi.get_config("nb201", mu=-1.0)
    with pytest.raises(ConfigError, match="nu"):
        nasi.get_config("darts", nu="sometimes")
    with pytest.raises(ConfigError, match="unknown NASI setting"):
        nasi.get_config("nb201", temperature=1.0)
    with pytest.raises(ConfigError, match="space"):
        nasi.get_config("nb101")


@pytest.mark.slow
def test_darts_search_outputs_a_valid_genotype():
    config = nasi.get_config("darts", channels=2, layers=3, input_shape=(8, 8, 3), nu_samples=2)
    result = nasi.search("darts", jax.random.PRNGKey(0), steps=2, batch_size=4, config=config)
    darts_space.validate(result.cell)
    assert darts_space.from_json(result.cell_str) == darts_space.from_json(darts_space.to_json(result.cell))
    assert np.isfinite(result.score) and set(result.alpha) == {"normal", "reduce"}
