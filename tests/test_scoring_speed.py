"""The scoring-speed benchmark's measurement and report on a tiny network (structure, not speed)."""
import importlib.util
import pathlib

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
    entry = {"set": "grad_norm+nwot", "method": "blockwise", **scoring_speed.summarize(rows), "peak_rss_mib": 1.0,
             "torch_reference_seconds": None}
    assert entry["cells"] == 3 and entry["compiles"] == sum(r["compiles"] for r in rows)
    report = {"network": network, "batch": "4", "seed": 0, "device": "cpu", "host": "h", "jax": "x",
              "command": "c", "results": [entry]}
    table = scoring_speed.markdown(report)
    assert "| grad_norm+nwot | blockwise | 3 (1) |" in table
    assert table.splitlines()[-1].endswith("| 1 | - | - | - |")  # peak RSS, no device memory, no references
    entry["peak_device_mib"] = 2048.4
    assert scoring_speed.markdown(report).splitlines()[-1].endswith("| 1 | 2048 | - | - |")


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
