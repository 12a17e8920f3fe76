"""benchmarks/nal_nb201.py: its summary statistics, and its committed result reproduced from the reference table."""
import importlib.util
import json
import pathlib

import pytest

from nasi_nal.spaces import nb201

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "nal_nb201.py"
_spec = importlib.util.spec_from_file_location("nal_nb201", _PATH)
nal_nb201 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nal_nb201)


def test_summary_takes_the_best_tenth_rounded_up():
    archs = [nb201.index_to_arch(i) for i in range(15)]
    accuracy = {a: float(i) for i, a in enumerate(archs)}
    s = nal_nb201.summary(archs + archs[:1], accuracy)
    assert s["n"] == 16 and s["distinct"] == 15 and s["best"] == 14.0
    assert s["top10_mean"] == 13.5  # the best ceil(16 / 10) = 2 of the list
    assert s["mean"] == pytest.approx(sum(range(15)) / 16)
    shares = nal_nb201.op_shares([nb201.Arch(("none",) * 3 + ("skip_connect",) * 3)])
    assert shares["none"] == shares["skip_connect"] == 0.5 and shares["nor_conv_3x3"] == 0.0


def test_committed_result_reproduces(reference_file, tmp_path):
    table = reference_file("nb201_cifar10.csv")
    res = nal_nb201.main(["--table", str(table), "--seeds", "3", "--out", str(tmp_path / "r")])
    committed = json.loads((_PATH.parent / "results" / "nal_nb201.json").read_text())
    assert res["reachable"] == committed["reachable"] == 1404
    assert res["literal"] == committed["literal"] and res["highest_scored"] == committed["highest_scored"]
    for n, r in res["sizes"].items():
        for name, row in r["proposers"].items():
            for mine, theirs in zip(row["runs"], committed["sizes"][n]["proposers"][name]["runs"]):
                assert mine == pytest.approx(theirs, abs=1e-6)
