"""Oracle: our NTK trace equals neural-tangents' ``empirical_ntk_fn`` on the benchmarks' own networks.

Runs only in the pinned lane (``.ci/ntk_lane``: jax 0.4.23, neural-tangents 0.6.5), where ``pytest -m oracle``
selects it; the default test run deselects the ``oracle`` marker.
"""
import jax
import numpy as np
import pytest

from nasi_nal.networks.build import build
from nasi_nal.scores import gaussian_batch, ntk_trace, score_cell
from nasi_nal.spaces import darts, nb101, nb201

pytestmark = pytest.mark.oracle

# Small networks: the benchmarks' cells and macro skeletons at proxy depth, narrowed further so that
# neural-tangents' full-batch Jacobian contraction stays cheap on a CPU.
NB101_CELL = nb101.Cell(
    matrix=[[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    ops=["input", "conv3x3-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv1x1-bn-relu",
         "output"],
)
NETWORKS = {
    "nb101": lambda: build("nb101", NB101_CELL, proxy=True, stem_channels=4),
    "nb201": lambda: build("nb201", "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+"
                                    "|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|", proxy=True, channels=4),
    "darts": lambda: build("darts", darts.DARTS_V2, proxy=True, channels=4, layers=5),
}


def _neural_tangents_trace(model, variables, x, output=None, bn="train"):
    return ntk_trace(model, variables, x, probes="exact", output=output, bn=bn, backend="neural_tangents")


@pytest.mark.parametrize("bn", ["train", "eval"])
@pytest.mark.parametrize("space", sorted(NETWORKS))
@pytest.mark.parametrize("output", [None, 3])
def test_trace_equals_neural_tangents(space, output, bn):
    model = NETWORKS[space]()
    k_init, k_x = jax.random.split(jax.random.PRNGKey(7))
    batch = gaussian_batch(k_x, 2, (8, 8, 3))
    variables = model.init(k_init, batch.inputs[:1], train=False)
    ours = ntk_trace(model, variables, batch.inputs, probes="exact", output=output, bn=bn, chunk_size=2, name=space)
    oracle = _neural_tangents_trace(model, variables, batch.inputs, output=output, bn=bn)
    assert np.isfinite(ours) and ours > 0
    assert ours == pytest.approx(oracle, rel=1e-4), (space, ours, oracle)


def test_the_oracle_engine_scores_like_the_joint_engine():
    model = NETWORKS["nb201"]()
    batch = gaussian_batch(jax.random.PRNGKey(3), 3, (8, 8, 3))
    variables = model.init(jax.random.PRNGKey(4), batch.inputs[:1], train=False)
    _, oracle = score_cell(model, variables, batch, ["ntk_trace"], probes="exact", engine="oracle")
    _, ours = score_cell(model, variables, batch, ["ntk_trace"], probes="exact", engine="joint")
    assert oracle.values["ntk_trace"] == pytest.approx(ours.values["ntk_trace"], rel=1e-4)


def test_nb201_sampled_cells_equal_neural_tangents():
    rng = np.random.default_rng(0)
    batch = gaussian_batch(jax.random.PRNGKey(1), 2, (8, 8, 3))
    for i in range(2):
        arch = nb201.sample(rng)
        model = build("nb201", arch, proxy=True, channels=4)
        variables = model.init(jax.random.PRNGKey(i), batch.inputs[:1], train=False)
        ours = ntk_trace(model, variables, batch.inputs, probes="exact")
        assert ours == pytest.approx(_neural_tangents_trace(model, variables, batch.inputs), rel=1e-4), arch
