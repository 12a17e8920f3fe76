"""Correlation runs (``nasi_nal.evaluate.run``) on a handful of cells: a tiny NB201 table of real cells, resumable
runs, outputs, scores files; and ``benchmarks/correlation.py``, its command line."""
import importlib.util
import json
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasi_nal.errors import NasiNalError
from nasi_nal.evaluate import CorrelationRun, correlation, drawn_rows, load_table, run, run_config, run_name
from nasi_nal.networks.build import build
from nasi_nal.networks.common import ReLU
from nasi_nal.scores import choose, make_batch
from nasi_nal.spaces import nb201

_SPEC = importlib.util.spec_from_file_location(
    "correlation_script", pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "correlation.py")
script = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(script)

SCORES = ["nasi_trace", "params", "synflow", "nwot"]


def correlate(out_dir, progress=False, **settings):
    """``nasi_nal.evaluate.run`` with its settings given as keywords."""
    return run(CorrelationRun(**settings), out_dir=out_dir, progress=progress)


class StandIn(nn.Module):
    """A test-only network whose width follows the cell: compiles in a second, unlike the NB201 networks
    (which cost minutes per cell to compile on a shared 2-core CPU; the slow test below uses them)."""

    width: int
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(self.width, (3, 3), use_bias=False)(x)
        if self.batch_norm:
            x = nn.BatchNorm(use_running_average=not train)(x)
        return nn.Dense(10)(jnp.mean(ReLU()(x), axis=(1, 2)))


def stand_in_build(space, cell, proxy=True, **overrides):
    return StandIn(width=2 + nb201.format(cell).count("nor_conv_3x3") % 2)  # two shapes: two compilations


@pytest.fixture(scope="module")
def made_up_table(tmp_path_factory):
    """Every NB201 cell (official index and arch string) with made-up accuracies: a test-only table."""
    lines = ["index,arch_str,cifar10_test_acc_200ep"]
    for i in range(nb201.NUM_ARCHS):
        lines.append(f"{i},{nb201.format(nb201.index_to_arch(i))},{70.0 + (i * 7919) % 250 / 10}")
    path = tmp_path_factory.mktemp("table") / "nb201_made_up.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_correlation_runs_resumes_and_writes_json_and_markdown(made_up_table, tmp_path, monkeypatch):
    monkeypatch.setattr(correlation, "build", stand_in_build)
    kw = dict(space="nb201", table=str(made_up_table), cells=4, seed=0, scores=SCORES, batch_size=4,
              input_size=8, out_dir=tmp_path / "out")
    summary = correlate(**kw)
    assert summary["cells"] == 4 and summary["cells_reused"] == 0
    for name in SCORES:
        entry = summary["correlations"][name]
        assert entry["cells"] + entry["failed"] == 4
        if entry["spearman"] is not None:
            assert -1.0 <= entry["spearman"] <= 1.0
            lo, hi = entry["spearman_ci95"]
            assert lo <= hi
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert sorted(f.rsplit(".", 1)[-1] for f in files) == ["json", "md", "partial"]
    partial = next((tmp_path / "out").glob("*.jsonl.partial"))
    assert len(partial.read_text().splitlines()) == 4

    # resume: nothing is rescored (building a network would fail now), the summary is the same
    monkeypatch.setattr(correlation, "build", lambda *a, **k: pytest.fail("a finished cell was rescored"))
    again = correlate(**kw)
    assert again["cells_reused"] == 4
    assert again["correlations"] == summary["correlations"]
    md = next((tmp_path / "out").glob("*.md")).read_text()
    assert "| nasi_trace |" in md and "Spearman" in md
    written = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert written["correlations"] == json.loads(json.dumps(summary["correlations"]))


def test_real_images_from_the_exact_npz(reference_file, tmp_path, made_up_table, monkeypatch):
    monkeypatch.setattr(correlation, "build", stand_in_build)
    summary = correlate(space="nb201", table=str(made_up_table), cells=3, scores=["nwot"], batch_size=4,
                        inputs="real", targets="real", images=str(reference_file("cifar10_exact_first1017.npz")),
                        out_dir=tmp_path)
    assert "exact CIFAR-10 pixels" in summary["data"]
    assert summary["correlations"]["nwot"]["cells"] + summary["correlations"]["nwot"]["failed"] == 3


@pytest.mark.slow
def test_real_nb201_networks_on_the_reference_table(reference_file, tmp_path):
    summary = correlate(space="nb201", table=str(reference_file("nb201_cifar10.csv")), cells=3,
                        scores=["params", "nwot", "nasi_trace"], batch_size=4, overrides=dict(channels=4),
                        input_size=16, out_dir=tmp_path)
    assert summary["cells"] == 3 and summary["params"]["min"] > 0


