"""The joint program (``score_cell``) computes the same scores as the per-score functions, on real cells."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasi_nal.errors import UnknownScoreError
from nasi_nal.networks.common import ReLU
from nasi_nal.networks.build import build
from nasi_nal.scores import SCORES, get_score, make_batch
from nasi_nal.scores.definitions import STAGE_SCORES
from nasi_nal.scores.joint import score_cell
from nasi_nal.spaces import darts, nb101, nb201

TINY = {
    "nb201": dict(channels=4, cells_per_stage=1),
    "nb101": dict(stem_channels=4, num_stacks=2, cells_per_stack=1),
    "darts": dict(channels=4, layers=3),
}


def _cell(space, seed):
    rng = np.random.default_rng(seed)
    if space == "nb201":
        return nb201.index_to_arch(int(rng.integers(15625)))
    if space == "nb101":
        return nb101.sample(rng)
    return darts.DARTS_V2


class TinyCNN(nn.Module):
    """conv-BN-ReLU x2, global pool, dense: compiles in a second, unlike the benchmark networks."""

    dtype: jnp.dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x, train: bool = False):
        for width in (4, 6):
            x = nn.Conv(width, (3, 3), use_bias=False, dtype=self.dtype)(x)
            if self.batch_norm:
                x = nn.BatchNorm(use_running_average=not train, dtype=self.dtype)(x)
            x = ReLU()(x)
        return nn.Dense(10, dtype=self.dtype)(jnp.mean(x, axis=(1, 2)))


# the benchmark networks compile for minutes on a 2-core CPU (and the NB201 and NB101 per-score functions run the
# blockwise engine, which test_scores_blockwise.py compares with this one): a test-only network runs by default
@pytest.mark.parametrize("space", ["tiny", pytest.param("nb201", marks=pytest.mark.slow),
                                   pytest.param("nb101", marks=pytest.mark.slow),
                                   pytest.param("darts", marks=pytest.mark.slow)])
def test_joint_scores_equal_per_score_functions(space):
    model = TinyCNN() if space == "tiny" else build(space, _cell(space, 3), proxy=True, **TINY[space])
    key = jax.random.PRNGKey(1)
    batch = make_batch(key, 6, inputs="gaussian", targets="random", input_shape=(8, 8, 3), num_classes=10)
    names = sorted(set(SCORES) - STAGE_SCORES)
    variables, joint = score_cell(model, None, batch, names, key=key, name="cell")
    assert not joint.errors and set(joint.values) == set(names)
    expected = model.init(key, batch.inputs[:1], train=False)  # init inside the program draws the same weights
    for a, b in zip(jax.tree_util.tree_leaves(variables), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for name in names:
        single = get_score(name)(model, variables, batch, key, name="cell")
        assert joint.values[name] == pytest.approx(single, rel=1e-3), name


def test_given_variables_and_a_subset_of_scores():
    model = TinyCNN()
    key = jax.random.PRNGKey(0)
    batch = make_batch(key, 4, inputs="gaussian", targets="random", input_shape=(8, 8, 3), num_classes=10)
    variables = model.init(key, batch.inputs[:1], train=False)
    same, scores = score_cell(model, variables, batch, ["snip", "params"], key=key)
    assert same is variables and set(scores.values) == {"snip", "params"}
    assert scores.values["params"] == get_score("params")(model, variables, batch)
    assert scores.values["snip"] == pytest.approx(get_score("snip")(model, variables, batch), rel=1e-5)
    with pytest.raises(UnknownScoreError, match="bogus"):
        score_cell(model, variables, batch, ["bogus"])


def test_failing_score_is_reported_not_raised():
    model = TinyCNN()
    key = jax.random.PRNGKey(0)
    batch = make_batch(key, 3, inputs="gaussian", targets="random", input_shape=(8, 8, 3), num_classes=10)
    twins = batch._replace(inputs=batch.inputs.at[2].set(batch.inputs[0]))  # a singular NTK Gram matrix
    _, scores = score_cell(model, None, twins, ["ntk_cond", "grad_norm"], key=key, name="cell-9")
    assert "grad_norm" in scores.values and "cell-9" in scores.errors["ntk_cond"]


def test_synflow_runs_in_float64_in_a_network_with_a_compute_dtype():
    """A network that casts to its ``dtype`` must still run synflow in float64 (float32 overflows deep cells)."""
    model = TinyCNN()
    key = jax.random.PRNGKey(0)
    batch = make_batch(key, 2, inputs="gaussian", targets="random", input_shape=(8, 8, 3), num_classes=10)
    variables = model.init(key, batch.inputs[:1], train=False)
    # scaled weights whose synflow product overflows float32 (max ~3.4e38) but not float64
    big = jax.tree_util.tree_map(lambda w: w * 1e20 if w.ndim > 1 else w, variables["params"])
    value = get_score("synflow")(model, {**variables, "params": big}, batch, key)
    assert np.isfinite(value) and value > 1e60
