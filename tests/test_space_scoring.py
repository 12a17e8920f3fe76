"""Whole-space scoring (``python -m nasi_nal.score``): cell sources, bad input, chunks and resuming, and the same
file from one device, two devices, two processes, and a run killed and resumed (real scoring, in subprocesses)."""
import os
import pathlib
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from nasi_nal import scores_file, space_scoring
from nasi_nal.errors import NasiNalError, ScoresFileError
from nasi_nal.score import main as score_main
from nasi_nal.scores import CellScores
from nasi_nal.scores_file import Columns
from nasi_nal.spaces import nb101, nb201

REPO = pathlib.Path(__file__).resolve().parents[1]
NB201_CELLS = [nb201.format(nb201.index_to_arch(i)) for i in (0, 1, 2, 3, 4)]
TINY_NB201 = dict(batch_size=4, overrides={"channels": 4, "cells_per_stage": 1}, scores=["grad_norm", "snip"])
# Six small NB101 cells: the tiny NB101 network compiles in seconds, so the subprocess runs below stay short.
NB101_LIST = """\
# small NB101 cells, one per line
{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}
{"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", "conv1x1-bn-relu", "output"]}
{"matrix": [[0, 1, 1], [0, 0, 1], [0, 0, 0]], "ops": ["input", "conv1x1-bn-relu", "output"]}

{"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", "maxpool3x3", "output"]}
{"matrix": [[0, 1, 1], [0, 0, 1], [0, 0, 0]], "ops": ["input", "maxpool3x3", "output"]}
{"matrix": [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], "ops": ["input", "conv1x1-bn-relu", "maxpool3x3", "output"]}
"""
CLI = ["--space", "nb101", "--scores", "grad_norm,snip", "--batch-size", "4", "--override", "stem_channels=4",
       "--override", "num_stacks=1", "--override", "cells_per_stack=1", "--chunk-cells", "1", "--quiet"]


# ------------------------------------------------------------------------------------------ cell sources ----

def test_the_nb201_space_is_every_cell_in_official_order():
    source = space_scoring.load_cells("nb201")
    assert len(source.keys) == nb201.NUM_ARCHS == len(set(source.keys)) and source.kind == "space"
    assert source.index.tolist() == list(range(nb201.NUM_ARCHS))
    assert source.keys[6111] == nb201.format(nb201.index_to_arch(6111))
    assert space_scoring.load_cells("nb201", first=3).keys == source.keys[:3]
    nb101_first = space_scoring.load_cells("nb101", first=5)  # the enumeration's order, cut short without the rest
    assert nb101_first.keys == [c.hash for c, _ in zip(nb101.enumerate_cells(), range(5))]
    assert nb101_first.index.tolist() == list(range(5)) and nb101_first.kind == "space"


def test_tables_and_lists_give_their_cells_with_their_positions(tmp_path):
    csv = tmp_path / "part.csv"
    csv.write_text("index,arch_str,cifar10_test_acc_200ep\n"
                   + "".join(f"{i},{nb201.format(nb201.index_to_arch(i))},90.0\n" for i in (5, 17, 3)))
    table = space_scoring.load_cells("nb201", table=csv)
    assert table.index.tolist() == [5, 17, 3] and table.kind == "table" and table.file == "part.csv"
    assert table.keys == [nb201.format(nb201.index_to_arch(i)) for i in (5, 17, 3)]
    listed = tmp_path / "cells.txt"
    listed.write_text(NB101_LIST)
    cells = space_scoring.load_cells("nb101", cell_list=listed)
    assert cells.index.tolist() == list(range(6)) and len(set(cells.keys)) == 6
    assert cells.keys[0] == nb101.Cell([[0, 1], [0, 0]], ("input", "output")).hash


@pytest.mark.parametrize("text, message", [
    ("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|\n|bogus~0|", "line 2: "),
    ("# nothing\n\n", "holds no cells"),
    (f"{NB201_CELLS[0]}\n{NB201_CELLS[1]}\n{NB201_CELLS[0]}", "cell 3 repeats cell 1"),
])
def test_a_bad_list_is_refused_naming_the_line(tmp_path, text, message):
    path = tmp_path / "cells.txt"
    path.write_text(text)
    with pytest.raises(NasiNalError, match=message):
        space_scoring.load_cells("nb201", cell_list=path)


# ------------------------------------------------------------------------------------------- bad input ----

@pytest.fixture()
def nothing_scored(monkeypatch):
    """Fails any test whose run reaches the scoring of a chunk: bad input must be refused before it."""

    def scored(*args, **kwargs):
        raise AssertionError("a chunk was scored before the input was validated")

    monkeypatch.setattr(space_scoring, "_score_chunk", scored)