def test_masked_engine_scores_a_call_of_cells_and_the_rest_per_cell(made_up_table, tmp_path, monkeypatch):
    from nasi_nal.errors import ScoringConfigError
    from nasi_nal.scores import cell_key, engines, masked
    from nasi_nal.scores.common import CellScores

    calls = []

    def score_cells(models, batch, names, keys, *, bn, probes, per_call, chunk_size, cell_names):  # a stand-in
        calls.append((len(models), tuple(names), per_call, np.asarray(keys), bn))
        return [CellScores({"nasi_trace": float(len(c))}, {}) for c in cell_names]

    monkeypatch.setattr(correlation, "build", stand_in_build)
    monkeypatch.setattr(masked, "score_cells", score_cells)
    kw = dict(space="nb201", table=str(made_up_table), cells=4, seed=0, scores=["nasi_trace", "params", "nwot"],
              batch_size=4, input_size=8, out_dir=tmp_path)
    summary = correlate(**kw, engine="auto", bn="eval")
    assert summary["config"]["engines"] == {"blockwise": ["nasi_trace", "params", "nwot"]}  # this CPU
    assert not calls
    monkeypatch.setattr(engines, "platform", lambda: "gpu")
    on_gpu = correlate(**kw, engine="auto", bn="eval")  # a run (and digest) of its own
    assert on_gpu["config"]["engines"] == {"masked": ["nasi_trace"], "blockwise": ["params", "nwot"]}
    assert calls and all(n == 4 and names == ("nasi_trace",) and per_call == 4 and bn == "eval"
                         for n, names, per_call, _, bn in calls)
    partials = sorted(tmp_path.glob("*.jsonl.partial"))
    assert len(partials) == 2
    records = [json.loads(line) for line in max(partials, key=lambda p: p.stat().st_mtime).read_text().splitlines()]
    assert [r["scores"]["nasi_trace"] for r in records] == [float(len(r["cell"])) for r in records]
    assert all(r["scores"]["nwot"] is not None and r["scores"]["params"] > 0 for r in records)
    np.testing.assert_array_equal(calls[0][3], np.stack([cell_key(0, r["cell"]) for r in records]))
    with pytest.raises(ScoringConfigError, match="choose one of"):
        correlate(**kw, engine="fast")


@pytest.mark.slow
def test_masked_method_on_real_networks_matches_masked_scoring(reference_file, tmp_path):
    from nasi_nal.scores import cell_key, masked

    summary = correlate(space="nb201", table=str(reference_file("nb201_cifar10.csv")), cells=2,
                        scores=["nasi_trace"], batch_size=4, overrides=dict(channels=4), input_size=16,
                        out_dir=tmp_path, engine="masked")
    records = [json.loads(line) for line in next(tmp_path.glob("*.jsonl.partial")).read_text().splitlines()]
    assert summary["cells"] == 2 and len(records) == 2
    cells, _, _ = load_table("nb201", reference_file("nb201_cifar10.csv"))
    models = [build("nb201", cells[r["row"]], proxy=True, channels=4) for r in records]
    k_batch = jax.random.split(jax.random.PRNGKey(0))[0]
    batch = make_batch(k_batch, 4, inputs="gaussian", targets="random", input_shape=(16, 16, 3), num_classes=10)
    keys = jnp.stack([cell_key(0, r["cell"]) for r in records])
    expected = masked.score_cells(models, batch, ["nasi_trace"], keys, per_call=2)
    assert [r["scores"]["nasi_trace"] for r in records] == pytest.approx([e.values["nasi_trace"] for e in expected],
                                                                        rel=1e-6)


def _made_up_scores_file(path, keys=None, **meta):
    """NB201 cells (default: every one) with a made-up grad_norm (the cell's index) and snip (failing on every
    fifth cell), under settings this benchmark's defaults fit."""
    from nasi_nal import scores_file
    from nasi_nal.scores import CellScores

    keys = keys or [nb201.format(nb201.index_to_arch(i)) for i in range(nb201.NUM_ARCHS)]
    results = [CellScores({"grad_norm": float(i), "snip": float(-i)}, {}) if i % 5 else
               CellScores({"grad_norm": float(i)}, {"snip": "made-up failure"}) for i in range(len(keys))]
    settings = {"schema": scores_file.SCHEMA, "space": "nb201", "scores": ["grad_norm", "snip"], "bn": "train",
                "probes": 8, "inits": 1, "seed": 0, "batch": {"size": 32, "data": "gaussian", "labels": "random"},
                "network": {"proxy": True, "overrides": {}}, "engine_plan": {"masked": ["grad_norm", "snip"]},
                "cells": {"count": len(keys)}, "device": "gpu: made-up", **meta}
    columns = scores_file.Columns.from_results(keys, range(len(keys)), ["grad_norm", "snip"], results)
    scores_file.write(path, columns, settings)
    return str(path)


