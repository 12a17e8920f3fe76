"""Search settings as data: the paper's defaults, the proxy supernets, and overrides.

``get_config("nb201")`` / ``get_config("darts")`` return a :class:`NasiConfig`; variants are made with
``dataclasses.replace(config, steps=..., ...)`` or by passing keyword overrides to :func:`nasi_nal.nasi.search`.

Paper settings (Shu et al., ICLR 2022, Sec. 5 and App. B): T = 100 search steps, mini-batch 64, penalty
coefficient mu = 2. The constraint nu is either fixed (NASI-FIX: a number) or adaptive (``"adaptive"``: the
``nu_quantile`` quantile of the NTK-trace estimates of ``nu_samples`` architectures sampled uniformly from the
supernet, with the same weights and batch shape; :func:`nasi_nal.scores.adaptive_nu`). The paper tunes nu per space;
the adaptive rule makes the penalty bite on the same fraction of architectures whatever the proxy's scale.

Proxy supernets. The paper searches with the benchmarks' own search networks on a GPU. On a CPU the second-order
gradient (of the trace, itself a gradient norm) through a supernet that runs every op of every edge is the cost, so
the defaults shrink the network: NB201 with C = 8 at the benchmark's full depth (N = 5: the smallest NB201 size
measured to keep the NASI trace's ranking, ``benchmarks/results/proxy_sizes_nb201_real-real.md``; one cell per stage
loses it); DARTS with C = 4 and 5 cells (DARTS' search: C = 16, 8 cells). The cell space is unchanged, so the result is a valid cell of
the full space; only the fidelity of the trace estimate changes. ``runlocal``-style shrinking for tests is a further
``replace`` (see ``tests/test_nasi.py``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Union

from nasi_nal.errors import ConfigError

SPACES = ("nb201", "darts")


@dataclasses.dataclass(frozen=True)
class NasiConfig:
    """Every setting of one NASI search; hashable, so compiled searches can be cached per config."""

    space: str
    # Search (paper defaults).
    steps: int = 100  # T, search steps (one Gumbel sample and one mini-batch each)
    batch_size: int = 64  # mini-batch size b
    mu: float = 2.0  # penalty coefficient in R = T - mu * max(0, T - nu)
    nu: Union[float, str] = "adaptive"  # a number (NASI-FIX) or "adaptive" (see the module docstring)
    nu_samples: int = 16  # architectures sampled to set an adaptive nu
    nu_quantile: float = 0.9  # their trace quantile taken as nu
    tau: float = 1.0  # Gumbel-softmax temperature of the soft (backward) sample
    lr: float = 1.0  # step of alpha along each normalised gradient: alpha_t = alpha_{t-1} + lr * g_t / ||g_t||
    # Data: NASI's label- and data-agnostic modes (nasi_nal.scores.make_batch).
    inputs: str = "gaussian"  # "gaussian" (i.i.d. N(0, 1)) or "real" (needs images)
    targets: str = "random"  # "random" (uniform labels) or "real" (needs labels)
    input_shape: tuple[int, int, int] = (32, 32, 3)  # (H, W, C) of Gaussian inputs
    num_classes: int = 10
    # Proxy supernet.
    channels: int = 8
    cells_per_stage: int = 5  # NB201 only
    layers: int = 5  # DARTS only
    batch_norm: bool = True
    bn: str = "train"  # batch-norm mode of the trace: batch statistics ("train") or initial ones ("eval")

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ConfigError(f"unknown NASI search space {self.space!r}: use one of {SPACES}")
        for name in ("steps", "batch_size", "nu_samples", "num_classes", "channels", "cells_per_stage", "layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"NASI setting {name}={value!r} must be a positive integer")
        if self.space == "darts" and self.layers < 3:
            raise ConfigError(f"DARTS supernet needs layers >= 3 (two reduction cells and a normal one), got {self.layers}")
        if self.mu < 0:
            raise ConfigError(f"NASI setting mu={self.mu} must be >= 0 (it weighs the penalty)")
        if isinstance(self.nu, str):
            if self.nu != "adaptive":
                raise ConfigError(f"NASI setting nu={self.nu!r}: pass a number (NASI-FIX) or 'adaptive'")
        elif isinstance(self.nu, bool) or not isinstance(self.nu, (int, float)):
            raise ConfigError(f"NASI setting nu={self.nu!r}: pass a number (NASI-FIX) or 'adaptive'")
        if not 0.0 <= self.nu_quantile <= 1.0:
            raise ConfigError(f"NASI setting nu_quantile={self.nu_quantile} must lie in [0, 1]")
        if self.tau <= 0 or self.lr <= 0:
            raise ConfigError(f"NASI settings tau={self.tau} and lr={self.lr} must be > 0")
        if self.inputs not in ("gaussian", "real") or self.targets not in ("random", "real"):
            raise ConfigError(
                f"NASI data mode inputs={self.inputs!r}, targets={self.targets!r}: inputs is 'gaussian' or 'real', "
                "targets is 'random' or 'real'")
        if self.bn not in ("train", "eval"):
            raise ConfigError(f"NASI setting bn={self.bn!r}: use 'train' (batch statistics) or 'eval'")
        if len(self.input_shape) != 3:
            raise ConfigError(f"input_shape={self.input_shape!r} must be (H, W, C)")

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data."""
        data = dataclasses.asdict(self)
        data["input_shape"] = list(self.input_shape)
        return data


_DEFAULTS = {
    "nb201": NasiConfig("nb201", channels=8, cells_per_stage=5),
    "darts": NasiConfig("darts", channels=4, layers=5),
}


def get_config(space: str, **overrides: Any) -> NasiConfig:
    """The default (paper settings, proxy supernet) config of ``space``, with ``overrides`` applied."""
    if space not in _DEFAULTS:
        raise ConfigError(f"unknown NASI search space {space!r}: use one of {SPACES}")
    fields = {f.name for f in dataclasses.fields(NasiConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"unknown NASI setting(s) {unknown}: the settings are {sorted(fields - {'space'})}")
    if "input_shape" in overrides:
        overrides["input_shape"] = tuple(int(v) for v in overrides["input_shape"])
    return dataclasses.replace(_DEFAULTS[space], **overrides)
