"""benchmarks/gpu_check.sh cannot rot: its dry run (every stage at tiny sizes on this CPU) and its report."""
import importlib.util
import json
import os
import pathlib
import subprocess

import pytest

from conftest import reference_data_dir

REPO = pathlib.Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(gpu_check)

STAGES = ("environment", "speed_nb201_masked", "speed_nb201_blockwise", "speed_nb101_masked", "speed_nb101_blockwise",
          "correlation", "whole_space", "nasi", "train", "projection")
NEEDS = {"correlation": ("nb201_cifar10.csv", "cifar10_exact_first1017.npz"),
         "nasi": ("nb201_cifar10.csv", "cifar10_exact_first1017.npz"),
         "train": ("nb201_cifar10.csv", "cifar10_jpeg_q75.tar.gz")}


def test_the_dry_run_runs_every_stage_it_has_data_for(tmp_path):
    data = reference_data_dir() or tmp_path / "no_data"
    env = dict(os.environ, GPU_CHECK_WORK=str(tmp_path / "work"), GPU_CHECK_OUT=str(tmp_path / "out"),
               NASI_NAL_DATA=str(data))
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dry-run"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "gpu_check_dryrun.json").read_text())
    assert report["mode"].startswith("dry run") and report["environment"]["platform"] == "cpu"
    assert [s["name"] for s in report["stages"]] == list(STAGES)
    assert report["budget_seconds"] + 10 <= 540  # with the report's own 10 s: within 9 minutes
    for stage in report["stages"]:
        absent = [f for f in NEEDS.get(stage["name"], ()) if not (data / f).exists()]
        if absent:  # the only reason a stage may not run: its reference data is not here
            assert stage["status"].startswith("skipped: needs"), stage
            print(f"{stage['name']} skipped: {absent} not in {data}")
            continue
        assert stage["status"] == "ok", (stage, (tmp_path / "work" / f"{stage['name']}.log").read_text()[-2000:])
        for output in stage["outputs"]:
            assert (tmp_path / "out" / output).exists() and (tmp_path / "out" / output).with_suffix(".md").exists()
    results = report["results"]
    assert {(e["space"], e["method"]) for e in results["scoring_speed"]} == {
        (s, m) for s in ("nb201", "nb101") for m in ("masked", "blockwise")}
    assert results["whole_space"]["cells"] == 4 and results["nb101_projection"][0]["measured"] is not None
    md = (tmp_path / "out" / "gpu_check_dryrun.md").read_text()
    assert "| stage | budget s |" in md and "Whole space: 4 NB201 cells" in md
    assert not list((REPO / "benchmarks" / "results").glob("*_dryrun*"))


def test_the_report_records_stages_that_timed_out_or_were_skipped(tmp_path):
    stages = tmp_path / "stages.tsv"
    stages.write_text("environment\t10\t1.5\tok\t\n"
                      "speed_nb201_masked\t45\t46.2\ttimeout after 45 s\tscoring_speed_nb201_masked_gpu.json\n"
                      "train\t85\t0\tskipped: needs shared/data/cifar10_jpeg_q75.tar.gz\t\n")
    env = tmp_path / "env.json"
    env.write_text(json.dumps({"platform": "gpu", "device_kind": "NVIDIA H200", "devices": 1, "host": "x",
                               "nvidia_smi": None, "versions": {"jax": "0"}}))
    doc = gpu_check.report(stages, env, tmp_path, "_gpu", tmp_path / "gpu_check_gpu.json", "measurement", "data")
    assert doc["budget_seconds"] == 140 and doc["seconds"] == pytest.approx(47.7)
    assert [s["status"] for s in doc["stages"]] == ["ok", "timeout after 45 s", "skipped: needs "
                                                    "shared/data/cifar10_jpeg_q75.tar.gz"]
    assert doc["results"]["scoring_speed"] == [] and doc["results"]["whole_space"] is None  # nothing was written
    md = (tmp_path / "gpu_check_gpu.md").read_text()
    assert "| speed_nb201_masked | 45 | 46.2 | timeout after 45 s |" in md and "NVIDIA H200" in md


def test_an_unknown_option_is_refused():
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--fast"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("usage: bash benchmarks/gpu_check.sh [--dry-run]")