def test_scores_come_from_a_scores_file_without_computing_any(made_up_table, tmp_path, monkeypatch):
    from scipy import stats

    monkeypatch.setattr(correlation, "build", lambda *a, **k: pytest.fail("a cell was scored"))
    path = _made_up_scores_file(tmp_path / "s.npz")
    summary = correlate(space="nb201", table=str(made_up_table), cells=40, scores=["grad_norm", "snip"],
                        out_dir=tmp_path / "o", scores_file=path)
    rows = drawn_rows(nb201.NUM_ARCHS, 40, 0)
    accuracy = np.array([70.0 + (r * 7919) % 250 / 10 for r in rows])
    assert summary["correlations"]["grad_norm"]["spearman"] == pytest.approx(stats.spearmanr(rows, accuracy).statistic)
    assert summary["correlations"]["snip"]["failed"] == int(np.sum(rows % 5 == 0)) > 0
    assert summary["config"]["scores_file"] == "s.npz"
    assert summary["config"]["engines"] == {"masked": ["grad_norm", "snip"]}
    assert summary["seconds_per_cell"] is None and "s.npz" in summary["data"] and "gpu: made-up" in summary["data"]
    assert "scores read from s.npz, not computed here" in next((tmp_path / "o").glob("*.md")).read_text()


@pytest.mark.parametrize("argv, meta, message", [
    (["--bn", "eval"], {}, "bn 'train' there, 'eval' here"),
    (["--batch-size", "64"], {}, "batch.size 32 there, 64 here"),
    (["--full"], {}, "network.proxy True there, False here"),
    (["--inputs", "real", "--targets", "real", "--images", "x.npz"], {}, "batch.data 'gaussian' there, 'x.npz' here"),
    (["--scores", "nwot"], {}, "has no nwot"),
    ([], {"space": "nb101"}, "space 'nb101' there, 'nb201' here"),
])
def test_a_scores_file_of_other_settings_is_refused_in_one_line(made_up_table, tmp_path, monkeypatch, argv, meta,
                                                               message):
    monkeypatch.setattr(correlation, "build", lambda *a, **k: pytest.fail("a cell was scored"))
    path = _made_up_scores_file(tmp_path / "s.npz", **meta)
    with pytest.raises(SystemExit) as e:  # the command line: one line
        script.main(["--table", str(made_up_table), "--cells", "40", "--scores", "grad_norm", "--out",
                     str(tmp_path / "o"), "--scores-file", path, *argv])
    assert str(e.value).startswith("error: ") and message in str(e.value) and "\n" not in str(e.value), e.value
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_a_scores_file_lacking_drawn_cells_is_refused(made_up_table, tmp_path, monkeypatch):
    monkeypatch.setattr(correlation, "build", lambda *a, **k: pytest.fail("a cell was scored"))
    path = _made_up_scores_file(tmp_path / "s.npz", keys=[nb201.format(nb201.index_to_arch(i)) for i in range(3)])
    with pytest.raises(NasiNalError, match="lacks 40 of the 40 cells asked for"):
        correlate(space="nb201", table=str(made_up_table), cells=40, scores=["grad_norm"], out_dir=tmp_path / "o",
                  scores_file=path)


# Default run names (file names of a run's records and summary) as computed before the run took a settings object,
# on a CPU's engine plan: the same settings must find the same files.
@pytest.mark.parametrize("settings, name", [
    (CorrelationRun(space="nb201", cells=1000), "correlation_nb201_gaussian-random_train_n1000_s0_012ae4ed7e"),
    (CorrelationRun(space="nb201", cells=1000, batch_size=64, inputs="real", targets="real", full=True,
                    scores=["params", "flops", "grad_norm", "snip", "nasi_trace", "jacob_cov", "nwot", "synflow"],
                    images="/any/folder/cifar10_exact_first1017.npz"),
     "correlation_nb201_real-real_train_n1000_s0_b112c31609"),
    (CorrelationRun(space="nb101", cells=1000, bn="eval", probes="exact", inits=3, overrides={"stem_channels": 16}),
     "correlation_nb101_gaussian-random_eval_n1000_s0_4bed5ef6a4"),
])
def test_run_names_are_pinned(settings, name):
    assert run_name(run_config(settings, choose(settings.space, settings.scores, backend="cpu"))) == name
