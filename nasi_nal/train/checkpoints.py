"""Orbax checkpoints of the whole training state, with a JSON record of the config and a sha256 record of the files.

A checkpoint holds the train state (step, parameters, batch statistics, optimizer state, the running sums of
the current epoch) and a JSON ``meta`` item: the config, the parameter shapes and the wall time so far. After orbax
commits a step, ``digests`` records the sha256 of its files; older steps beyond ``keep`` are deleted only then.
Resuming checks all three: a step whose files changed since they were saved, one written by a run with a different
trajectory-relevant config, or one that does not read back, is a one-line ``CheckpointError`` naming the step
folder and the fix, never a silent fresh start or a silently corrupted state.
"""
from __future__ import annotations

import pathlib
import shutil
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from nasi_nal.errors import CheckpointError
from nasi_nal.train import digests
from nasi_nal.train.recipes import BOOKKEEPING_FIELDS


def manager(directory: pathlib.Path) -> ocp.CheckpointManager:
    """A synchronous manager over ``directory``, which the first save creates (a run refused before it creates
    nothing). What a killed run left there is removed first (see :func:`remove_leftovers`), before orbax reads the
    step folders (it warns about half-deleted ones) and without orbax's clean-up thread (it outlives a run that
    fails at once and prints a traceback at exit). Old steps are deleted by :func:`save`, not by orbax."""
    directory = directory.resolve()
    if jax.process_index() == 0 and directory.is_dir():
        remove_leftovers(directory)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("nasi_nal checkpoint clean-up")
    options = ocp.CheckpointManagerOptions(max_to_keep=None, create=False, cleanup_tmp_directories=False,
                                           enable_async_checkpointing=False)
    return ocp.CheckpointManager(directory, options=options, item_names=("state", "meta"))


def remove_leftovers(directory: pathlib.Path) -> None:
    """Removes what a killed run leaves in ``directory``: orbax's temporary folders of a save it had not committed,
    a step committed but not yet recorded (killed before its sha256 record), and an older step whose deletion was
    killed half-way (files missing). The newest recorded step is never removed: if it is damaged, resuming says so.
    Without any record (a run of an older nasi_nal) nothing but the temporary folders is touched."""
    for path in directory.iterdir():
        if ocp.path.step.TMP_DIR_SUFFIX in path.name:
            shutil.rmtree(path)
    steps = sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())
    recorded = [s for s in steps if digests.recorded(directory / str(s))]
    if not recorded:
        return
    for step in steps:
        folder = directory / str(step)
        if step > recorded[-1] or (step < recorded[-1] and not digests.complete(folder)):
            shutil.rmtree(folder)


def save(mgr: ocp.CheckpointManager, step: int, state: Any, meta: dict[str, Any], keep: int) -> None:
    """Writes ``state`` and ``meta`` at ``step`` (overwriting nothing: a step already saved is skipped), records its
    files' sha256, then deletes all but the ``keep`` newest steps."""
    if step in mgr.all_steps():
        return
    mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    mgr.wait_until_finished()
    if jax.process_index() == 0:
        digests.write(_folder(mgr, step))
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"nasi_nal checkpoint {step} recorded")
    for old in mgr.all_steps()[: -max(keep, 1)]:
        mgr.delete(old)


def _folder(mgr: ocp.CheckpointManager, step: int) -> pathlib.Path:
    return pathlib.Path(mgr.directory) / str(step)


def _refusal(mgr: ocp.CheckpointManager, step: int, problem: str) -> CheckpointError:
    """A ``CheckpointError`` naming the step folder, the problem and the fix (fall back to the previous step)."""
    where = _folder(mgr, step)
    earlier = [s for s in mgr.all_steps() if s < step]
    fix = (f"Delete {where} to resume from step {earlier[-1]}" if earlier
           else f"Delete {where} to start the run over (no earlier step is kept)")
    return CheckpointError(f"checkpoint {where} {problem}. {fix}, or start a new workdir")


def _reason(exc: BaseException) -> str:
    """The innermost cause of an orbax/TensorStore error, first line only (their messages dump whole specs)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def verify(mgr: ocp.CheckpointManager, step: int) -> None:
    """Checks the files of ``step`` against their sha256 record; a ``CheckpointError`` if any differs."""
    problem = digests.mismatch(_folder(mgr, step))
    if problem:
        raise _refusal(mgr, step, problem)


def fingerprint_diff(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Config fields (outside the bookkeeping ones) whose values differ, as ``field: saved -> current``."""
    keys = sorted((set(saved) | set(current)) - BOOKKEEPING_FIELDS)
    return [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]


def check_meta(mgr: ocp.CheckpointManager, config: dict[str, Any], shapes: dict[str, Any]) -> dict[str, Any]:
    """The latest checkpoint's meta record, after checking its files against their sha256 record and the meta
    against this run's config and parameter shapes.

    Cheap (hashing the step's files and a small JSON read), so a mismatched resume fails before any data is loaded
    or anything compiles.
    """
    step = mgr.latest_step()
    where = _folder(mgr, step)
    verify(mgr, step)
    try:
        meta = mgr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    except Exception as exc:  # orbax/tensorstore raise many types for unreadable files
        raise _refusal(mgr, step, f"is unreadable (meta: {_reason(exc)})") from exc
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
    where = _folder(mgr, step)
    try:
        state = mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))["state"]
    except Exception as exc:
        raise _refusal(mgr, step, f"is unreadable (state: {_reason(exc)})") from exc
    if int(state.step) != step:
        raise CheckpointError(f"checkpoint {where} holds step {int(state.step)}, not {step}: the folder was "
                              "renamed or mixed; start a new workdir")
    return step, state
