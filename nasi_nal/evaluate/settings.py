"""The benchmark table's settings (``benchmarks/table.py``) and the config files that hold them.

A config file is a Python module whose ``get_config()`` returns a :class:`TableSettings`; the named ones live in
``nasi_nal/evaluate/configs/table_<name>.py`` (``full``: the documented table, ``quick``: the CI one), and any other
file can be given by path. Each starts with the command that runs it and the result to expect.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pathlib

from nasi_nal.errors import ConfigError

CONFIGS = pathlib.Path(__file__).resolve().parent / "configs"


@dataclasses.dataclass(frozen=True)
class CostlyScores:
    """Section 1 scores too costly for every sampled cell (the exact NTK needs one gradient per example and logit):
    a sample of their own, scored on the proxy network with a smaller batch, reported in rows of their own."""

    scores: tuple[str, ...]
    cells: dict[str, int]  # per space
    batch_size: int
    probes: int | str = "exact"  # the exact NTK, as its name says


@dataclasses.dataclass(frozen=True)
class TableSettings:
    """Everything that fixes the table's numbers (and the names of its resumable runs)."""

    cells: dict[str, int]  # section 1: cells drawn from each table
    scores: tuple[str, ...]  # section 1: scores on every drawn cell (the NAL log-likelihood is added on NB101)
    data_modes: tuple[tuple[str, str], ...]  # section 1: (inputs, labels) of each run; real ones need --images
    costly: CostlyScores | None  # section 1: scores correlated on a cheaper setting of their own (first data mode)
    batch_size: int  # section 1 scoring batch
    input_size: int  # section 1 side of Gaussian inputs
    network_overrides: dict[str, dict[str, int]]  # section 1: fields on top of the proxy networks
    full_networks: tuple[str, ...]  # section 1: spaces scored with the benchmark-size network, not the proxy
    search_spaces: tuple[str, ...]  # section 2: spaces searched
    seeds: int  # section 2: searches per (space, method)
    methods: tuple[str, ...]  # section 2
    candidates: int  # section 2: proposals per search (NASWOT's N = 100)
    search_batch_size: int | None  # section 2 scoring batch; None: the pipeline's default
    nasi_steps: int | None  # section 2: supernet steps of method "nasi" on nb201; None: NASI's 100
    seed: int = 0  # section 1 sampling and initialisation seed
    bn: str = "train"  # section 1 batch-norm mode (batch statistics, as the reference implementations)
    probes: int | str = 8  # section 1: Rademacher probes of ntk_trace


def setting_names() -> list[str]:
    """The names of the config files in ``nasi_nal/evaluate/configs`` (``table_<name>.py``)."""
    return sorted(p.stem[len("table_"):] for p in CONFIGS.glob("table_*.py"))


def load_settings(spec: str) -> tuple[TableSettings, str]:
    """The settings of config ``spec`` (a name of :func:`setting_names`, or the path of a ``.py`` config file) and
    the name the table shows for them."""
    if spec.endswith(".py"):
        path = pathlib.Path(spec)
        if not path.is_file():
            raise ConfigError(f"settings file {spec}: no such file")
        module_spec = importlib.util.spec_from_file_location(f"table_settings_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    elif spec in setting_names():
        module = importlib.import_module(f"nasi_nal.evaluate.configs.table_{spec}")
    else:
        raise ConfigError(f"settings {spec!r}: choose from {', '.join(setting_names())} or give a config file's path")
    settings = getattr(module, "get_config", lambda: None)()
    if not isinstance(settings, TableSettings):
        raise ConfigError(f"settings {spec}: its get_config() must return a nasi_nal.evaluate.TableSettings")
    return settings, spec
