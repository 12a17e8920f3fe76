"""The masked-scoring projection: XLA's counts per cell and the roofline arithmetic on them."""
import importlib.util
import json
import pathlib

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "masked_projection", pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "masked_projection.py")
masked_projection = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(masked_projection)


def _measured(tmp_path, network, batch="4 examples, i.i.d. N(0, 1) inputs, uniform random labels"):
    """A scoring_speed.py report of masked grad_norm scoring, as a lent GPU would write it."""
    path = tmp_path / "speed.json"
    path.write_text(json.dumps({"network": network, "batch": batch, "device": "gpu: NVIDIA H200", "results": [
        {"set": "grad_norm", "method": "masked", "cells": 1024, "cells_per_call": 256, "first_call_seconds": 30.0,
         "steady_seconds_per_cell": 0.002},
        {"set": "grad_norm", "method": "blockwise", "cells": 48, "cells_per_call": 1, "first_call_seconds": 9.0,
         "steady_seconds_per_cell": 0.05}]}))
    return path


def test_projection_divides_the_counts_by_the_peaks(tmp_path):
    out = tmp_path / "projection.json"
    measured = _measured(tmp_path, {"space": "nb201", "proxy": True})
    report = masked_projection.main(["--space", "nb201", "--sets", "grad_norm", "--per-call", "2", "--batch-size",
                                     "4", "--cells", "1000", "--measured", str(measured), "--out", str(out)])
    (entry,) = report["results"]
    assert entry["measured"]["hours"] == pytest.approx((30.0 + (1000 - 256) * 0.002) / 3600)
    assert report["measured_on"] == "gpu: NVIDIA H200"
    peaks = masked_projection.DEVICES["h100"]
    assert entry["gflops_per_cell"] > 0 and entry["unfused_gb_per_cell"] > 0
    assert entry["compute_floor_hours"] == pytest.approx(
        1000 * entry["gflops_per_cell"] * 1e9 / (peaks["fp32_tflops"] * 1e12) / 3600)
    assert entry["unfused_memory_hours"] == pytest.approx(
        1000 * entry["unfused_gb_per_cell"] * 1e9 / (peaks["memory_tb_per_s"] * 1e12) / 3600)
    assert json.loads(out.read_text())["results"] == report["results"]
    md = out.with_suffix(".md").read_text()
    assert "| grad_norm |" in md and "beside the rate measured on gpu: NVIDIA H200" in md and "| 0.0020 |" in md
    with pytest.raises(SystemExit):
        masked_projection.main(["--per-call", "0"])


@pytest.mark.parametrize("network, batch", [({"space": "nb201", "proxy": True, "channels": 4}, "4 examples"),
                                            ({"space": "nb201", "proxy": True}, "16 examples")])
def test_a_measurement_of_another_network_or_batch_is_refused(tmp_path, network, batch):
    with pytest.raises(SystemExit, match="it measured"):
        masked_projection.main(["--space", "nb201", "--sets", "grad_norm", "--batch-size", "4", "--measured",
                                str(_measured(tmp_path, network, batch))])
