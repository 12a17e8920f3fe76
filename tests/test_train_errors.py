"""Bad input fails loudly with an error that names the problem: unknown recipe or field, bad cell, missing data,
corrupt or mismatched checkpoints, a workdir that already holds a run."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

from nasi_nal.errors import CheckpointError, ConfigError, DataError, InvalidCellError
from nasi_nal.train import apply_overrides, get_recipe, train_and_evaluate
from nasi_nal.train.__main__ import main as cli_main
from nasi_nal.train.cells import parse_cell, winners
from nasi_nal.train.input_pipeline import load_in_memory
from train_support import TinyCNN, make_npz, tiny_config


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[pathlib.Path, pathlib.Path]:
    """(data, workdir) of a finished 1-epoch tiny run, shared by the checkpoint tests."""
    root = tmp_path_factory.mktemp("run")
    data = make_npz(root / "tiny.npz")
    train_and_evaluate(tiny_config(data, epochs=1, tensorboard=False), root / "work", model=TinyCNN(), quiet=True)
    return data, root / "work"


def test_unknown_recipe_and_field():
    with pytest.raises(ConfigError, match="unknown recipe 'nb210'.*Did you mean 'nb201'"):
        get_recipe("nb210")
    with pytest.raises(ConfigError, match="unknown config field 'epoch'.*Did you mean 'epochs'"):
        apply_overrides(get_recipe("nb201"), ["epoch=3"])
    with pytest.raises(ConfigError, match="needs an integer"):
        apply_overrides(get_recipe("nb201"), ["epochs=many"])
    with pytest.raises(ConfigError, match="optimizer='adamw' is not one of"):
        apply_overrides(get_recipe("nb201"), ["optimizer=adamw"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(get_recipe("nb201"), ["epochs"])
    assert cli_main(["--recipe", "nope", "--workdir", "/nonexistent"]) == 2


def test_bad_cells():
    with pytest.raises(InvalidCellError):
        parse_cell("nb201", "|nor_conv_3x3~0|+|bogus~0|")
    with pytest.raises(InvalidCellError, match="matrix"):
        parse_cell("nb101", '{"ops": ["input", "output"]}')
    with pytest.raises(InvalidCellError):
        parse_cell("nb101", '{"matrix": [[0, 1], [0, 1]], "ops": ["input", "output"]}')  # not upper-triangular
    with pytest.raises(InvalidCellError):
        parse_cell("darts", '{"normal": []}')
    with pytest.raises(InvalidCellError, match="does not exist"):
        parse_cell("darts", "missing_genotype.json")
    with pytest.raises(ConfigError, match="no cell given"):
        parse_cell("nb201", "")


def test_bad_search_output(tmp_path):
    path = tmp_path / "search.json"
    path.write_text('{"winners": []}')
    with pytest.raises(ConfigError, match='"space"'):
        winners(path)
    path.write_text('{"space": "nb201", "winners": []}')
    with pytest.raises(ConfigError, match="no winners"):
        winners(path)


def test_missing_and_malformed_data(tmp_path):
    base = get_recipe("nb201")
    with pytest.raises(DataError, match="data_dir is empty"):
        load_in_memory(apply_overrides(base, ["data_source=npz"]))
    with pytest.raises(DataError, match="does not exist"):
        load_in_memory(apply_overrides(base, ["data_source=folder", f"data_dir={tmp_path / 'nope'}"]))
    with pytest.raises(DataError, match="train/<class>"):
        load_in_memory(apply_overrides(base, ["data_source=folder", f"data_dir={tmp_path}"]))
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((4, 32, 32, 3), np.uint8))
    with pytest.raises(DataError, match=r"lacks arrays \['y_train', 'x_test', 'y_test'\]"):
        load_in_memory(apply_overrides(base, ["data_source=npz", f"data_dir={tmp_path / 'partial.npz'}"]))
    data = make_npz(tmp_path / "tiny.npz", size=16)
    with pytest.raises(DataError, match="image_size"):  # 16px images, the recipe expects 32px
        load_in_memory(apply_overrides(base, ["data_source=npz", f"data_dir={data}"]))
    with pytest.raises(DataError, match="tensorflow-datasets could not open"):
        load_in_memory(apply_overrides(base, [f"data_dir={tmp_path / 'tfds'}"]))


def test_existing_run_needs_resume(finished_run):
    data, workdir = finished_run
    with pytest.raises(CheckpointError, match="already holds checkpoints.*--resume"):
        train_and_evaluate(tiny_config(data, epochs=1, tensorboard=False), workdir, model=TinyCNN(), quiet=True)


def test_mismatched_checkpoint(finished_run):
    data, workdir = finished_run
    with pytest.raises(CheckpointError, match=r"different config \(learning_rate: 0.1 -> 0.05"):
        train_and_evaluate(tiny_config(data, epochs=1, learning_rate=0.05, tensorboard=False), workdir,
                           model=TinyCNN(), resume=True, quiet=True)
    with pytest.raises(CheckpointError, match="parameters of other shapes"):
        train_and_evaluate(tiny_config(data, epochs=1, tensorboard=False), workdir, model=TinyCNN(num_classes=7),
                           resume=True, quiet=True)


def test_corrupt_checkpoint(finished_run, tmp_path):
    data, workdir = finished_run
    import shutil

    copy = tmp_path / "work"
    shutil.copytree(workdir, copy)
    step_dir = max((p for p in (copy / "checkpoints").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    for f in (step_dir / "state").rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "metadata" not in f.name:
            f.write_bytes(b"\x00garbage" * 8)
    with pytest.raises(CheckpointError, match="unreadable or corrupt"):
        train_and_evaluate(tiny_config(data, epochs=1, tensorboard=False), copy, model=TinyCNN(), resume=True,
                           quiet=True)
