"""Exact resume: a run killed mid-training (SIGKILL, in a subprocess) and resumed ends with the same parameters and
metrics as an uninterrupted run with the same seed; 1 and 2 devices give the same loss curve; checkpoints that do
not fit the run (another config, another network, corrupt files, no --resume) are errors."""
from __future__ import annotations

import csv
import logging
import os
import pathlib
import signal
import subprocess
import sys
import shutil
import time

import numpy as np
import pytest

from nasi_nal.errors import CheckpointError
from nasi_nal.train import digests, train_and_evaluate
from train_support import TinyCNN, final_params, make_npz, tiny_config

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


ARGS = ("checkpoint_every_steps=2", "tensorboard=false", "--slow", "0.15")  # 2 epochs x 6 steps


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> pathlib.Path:
    return make_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory) -> pathlib.Path:
    """The workdir of an uninterrupted 1-device run (shared by the resume, 2-device and checkpoint-error tests)."""
    workdir = tmp_path_factory.mktemp("reference") / "work"
    done = _run(workdir, data, *ARGS)
    assert done.returncode == 0, done.stderr
    return workdir


def test_killed_and_resumed_run_matches_uninterrupted(data, reference, tmp_path):
    workdir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(workdir), str(data), *ARGS], env=_env(),
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
    assert max(int(p.name) for p in ckpt.iterdir() if p.name.isdigit()) < 12

    resumed = _run(workdir, data, *ARGS, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    want, got = final_params(reference), final_params(workdir)
    assert want.keys() == got.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert _rows(workdir) == [dict(r, epoch_seconds=g["epoch_seconds"]) for r, g in
                              zip(_rows(reference), _rows(workdir))]


def test_one_and_two_devices_give_the_same_loss_curve(data, reference, tmp_path):
    two = _run(tmp_path / "two", data, *ARGS, devices=2)
    assert two.returncode == 0, two.stderr
    assert "2 devices" in two.stdout
    rows1, rows2 = _rows(reference), _rows(tmp_path / "two")
    for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
        np.testing.assert_allclose([float(r[key]) for r in rows2], [float(r[key]) for r in rows1], rtol=2e-4,
                                   atol=1e-5, err_msg=key)
    p1, p2 = final_params(reference), final_params(tmp_path / "two")
    for name in p1:
        np.testing.assert_allclose(p2[name], p1[name], rtol=1e-3, atol=1e-3, err_msg=name)  # reordered sums, 12 steps


def _config(data: pathlib.Path, **overrides):
    return tiny_config(data, checkpoint_every_steps=2, tensorboard=False, **overrides)


def test_existing_run_needs_resume(data, reference):
    with pytest.raises(CheckpointError, match="already holds checkpoints.*--resume"):
        train_and_evaluate(_config(data), reference, model=TinyCNN(), quiet=True)


def test_mismatched_checkpoint(data, reference):
    with pytest.raises(CheckpointError, match=r"different config \(learning_rate: 0.1 -> 0.05"):
        train_and_evaluate(_config(data, learning_rate=0.05), reference, model=TinyCNN(), resume=True, quiet=True)
    with pytest.raises(CheckpointError, match="parameters of other shapes"):
        train_and_evaluate(_config(data), reference, model=TinyCNN(num_classes=7), resume=True, quiet=True)


def _copy(reference: pathlib.Path, tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A copy of the reference run and its latest step folder."""
    copy = tmp_path / "work"
    shutil.copytree(reference, copy)
    steps = sorted((p for p in (copy / "checkpoints").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return copy, steps[-1]


def _largest_data_file(step_dir: pathlib.Path) -> pathlib.Path:
    return max((step_dir / "state" / "ocdbt.process_0" / "d").iterdir(), key=lambda p: p.stat().st_size)


def _flip(path: pathlib.Path) -> None:  # XOR 64 bytes in the middle, as a disk or a copy might
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid: mid + 64] = bytes(b ^ 0xFF for b in data[mid: mid + 64])
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "flipped bytes": lambda step: _flip(_largest_data_file(step)),
    "truncated file": lambda step: os.truncate(_largest_data_file(step), 100),
    "edited meta": lambda step: (step / "meta" / "metadata").write_text(  # still valid JSON, another wall time
        (step / "meta" / "metadata").read_text().replace('"wall_seconds": ', '"wall_seconds": 1')),
    "garbage everywhere": lambda step: [f.write_bytes(b"\x00garbage" * 8) for f in (step / "state").rglob("*")
                                        if f.is_file() and f.stat().st_size > 0],
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_corrupted_checkpoint_is_refused_in_one_line(data, reference, tmp_path, corruption):
    copy, step_dir = _copy(reference, tmp_path)
    CORRUPTIONS[corruption](step_dir)
    with pytest.raises(CheckpointError) as info:
        train_and_evaluate(_config(data), copy, model=TinyCNN(), resume=True, quiet=True)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    assert f"checkpoint {step_dir.resolve()} " in message and f"Delete {step_dir.resolve()} to resume from step 10" in message


def test_deleting_the_refused_step_resumes_exactly_from_the_previous_one(data, reference, tmp_path):
    copy, step_dir = _copy(reference, tmp_path)
    _flip(_largest_data_file(step_dir))
    with pytest.raises(CheckpointError, match="sha256"):
        train_and_evaluate(_config(data), copy, model=TinyCNN(), resume=True, quiet=True)
    shutil.rmtree(step_dir)
    summary = train_and_evaluate(_config(data), copy, model=TinyCNN(), resume=True, quiet=True)
    assert summary["steps"] == 12
    want, got = final_params(reference), final_params(copy)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_a_save_killed_before_its_digest_was_written_is_discarded(data, reference, tmp_path):
    copy, step_dir = _copy(reference, tmp_path)
    (step_dir / digests.FILE).unlink()
    summary = train_and_evaluate(_config(data), copy, model=TinyCNN(), resume=True, quiet=True)
    assert summary["steps"] == 12 and (step_dir / digests.FILE).is_file()  # redone from step 10
    want, got = final_params(reference), final_params(copy)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_leftovers_of_a_killed_run_are_removed_without_warnings(data, reference, tmp_path, caplog):
    copy, latest = _copy(reference, tmp_path)
    older = latest.with_name("10")
    (older / "_CHECKPOINT_METADATA").unlink()  # a deletion killed half-way: some files gone, the folder still there
    _largest_data_file(older).unlink()
    unfinished = latest.with_name("14.orbax-checkpoint-tmp-1234")  # a save killed before orbax renamed it
    shutil.copytree(latest, unfinished)
    with caplog.at_level(logging.WARNING):
        summary = train_and_evaluate(_config(data), copy, model=TinyCNN(), resume=True, quiet=True)
    assert summary["steps"] == 12
    assert not older.exists() and not unfinished.exists() and latest.is_dir()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "nasi_nal" not in r.name], \
        [r.getMessage() for r in caplog.records]