@pytest.mark.parametrize("argv, message", [
    (["--space", "nb301"], "unknown space 'nb301'"),
    (["--space", "nb201", "--scores", "grad_norm,bogus"], "bogus"),
    (["--space", "darts"], "DARTS has no enumerable space"),
    (["--space", "nb201", "--labels", "real"], "--labels real needs real data"),
    (["--space", "nb201", "--override", "channels=x"], "--override 'channels=x': use FIELD=INT"),
    (["--space", "nb201", "--override", "depth=3"], "has no option(s) ['depth']"),
    (["--space", "nb201", "--engine", "masked", "--scores", "nwot"], "engine='masked' computes"),
    (["--space", "nb201", "--batch-size", "1"], "--batch-size 1: pass an integer >= 2"),
    (["--space", "nb201", "--devices", "9"], "--devices 9: this process has 1 local device"),
    (["--space", "nb201", "--coordinator", "127.0.0.1:1"], "go together: pass all three"),
    (["--space", "nb201", "--list", "no_such_file.txt"], "cannot be read"),
    (["--space", "nb201", "--data", "no_such.npz"], "--data 'no_such.npz' is neither"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_work(tmp_path, capsys, nothing_scored, argv, message):
    code = score_main([*argv, "--out", str(tmp_path / "s.npz"), "--quiet"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_an_out_path_that_is_no_npz_is_refused(tmp_path, capsys, nothing_scored):
    assert score_main(["--space", "nb201", "--out", str(tmp_path / "s.json"), "--quiet"]) == 2
    assert "a scores file is an .npz" in capsys.readouterr().err


# ------------------------------------------------------------------------------- chunks and resuming ----

def _fake_chunk(calls):
    """A stand-in scorer (values from the keys, an error for every third cell) that records the chunks it scores."""

    def score(job, i, batch):
        calls.append(i)
        lo = i * job.chunk_cells
        keys = job.source.keys[lo:lo + job.chunk_cells]
        results = [CellScores({"grad_norm": float(len(k) + j), "snip": float(j)}, {}) if (lo + j) % 3 else
                   CellScores({"grad_norm": 1.0}, {"snip": f"no snip for {k}"}) for j, k in enumerate(keys)]
        return Columns.from_results(keys, job.source.index[lo:lo + len(keys)], job.names, results)

    return score


def _listed(tmp_path, cells=NB201_CELLS):
    path = tmp_path / "cells.txt"
    path.write_text("\n".join(cells) + "\n")
    return path


def test_a_run_cut_short_resumes_its_chunks_into_the_same_file(tmp_path, monkeypatch):
    cells = _listed(tmp_path)
    kw = dict(cell_list=cells, chunk_cells=2, **TINY_NB201)
    calls = []
    monkeypatch.setattr(space_scoring, "_score_chunk", _fake_chunk(calls))
    whole = space_scoring.score_space("nb201", tmp_path / "whole.npz", **kw)
    assert (whole.chunks, whole.chunks_scored, calls) == (3, 3, [0, 1, 2])
    assert whole.failed == {"grad_norm": 0, "snip": 2} and not (tmp_path / "whole.npz.chunks").exists()

    calls.clear()
    fake = _fake_chunk(calls)

    def dies_on_the_second_chunk(job, i, batch):
        if len(calls) == 1:
            raise KeyboardInterrupt
        return fake(job, i, batch)

    monkeypatch.setattr(space_scoring, "_score_chunk", dies_on_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        space_scoring.score_space("nb201", tmp_path / "cut.npz", **kw)
    assert not (tmp_path / "cut.npz").exists()
    assert sorted(p.name for p in (tmp_path / "cut.npz.chunks").iterdir()) == ["chunk_00000.npz", "manifest.json"]

    with pytest.raises(ScoresFileError, match=r"holds chunks of other settings \(.*seed 0 there, 1 here\)"):
        space_scoring.score_space("nb201", tmp_path / "cut.npz", **{**kw, "seed": 1})
    with pytest.raises(ScoresFileError, match="holds chunks of 2 cells: resume with --chunk-cells 2"):
        space_scoring.score_space("nb201", tmp_path / "cut.npz", **{**kw, "chunk_cells": 3})

    calls.clear()
    monkeypatch.setattr(space_scoring, "_score_chunk", fake)
    resumed = space_scoring.score_space("nb201", tmp_path / "cut.npz", **kw)
    assert (resumed.chunks_scored, resumed.chunks_reused, calls) == (2, 1, [1, 2])
    assert (tmp_path / "cut.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()

    again = space_scoring.score_space("nb201", tmp_path / "cut.npz", **kw)  # finished: nothing to do
    assert (again.chunks_scored, again.chunks_reused, calls) == (0, 3, [1, 2])
    with pytest.raises(ScoresFileError, match="already holds scores of other settings"):
        space_scoring.score_space("nb201", tmp_path / "cut.npz", **{**kw, "bn": "eval"})


def test_a_corrupt_or_foreign_chunk_is_refused_before_any_work(tmp_path, monkeypatch):
    cells = _listed(tmp_path)
    kw = dict(cell_list=cells, chunk_cells=2, **TINY_NB201)
    calls = []
    fake = _fake_chunk(calls)

    def dies_on_the_third_chunk(job, i, batch):
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fake(job, i, batch)

    monkeypatch.setattr(space_scoring, "_score_chunk", dies_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        space_scoring.score_space("nb201", tmp_path / "s.npz", **kw)
    chunks = tmp_path / "s.npz.chunks"
    os.replace(chunks / "chunk_00001.npz", chunks / "chunk_00000.npz")  # chunk 1's cells where chunk 0 belongs
    monkeypatch.setattr(space_scoring, "_score_chunk", fake)
    calls.clear()
    with pytest.raises(ScoresFileError, match="chunk_00000.npz was written for other settings or cells"):
        space_scoring.score_space("nb201", tmp_path / "s.npz", **kw)
    (chunks / "chunk_00000.npz").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ScoresFileError, match="chunk_00000.npz is not a readable scores file"):
        space_scoring.score_space("nb201", tmp_path / "s.npz", **kw)
    assert calls == []


# ------------------------------------------------------------ devices, processes, kills (subprocesses) ----

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A folder with the cell list, and the environment every run shares: two host devices, and one compilation
    cache, so that only the first run on each device compiles the tiny network's blocks."""
    folder = tmp_path_factory.mktemp("space_scoring")
    (folder / "cells.txt").write_text(NB101_LIST)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu",
               JAX_COMPILATION_CACHE_DIR=str(folder / "jax_cache"), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
    return folder, env


def _score(run_dir, out, *extra, code="from nasi_nal.score import main; import sys; sys.exit(main())"):
    folder, env = run_dir
    argv = [*CLI, "--list", str(folder / "cells.txt"), "--out", str(folder / out), *extra]
    return subprocess.run([sys.executable, "-c", code, *argv], env=env, cwd=folder, capture_output=True, text=True,
                          timeout=600)


def _devices(stdout):
    return dict(re.findall(r"(cpu:\d+) (\d+)", re.search(r"per device: ([^)]*)\)", stdout).group(1)))


@pytest.fixture(scope="module")
def one_device(run_dir):
    done = _score(run_dir, "one.npz", "--devices", "1")
    assert done.returncode == 0, done.stderr
    assert _devices(done.stdout) == {"cpu:0": "6"}
    return (run_dir[0] / "one.npz").read_bytes()


def test_two_devices_share_the_chunks_and_write_the_same_file(run_dir, one_device):
    done = _score(run_dir, "two.npz")
    assert done.returncode == 0, done.stderr
    per_device = _devices(done.stdout)
    assert set(per_device) == {"cpu:0", "cpu:1"} and all(int(n) >= 1 for n in per_device.values()), done.stdout
    assert (run_dir[0] / "two.npz").read_bytes() == one_device
    found = scores_file.read(run_dir[0] / "two.npz")
    assert found.meta["cells"]["count"] == 6 and np.isfinite(found.columns.values["grad_norm"]).all()


KILLED = """\
import os, signal, sys
from nasi_nal import space_scoring
from nasi_nal.score import main
write = space_scoring._write_chunk
written = []

def write_then_die(job, i, columns, device):
    if len(written) == 2:  # a third chunk half-written, as a kill during the write leaves it
        (job.chunk_dir / f".chunk_{i:05d}.npz.{os.getpid()}.dead.partial").write_bytes(b"PK half")
        os.kill(os.getpid(), signal.SIGKILL)
    write(job, i, columns, device)
    written.append(i)

space_scoring._write_chunk = write_then_die
sys.exit(main())
"""


def test_a_killed_run_resumes_into_the_same_bytes(run_dir, one_device):
    killed = _score(run_dir, "killed.npz", "--devices", "1", code=KILLED)
    assert killed.returncode == -9
    chunks = run_dir[0] / "killed.npz.chunks"
    assert len(list(chunks.glob("chunk_*.npz"))) == 2 and len(list(chunks.glob(".*.partial"))) == 1
    assert not (run_dir[0] / "killed.npz").exists()
    resumed = _score(run_dir, "killed.npz", "--devices", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert "chunks scored here 4" in resumed.stdout and "finished before 2, of 6" in resumed.stdout
    assert (run_dir[0] / "killed.npz").read_bytes() == one_device
    assert not chunks.exists()


def test_two_processes_through_jax_distributed_write_the_same_file(run_dir, one_device):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder, env = run_dir
    argv = [*CLI, "--list", str(folder / "cells.txt"), "--out", str(folder / "hosts.npz"), "--devices", "1",
            "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    procs = [subprocess.Popen([sys.executable, "-m", "nasi_nal.score", *argv, "--process-id", str(i)], env=env,
                              cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [re.search(r"chunks scored here (\d)", o).group(1) for o, _ in outs] == ["3", "3"]  # chunks i % 2 == p
    assert (folder / "hosts.npz").read_bytes() == one_device
