"""Exact resume: a run killed mid-training (SIGKILL, in a subprocess) and resumed ends with the same parameters and
metrics as an uninterrupted run with the same seed; 1 and 2 devices give the same loss curve."""
from __future__ import annotations

import csv
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from train_support import final_params, make_npz

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = pathlib.Path(__file__).resolve().parent / "train_support.py"


def _env(devices: int = 1) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}" if devices > 1 else ""
    return env


def _run(workdir: pathlib.Path, data: pathlib.Path, *extra: str, devices: int = 1) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(workdir), str(data), *extra], env=_env(devices),
                          capture_output=True, text=True, timeout=300)


def _rows(workdir: pathlib.Path) -> list[dict[str, str]]:
    with open(workdir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> pathlib.Path:
    return make_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


def test_killed_and_resumed_run_matches_uninterrupted(data, tmp_path):
    args = ("checkpoint_every_steps=2", "--slow", "0.15")
    reference = _run(tmp_path / "reference", data, *args)
    assert reference.returncode == 0, reference.stderr

    workdir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(workdir), str(data), *args], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = workdir / "checkpoints"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:  # kill once a mid-epoch checkpoint exists
        if ckpt.is_dir() and any(p.name.isdigit() and 2 <= int(p.name) < 12 for p in ckpt.iterdir()):
            time.sleep(0.2)  # and a little later, so the kill lands between checkpoints
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed mid-training: {proc.stderr.read()}"
    saved = max(int(p.name) for p in ckpt.iterdir() if p.name.isdigit())
    assert saved < 12

    resumed = _run(workdir, data, *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    want, got = final_params(tmp_path / "reference"), final_params(workdir)
    assert want.keys() == got.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert _rows(workdir) == [dict(r, epoch_seconds=g["epoch_seconds"]) for r, g in
                              zip(_rows(tmp_path / "reference"), _rows(workdir))]


def test_one_and_two_devices_give_the_same_loss_curve(data, tmp_path):
    one = _run(tmp_path / "one", data, devices=1)
    two = _run(tmp_path / "two", data, devices=2)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert "1 devices" in one.stdout and "2 devices" in two.stdout
    rows1, rows2 = _rows(tmp_path / "one"), _rows(tmp_path / "two")
    for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
        np.testing.assert_allclose([float(r[key]) for r in rows2], [float(r[key]) for r in rows1], rtol=2e-4,
                                   atol=1e-5, err_msg=key)
    p1, p2 = final_params(tmp_path / "one"), final_params(tmp_path / "two")
    for name in p1:
        np.testing.assert_allclose(p2[name], p1[name], rtol=1e-3, atol=1e-5, err_msg=name)
