"""Bad input fails loudly with an error that names the problem: unknown recipe or field, bad cell, missing data
(checkpoint errors are in test_train_resume.py, beside the run they reuse)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from nasi_nal.errors import ConfigError, DataError, InvalidCellError
from nasi_nal.train import apply_overrides, get_recipe
from nasi_nal.train.__main__ import main as cli_main
from nasi_nal.adapters import parse_cell
from nasi_nal.train.cells import winners
from nasi_nal.train.input_pipeline import load_in_memory
from train_support import make_npz


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


GOOD_NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _bad_runs(tmp_path):
    data = make_npz(tmp_path / "tiny.npz", size=16)
    npz = ["data_source=npz", f"data_dir={data}", "image_size=16"]
    return {
        "no cell": (npz, "no cell given"),
        "invalid cell": (["--cell", "|nor_conv_3x3~0|+|bogus~0|", *npz], "bogus"),
        "missing folder": (["--cell", GOOD_NB201, "data_source=folder", f"data_dir={tmp_path / 'nowhere'}"],
                           "does not exist"),
        "folder without splits": (["--cell", GOOD_NB201, "data_source=folder", f"data_dir={tmp_path}"], "train/<class>"),
        "images of another size": (["--cell", GOOD_NB201, "data_source=npz", f"data_dir={data}"], "image_size"),
    }


@pytest.mark.parametrize("case", ["no cell", "invalid cell", "missing folder", "folder without splits",
                                  "images of another size"])
def test_bad_training_input_creates_nothing(tmp_path, capsys, case):
    argv, message = _bad_runs(tmp_path)[case]
    workdir = tmp_path / "run"
    assert cli_main(["--recipe", "nb201", "--workdir", str(workdir), "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not workdir.exists()


def test_bad_training_input_is_one_line_on_stderr(tmp_path):
    """In a process of its own: a background thread dying at exit would print after the error line."""
    workdir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "nasi_nal.train", "--recipe", "nb201", "--workdir", str(workdir)],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: no cell given") and done.stderr.count("\n") == 1, done.stderr
    assert not workdir.exists()


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    flat = " ".join(capsys.readouterr().out.split())
    assert "which winner of --search-output (0 = best) (default: 0)" in flat
    assert "(default: None)" not in flat and "(default: False)" not in flat


def test_an_unknown_nb101_hash_names_the_trainer_field():
    with pytest.raises(InvalidCellError, match="nb101_table=PATH"):
        parse_cell("nb101", "0" * 32)


@pytest.mark.parametrize("override, message", [
    ("learning_rate=nan", "learning_rate=nan must be a finite number"),
    ("weight_decay=inf", "weight_decay=inf must be a finite number"),
    ("seed=-1", "seed=-1 must be an integer in 0..4294967295"),
    ("momentum=1.5", "momentum=1.5 must be in [0, 1)"),
    ("learning_rate=0", "learning_rate=0.0 must be > 0"),
    ("validation_holdout=-5", "validation_holdout=-5 must be >= 0"),
    ("checkpoint_every_steps=-1", "checkpoint_every_steps=-1 must be >= 0"),
])
def test_bad_training_numbers_are_refused(override, message):
    with pytest.raises(ConfigError) as info:
        apply_overrides(get_recipe("nb201"), [override])
    assert message in str(info.value)


def test_typed_overrides_are_checked_too():
    with pytest.raises(ConfigError, match="'epochs' needs an integer, got 2.5"):
        apply_overrides(get_recipe("nb201"), {"epochs": 2.5})
    with pytest.raises(ConfigError, match="'flip' needs true/false, got 'yes please'"):
        apply_overrides(get_recipe("nb201"), {"flip": "yes please"})


def test_model_overrides_that_build_no_network_are_one_line(tmp_path):
    data = make_npz(tmp_path / "tiny.npz", size=16)
    config = apply_overrides(get_recipe("nb201"), [f"cell={GOOD_NB201}", "data_source=npz", f"data_dir={data}",
                                                   "image_size=16", 'model_overrides={"channels": "x"}'])
    from nasi_nal.train import train_and_evaluate

    with pytest.raises(ConfigError, match=r"model_overrides \{'channels': 'x'\} do not build a network"):
        train_and_evaluate(config, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()
