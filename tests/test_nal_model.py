"""The NAL graph-attention link predictor: shapes, padding invariance, one compilation per batch size."""
import jax
import numpy as np
import pytest

from nasi_nal.nal import data, model
from nasi_nal.nal.model import LinkPredictor, ModelConfig, edge_logits, init_params

from nal_helpers import TINY

OPS = [("input", "conv3x3-bn-relu", "maxpool3x3", "output"),
       ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output"),
       ("input", "output")]


def test_forward_one_logit_per_edge():
    params = init_params(TINY, jax.random.PRNGKey(0))
    graph = data.pad(data.candidate_graphs(OPS), 4)
    logits = model._apply_fn(TINY)(params, graph)
    assert logits.shape == (4 * data.EDGES_PER_GRAPH,)
    assert np.isfinite(np.asarray(logits)).all()


def test_dropout_only_in_training():
    params = init_params(TINY, jax.random.PRNGKey(0))
    graph = data.pad(data.candidate_graphs(OPS), 4)
    module = LinkPredictor(TINY)
    train = jax.jit(lambda key: module.apply({"params": params}, graph, deterministic=False, rngs={"dropout": key}))
    assert not np.allclose(train(jax.random.PRNGKey(1)), train(jax.random.PRNGKey(2)))


def test_logits_do_not_depend_on_batch_company():
    """Padding and the other graphs in a batch change nothing (attention stays inside each graph)."""
    params = init_params(TINY, jax.random.PRNGKey(0))
    together = edge_logits(TINY, params, OPS, batch_size=4)
    alone = [edge_logits(TINY, params, [ops], batch_size=4)[0] for ops in OPS]
    for t, a, ops in zip(together, alone, OPS):
        assert t.shape == (len(ops), len(ops))
        np.testing.assert_allclose(t, a, rtol=1e-5, atol=1e-6)
        assert np.all(t[np.tril_indices(len(ops))] == 0)


def test_compiles_once_for_many_batches(monkeypatch):
    traces = []
    real = LinkPredictor.__call__

    def counting(self, graph, deterministic=True):
        traces.append(1)
        return real(self, graph, deterministic)

    params = init_params(TINY, jax.random.PRNGKey(0))
    model._apply_fn.cache_clear()
    monkeypatch.setattr(LinkPredictor, "__call__", counting)
    edge_logits(TINY, params, OPS * 5, batch_size=4)  # 15 graphs: 4 batches
    edge_logits(TINY, params, OPS[:1], batch_size=4)
    assert len(traces) == 1


def test_log_probabilities_are_stable_log_sigmoids():
    params = init_params(TINY, jax.random.PRNGKey(0))
    (lp, lq), = model.edge_log_probabilities(TINY, params, OPS[:1], batch_size=4)
    z, = edge_logits(TINY, params, OPS[:1], batch_size=4)
    iu = np.triu_indices(4, 1)
    np.testing.assert_allclose(np.exp(lp[iu]) + np.exp(lq[iu]), 1.0)
    np.testing.assert_allclose(np.exp(lp[iu]), 1 / (1 + np.exp(-z[iu])))


def test_config_checks():
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(hidden=10, num_heads=4)
