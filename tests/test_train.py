"""The trainer end to end on CPU: a tiny CNN on a synthetic set, the CLI with the real NB201 network, augmentation,
recipes and loaders (including a few hundred real CIFAR-10 JPEGs when the team's reference data is present)."""
from __future__ import annotations

import csv
import functools
import json
import pathlib
import tarfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nasi_nal.train import get_recipe, input_pipeline, train_and_evaluate
from nasi_nal.train.__main__ import main as cli_main
from nasi_nal.train.recipes import apply_overrides
from nasi_nal.train.train import learning_rate_schedule, make_optimizer
from train_support import TinyCNN, make_npz, tiny_config

NB201_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory) -> pathlib.Path:
    return make_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


def test_end_to_end_tiny_cnn(tiny_npz, tmp_path):
    summary = train_and_evaluate(tiny_config(tiny_npz, validation_holdout=32), tmp_path, model=TinyCNN(),
                                 quiet=True)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert [int(r["step"]) for r in rows] == [5, 10]  # (192 - 32 held out) // 32 = 5 steps per epoch
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    assert summary["final_test_acc"] > 0.2  # 10 classes: chance is 0.1; colour alone separates them
    assert summary["final_val_acc"] is not None and summary["steps"] == 10
    assert summary["param_count"] == sum(np.prod(s) for s in [(3, 3, 3, 8), (8,), (8,), (3, 3, 8, 16), (16,),
                                                               (16,), (16, 10), (10,)])
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert json.loads((tmp_path / "config.json").read_text())["validation_holdout"] == 32
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 100
    assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir()) == [5, 10]


