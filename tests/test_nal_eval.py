"""NAL evaluation: no training cell can reach an evaluation set; search trials and metrics."""
import numpy as np
import pytest

from nasi_nal.errors import LeakageError
from nasi_nal.nal import data, evaluate, metrics

from nal_helpers import random_cellset, untrained_model


def test_unseen_cells_exclude_experts_and_training_partition():
    model = untrained_model(table_fraction=0.5)
    experts = model.metadata["data"]["train_hashes"] + model.metadata["data"]["heldout_hashes"]
    table = random_cellset(100, seed=7)
    from nal_helpers import random_cellset as rc
    ex = rc(30, seed=1)  # the cells untrained_model records as its experts
    assert list(ex.hashes) == experts
    both = data.CellSet(np.concatenate([table.adjacency, ex.adjacency]), np.concatenate([table.ops, ex.ops]),
                        np.concatenate([table.num_vertices, ex.num_vertices]), table.hashes + ex.hashes,
                        np.concatenate([table.accuracy, ex.accuracy]))
    unseen = evaluate.unseen_cells(both, model)
    assert not set(unseen.hashes) & set(experts)
    part = data.training_partition(unseen.hashes, 0.5, 0)
    assert not part.any() and len(unseen) > 0


def test_leak_is_detected(monkeypatch):
    model = untrained_model(table_fraction=1.0)
    ex = random_cellset(30, seed=1)
    monkeypatch.setattr(data.CellSet, "subset", lambda self, index: self)  # a broken filter lets all through
    with pytest.raises(LeakageError, match="reached an evaluation set"):
        evaluate.unseen_cells(ex, model)


def test_nothing_unseen_is_an_error():
    model = untrained_model(table_fraction=1.0)
    with pytest.raises(LeakageError, match="no cell"):
        evaluate.unseen_cells(random_cellset(30, seed=1), model)


def test_search_trials():
    cells = random_cellset(50, seed=3)
    out = evaluate.search_trials(cells, cells.accuracy, 10, range(10))  # an oracle score picks the pool's best
    assert out["pick"] == out["best"] and len(out["seed"]) == 10
    assert all(p == 90.0 for p in out["pick_percentile"])
    with pytest.raises(ValueError, match="exceeds"):
        evaluate.search_trials(cells, cells.accuracy, 51, range(1))


def test_metrics_against_brute_force():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, 200).astype(float)  # many ties
    y = rng.integers(0, 2, 200)
    pos, neg = s[y == 1], s[y == 0]
    brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert metrics.roc_auc(s, y) == pytest.approx(brute)
    ap = 0.0
    for t in np.unique(s)[::-1]:
        sel = s >= t
        ap += (np.sum(y[sel & (s == t)]) / y.sum()) * (y[sel].sum() / sel.sum())
    assert metrics.average_precision(s, y) == pytest.approx(ap)
    x = rng.normal(size=50)
    assert metrics.spearman(x, 2 * x + 1) == pytest.approx(1.0)
    assert metrics.spearman(x, -x ** 3) == pytest.approx(-1.0)
