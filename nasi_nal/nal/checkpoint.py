"""NAL checkpoints: parameters as msgpack (``flax.serialization``) plus a JSON of config, data, seed and metrics.

A checkpoint is two files in one folder, ``<name>.msgpack`` and ``<name>.json``. The JSON records the model
config, the training config, the data source (file name and SHA-256), the seed, the held-out link metrics, the
expert op statistics used for generation, the hashes of every expert cell the model saw (training and held-out:
evaluations must exclude them) and the SHA-256 of the msgpack, checked on load. No pickle is involved.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib

import flax.serialization
import jax
import numpy as np

from nasi_nal.errors import CheckpointError
from nasi_nal.nal.data import OpStats
from nasi_nal.nal.model import ModelConfig, init_params

FORMAT = "nasi_nal.nal/1"
PRETRAINED_DIR = pathlib.Path(__file__).resolve().parent / "checkpoints"
PRETRAINED_NAME = "nal_gat_nb101"


@dataclasses.dataclass(frozen=True)
class TrainedNAL:
    """A trained link predictor: model config, parameters, expert op statistics and the JSON metadata."""

    config: ModelConfig
    params: dict
    op_stats: OpStats
    metadata: dict

    @property
    def expert_hashes(self) -> frozenset[str]:
        """Hashes of every expert cell used in training or early stopping (exclude them from evaluations)."""
        return frozenset(self.metadata["data"]["train_hashes"]) | frozenset(self.metadata["data"]["heldout_hashes"])


def _paths(directory: str | pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path]:
    directory = pathlib.Path(directory)
    return directory / f"{name}.msgpack", directory / f"{name}.json"


def save(directory: str | pathlib.Path, model: TrainedNAL, name: str = PRETRAINED_NAME) -> pathlib.Path:
    """Writes ``model`` as ``<directory>/<name>.msgpack`` and ``.json``; returns the JSON path.

    Serialisation is deterministic (sorted JSON keys, msgpack of host arrays), so equal models give equal bytes.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    blob = flax.serialization.to_bytes(jax.device_get(model.params))
    msgpack_path, json_path = _paths(directory, name)
    meta = dict(model.metadata)
    meta.update(format=FORMAT, model=dataclasses.asdict(model.config), op_stats=model.op_stats.to_json(),
                params_sha256=hashlib.sha256(blob).hexdigest())
    msgpack_path.write_bytes(blob)
    json_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return json_path


def load(directory: str | pathlib.Path = PRETRAINED_DIR, name: str = PRETRAINED_NAME) -> TrainedNAL:
    """Reads a checkpoint written by :func:`save`; any missing, corrupt or mismatched part is a CheckpointError."""
    msgpack_path, json_path = _paths(directory, name)
    for path in (msgpack_path, json_path):
        if not path.is_file():
            raise CheckpointError(f"NAL checkpoint file {path} is missing: train one with "
                                  "`python -m nasi_nal.nal.train --table PATH --out DIR` or pass the right folder")
    try:
        meta = json.loads(json_path.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format is {meta.get('format')!r}, expected {FORMAT!r}")
        config = ModelConfig(**meta["model"])
        op_stats = OpStats.from_json(meta["op_stats"])
        expected_sha = meta["params_sha256"]
        for key in ("train_hashes", "heldout_hashes"):
            if not isinstance(meta["data"][key], list):
                raise ValueError(f"data.{key} must be a list of cell hashes")
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"NAL checkpoint metadata {json_path} is corrupt or from another version ({err}): "
                              "retrain with `python -m nasi_nal.nal.train`") from err
    blob = msgpack_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != expected_sha:
        raise CheckpointError(f"NAL checkpoint parameters {msgpack_path} do not match the SHA-256 recorded in "
                              f"{json_path} (corrupt or replaced file): restore both files or retrain")
    template = init_params(config, jax.random.PRNGKey(0))
    try:
        params = flax.serialization.from_bytes(template, blob)
    except Exception as err:  # msgpack and flax raise several unrelated types on malformed input
        raise CheckpointError(f"NAL checkpoint parameters {msgpack_path} cannot be decoded for the model config "
                              f"in {json_path} ({type(err).__name__}: {err}): retrain") from err
    shapes_ok = jax.tree_util.tree_all(jax.tree_util.tree_map(
        lambda a, b: np.shape(a) == np.shape(b), template, params))
    if not shapes_ok:
        raise CheckpointError(f"NAL checkpoint parameters {msgpack_path} have shapes that do not match the model "
                              f"config in {json_path}: retrain")
    return TrainedNAL(config=config, params=params, op_stats=op_stats, metadata=meta)


def load_pretrained() -> TrainedNAL:
    """The checkpoint shipped in the package (trained on the 20,001-cell NAS-Bench-101 sample; see its JSON)."""
    return load(PRETRAINED_DIR, PRETRAINED_NAME)