@pytest.mark.slow  # compiles the real NB201 network (about 30 s of CPU)
def test_cli_trains_real_nb201_network(tiny_npz, tmp_path, capsys):
    rc = cli_main(["--recipe", "nb201_12ep", "--cell", NB201_CELL, "--workdir", str(tmp_path), "--quiet",
                   "data_source=npz", f"data_dir={tiny_npz}", "image_size=16", "epochs=1", "batch_size=64",
                   "eval_batch_size=64", 'model_overrides={"channels": 4, "cells_per_stage": 1}', "tensorboard=false"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["space"] == "nb201" and summary["steps"] == 3 and summary["param_count"] > 1000
    assert 0.0 <= summary["final_test_acc"] <= 1.0


def test_cli_reads_search_output(tiny_npz, tmp_path, capsys):
    search = tmp_path / "search.json"
    search.write_text(json.dumps({"space": "nb201", "winners": [{"cell": "not a cell"}, {"cell": NB201_CELL}]}))
    args = ["--recipe", "nb201_12ep", "--search-output", str(search), "--workdir", str(tmp_path / "w"), "--quiet",
            "data_source=npz", f"data_dir={tiny_npz}", "image_size=16"]
    assert cli_main(args + ["--winner", "0"]) == 2  # the first winner is not an NB201 cell
    assert "not a cell" in capsys.readouterr().err


def test_augment_crop_flip_cutout_are_keyed():
    img = jnp.arange(8 * 8 * 3, dtype=jnp.uint8).reshape(1, 8, 8, 3).repeat(16, axis=0)
    aug = jax.jit(functools.partial(input_pipeline.augment, crop_padding=2, flip=True, cutout=0,
                                    mean=(0.0, 0.0, 0.0), std=(1 / 255,) * 3))
    a, b, c = aug(jax.random.PRNGKey(1), img), aug(jax.random.PRNGKey(1), img), aug(jax.random.PRNGKey(2), img)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len({np.asarray(x).tobytes() for x in a}) > 4  # per-image keys: the batch is not cropped alike
    src = np.asarray(img[0], np.float32)
    for x in np.asarray(a):  # every output is a shifted (and maybe mirrored) window of the zero-padded input
        padded = np.pad(src, ((2, 2), (2, 2), (0, 0)))
        windows = [padded[dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
        assert any(np.array_equal(x, w) or np.array_equal(x, w[:, ::-1]) for w in windows)
    cut = jax.jit(functools.partial(input_pipeline.augment, crop_padding=0, flip=False, cutout=4, mean=(0.0,) * 3,
                                    std=(1.0,) * 3))(jax.random.PRNGKey(3), jnp.full((64, 16, 16, 3), 200, jnp.uint8))
    zeros = (np.asarray(cut)[..., 0] == 0).sum(axis=(1, 2))
    assert zeros.max() == 16 and zeros.min() >= 4  # a 4x4 hole, clipped at the border (DARTS Cutout)


def test_recipes_hold_the_benchmark_schedules():
    nb101, nb201, darts = get_recipe("nb101"), get_recipe("nb201"), get_recipe("darts_cifar")
    assert (nb101.epochs, nb101.optimizer, nb101.learning_rate, nb101.batch_size, nb101.weight_decay) == \
        (108, "rmsprop", 0.2, 256, 1e-4)
    assert (nb201.epochs, get_recipe("nb201_12ep").epochs, nb201.nesterov, nb201.weight_decay) == (200, 12, True, 5e-4)
    assert (darts.epochs, darts.batch_size, darts.cutout, darts.drop_path, darts.aux_weight, darts.grad_clip_norm) \
        == (600, 96, 16, 0.2, 0.4, 5.0)
    assert get_recipe("darts_imagenet").stream
    cfg = apply_overrides(nb201, ["epochs=3", "nesterov=false", 'model_overrides={"channels": 8}'])
    assert (cfg.epochs, cfg.nesterov, dict(cfg.model_overrides)) == (3, False, {"channels": 8})


def test_schedules_and_optimizer_follow_the_recipes():
    nb101 = learning_rate_schedule(get_recipe("nb101"), steps_per_epoch=10)
    assert float(nb101(0)) == 0.0 and float(nb101(1)) == pytest.approx(0.2, rel=1e-3)
    assert float(nb101(1080)) == pytest.approx(0.0, abs=1e-7)
    imagenet = learning_rate_schedule(get_recipe("darts_imagenet"), steps_per_epoch=10)
    assert float(imagenet(25)) == pytest.approx(0.1 * 0.97 ** 2)
    # DARTS clips the global norm before SGD adds weight decay: a huge gradient moves a weight by lr * (5 + wd*w).
    cfg = apply_overrides(get_recipe("darts_cifar"), ["momentum=0", "weight_decay=0.5"])
    tx = make_optimizer(cfg, lambda _: 1.0)
    params = {"w": jnp.ones(4)}
    updates, _ = tx.update({"w": jnp.full(4, 1e6)}, tx.init(params), params)
    np.testing.assert_allclose(np.asarray(updates["w"]), -(5.0 / 2.0 + 0.5), rtol=1e-5)
    assert isinstance(tx, optax.GradientTransformation)


def test_folder_loader_on_real_cifar10_jpegs(reference_file, tmp_path):
    tar = reference_file("cifar10_jpeg_q75.tar.gz")
    taken: dict[tuple[str, str], int] = {}
    with tarfile.open(tar) as archive:  # 20 images per class and split, cut from the team's copy
        for member in archive:
            parts = pathlib.PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) < 3:
                continue
            split, label = parts[-3], parts[-2]
            if taken.get((split, label), 0) >= (20 if split == "train" else 5):
                continue
            taken[(split, label)] = taken.get((split, label), 0) + 1
            target = tmp_path / "cifar" / split / label / parts[-1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.extractfile(member).read())
            if len(taken) == 20 and all(v >= (20 if s == "train" else 5) for (s, _), v in taken.items()):
                break
    cfg = apply_overrides(get_recipe("nb201"), ["data_source=folder", f"data_dir={tmp_path / 'cifar'}"])
    data = input_pipeline.load_in_memory(cfg)
    assert data.x_train.shape == (200, 32, 32, 3) and data.x_test.shape == (50, 32, 32, 3)
    assert sorted(np.bincount(data.y_train)) == [20] * 10
    assert 0.3 < data.mean[0] < 0.65 and 0.15 < data.std[0] < 0.35  # CIFAR-10 red: mean 0.49, std 0.25


@pytest.mark.slow  # compiles the NB201 proxy's train step (about 20 s of CPU)
def test_throughput_benchmark_runs(tmp_path):
    import importlib.util

    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"
    spec = importlib.util.spec_from_file_location("throughput", path)
    throughput = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(throughput)
    out = tmp_path / "t.json"
    assert throughput.main(["--space", "nb201", "--proxy", "--batch", "8", "--steps", "1", "--warmup", "0",
                            "--out", str(out)]) == 0
    result = json.loads(out.read_text())["results"][0]
    assert result["flops_per_step"] > 0 and result["images_per_second"] > 0
    assert 0 < result["fraction_of_peak"] < 1


def test_host_stream_is_deterministic_per_example(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 3)):
        for label in ("a", "b"):
            (tmp_path / split / label).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (40 + 8 * i, 56, 3), dtype=np.uint8)  # varied, non-square sizes
                Image.fromarray(pixels).save(tmp_path / split / label / f"{i}.png")
    cfg = apply_overrides(get_recipe("darts_imagenet"), ["data_source=folder", f"data_dir={tmp_path}",
                                                         "image_size=24", "batch_size=4", "num_classes=2"])
    train_src, test_src = input_pipeline.open_stream_sources(cfg)
    assert (len(train_src), len(test_src)) == (12, 6)
    order = np.random.default_rng(1).permutation(12)
    full = list(input_pipeline.stream_train_batches(train_src, cfg, epoch=0, start=0, steps=3, order=order))
    resumed = list(input_pipeline.stream_train_batches(train_src, cfg, epoch=0, start=2, steps=3, order=order))
    assert [x.shape for x, _ in full] == [(4, 24, 24, 3)] * 3
    np.testing.assert_array_equal(resumed[0][0], full[2][0])  # a resumed epoch sees the same crops
    np.testing.assert_array_equal(full[1][1], train_src.labels[order[4:8]])
    other = next(input_pipeline.stream_train_batches(train_src, cfg, epoch=1, start=0, steps=1, order=order))
    assert not np.array_equal(other[0], full[0][0])  # a new epoch draws new crops
    evals = list(input_pipeline.stream_eval_batches(test_src, 24, 4))
    assert [x.shape[0] for x, _ in evals] == [4, 2]
