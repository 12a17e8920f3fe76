"""Cells per masked call from the device's memory: the CPU fallback, the arithmetic, and the driver's use of it."""
import jax
import pytest

from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.scores import cell_key, engines, iter_scores, make_batch, masked

ARCH = "|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


class Device:
    """A stand-in for an accelerator that reports its memory (XLA:CPU reports none)."""

    def __init__(self, limit, in_use):
        self.stats = {"bytes_limit": limit, "bytes_in_use": in_use, "peak_bytes_in_use": in_use}

    def memory_stats(self):
        return self.stats


@pytest.fixture(scope="module")
def tiny():
    return NB201Network(ARCH, channels=4, cells_per_stage=1), make_batch(jax.random.PRNGKey(0), 4, inputs="gaussian",
                                                                       targets="random")


def test_a_device_without_memory_statistics_gets_the_fallback(tiny):
    assert jax.local_devices()[0].memory_stats() is None  # XLA:CPU
    assert masked.cells_per_call(*tiny, ["grad_norm"]) == masked.FALLBACK_PER_CALL
    assert masked.cells_per_call(*tiny, ["grad_norm"], limit=8) == 8


def test_free_memory_over_bytes_per_cell_sizes_the_call(tiny, monkeypatch):
    monkeypatch.setattr(masked, "bytes_per_cell", lambda *a, **k: 1e6)
    assert masked.cells_per_call(*tiny, ["grad_norm"], device=Device(110e6, 10e6)) == int(0.7 * 100)
    assert masked.cells_per_call(*tiny, ["grad_norm"], device=Device(110e9, 10e6)) == masked.MAX_PER_CALL
    assert masked.cells_per_call(*tiny, ["grad_norm"], device=Device(110e9, 10e6), limit=300) == 300
    assert masked.cells_per_call(*tiny, ["grad_norm"], device=Device(1e6, 5e5)) == 1  # never below one cell


def test_the_driver_sizes_masked_calls_from_memory_when_asked(tiny, monkeypatch):
    model, batch = tiny
    calls = []
    monkeypatch.setattr(engines, "platform", lambda: "gpu")
    monkeypatch.setattr(masked, "cells_per_call", lambda *a, **k: 2)
    monkeypatch.setattr(masked, "score_cells", lambda models, *a, per_call, **k: calls.append((len(models), per_call))
                        or [engines.CellScores({"grad_norm": 1.0}, {}) for _ in models])
    keys = [cell_key(0, ARCH)] * 5
    assert len(list(iter_scores([model] * 5, batch, ["grad_norm"], keys))) == 5
    assert calls == [(2, 2), (2, 2), (1, 2)]  # the last call padded to the call size
    calls.clear()
    list(iter_scores([model] * 5, batch, ["grad_norm"], keys, per_call=4))
    assert calls == [(4, 4), (1, 4)]


@pytest.mark.slow
def test_bytes_per_cell_come_from_the_compiled_program(tiny):
    one = masked.bytes_per_cell(*tiny, ["grad_norm"], cells=1)
    four = masked.bytes_per_cell(*tiny, ["grad_norm"], cells=4)
    assert 0 < four <= one  # the fixed part is shared by more cells
    assert masked.cells_per_call(*tiny, ["grad_norm"], device=Device(100 * one / 0.7 + 1, 0)) >= 100
