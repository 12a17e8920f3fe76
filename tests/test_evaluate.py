"""nasi_nal.evaluate: per-cell records, the drawn cells, correlations and the benchmark table's settings."""
import dataclasses
import json

import numpy as np
import pytest

from nasi_nal.errors import ConfigError, DataError, TableError
from nasi_nal.evaluate import (CorrelationRun, TableSettings, append_record, data_file, drawn_rows, load_settings,
                               load_table, read_records, records_path, setting_names, summarize)


def test_records_round_trip_and_a_torn_last_line_is_scored_again(tmp_path):
    path = records_path(tmp_path, "run")
    assert path == tmp_path / "run.jsonl.partial"
    written = [{"row": r, "cell": f"c{r}", "scores": {"s": r / 2}} for r in (7, 3, 11)]
    with open(path, "a") as log:
        for record in written:
            append_record(log, record)
        log.write('{"row": 5, "cell": "c5", "sco')  # a run killed mid-write
    with open(records_path(tmp_path, "run", process=42), "a") as log:  # one of several processes
        append_record(log, {"row": 9, "cell": "c9", "scores": {"s": 4.5}})
    with open(records_path(tmp_path, "other"), "a") as log:  # another run's records are not this one's
        append_record(log, {"row": 1, "cell": "c1", "scores": {}})
    done = read_records(tmp_path, "run")
    assert sorted(done) == [3, 7, 9, 11] and done[7] == written[0]
    assert read_records(tmp_path, "missing") == {}


def test_a_record_broken_before_the_last_line_is_an_error(tmp_path):
    records_path(tmp_path, "run").write_text('{"row": 1}\nnot json\n{"row": 2}\n')
    with pytest.raises(DataError, match="line 2 is not JSON: delete the file"):
        read_records(tmp_path, "run")


def test_drawn_rows_are_a_seeded_draw_without_replacement():
    rows = drawn_rows(100, 30, seed=3)
    assert len(set(rows.tolist())) == 30 and rows.min() >= 0 and rows.max() < 100
    np.testing.assert_array_equal(rows, drawn_rows(100, 30, seed=3))
    assert not np.array_equal(rows, drawn_rows(100, 30, seed=4))
    np.testing.assert_array_equal(drawn_rows(100, 10, seed=3), np.random.default_rng(3).choice(100, 10, replace=False))
    assert sorted(drawn_rows(5, 30, seed=0).tolist()) == [0, 1, 2, 3, 4]  # never more cells than rows


def test_load_table_reads_the_rows_in_order(tmp_path):
    from nasi_nal.spaces import nb201

    path = tmp_path / "t.csv"  # every cell, made-up accuracies
    path.write_text("index,arch_str,cifar10_test_acc_200ep\n" + "".join(
        f"{i},{nb201.format(nb201.index_to_arch(i))},{80 + i % 7}\n" for i in range(nb201.NUM_ARCHS)))
    cells, accuracy, labels = load_table("nb201", path)
    assert len(cells) == len(labels) == nb201.NUM_ARCHS
    assert labels[:3] == [nb201.format(nb201.index_to_arch(i)) for i in range(3)]
    assert [nb201.format(c) for c in cells[:3]] == labels[:3]
    assert accuracy[:8].tolist() == [80, 81, 82, 83, 84, 85, 86, 80]
    with pytest.raises(TableError, match="nb201 and nb101"):
        load_table("darts", path)


def test_data_file_by_path_or_name_in_the_data_folder(tmp_path, monkeypatch):
    (tmp_path / "x.npz").write_bytes(b"")
    assert data_file(str(tmp_path / "x.npz")) == tmp_path / "x.npz"
    monkeypatch.setenv("NASI_NAL_DATA", str(tmp_path))
    assert data_file(None, "x.npz") == tmp_path / "x.npz"
    with pytest.raises(DataError, match="set NASI_NAL_DATA"):
        data_file("y.npz")


def test_summary_of_a_tiny_known_example():
    accuracy = [1.0, 2.0, 3.0, 4.0, 5.0]
    score = [1.0, 3.0, 2.0, 4.0, 5.0]  # one swapped pair: Spearman 1 - 6*2/(5*24) = 0.9, Kendall (9-1)/10 = 0.8
    records = [{"accuracy": a, "scores": {"s": s, "c": 5.0, "ntk_cond": -s, "few": s if a < 3 else None}}
               for a, s in zip(accuracy, score)]
    out = summarize(records, ["s", "c", "ntk_cond", "few"], seed=0)
    assert out["s"]["spearman"] == pytest.approx(0.9) and out["s"]["kendall"] == pytest.approx(0.8)
    lo, hi = out["s"]["spearman_ci95"]
    assert -1.0 <= lo <= hi <= 1.0 and out["s"]["cells"] == 5 and out["s"]["failed"] == 0
    assert out["ntk_cond"]["spearman"] == pytest.approx(-0.9) and out["ntk_cond"]["lower_is_better"]
    assert not out["s"]["lower_is_better"]
    assert out["c"]["spearman"] is None and "constant" in out["c"]["note"]
    assert out["few"] == {"cells": 2, "failed": 3, "lower_is_better": False, "spearman": None, "kendall": None,
                          "note": "fewer than 3 scored cells"}
    assert summarize(records, ["s"], seed=0) == {"s": out["s"]}  # the intervals are seeded
    json.dumps(out, allow_nan=False)


def test_a_monotone_score_correlates_one_with_a_tight_interval():
    records = [{"accuracy": a, "scores": {"s": 2 * a + 1}} for a in np.linspace(60, 90, 12)]
    out = summarize(records, ["s"], seed=0)
    assert out["s"]["spearman"] == pytest.approx(1.0) and out["s"]["kendall"] == pytest.approx(1.0)
    assert out["s"]["spearman_ci95"][0] == pytest.approx(1.0)


def test_correlation_run_settings_are_frozen_and_normalized():
    run = CorrelationRun(scores=["nwot", "params"], overrides=None)
    assert run.scores == ("nwot", "params") and run.overrides == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.cells = 5


def test_table_settings_come_from_config_files(tmp_path):
    assert {"full", "quick"} <= set(setting_names())
    full, name = load_settings("full")
    quick, _ = load_settings("quick")
    assert name == "full" and isinstance(full, TableSettings) and full.cells == {"nb201": 1000, "nb101": 1000}
    # the quick settings are the full ones with some fields replaced
    assert (quick.data_modes, quick.bn, quick.probes, quick.seed) == (full.data_modes, full.bn, full.probes, full.seed)
    assert quick.cells == {"nb201": 3, "nb101": 3} and quick.seeds == 2
    with pytest.raises(ConfigError, match="choose from"):
        load_settings("nope")
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(str(tmp_path / "missing.py"))
    bad = tmp_path / "bad.py"
    bad.write_text("def get_config():\n    return {}\n")
    with pytest.raises(ConfigError, match="must return"):
        load_settings(str(bad))
