"""Shared fixtures: the team's reference data, found through NASI_NAL_DATA."""
import os
import pathlib

import pytest

_DEFAULT = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
# The command lines' persistent compilation cache stays off in tests (no writes to ~/.cache, no hits from an
# earlier run); tests/test_compile_cache.py turns it on explicitly.
os.environ["NASI_NAL_COMPILE_CACHE"] = "off"


def reference_data_dir() -> pathlib.Path | None:
    """The folder named by NASI_NAL_DATA, else ../shared/data beside the checkout, else None."""
    env = os.environ.get("NASI_NAL_DATA")
    path = pathlib.Path(env) if env else _DEFAULT
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def reference_file():
    """Returns a function name -> path of a reference data file; skips the test when it is absent."""

    def get(name: str) -> pathlib.Path:
        folder = reference_data_dir()
        if folder is None or not (folder / name).exists():
            pytest.skip(f"reference data file {name!r} not found: set NASI_NAL_DATA to a folder holding it")
        return folder / name

    return get
