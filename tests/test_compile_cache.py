"""JAX's persistent compilation cache through the command line: a second run compiles nothing the first compiled."""
import os
import subprocess
import sys

ARGS = ["--space", "nb201", "--method", "synflow", "--candidates", "3", "--quiet", "--seed", "3"]


def _search(cache, tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-m", "nasi_nal.search", *ARGS, "--compile-cache", str(cache)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def test_a_second_search_loads_every_program_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = _search(cache, tmp_path)
    entries = sorted(p.name for p in cache.iterdir())
    assert entries, "the first run cached no program"
    second = _search(cache, tmp_path)
    assert sorted(p.name for p in cache.iterdir()) == entries  # nothing compiled anew
    assert first[:-1] == second[:-1]  # the same candidates and scores (the last line is the time)

