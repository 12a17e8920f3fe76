"""NAL training determinism, checkpoint round trip and corruption errors, the shipped checkpoint."""
import dataclasses
import json

import jax
import numpy as np
import pytest

from nasi_nal.errors import CheckpointError
from nasi_nal.nal import checkpoint, train

from nal_helpers import TINY, random_cellset

CONFIG = train.TrainConfig(top=40, table_fraction=1.0, holdout=0.25, batch_size=8, max_epochs=3, patience=2,
                           model=TINY)


@pytest.fixture(scope="module")
def trained():
    return train.train(random_cellset(60), CONFIG, source={"file": "synthetic"})


def test_split_has_no_overlap_and_respects_partition():
    cells = random_cellset(60)
    split = train.split_experts(cells, dataclasses.replace(CONFIG, table_fraction=0.5, top=10))
    assert not set(split.train.hashes) & set(split.heldout.hashes)
    from nasi_nal.nal import data
    part = {h for h, p in zip(cells.hashes, data.training_partition(cells.hashes, 0.5, 0)) if p}
    assert set(split.train.hashes) | set(split.heldout.hashes) <= part


def test_training_is_bitwise_deterministic(trained, tmp_path):
    again = train.train(random_cellset(60), CONFIG, source={"file": "synthetic"})
    checkpoint.save(tmp_path / "a", trained)
    checkpoint.save(tmp_path / "b", again)
    for ext in ("msgpack", "json"):
        name = f"{checkpoint.PRETRAINED_NAME}.{ext}"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    other = train.train(random_cellset(60), dataclasses.replace(CONFIG, seed=1))
    assert not np.array_equal(other.params["embed"]["kernel"], trained.params["embed"]["kernel"])


def test_metadata_records_what_evaluations_need(trained):
    meta = trained.metadata
    assert len(meta["data"]["train_hashes"]) + len(meta["data"]["heldout_hashes"]) == 40
    assert 0.0 <= meta["heldout_metrics"]["auc"] <= 1.0 and 1 <= meta["best_epoch"] <= meta["epochs_run"] <= 3
    assert meta["heldout_metrics"] == train.evaluate_links(TINY, trained.params, train.split_experts(
        random_cellset(60), CONFIG).heldout)


def test_checkpoint_round_trip(trained, tmp_path):
    checkpoint.save(tmp_path, trained, "m")
    loaded = checkpoint.load(tmp_path, "m")
    assert loaded.config == trained.config and loaded.op_stats == trained.op_stats
    jax.tree_util.tree_map(np.testing.assert_array_equal, loaded.params, trained.params)
    assert loaded.expert_hashes == trained.expert_hashes
    assert loaded.metadata["heldout_metrics"] == trained.metadata["heldout_metrics"]


def test_corrupt_checkpoints_raise_clear_errors(trained, tmp_path):
    checkpoint.save(tmp_path, trained, "m")
    blob = (tmp_path / "m.msgpack").read_bytes()
    (tmp_path / "m.msgpack").write_bytes(blob[:-10] + b"0123456789")
    with pytest.raises(CheckpointError, match="SHA-256"):
        checkpoint.load(tmp_path, "m")
    (tmp_path / "m.msgpack").write_bytes(blob)
    meta = json.loads((tmp_path / "m.json").read_text())
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        checkpoint.load(tmp_path, "m")
    meta["model"]["hidden"] = 32
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not match the model config|cannot be decoded"):
        checkpoint.load(tmp_path, "m")
    with pytest.raises(CheckpointError, match="missing"):
        checkpoint.load(tmp_path, "absent")


def test_shipped_checkpoint_loads_and_is_trained():
    model = checkpoint.load_pretrained()
    meta = model.metadata
    assert meta["data"]["source"]["file"] == "nb101_cifar10_sample20001.npz"
    assert meta["heldout_metrics"]["auc"] > 0.75  # a trained model, far from chance (0.5)
    assert not set(meta["data"]["train_hashes"]) & set(meta["data"]["heldout_hashes"])


def test_shipped_checkpoint_metrics_reproduce_from_the_sample(reference_file):
    from nasi_nal.nal import data, evaluate
    from nasi_nal.tables.nb101 import load_nb101

    model = checkpoint.load_pretrained()
    table = load_nb101(reference_file("nb101_cifar10_sample20001.npz"))
    rows = [i for i, h in enumerate(table.hashes.tolist()) if h in set(model.metadata["data"]["heldout_hashes"])]
    metrics = evaluate.link_metrics(data.cellset_from_table(table.select(rows)), model)
    assert metrics["auc"] == pytest.approx(model.metadata["heldout_metrics"]["auc"], abs=1e-6)
    assert metrics["ap"] == pytest.approx(model.metadata["heldout_metrics"]["ap"], abs=1e-6)


@pytest.mark.slow
def test_cli_reproduces_shipped_checkpoint_bitwise(reference_file, tmp_path):
    path = reference_file("nb101_cifar10_sample20001.npz")
    assert train.main(["--table", str(path), "--seed", "0", "--out", str(tmp_path), "--quiet"]) == 0
    for ext in ("msgpack", "json"):
        name = f"{checkpoint.PRETRAINED_NAME}.{ext}"
        assert (tmp_path / name).read_bytes() == (checkpoint.PRETRAINED_DIR / name).read_bytes()
