"""Orbax checkpoints of the whole training state, with a JSON record of the config that wrote them.

A checkpoint holds the train state (step, parameters, batch statistics, optimizer state, the running sums of
the current epoch) and a JSON ``meta`` item: the config, the parameter shapes and the wall time so far. Resuming
checks both: a checkpoint written by a run with a different trajectory-relevant config, or one that does not
read back, is a ``CheckpointError`` naming the difference or the file, never a silent fresh start.
"""
from __future__ import annotations

import pathlib
import shutil
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from nasi_nal.errors import CheckpointError
from nasi_nal.train.recipes import BOOKKEEPING_FIELDS


def manager(directory: pathlib.Path, keep: int) -> ocp.CheckpointManager:
    """A synchronous manager over ``directory``, which the first save creates (a run refused before it creates
    nothing). Orbax writes each step into a temporary folder and renames it when complete, so a kill can only lose
    the step being written; such temporary folders of a killed run are removed here, before the manager reads the
    directory (orbax's own clean-up runs in a thread that outlives a run that fails at once)."""
    directory = directory.resolve()
    if jax.process_index() == 0 and directory.is_dir():
        for path in directory.iterdir():
            if ocp.path.step.TMP_DIR_SUFFIX in path.name:
                shutil.rmtree(path)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("nasi_nal checkpoint clean-up")
    options = ocp.CheckpointManagerOptions(max_to_keep=max(keep, 1), create=False, cleanup_tmp_directories=False,
                                           enable_async_checkpointing=False)
    return ocp.CheckpointManager(directory, options=options, item_names=("state", "meta"))


def save(mgr: ocp.CheckpointManager, step: int, state: Any, meta: dict[str, Any]) -> None:
    """Writes ``state`` and ``meta`` at ``step`` (overwriting nothing: a step already saved is skipped)."""
    if step in mgr.all_steps():
        return
    mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    mgr.wait_until_finished()


def fingerprint_diff(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Config fields (outside the bookkeeping ones) whose values differ, as ``field: saved -> current``."""
    keys = sorted((set(saved) | set(current)) - BOOKKEEPING_FIELDS)
    return [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]


def check_meta(mgr: ocp.CheckpointManager, config: dict[str, Any], shapes: dict[str, Any]) -> dict[str, Any]:
    """The latest checkpoint's meta record, after checking it against this run's config and parameter shapes.

    Cheap (a small JSON read), so a mismatched resume fails before any data is loaded or anything compiles.
    """
    step = mgr.latest_step()
    where = pathlib.Path(mgr.directory) / str(step)
    try:
        meta = mgr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    except Exception as exc:  # orbax/tensorstore raise many types for unreadable files
        raise CheckpointError(f"checkpoint {where} is unreadable or corrupt (meta: {type(exc).__name__}: {exc}). "
                              "Delete that step folder to fall back to an earlier one, or start a new workdir") from exc
    if not isinstance(meta, dict) or "config" not in meta or "param_shapes" not in meta:
        raise CheckpointError(f"checkpoint {where} has no nasi_nal meta record: it was not written by "
                              "nasi_nal.train; start a new workdir")
    diff = fingerprint_diff(meta["config"], config)
    if diff:
        raise CheckpointError(f"checkpoint {where} was written with a different config ({'; '.join(diff)}). "
                              "Resume with the original settings or start a new workdir")
    if meta["param_shapes"] != shapes:
        raise CheckpointError(f"checkpoint {where} holds parameters of other shapes than this model's: the "
                              "network differs (builder or cell changed); start a new workdir")
    return meta


def restore_state(mgr: ocp.CheckpointManager, abstract: Any) -> tuple[int, Any]:
    """(step, state) of the latest checkpoint, restored into ``abstract``: the state's pytree of
    ``jax.ShapeDtypeStruct`` with shardings (``jax.eval_shape`` of the initialiser)."""
    step = mgr.latest_step()
    where = pathlib.Path(mgr.directory) / str(step)
    try:
        state = mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))["state"]
    except Exception as exc:
        raise CheckpointError(f"checkpoint {where} is unreadable or corrupt (state: {type(exc).__name__}: {exc}). "
                              "Delete that step folder to fall back to an earlier one, or start a new workdir") from exc
    if int(state.step) != step:
        raise CheckpointError(f"checkpoint {where} holds step {int(state.step)}, not {step}: the folder was "
                              "renamed or mixed; start a new workdir")
    return step, state
