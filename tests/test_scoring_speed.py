"""The scoring-speed benchmark's measurement and report on a tiny network (structure, not speed)."""
import importlib.util
import pathlib

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "scoring_speed", pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "scoring_speed.py")
scoring_speed = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(scoring_speed)


def test_measure_counts_compiles_and_the_report_lists_every_method():
    # a width and batch no other test uses, so the first cell really compiles its blocks in this process
    network = {"space": "nb201", "proxy": True, "channels": 3, "cells_per_stage": 1}
    out = scoring_speed.measure("blockwise", ["grad_norm", "nwot"], 3, 0, 5, network)
    rows = out["rows"]
    assert len(rows) == 3 and out["peak_rss_mib"] > 0
    assert out["peak_device_mib"] is None  # XLA:CPU reports no device memory
    assert rows[0]["compiles"] > 0  # the first cell compiles the blocks it uses
    assert all(0 <= r["compile_seconds"] <= r["seconds"] for r in rows)
    entry = {"set": "grad_norm+nwot", "method": "blockwise", **scoring_speed.summarize(rows), "peak_rss_mib": 1.0}
    assert entry["cells"] == 3 and entry["compiles"] == sum(r["compiles"] for r in rows)
    report = {"network": network, "batch": "4", "seed": 0, "device": "cpu", "host": "h", "jax": "x",
              "command": "c", "results": [entry]}
    table = scoring_speed.markdown(report)
    assert "| grad_norm+nwot | blockwise | 3 (1) |" in table
    assert table.splitlines()[-1].endswith("| 1 | - | - |")  # peak RSS, no device memory, no NB101 projection
    entry["peak_device_mib"] = 2048.4
    assert scoring_speed.markdown(report).splitlines()[-1].endswith("| 1 | 2048 | - |")
    header = [line for line in table.splitlines() if line.startswith("| scores |")][0]
    assert header.count("|") == table.splitlines()[-1].count("|")


def test_masked_method_scores_cells_per_call_and_projects_nb101():
    network = {"space": "nb201", "proxy": True, "channels": 3, "cells_per_stage": 1}
    rows = scoring_speed.measure("masked", ["grad_norm"], 3, 0, 5, network, per_call=2)["rows"]
    assert [r["cells"] for r in rows] == [2, 1]  # two calls, the second padded to two cells
    assert rows[0]["compiles"] > rows[1]["compiles"]  # the masked program compiles once, in the first call
    summary = scoring_speed.summarize(rows)
    assert summary["cells"] == 3 and summary["cells_per_call"] == 2
    assert summary["steady_seconds_per_cell"] == rows[1]["seconds"]
    skipped = {"set": "nwot", "method": "masked", "skipped": "masked scoring does not compute ['nwot']"}
    report = {"network": network, "batch": "4", "seed": 0, "device": "cpu", "host": "h", "jax": "x",
              "command": "c", "results": [skipped]}
    assert "| nwot | masked | skipped: masked scoring does not compute ['nwot'] |" in scoring_speed.markdown(report)


def _peer_row(i: int) -> dict:
    return {"cell": f"cell{i}",
            "ours": {"seconds": 2.0 if i == 0 else 1.0, "init_seconds": 0.1, "compile_seconds": 1.0 if i == 0 else 0.0,
                     "compiles": 3 if i == 0 else 0, "values": {"grad_norm": float(i), "snip": None}},
            "reference": {"seconds": 2.0, "values": {"grad_norm": float(i) * 2, "snip": 1.0}}}


def test_peer_summary_counts_every_compile_in_the_ratio_and_compares_cell_by_cell():
    rows = [_peer_row(i) for i in range(12)]
    summary = scoring_speed.summarize_peer(rows, ["grad_norm", "snip"])
    after = summary["after"]
    assert list(after) == ["12"]  # the 40-cell checkpoint only once 40 cells exist
    assert after["12"]["ratio"] == (2.0 + 11 * 1.0) / (12 * 2.0)  # the first cell's compile counts
    assert after["12"]["ours_compile_seconds_per_cell"] == 1.0 / 12
    assert summary["steady_ours_seconds_per_cell"] == 1.0 and summary["ours_compiles"] == 3
    assert summary["agreement"]["grad_norm"] == {"cells": 12, "spearman": 1.0}
    assert summary["agreement"]["snip"] == {"cells": 0, "spearman": None}  # ours missing: no number made up
    entry = {"set": "grad_norm+snip", **summary, "peak_rss_mib": 10.0}
    report = {"network": {"space": "nb201", "proxy": True, "channels": 8, "cells_per_stage": 5}, "bn": "train",
              "jax": "x", "torch": "y", "reference": "r", "batch": "b", "threads": 2, "device": "cpu",
              "host": "h", "seed": 0, "command": "c", "results": [entry]}
    table = scoring_speed.markdown_peer(report)
    assert "NB201 cells (C8, N5)" in table
    assert "| grad_norm+snip | 12 | 1.083 | 0.083 | 2.000 | 0.54x |" in table
    assert "grad_norm 1.000, snip -" in table


def test_peer_needs_a_checkout_of_the_reference(tmp_path):
    with pytest.raises(SystemExit, match="not a checkout of SamsungLabs/zero-cost-nas"):
        scoring_speed.main(["--peer", str(tmp_path)])
