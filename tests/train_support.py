"""Test-only helpers for the trainer tests: a tiny CNN, a synthetic .npz data set, and a runnable training script.

Run as a script (the resume and sharding tests start it in subprocesses)::

    python tests/train_support.py WORKDIR DATA.npz [--resume] [--slow SECONDS] [key=value ...]
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.networks.common import ReLU


class TinyCNN(nn.Module):
    """conv-BN-ReLU x2, global pool, dense: a few thousand parameters, compiles in seconds on a CPU.

    ``slow`` > 0 adds a host callback sleeping that long per call (the kill test needs steps it can interrupt);
    it does not touch the numbers.
    """

    num_classes: int = 10
    batch_norm: bool = True
    slow: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        for width in (8, 16):
            x = nn.Conv(width, (3, 3), use_bias=not self.batch_norm)(x)
            if self.batch_norm:
                x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
            x = ReLU()(x)
            x = nn.max_pool(x, (2, 2), (2, 2))
        if self.slow:
            jax.debug.callback(lambda: time.sleep(self.slow))
        return nn.Dense(self.num_classes)(jnp.mean(x, axis=(1, 2)))


def make_npz(path: pathlib.Path, n_train: int = 192, n_test: int = 64, seed: int = 0, size: int = 16) -> pathlib.Path:
    """A learnable synthetic set: each class has its own mean colour plus uniform noise (uint8 NHWC)."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        colours = np.linspace(0, 200, 10)[y][:, None, None, None] * np.array([1.0, 0.5, 0.25])
        x = np.clip(colours + rng.integers(0, 56, (n, size, size, 3)), 0, 255).astype(np.uint8)
        return x, y.astype(np.int64)

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def tiny_config(data: pathlib.Path, **overrides):
    """The NB201 recipe shrunk to the synthetic set: 2 epochs of 6 steps (batch 32), 16px images."""
    from nasi_nal.train import recipes

    base = {"data_source": "npz", "data_dir": str(data), "image_size": 16, "epochs": 2, "batch_size": 32,
            "eval_batch_size": 32, "space": "", "recipe": "tiny"}
    base.update(overrides)
    return recipes.apply_overrides(recipes.get_recipe("nb201_12ep"), base)


def final_params(workdir: pathlib.Path) -> dict[str, np.ndarray]:
    """The parameters of the latest checkpoint in ``workdir``, flattened to ``{"a/b/kernel": array}``."""
    import orbax.checkpoint as ocp

    ckpt = pathlib.Path(workdir) / "checkpoints"
    step = max(int(p.name) for p in ckpt.iterdir() if p.name.isdigit())
    path = (ckpt / str(step) / "state").resolve()
    checkpointer = ocp.PyTreeCheckpointer()  # read as numpy: the test process may have fewer devices
    tree = checkpointer.metadata(path).item_metadata.tree
    as_numpy = jax.tree_util.tree_map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    state = checkpointer.restore(path, args=ocp.args.PyTreeRestore(restore_args=as_numpy))
    flat = jax.tree_util.tree_flatten_with_path(state["params"])[0]
    return {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v) for path, v in flat}


def main(argv: list[str]) -> int:
    from nasi_nal.train import recipes, train_and_evaluate

    parser = argparse.ArgumentParser()
    parser.add_argument("workdir")
    parser.add_argument("data")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    config = recipes.apply_overrides(tiny_config(pathlib.Path(args.data)), args.overrides)
    summary = train_and_evaluate(config, args.workdir, model=TinyCNN(slow=args.slow), resume=args.resume,
                                 quiet=True)
    print(summary["num_devices"], "devices")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
