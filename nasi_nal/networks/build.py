"""One entry point from (space, cell) to the benchmark's Flax network, at full size or at a small proxy size.

Full size is the benchmark's own training network (NAS-Bench-101: 128 stem channels, 3 x 3 cells; NAS-Bench-201:
16 channels, 3 x 5 cells; DARTS CIFAR-10: 36 channels, 20 cells, auxiliary head, drop path 0.2). The proxy keeps
the cell and the macro skeleton (stages, reductions) but shrinks it, for scoring many cells at initialization on a
CPU or a small accelerator budget: the cheapest size measured to rank NAS-Bench cells as the full network does
(``benchmarks/proxy_sizes.py``). Proxy scores rank cells; they are not the full networks' scores.

Example:
    >>> from nasi_nal.spaces import darts
    >>> net = build("darts", darts.DARTS_V2, proxy=True)
    >>> net.channels, net.layers, net.auxiliary
    (16, 8, False)
"""
from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from nasi_nal.errors import InvalidCellError, NetworkConfigError
from nasi_nal.networks.darts import DartsCifarNetwork
from nasi_nal.networks.nb101 import NB101Network
from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.spaces import darts as darts_space
from nasi_nal.spaces import nb101 as nb101_space
from nasi_nal.spaces import nb201 as nb201_space

SPACES = ("nb101", "nb201", "darts")

# Overrides of each network's full-size defaults that give its proxy. Variants: pass more overrides to build().
PROXY_CONFIGS: dict[str, dict[str, Any]] = {
    "nb101": dict(
        stem_channels=16,  # benchmark 128; widths still double per stack (16, 32, 64)
        num_stacks=3,  # as the benchmark: keeps both down-samplings, so the receptive field matches
        cells_per_stack=1,  # benchmark 3; 3 gave the same signs and the same params/nwot/synflow Spearman at 3x the
        # cost (benchmarks/results/proxy_sizes_nb101_real-real.md; the full size is not measured)
    ),
    "nb201": dict(
        channels=8,  # benchmark 16; the full depth keeps the gradient scores' ranking, which depth-1 and -2 proxies
        cells_per_stage=5,  # lose (benchmarks/results/proxy_sizes_nb201_real-real.md)
    ),
    "darts": dict(
        channels=16,  # benchmark 36; the width of DARTS' own search supernet
        layers=8,  # benchmark 20; also the search supernet's depth (reductions at cells 2 and 5)
        auxiliary=False,  # a training aid only; scores read the main logits
        drop_path_rate=0.0,  # a training regulariser; scoring runs at initialization
    ),
}

_NETWORKS: dict[str, type[nn.Module]] = {"nb101": NB101Network, "nb201": NB201Network, "darts": DartsCifarNetwork}


def _cell_fields(space: str, cell: Any) -> dict[str, Any]:
    """The network fields that carry ``cell``, after checking it is a cell of ``space``."""
    if space == "nb101":
        if not isinstance(cell, nb101_space.Cell):
            raise InvalidCellError(
                f"build('nb101', cell) needs a nasi_nal.spaces.nb101.Cell(matrix, ops), got {type(cell).__name__}")
        return dict(matrix=cell.matrix, ops=cell.ops)
    if space == "nb201":
        if not isinstance(cell, (str, nb201_space.Arch)):
            raise InvalidCellError(
                f"build('nb201', cell) needs a nasi_nal.spaces.nb201.Arch or an arch string like "
                f"'|nor_conv_3x3~0|+|...|', got {type(cell).__name__}")
        return dict(arch=cell)
    if not isinstance(cell, tuple) or getattr(cell, "_fields", None) != darts_space.Genotype._fields:
        raise InvalidCellError(
            f"build('darts', cell) needs a nasi_nal.spaces.darts.Genotype (e.g. darts.DARTS_V2), got "
            f"{type(cell).__name__}")
    return dict(genotype=cell)


def build(space: str, cell: Any, *, proxy: bool = False, num_classes: int = 10, dtype: Any = jnp.float32,
          batch_norm: bool = True, **overrides: Any) -> nn.Module:
    """The Flax network of ``cell`` in ``space`` ("nb101", "nb201" or "darts", the DARTS CIFAR network).

    Args:
        space: the search space.
        cell: ``nb101.Cell``, ``nb201.Arch`` or arch string, or ``darts.Genotype``.
        proxy: use :data:`PROXY_CONFIGS` instead of the benchmark's full size.
        num_classes: classifier outputs.
        dtype: computation dtype (parameters stay float32).
        batch_norm: False drops every BN layer.
        **overrides: any other field of the network (e.g. ``channels=8``); applied after the proxy config.

    Raises:
        NetworkConfigError: unknown space or override field.
        InvalidCellError: ``cell`` is not a cell of ``space`` (or not a valid one).
    """
    if space not in _NETWORKS:
        raise NetworkConfigError(f"unknown search space {space!r}: use one of {SPACES}")
    network = _NETWORKS[space]
    fields = {f.name for f in dataclasses.fields(network)} - {"parent", "name"}
    config = {**_cell_fields(space, cell), "num_classes": num_classes, "dtype": dtype, "batch_norm": batch_norm}
    unknown = sorted(set(overrides) - (fields - set(config)))
    if unknown:
        raise NetworkConfigError(
            f"{network.__name__} has no option(s) {unknown} to override: use some of "
            f"{sorted(fields - set(config))} (the cell, num_classes, dtype and batch_norm have their own arguments)")
    if proxy:
        config.update(PROXY_CONFIGS[space])
    config.update(overrides)
    return network(**config)
