"""The masked-scoring projection: XLA's counts per cell and the roofline arithmetic on them."""
import importlib.util
import json
import pathlib

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "masked_projection", pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "masked_projection.py")
masked_projection = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(masked_projection)


def test_projection_divides_the_counts_by_the_peaks(tmp_path):
    out = tmp_path / "projection.json"
    report = masked_projection.main(["--space", "nb201", "--sets", "grad_norm", "--per-call", "2", "--batch-size",
                                     "4", "--cells", "1000", "--out", str(out)])
    (entry,) = report["results"]
    peaks = masked_projection.DEVICES["h100"]
    assert entry["gflops_per_cell"] > 0 and entry["unfused_gb_per_cell"] > 0
    assert entry["compute_floor_hours"] == pytest.approx(
        1000 * entry["gflops_per_cell"] * 1e9 / (peaks["fp32_tflops"] * 1e12) / 3600)
    assert entry["unfused_memory_hours"] == pytest.approx(
        1000 * entry["unfused_gb_per_cell"] * 1e9 / (peaks["memory_tb_per_s"] * 1e12) / 3600)
    assert json.loads(out.read_text())["results"] == report["results"]
    assert "| grad_norm |" in out.with_suffix(".md").read_text()
    with pytest.raises(SystemExit):
        masked_projection.main(["--per-call", "0"])
