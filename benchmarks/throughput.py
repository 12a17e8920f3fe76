"""Training throughput of the trainer's own step: images/s and the fraction of the device's peak FLOP/s.

    python benchmarks/throughput.py                                  # NB201 + DARTS, full size, on this machine
    python benchmarks/throughput.py --space darts --batch 96 --dtype bfloat16 --out results/throughput_h100.json

For each network it compiles ``nasi_nal.train.train.make_train_step`` (augmentation, forward, backward, optax
update, exactly what ``train_and_evaluate`` runs) once, runs ``--warmup`` steps, then times ``--steps`` steps
(blocking on the result). FLOPs per step come from XLA's cost analysis of the compiled step
(``compiled.cost_analysis()["flops"]``), so achieved FLOP/s = flops_per_step * steps / seconds, and the
utilisation is that over ``PEAK_FLOPS`` of the device kind for the compute dtype. Convolutions dominate these
networks, so the figure says how well XLA uses the device's dense-math units.

Peaks assumed (dense, per device; vendor data sheets): see ``PEAK_FLOPS``. On a CPU the peak is estimated as
cores x clock x FLOPs/cycle, with the clock read from /proc/cpuinfo ("cpu MHz") and 32 float32 FLOPs/cycle/core
(two 256-bit FMA units: 2 units x 8 lanes x 2 FLOPs, AVX2 Zen/Skylake-client), halved when the CPU lacks FMA.
That is an upper bound XLA's CPU backend rarely approaches; treat CPU utilisation as an order of magnitude.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import pathlib
import platform
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from nasi_nal.networks.build import build
from nasi_nal.networks.common import count_params
from nasi_nal.spaces import darts, nb201
from nasi_nal.train import recipes
from nasi_nal.train.train import StepSpec, TrainState, learning_rate_schedule, make_optimizer, make_train_step

# Dense peak FLOP/s per device by (device_kind substring, dtype). Sources: NVIDIA H100 SXM / H200 / A100 / V100
# data sheets (tensor-core bf16 without sparsity; float32 = TF32 tensor-core rate, which XLA uses for float32
# convolutions by default on Ampere and later), Google Cloud TPU system-architecture pages.
PEAK_FLOPS: dict[tuple[str, str], float] = {
    ("H200", "bfloat16"): 989e12, ("H200", "float32"): 495e12,
    ("H100", "bfloat16"): 989e12, ("H100", "float32"): 495e12,
    ("A100", "bfloat16"): 312e12, ("A100", "float32"): 156e12,
    ("V100", "bfloat16"): 125e12, ("V100", "float32"): 15.7e12,  # V100 has no bf16 tensor cores: fp16 rate
    ("TPU v4", "bfloat16"): 275e12, ("TPU v4", "float32"): 275e12 / 4,
    ("TPU v5 lite", "bfloat16"): 197e12, ("TPU v5 lite", "float32"): 197e12 / 4,
}

NB201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def cpu_peak() -> tuple[float, str]:
    """(estimated peak float32 FLOP/s of the visible CPU cores, how it was estimated)."""
    cores = len(os.sched_getaffinity(0))
    mhz, fma = None, True
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
        mhz = float(next(line.split(":")[1] for line in text.splitlines() if line.startswith("cpu MHz")))
        flags = next(line for line in text.splitlines() if line.startswith("flags"))
        fma = " fma " in f" {flags.split(':')[1]} "
    except (OSError, StopIteration, ValueError):
        pass
    if mhz is None:
        return float("nan"), "unknown: /proc/cpuinfo has no 'cpu MHz'"
    per_cycle = 32 if fma else 16
    return cores * mhz * 1e6 * per_cycle, f"{cores} cores x {mhz:.0f} MHz x {per_cycle} float32 FLOPs/cycle"


def device_peak(device: jax.Device, dtype: str) -> tuple[float, str]:
    if device.platform == "cpu":
        return cpu_peak()
    for (kind, dt), peak in PEAK_FLOPS.items():
        if kind.lower() in device.device_kind.lower() and dt == dtype:
            return peak, f"data-sheet peak for {kind} {dt}"
    return float("nan"), f"no peak known for {device.device_kind!r}: add it to PEAK_FLOPS"


def measure(space: str, proxy: bool, batch: int, steps: int, warmup: int, dtype: str, seed: int) -> dict[str, Any]:
    """Times the train step of ``space``'s benchmark network (NB201's best cell, DARTS_V2) on all devices."""
    cell, recipe = (nb201.parse(NB201_BEST), "nb201") if space == "nb201" else (darts.DARTS_V2, "darts_cifar")
    overrides = {"batch_size": batch, "dtype": dtype, **({"aux_weight": 0.0} if proxy else {})}  # proxy: no aux head
    config = recipes.apply_overrides(recipes.get_recipe(recipe), overrides)
    jdtype = jnp.bfloat16 if dtype == "bfloat16" else jnp.float32
    model = build(space, cell, proxy=proxy, dtype=jdtype)
    devices = jax.devices()
    mesh = Mesh(np.asarray(devices), ("data",))
    data_sharding, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    n_images = batch * 4  # a small on-device "training set" the step draws its batches from
    rng = np.random.default_rng(seed)
    images = jax.device_put(rng.integers(0, 256, (n_images, 32, 32, 3), dtype=np.uint8), replicated)
    labels = jax.device_put(rng.integers(0, 10, n_images).astype(np.int32), replicated)
    steps_per_epoch = n_images // batch
    tx = make_optimizer(config, learning_rate_schedule(config, steps_per_epoch))
    key = jax.random.PRNGKey(seed)
    variables = jax.jit(lambda k: model.init(k, jnp.zeros((1, 32, 32, 3)), train=False),
                        out_shardings=replicated)(key)
    state = jax.device_put(TrainState(jnp.zeros((), jnp.int32), variables["params"],
                                      variables.get("batch_stats", {}), tx.init(variables["params"]),
                                      jnp.zeros(3, jnp.float32)), replicated)
    spec = StepSpec(model, config, tx, steps_per_epoch, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26),
                    "drop_path_rate" in inspect.signature(model.__call__).parameters, data_sharding)
    order = jax.device_put(jnp.arange(n_images, dtype=jnp.int32), replicated)
    t0 = time.perf_counter()
    compiled = jax.jit(make_train_step(spec, key, in_memory=True), donate_argnums=0).lower(
        state, images, labels, order).compile()
    compile_s = time.perf_counter() - t0
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", float("nan")))
    for _ in range(warmup):
        state = compiled(state, images, labels, order)
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    for _ in range(steps):
        state = compiled(state, images, labels, order)
    jax.block_until_ready(state)
    seconds = time.perf_counter() - t0
    peak, how = device_peak(devices[0], dtype)
    achieved = flops * steps / seconds
    return {
        "network": f"{space} {'proxy' if proxy else 'full'} ({NB201_BEST if space == 'nb201' else 'DARTS_V2'})",
        "param_count": count_params(model), "batch": batch, "dtype": dtype, "timed_steps": steps,
        "compile_seconds": round(compile_s, 2), "seconds_per_step": seconds / steps,
        "images_per_second": batch * steps / seconds, "flops_per_step": flops,
        "flops_per_image": flops / batch, "achieved_flops_per_second": achieved,
        "peak_flops_per_second": peak * len(devices), "peak_basis": f"{how}, x {len(devices)} device(s)",
        "fraction_of_peak": achieved / (peak * len(devices)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", choices=("nb201", "darts", "both"), default="both")
    parser.add_argument("--proxy", action="store_true", help="the proxy-size networks instead of the full ones")
    parser.add_argument("--batch", type=int, default=0, help="default: the recipe's (256 NB201, 96 DARTS)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="", help="JSON file to write (default: print only)")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    results = []
    for space in (("nb201", "darts") if args.space == "both" else (args.space,)):
        batch = args.batch or (256 if space == "nb201" else 96)
        results.append(measure(space, args.proxy, batch, args.steps, args.warmup, args.dtype, args.seed))
        print(json.dumps(results[-1], indent=2), flush=True)
    report = {
        "device": device.device_kind, "platform": device.platform, "num_devices": len(jax.devices()),
        "accelerator": None if device.platform == "cpu" else device.device_kind,
        "note": ("CPU only: no GPU/TPU was available for this run, so these are CPU figures, not accelerator ones"
                 if device.platform == "cpu" else ""),
        "host": platform.processor() or platform.machine(), "jax": jax.__version__,
        "load_average_1min": os.getloadavg()[0],  # a shared host: other jobs' load lowers the figures
        "command": "python benchmarks/throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "results": results,
    }
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
