"""The NAS-Bench-101 network (nasi_nal.networks.nb101) against the rules of google-research/nasbench model_builder."""
import importlib.util
import json
import pathlib

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nasi_nal.errors import InvalidCellError
from nasi_nal.networks import nb101 as net101
from nasi_nal.networks.common import ReLU, count_params
from nasi_nal.spaces import nb101 as space

# The cell the shared data README documents: hash 00005c142e6f48ac74fdcf73e3439874, 8,555,530 trainable
# parameters in NAS-Bench-101 (its `trainable_parameters`).
README_MATRIX = [[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0],
                 [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]]
README_OPS = ("input", "conv3x3-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv1x1-bn-relu",
              "output")
README_PARAMS = 8_555_530
# Every inner op once, an input -> output projection, and (with an odd width) a split remainder and a truncation:
# vertex 1 feeds the output and vertex 2, so with 9 channels it gets 5 and vertex 2 gets 4.
ALL_OPS_MATRIX = [[0, 1, 0, 1, 1], [0, 0, 1, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
ALL_OPS = ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output")
TWO_VERTEX = ([[0, 1], [0, 0]], ("input", "output"))
TINY = dict(stem_channels=8, num_stacks=1, cells_per_stack=1)


def _images(key, n=4, size=8):
    return jax.random.normal(key, (n, size, size, 3), jnp.float32)


def test_vertex_channels_follow_compute_vertex_channels():
    # README cell: the output's two inputs (vertices 2 and 5) split 128; the others take the max of what they feed.
    assert net101.vertex_channels(128, 128, np.array(README_MATRIX)) == (128, 64, 64, 64, 64, 64, 128)
    assert net101.vertex_channels(9, 9, np.array(ALL_OPS_MATRIX)) == (9, 5, 4, 4, 9)
    # Three vertices feed the output: 128 = 43 + 43 + 42, the remainder going to the first ones.
    fan3 = np.array([[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]])
    assert net101.vertex_channels(64, 128, fan3) == (64, 43, 43, 42, 128)
    assert net101.vertex_channels(32, 64, np.array(TWO_VERTEX[0])) == (32, 64)
    dangling = np.array([[0, 1, 1], [0, 0, 0], [0, 0, 0]])  # vertex 1 reaches nothing: not pruned
    with pytest.raises(InvalidCellError, match="prune"):
        net101.vertex_channels(8, 8, dangling)


def test_output_shapes_and_dtypes():
    key = jax.random.PRNGKey(0)
    for matrix, ops in ((ALL_OPS_MATRIX, ALL_OPS), TWO_VERTEX):
        net = net101.NB101Network(matrix, ops, stem_channels=8, num_stacks=2, cells_per_stack=1, num_classes=5)
        x = _images(key, n=2, size=9)  # odd size: 9 -> 5 under 'SAME' 2x2 pooling, as TF's 'same'
        variables = net.init(key, x)
        logits = net.apply(variables, x)
        assert logits.shape == (2, 5) and logits.dtype == jnp.float32
        assert np.isfinite(np.asarray(logits)).all()
    # The benchmark's full network, by shape only.
    full = net101.NB101Network(README_MATRIX, README_OPS)
    x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
    variables = jax.eval_shape(lambda: full.init(key, jnp.zeros(x.shape)))
    out = jax.eval_shape(lambda v, x: full.apply(v, x), variables, x)
    assert out.shape == (2, 10)
    assert variables["params"]["stem"]["conv"]["kernel"].shape == (3, 3, 3, 128)
    assert variables["params"]["stack2_module2"]["vertex_5"]["conv"]["kernel"].shape == (1, 1, 256, 256)
    assert variables["params"]["logits"]["kernel"].shape == (512, 10)


def test_cell_is_validated_and_pruned():
    with pytest.raises(InvalidCellError):
        net101.NB101Network([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ("input", "maxpool3x3", "output"))  # no path
    with pytest.raises(InvalidCellError):
        net101.NB101Network(TWO_VERTEX[0], ("input", "conv5x5", "output"))
    # A dangling vertex (2: reached from the input, reaches nothing) is pruned away, as ModelSpec does.
    unpruned = [[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    ops = ("input", "conv3x3", "conv1x1", "maxpool3x3", "output")  # aliases accepted
    pruned_m, pruned_ops = space.prune(unpruned, ops)
    x = _images(jax.random.PRNGKey(1))
    shapes = lambda n: jax.tree_util.tree_map(lambda a: a.shape, jax.eval_shape(n.init, jax.random.PRNGKey(0), x))
    a = net101.NB101Network(unpruned, ops, **TINY)
    b = net101.NB101Network(pruned_m, pruned_ops, **TINY)
    assert a.ops[1] == "conv3x3-bn-relu"
    assert shapes(a) == shapes(b)
    assert net101.param_count(unpruned, ops, **TINY) == count_params(a, (1, 8, 8, 3))
    with pytest.raises(ValueError, match="stem_channels"):
        net101.NB101Network(*TWO_VERTEX, stem_channels=0)


def test_determinism_under_a_fixed_key():
    net = net101.NB101Network(ALL_OPS_MATRIX, ALL_OPS, **TINY)
    x = _images(jax.random.PRNGKey(3))
    v1 = net.init(jax.random.PRNGKey(7), x)
    v2 = net.init(jax.random.PRNGKey(7), x)
    v3 = net.init(jax.random.PRNGKey(8), x)
    same = jax.tree_util.tree_map(lambda a, b: bool(jnp.array_equal(a, b)), v1, v2)
    assert all(jax.tree_util.tree_leaves(same))
    kernel = lambda v: np.asarray(v["params"]["stack0_module0"]["vertex_2"]["conv"]["kernel"])
    assert not np.array_equal(kernel(v1), kernel(v3))
    apply = jax.jit(net.apply)
    np.testing.assert_array_equal(np.asarray(apply(v1, x)), np.asarray(apply(v2, x)))
    # Hashable, so the module can be a static argument; jitted and eager apply agree.
    assert hash(net) == hash(net101.NB101Network(np.array(ALL_OPS_MATRIX), list(ALL_OPS), **TINY))
    np.testing.assert_allclose(np.asarray(apply(v1, x)), np.asarray(net.apply(v1, x)), rtol=1e-5, atol=1e-5)


def test_sgd_step_lowers_the_loss():
    net = net101.NB101Network(ALL_OPS_MATRIX, ALL_OPS, **TINY)
    kx, ky, kinit = jax.random.split(jax.random.PRNGKey(0), 3)
    x = _images(kx, n=8)
    y = jax.random.randint(ky, (8,), 0, 10)
    variables = net.init(kinit, x)
    params, batch_stats = variables["params"], variables["batch_stats"]
    opt = optax.sgd(0.1)
    opt_state = opt.init(params)

    def loss_fn(params, batch_stats):
        logits, updates = net.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                                    mutable=["batch_stats"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), updates["batch_stats"]

    @jax.jit
    def step(params, batch_stats, opt_state):
        (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch_stats)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), batch_stats, opt_state, loss

    losses = []
    for _ in range(5):
        params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state)
        losses.append(float(loss))
    final, _ = loss_fn(params, batch_stats)
    assert np.isfinite(losses).all()
    assert float(final) < losses[0] - 0.1, (losses, float(final))


def test_batch_norm_train_versus_eval():
    net = net101.NB101Network(ALL_OPS_MATRIX, ALL_OPS, **TINY)
    x = _images(jax.random.PRNGKey(4), n=4) * 2.0 + 0.5
    variables = net.init(jax.random.PRNGKey(0), x)
    # Train mode: batch statistics, and the running ones move by TF's rule m * running + (1 - m) * batch.
    _, state = net.apply(variables, x, train=True, mutable=["batch_stats", "intermediates"],
                         capture_intermediates=True)
    conv = state["intermediates"]["stem"]["conv"]["__call__"][0]
    new = state["batch_stats"]["stem"]["bn"]
    m = net101.BN_MOMENTUM
    np.testing.assert_allclose(np.asarray(new["mean"]), (1 - m) * np.asarray(conv.mean(axis=(0, 1, 2))),
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(np.asarray(new["var"]), m + (1 - m) * np.asarray(conv.var(axis=(0, 1, 2))),
                               rtol=1e-5, atol=1e-6)
    # Eval mode uses the running averages: each example's logits do not depend on the rest of the batch ...
    evaluate = net.apply
    train = lambda v, x: net.apply(v, x, train=True, mutable=["batch_stats"])[0]  # noqa: E731
    full = evaluate(variables, x)
    np.testing.assert_allclose(np.asarray(evaluate(variables, x[:1])), np.asarray(full[:1]), rtol=1e-4,
                               atol=1e-5)
    # ... while in train mode they do, and train and eval outputs differ.
    train_full = train(variables, x)
    train_one = train(variables, x[:1])
    assert not np.allclose(np.asarray(train_one), np.asarray(train_full[:1]), atol=1e-3)
    assert not np.allclose(np.asarray(train_full), np.asarray(full), atol=1e-3)
    # Train mode updates batch_stats, so Flax refuses it unless the collection is declared mutable.
    with pytest.raises(flax.errors.ModifyScopeVariableError):
        net.apply(variables, x, train=True)


def test_bfloat16_compute_with_float32_params():
    x = _images(jax.random.PRNGKey(5))
    net32 = net101.NB101Network(ALL_OPS_MATRIX, ALL_OPS, **TINY)
    net16 = net101.NB101Network(ALL_OPS_MATRIX, ALL_OPS, dtype=jnp.bfloat16, **TINY)
    variables = net16.init(jax.random.PRNGKey(0), x)
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(variables)} == {jnp.dtype(jnp.float32)}
    out16 = net16.apply(variables, x)
    out32 = net32.apply(variables, x)
    assert out16.dtype == jnp.bfloat16
    scale = float(jnp.abs(out32).max())
    np.testing.assert_allclose(np.asarray(out16, np.float32), np.asarray(out32), atol=0.05 * scale + 1e-3)
    _, state = net16.apply(variables, x, train=True, mutable=["batch_stats"])
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(state)} == {jnp.dtype(jnp.float32)}


def _max_pool_3x3_reference(x: np.ndarray) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    h, w = x.shape[1:3]
    windows = [padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)]
    return np.max(np.stack(windows), axis=0)


@pytest.mark.parametrize("op", space.INNER_OPS)
def test_every_op_is_reachable(op):
    net = net101.NB101Network([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ("input", op, "output"), **TINY)
    x = _images(jax.random.PRNGKey(6))
    variables = net.init(jax.random.PRNGKey(0), x)
    out, state = net.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
    cell = state["intermediates"]["stack0_module0"]
    vertex_in = np.asarray(cell["vertex_1_projection"]["__call__"][0])
    vertex_out = np.asarray(cell["vertex_1"]["__call__"][0])
    cell_params = variables["params"]["stack0_module0"]
    if op == "maxpool3x3":
        assert "vertex_1" not in cell_params
        np.testing.assert_allclose(vertex_out, _max_pool_3x3_reference(vertex_in), rtol=1e-6)
    else:
        k = 3 if op.startswith("conv3x3") else 1
        assert cell_params["vertex_1"]["conv"]["kernel"].shape == (k, k, 8, 8)
        assert set(cell_params["vertex_1"]) == {"conv", "bn"}
        assert (vertex_out >= 0).all()
    # The single vertex feeds the output alone and the input does not: the cell output is the vertex's value.
    np.testing.assert_array_equal(np.asarray(cell["__call__"][0]), vertex_out)
    assert out.shape == (4, 10)


def test_relus_are_modules_and_batch_norm_can_be_dropped():
    x = _images(jax.random.PRNGKey(2))
    net = net101.NB101Network(ALL_OPS_MATRIX, ALL_OPS, **TINY)
    variables = net.init(jax.random.PRNGKey(0), x)
    convs = [p for p in jax.tree_util.tree_leaves_with_path(variables["params"]) if "kernel" in str(p[0][-1])
             and "logits" not in str(p[0][0])]
    _, state = net.apply(variables, x, capture_intermediates=lambda mdl, _: isinstance(mdl, ReLU),
                         mutable=["intermediates"])
    relus = jax.tree_util.tree_leaves(state["intermediates"])
    assert len(relus) == len(convs) == 6  # stem, 3 projections (to vertices 1, 3 and the output), 2 conv ops
    plain = net101.NB101Network(ALL_OPS_MATRIX, ALL_OPS, batch_norm=False, **TINY)
    plain_vars = plain.init(jax.random.PRNGKey(0), x)
    assert set(plain_vars) == {"params"}
    assert "bn" not in str(jax.tree_util.tree_structure(plain_vars))
    assert np.isfinite(np.asarray(plain.apply(plain_vars, x))).all()
    bn_channels = 8 + 4 + 4 + 8 + 4 + 4  # stem, projections to vertices 1 and 3 and the output, vertices 1 and 2
    assert count_params(plain, (1, 8, 8, 3)) == net101.param_count(ALL_OPS_MATRIX, ALL_OPS, batch_norm=False, **TINY)
    assert count_params(plain, (1, 8, 8, 3)) == count_params(net, (1, 8, 8, 3)) - 2 * bn_channels


@pytest.mark.parametrize("config", [
    dict(),
    dict(stem_channels=9, num_stacks=2, cells_per_stack=2, num_classes=7),
    dict(stem_channels=13, num_stacks=3, cells_per_stack=1, batch_norm=False),
])
def test_closed_form_count_equals_eval_shape(config):
    cells = [(README_MATRIX, README_OPS), (ALL_OPS_MATRIX, ALL_OPS), TWO_VERTEX,
             space.sample(np.random.default_rng(0)), space.sample(np.random.default_rng(1), num_vertices=6)]
    for cell in cells:
        matrix, ops = (cell.matrix, cell.ops) if isinstance(cell, space.Cell) else cell
        traced = count_params(net101.NB101Network(matrix, ops, **config))
        assert net101.param_count(matrix, ops, **config) == traced, (matrix, ops, config)
    if not config:
        assert count_params(net101.NB101Network(README_MATRIX, README_OPS)) == README_PARAMS


def test_param_count_matches_the_benchmark(reference_file):
    data = np.load(reference_file("nb101_cifar10_sample20001.npz"), allow_pickle=False)
    rows = np.linspace(0, len(data["hash"]) - 1, 300).astype(int)
    # Include the rarest vertex counts (2..4 vertices: 7 cells in the sample) next to the evenly spread rows.
    rows = np.union1d(rows, np.flatnonzero(data["num_vertices"] <= 4))
    expected = data["trainable_parameters"]
    for row in rows:
        cell = space.from_arrays(data["adjacency"][row], data["ops"][row], data["num_vertices"][row])
        assert net101.param_count(cell.matrix, cell.ops) == expected[row], (row, data["hash"][row])
    for row in rows[::60]:  # the network itself, traced with eval_shape
        cell = space.from_arrays(data["adjacency"][row], data["ops"][row], data["num_vertices"][row])
        assert count_params(net101.NB101Network(cell.matrix, cell.ops)) == expected[row], data["hash"][row]


def test_fidelity_script_counts_and_reports_mismatches(reference_file, tmp_path):
    """benchmarks/nb101_param_fidelity.py on a 40-row cut of the sample, with one count corrupted on purpose."""
    spec = importlib.util.spec_from_file_location(
        "nb101_param_fidelity", pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "nb101_param_fidelity.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with np.load(reference_file("nb101_cifar10_sample20001.npz"), allow_pickle=False) as data:
        cut = {k: data[k][:40] for k in ("hash", "adjacency", "ops", "num_vertices", "trainable_parameters")}
    cut["trainable_parameters"] = cut["trainable_parameters"].copy()
    cut["trainable_parameters"][5] += 1
    np.savez(tmp_path / "cut.npz", **cut)
    out = tmp_path / "report.json"
    report = script.main(["--sample", str(tmp_path / "cut.npz"), "--traced", "2", "--seed", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == report
    assert report["cells"] == 40 and report["traced"]["cells"] == 2
    assert report["closed_form"]["mismatches"] == 1
    assert report["closed_form"]["first_mismatches"][0]["row"] == 5
    assert report["mismatches"] == 1 + report["traced"]["mismatches"]
