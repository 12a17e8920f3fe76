"""Masked scoring (many cells per compiled call) computes what each cell's own network computes."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasi_nal.errors import NetworkConfigError, UnknownScoreError
from nasi_nal.networks import masked as masked_net
from nasi_nal.networks.build import build
from nasi_nal.networks.nb101 import NB101Network
from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.scores import make_batch, masked
from nasi_nal.scores.common import enable_x64
from nasi_nal.scores.joint import score_cell
from nasi_nal.spaces import darts, nb101, nb201

NB201_CELLS = (
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",  # node 1 feeds nothing
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # no path from the input
)
C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
NB101_CELLS = (
    # three vertices feed the output (widths 6/5/5 of 16: uneven concat offsets), two truncations (6 -> 5)
    ([[0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 0, 1, 0], [0, 0, 0, 0, 1, 0, 1],
      [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
     ("input", C3, C1, MP, C3, C1, "output")),
    # vertex 2 is dead (pruned: the output moves from 4 to 3, then to 6 when padded); an output projection
    ([[0, 1, 0, 0, 1], [0, 0, 1, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
     ("input", MP, C3, C1, "output")),
    ([[0, 1], [0, 0]], ("input", "output")),  # input -> output: one projection
)
SCORES = ("grad_norm", "snip", "nasi_trace", "jacob_cov", "ntk_trace", "synflow")


def _nb201(arch: str, **kw) -> NB201Network:
    return NB201Network(arch, channels=4, cells_per_stage=1, **kw)


def _nb101(matrix, ops, **kw) -> NB101Network:
    return NB101Network(matrix, ops, stem_channels=16, num_stacks=2, cells_per_stack=1, **kw)


def _cell_path(model, path: tuple[str, ...]) -> tuple[str, ...]:
    """Where a leaf of the cell network's variables lives in the masked network's."""
    if isinstance(model, NB201Network) and len(path) > 1 and path[1].startswith("edge_"):
        src, dst = (int(v) for v in path[1].split("_")[1:])
        op = model.arch.ops[nb201.EDGES.index((dst, src))]
        return (path[0], f"{path[1]}_{op}", *path[2:])
    if isinstance(model, NB101Network) and len(path) > 1 and path[1].startswith("vertex_") and \
            not path[1].endswith("projection"):
        ops = nb101.prune(model.matrix, model.ops)[1]
        op = {C3: "conv3x3", C1: "conv1x1"}[ops[int(path[1].split("_")[1])]]
        rest = path[3:] if path[2] == "conv" else path[2:]  # the masked conv holds its kernel directly
        return (path[0], f"{path[1]}_{op}", *rest)
    return path


def _cell_variables(model, variables) -> dict:
    """The cell network's variables cut out of the masked network's (each leaf its leading block)."""
    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)), train=False))

    def cut(path, shape):
        keys = tuple(p.key for p in path)
        leaf = variables[keys[0]]
        for k in _cell_path(model, keys[1:]):
            leaf = leaf[k]
        return jnp.asarray(leaf)[tuple(slice(0, s) for s in shape.shape)]

    return jax.tree_util.tree_map_with_path(cut, shapes)


def _models():
    """Every cell above. The default suite runs the NB101 cell with the uneven 3-way concatenation (the masked
    network written here); the NB201 form is NASI's supernet, whose one-hot forward pass the default suite checks
    in float64 below and in tests/test_nasi.py. The rest is slow-marked (minutes of compiling on 2 cores)."""
    models = [_nb201(a) for a in NB201_CELLS] + [_nb101(m, o) for m, o in NB101_CELLS]
    ids = [f"nb201-{i}" for i in range(3)] + [f"nb101-{i}" for i in range(3)]
    fast = ("nb101-0",)
    return [pytest.param(m, id=i, marks=() if i in fast else pytest.mark.slow) for m, i in zip(models, ids)]


# eval mode changes only the batch-norm flag, which the blockwise and joint engines' eval tests cover: slow-marked here
@pytest.mark.parametrize("bn", ["train", pytest.param("eval", marks=pytest.mark.slow)])
@pytest.mark.parametrize("model", _models())
def test_masked_scores_equal_the_cell_networks(model, bn):
    batch = make_batch(jax.random.PRNGKey(1), 6, inputs="gaussian", targets="random")
    keys = jax.random.split(jax.random.PRNGKey(2), 2)
    got = masked.score_cells([model, model], batch, SCORES, keys, bn=bn, per_call=2, cell_names=["a", "b"])
    for key, result in zip(keys, got):
        net, cell = masked.masked_form(model)
        variables = _cell_variables(model, masked.init_variables(net, cell, key))
        _, expected = score_cell(model, variables, batch, SCORES, key, name="a", bn=bn)
        assert sorted(result.errors) == sorted(expected.errors)
        assert result.values.keys() == expected.values.keys()
        for score, value in expected.values.items():
            np.testing.assert_allclose(result.values[score], value, rtol=1e-3, err_msg=score)


@pytest.mark.parametrize("model", [_nb201(NB201_CELLS[0]), _nb101(*NB101_CELLS[0])], ids=["nb201", "nb101"])
def test_masked_logits_equal_the_cell_network_in_float64(model):
    with enable_x64():
        model = model.clone(dtype=jnp.float64)
        net, cell = masked.masked_form(model)
        variables = masked.init_variables(net, cell, jax.random.PRNGKey(5))
        x = jax.random.normal(jax.random.PRNGKey(6), (3, 32, 32, 3), jnp.float64)
        got = net.apply(variables, x, train=False)
        expected = model.apply(_cell_variables(model, variables), x, train=False)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_one_program_scores_every_cell_of_a_space():
    models = [_nb101(m, o) for m, o in NB101_CELLS]
    batch = make_batch(jax.random.PRNGKey(1), 6, inputs="gaussian", targets="random")  # as above: a cache hit
    misses = masked._program.cache_info().misses
    got = masked.score_cells(models, batch, SCORES, jax.random.split(jax.random.PRNGKey(0), 3), per_call=2)
    assert len(got) == 3 and all("grad_norm" in r.values for r in got)
    assert masked._program.cache_info().misses - misses <= 1  # one masked network for the three cells...
    net, _ = masked.masked_form(models[0])
    device = tuple(n for n in SCORES if n != "synflow")
    assert masked._program(net, device, True, "train", 8, 8)._cache_size() == 1  # ...compiled once


def test_masked_nb101_kernels_follow_the_cell_network_initializer():
    matrix, ops = NB101_CELLS[0]
    net, cell = masked.masked_form(_nb101(matrix, ops, num_classes=10))
    variables = masked.init_variables(net, cell, jax.random.PRNGKey(0))
    widths = cell[masked_net.CELL]["widths"][0]
    for t, op in ((1, "conv3x3"), (2, "conv1x1")):
        kernel = np.asarray(variables["params"]["stack0_module0"][f"vertex_{t}_{op}"]["kernel"])
        k, w = kernel.shape[0], int(widths[t])
        block = kernel[:, :, :w, :w]
        np.testing.assert_allclose(block.std(), 1 / np.sqrt(k * k * w), rtol=0.35)
        assert not kernel[:, :, w:, :].any() and not kernel[:, :, :, w:].any()


def test_bad_requests_say_what_to_do():
    batch = make_batch(jax.random.PRNGKey(1), 4, inputs="gaussian", targets="random")
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    with pytest.raises(UnknownScoreError, match="nwot"):
        masked.score_cells([_nb201(NB201_CELLS[0])], batch, ("nwot",), keys[:1])
    with pytest.raises(ValueError, match="ONE space"):
        masked.score_cells([_nb201(NB201_CELLS[0]), _nb101(*NB101_CELLS[0])], batch, ("grad_norm",), keys)
    with pytest.raises(ValueError, match="one key per model"):
        masked.score_cells([_nb201(NB201_CELLS[0])], batch, ("grad_norm",), keys)
    darts_cell = darts.sample(np.random.default_rng(0))
    with pytest.raises(TypeError, match="NB201Network and NB101Network"):
        masked.masked_form(build("darts", darts_cell, proxy=True))
    net, _ = masked.masked_form(_nb101(*NB101_CELLS[0]))
    with pytest.raises(NetworkConfigError, match="nb101_encoding"):
        net.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))


def test_cost_analysis_counts_every_cell_and_example():
    model = _nb201(NB201_CELLS[0])
    batch = make_batch(jax.random.PRNGKey(1), 4, inputs="gaussian", targets="random")
    one = masked.cost_analysis(model, batch, ("grad_norm",), per_call=1)
    three = masked.cost_analysis(model, batch, ("grad_norm",), per_call=3)
    assert one["flops"] > 0 and one["bytes accessed"] > 0
    np.testing.assert_allclose(three["flops"], 3 * one["flops"], rtol=0.02)
    # more backward passes than a default chunk (8), counted as one loop-free chunk (XLA counts a loop body once):
    # the exact eval-mode trace takes one pass per example and logit, so twice the examples, twice the passes
    nine, eighteen = (make_batch(jax.random.PRNGKey(1), n, inputs="gaussian", targets="random") for n in (9, 18))
    half = masked.cost_analysis(model, nine, ("ntk_trace",), bn="eval", probes="exact", per_call=1)
    full = masked.cost_analysis(model, eighteen, ("ntk_trace",), bn="eval", probes="exact", per_call=1)
    assert 1.8 < full["flops"] / half["flops"] < 2.2
    # k probes: k backward passes of the batch, whatever its size
    probes = [masked.cost_analysis(model, nine, ("ntk_trace",), probes=k, per_call=1)["flops"] for k in (8, 16)]
    assert 1.5 < probes[1] / probes[0] < 2.1
    with_synflow = masked.cost_analysis(model, batch, ("grad_norm", "synflow"), per_call=1)
    assert with_synflow["flops"] > one["flops"]
    with pytest.raises(UnknownScoreError, match="nwot"):
        masked.cost_analysis(model, batch, ("nwot",))
