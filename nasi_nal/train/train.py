"""The trainer: ``train_and_evaluate(config, workdir) -> summary``, as in flax ``examples/imagenet/train.py``.

One jitted step does augmentation, forward, loss, backward and the optax update; it is compiled once and its
randomness is ``fold_in(key, step)`` (big_vision), so a run resumed from any checkpoint retraces the
uninterrupted one exactly. The epoch's example order is ``permutation(fold_in(data_key, epoch))``, computed on
the device, so the host never feeds indices and all hosts agree. Data parallelism uses ``jax.sharding``: a 1-D
``Mesh`` over every device, the batch sharded on ``"data"``, parameters and optimizer state replicated; XLA
inserts the gradient and batch-norm all-reduces, so 1 and N devices compute the same function.
"""
from __future__ import annotations

import csv
import dataclasses
import inspect
import json
import math
import pathlib
import time
from typing import Any, Callable

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from tqdm import tqdm

from nasi_nal import report
from nasi_nal.errors import CheckpointError, ConfigError, NasiNalError, NotBuiltError, TrainingError
from nasi_nal.networks.common import count_params
from nasi_nal.train import checkpoints, input_pipeline
from nasi_nal.train.recipes import TrainConfig, to_dict, validate

CSV_FIELDS = ("epoch", "step", "learning_rate", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss",
              "test_acc", "epoch_seconds")


class TrainState(flax.struct.PyTreeNode):
    """Everything a step changes; checkpointed whole, so a resumed run continues mid-epoch exactly."""

    step: jax.Array  # int32 scalar: optimizer steps taken
    params: Any
    batch_stats: Any  # {} for networks without batch norm
    opt_state: Any
    epoch_sums: jax.Array  # (3,) float32: loss sum, correct predictions, examples, over the current epoch


def build_model(config: TrainConfig) -> nn.Module:
    """The configured space's network for the configured cell (``nasi_nal.networks.build.build``)."""
    from nasi_nal.adapters import parse_cell

    if not config.space:
        raise ConfigError("no space given: set space=nb101|nb201|darts (or use a recipe), or pass a Flax module "
                          "to train_and_evaluate(model=...)")
    cell = parse_cell(config.space, config.cell, config.nb101_table)
    try:
        from nasi_nal.networks.build import build
    except ImportError as exc:
        raise NotBuiltError(f"nasi_nal.networks.build is not available ({exc}); pass a Flax module to "
                            "train_and_evaluate(model=...) instead") from exc
    dtype = jnp.bfloat16 if config.dtype == "bfloat16" else jnp.float32
    if config.space == "darts" and config.dataset == "imagenet2012":  # build() gives the CIFAR network
        from nasi_nal.networks.darts import DartsImageNetNetwork

        return DartsImageNetNetwork(cell, num_classes=config.num_classes, dtype=dtype,
                                    batch_norm=config.batch_norm, **dict(config.model_overrides))
    return build(config.space, cell, proxy=config.proxy, num_classes=config.num_classes, dtype=dtype,
                 batch_norm=config.batch_norm, **dict(config.model_overrides))


def _model_and_params(config: TrainConfig, model: nn.Module | None, sample: jax.Array) -> tuple[nn.Module, Any]:
    """The network (``model``, else the configured one) and the shapes of its parameters (``jax.eval_shape``).

    ``model_overrides`` reach the network's constructor unchecked, so a wrong name or type surfaces here, as a
    ``ConfigError`` naming them rather than a traceback from inside the network.
    """
    try:
        model = build_model(config) if model is None else model
        return model, jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), sample, train=False))["params"]
    except (TypeError, ValueError) as exc:
        if isinstance(exc, NasiNalError) or not config.model_overrides:
            raise
        raise ConfigError(f"model_overrides {dict(config.model_overrides)} do not build a network "
                          f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}): check their names and "
                          "types") from exc


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int) -> optax.Schedule:
    """The recipe's learning rate as a function of the optimizer step."""
    total = config.epochs * steps_per_epoch
    warmup = config.warmup_epochs * steps_per_epoch
    if config.lr_schedule == "cosine":
        main = optax.cosine_decay_schedule(config.learning_rate, max(total - warmup, 1))
    else:  # exponential_epoch: DARTS ImageNet's StepLR(step_size=1, gamma=0.97), stepped once per epoch
        main = optax.exponential_decay(config.learning_rate, steps_per_epoch, config.lr_decay_rate, staircase=True)
    if warmup:
        main = optax.join_schedules([optax.linear_schedule(0.0, config.learning_rate, warmup), main], [warmup])
    if config.zero_lr_first_step:  # nasbench model_builder: "Set LR to 0 for step 0"
        inner = main

        def main(count: jax.Array) -> jax.Array:
            return jnp.where(count == 0, 0.0, inner(count))

    return main


def make_optimizer(config: TrainConfig, schedule: optax.Schedule) -> optax.GradientTransformation:
    """Clip (global norm) -> coupled L2 weight decay -> SGD/RMSProp, the order of PyTorch's ``clip_grad_norm_``
    then ``SGD(weight_decay=...)`` (DARTS, NB201) and of TF's ``loss + wd * l2_loss`` (NB101)."""
    parts = []
    if config.grad_clip_norm:
        parts.append(optax.clip_by_global_norm(config.grad_clip_norm))
    if config.weight_decay:
        parts.append(optax.add_decayed_weights(config.weight_decay))
    if config.optimizer == "sgd":
        parts.append(optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.nesterov))
    else:  # TF1 RMSPropOptimizer: epsilon inside the square root, accumulator initialised to 1
        parts.append(optax.rmsprop(schedule, decay=config.rmsprop_decay, eps=config.rmsprop_eps,
                                   initial_scale=config.rmsprop_initial_scale, eps_in_sqrt=True,
                                   momentum=config.momentum or None))
    return optax.chain(*parts)


def cross_entropy(logits: jax.Array, labels: jax.Array, num_classes: int, smoothing: float) -> jax.Array:
    """Per-example softmax cross-entropy in float32, with optional label smoothing."""
    targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), smoothing) if smoothing else \
        jax.nn.one_hot(labels, num_classes)
    return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)


def _aux_logits(intermediates: Any) -> list[jax.Array]:
    """Every value sown as ``aux_logits`` (at any depth) in the ``intermediates`` collection."""
    found = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(intermediates)[0]:
        if any(getattr(k, "key", None) == "aux_logits" for k in path):
            found.append(leaf)
    return found


@dataclasses.dataclass
class StepSpec:
    """What the step functions close over (static for the compiled program)."""

    model: nn.Module
    config: TrainConfig
    tx: optax.GradientTransformation
    steps_per_epoch: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    takes_drop_path: bool
    data_sharding: NamedSharding


def make_train_step(run: StepSpec, base_key: jax.Array, in_memory: bool) -> Callable[..., TrainState]:
    """The (unjitted) train step ``(state, images, labels, order) -> state``.

    In memory, ``images``/``labels`` are the whole uint8 training set and ``order`` the epoch's permutation; the
    step slices its batch from ``order`` by ``state.step``. Streamed, they are the batch and ``order`` is unused.
    """
    cfg = run.config
    dtype = jnp.bfloat16 if cfg.dtype == "bfloat16" else jnp.float32

    def step_fn(state: TrainState, images: jax.Array, labels: jax.Array, order: jax.Array) -> TrainState:
        key = jax.random.fold_in(base_key, state.step)
        aug_key, dropout_key = jax.random.split(key)
        in_epoch = state.step % run.steps_per_epoch
        if in_memory:  # images/labels are the whole training set; order is this epoch's permutation
            idx = jax.lax.dynamic_slice_in_dim(order, in_epoch * cfg.batch_size, cfg.batch_size)
            idx = jax.lax.with_sharding_constraint(idx, run.data_sharding)
            x_u8, y = images[idx], labels[idx]
            x = input_pipeline.augment(aug_key, x_u8, crop_padding=cfg.crop_padding, flip=cfg.flip,
                                       cutout=cfg.cutout, mean=run.mean, std=run.std, dtype=dtype)
        else:  # a streamed batch, already cropped and flipped on the host
            x, y = input_pipeline.normalize(images, run.mean, run.std, dtype), labels
        x = jax.lax.with_sharding_constraint(x, run.data_sharding)
        kwargs = {}
        if run.takes_drop_path:  # DARTS: drop_path_prob * epoch / epochs (quark0/darts train.py)
            epoch = (state.step // run.steps_per_epoch).astype(jnp.float32)
            kwargs["drop_path_rate"] = cfg.drop_path * epoch / cfg.epochs

        def loss_fn(params: Any) -> tuple[jax.Array, tuple[jax.Array, Any]]:
            variables = {"params": params, **({"batch_stats": state.batch_stats} if state.batch_stats else {})}
            logits, updates = run.model.apply(variables, x, train=True, rngs={"dropout": dropout_key},
                                              mutable=["batch_stats", "intermediates"], **kwargs)
            per_example = cross_entropy(logits, y, cfg.num_classes, cfg.label_smoothing)
            loss = per_example.mean()
            if cfg.aux_weight:
                aux = _aux_logits(updates.get("intermediates", {}))
                if not aux:
                    raise ConfigError(f"aux_weight={cfg.aux_weight} but the network sows no 'aux_logits' in train "
                                      "mode; build it with its auxiliary head or set aux_weight=0")
                loss = loss + cfg.aux_weight * sum(
                    cross_entropy(a, y, cfg.num_classes, cfg.label_smoothing).mean() for a in aux)
            return loss, (per_example, logits, updates.get("batch_stats", {}))

        (_, (per_example, logits, new_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = run.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        correct = jnp.sum(jnp.argmax(logits, -1) == y)
        sums = jnp.where(in_epoch == 0, jnp.zeros(3), state.epoch_sums)
        sums = sums + jnp.stack([per_example.sum(), correct.astype(jnp.float32), jnp.float32(y.shape[0])])
        return TrainState(state.step + 1, params, new_stats, opt_state, sums)

    return step_fn


def make_eval_step(run: StepSpec) -> Callable[..., jax.Array]:
    """The eval step ``(state, images, labels, mask) -> [loss sum, correct, count]`` over a padded batch."""
    cfg = run.config
    dtype = jnp.bfloat16 if cfg.dtype == "bfloat16" else jnp.float32

    def eval_fn(state: TrainState, images: jax.Array, labels: jax.Array, mask: jax.Array) -> jax.Array:
        x = jax.lax.with_sharding_constraint(input_pipeline.normalize(images, run.mean, run.std, dtype),
                                             run.data_sharding)
        variables = {"params": state.params, **({"batch_stats": state.batch_stats} if state.batch_stats else {})}
        logits = run.model.apply(variables, x, train=False)
        loss = cross_entropy(logits, labels, cfg.num_classes, 0.0)
        correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
        return jnp.stack([jnp.sum(loss * mask), jnp.sum(correct * mask), jnp.sum(mask)])

    return eval_fn


def _pad_batches(x: np.ndarray, y: np.ndarray, batch: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Fixed-size batches (the last one zero-padded, with a mask) so evaluation compiles once."""
    out = []
    for start in range(0, len(x), batch):
        xb, yb = x[start: start + batch], y[start: start + batch]
        n = len(xb)
        mask = np.zeros(batch, np.float32)
        mask[:n] = 1.0
        if n < batch:
            xb = np.concatenate([xb, np.zeros((batch - n, *xb.shape[1:]), xb.dtype)])
            yb = np.concatenate([yb, np.zeros(batch - n, yb.dtype)])
        out.append((xb, yb, mask))
    return out


def _put_global(x: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """Places a host array that every process holds whole (in-memory data, eval batches) on the mesh."""
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


class _Writers:
    """Per-epoch metrics to ``metrics.csv`` and TensorBoard (tensorboardX: event files without TensorFlow)."""

    def __init__(self, workdir: pathlib.Path, enabled: bool, tensorboard: bool, resume_step: int):
        self.enabled = enabled
        self.csv_path = workdir / "metrics.csv"
        self.tb = None
        if not enabled:
            return
        rows = []
        if resume_step and self.csv_path.exists():  # drop rows a killed run wrote after its last checkpoint
            with open(self.csv_path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(self.csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        if tensorboard:
            try:
                from tensorboardX import SummaryWriter
            except ImportError as exc:
                raise ConfigError("tensorboard=true needs the tensorboardX package (pip install tensorboardX); "
                                  "install it or set tensorboard=false") from exc
            self.tb = SummaryWriter(str(workdir / "tensorboard"), purge_step=resume_step or None)

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.csv_path, "a", newline="") as f:
            csv.DictWriter(f, CSV_FIELDS).writerow(row)
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("epoch", "step") and v != "":
                    self.tb.add_scalar(k, float(v), int(row["step"]))
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _write_json(path: pathlib.Path, payload: dict[str, Any]) -> None:
    """Indented JSON, written to a temporary name and renamed into place (never half-written)."""
    with report.atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")


def _read_rows(path: pathlib.Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def train_and_evaluate(config: TrainConfig, workdir: str | pathlib.Path, *, model: nn.Module | None = None,
                       resume: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Trains to the config's schedule, evaluating after every epoch; returns (and writes) the summary.

    Args:
        config: a recipe with overrides (``nasi_nal.train.recipes``).
        workdir: gets ``config.json``, ``checkpoints/``, ``metrics.csv``, ``tensorboard/`` and ``summary.json``.
        model: a Flax module ``__call__(x, train) -> logits`` to train instead of building ``config.space``'s
            network for ``config.cell`` (notebooks, tests).
        resume: continue from the latest checkpoint in ``workdir``. Without it, a workdir that already holds
            checkpoints is an error (never silently overwritten).
        quiet: no progress bar.

    Returns:
        ``{"final_test_acc", "best_test_acc", "best_epoch", "final_val_acc", "wall_seconds", "device",
        "num_devices", "param_count", "steps", ...}``.
    """
    config = validate(config)
    if config.distributed:
        jax.distributed.initialize()
    sample = jnp.zeros((1, config.image_size, config.image_size, 3), jnp.float32)
    model, abstract_params = _model_and_params(config, model, sample)  # a bad cell fails before anything is created
    workdir = pathlib.Path(workdir)
    is_main = jax.process_index() == 0
    ckpt_dir = workdir / "checkpoints"
    mgr = checkpoints.manager(ckpt_dir)
    if mgr.latest_step() is not None and not resume:
        raise CheckpointError(f"{workdir} already holds checkpoints (latest step {mgr.latest_step()}); pass "
                              "--resume (resume=True) to continue that run, or choose an empty workdir")
    shapes = {"/".join(str(getattr(k, "key", k)) for k in path): list(leaf.shape)
              for path, leaf in jax.tree_util.tree_flatten_with_path(abstract_params)[0]}
    config_dict = to_dict(config)
    meta = checkpoints.check_meta(mgr, config_dict, shapes) if resume and mgr.latest_step() is not None else None
    devices = jax.devices()
    mesh = Mesh(np.asarray(devices), ("data",))
    data_sharding, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    for name in ("batch_size", "eval_batch_size"):
        if getattr(config, name) % len(devices):
            raise ConfigError(f"{name}={getattr(config, name)} is not divisible by the {len(devices)} devices; "
                              f"choose a multiple of {len(devices)}")

    # --- data ------------------------------------------------------------------------------------------------
    if config.stream:
        train_src, test_src = input_pipeline.open_stream_sources(config)
        n_train = len(train_src)
        mean, std = input_pipeline.IMAGENET_MEAN, input_pipeline.IMAGENET_STD
        data = None
    else:
        data = input_pipeline.load_in_memory(config)
        n_train = len(data.x_train)
        mean, std = data.mean, data.std
    steps_per_epoch = n_train // config.batch_size
    if steps_per_epoch == 0:
        raise ConfigError(f"batch_size={config.batch_size} exceeds the {n_train} training images: lower batch_size")
    total_steps = config.epochs * steps_per_epoch

    # --- state -----------------------------------------------------------------------------------------------
    schedule = learning_rate_schedule(config, steps_per_epoch)
    tx = make_optimizer(config, schedule)
    root = jax.random.PRNGKey(config.seed)
    init_key, train_key, data_key = jax.random.split(root, 3)

    def init_state(key: jax.Array) -> TrainState:
        variables = model.init(key, sample, train=False)
        params = variables["params"]
        return TrainState(jnp.zeros((), jnp.int32), params, variables.get("batch_stats", {}), tx.init(params),
                          jnp.zeros(3, jnp.float32))

    prior_seconds = 0.0
    start_step = 0
    if meta is not None:  # restore into the shapes of a fresh state, without computing one
        abstract = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated),
                                          jax.eval_shape(init_state, init_key))
        start_step, state = checkpoints.restore_state(mgr, abstract)
        prior_seconds = float(meta.get("wall_seconds", 0.0))
        if not quiet and is_main:
            print(f"resuming {workdir} from step {start_step} (epoch {start_step / steps_per_epoch:.2f})")
    else:
        state = jax.jit(init_state, out_shardings=replicated)(init_key)
        if resume and not quiet and is_main:
            print(f"no checkpoint in {ckpt_dir}: starting {workdir} from step 0")
    if is_main:
        workdir.mkdir(parents=True, exist_ok=True)
        _write_json(workdir / "config.json", config_dict)

    takes_drop_path = "drop_path_rate" in inspect.signature(model.__call__).parameters
    if config.drop_path and not takes_drop_path:
        raise ConfigError(f"drop_path={config.drop_path} but {type(model).__name__} takes no drop_path_rate "
                          "argument; set drop_path=0")
    run = StepSpec(model, config, tx, steps_per_epoch, tuple(mean), tuple(std), takes_drop_path, data_sharding)
    train_step = jax.jit(make_train_step(run, train_key, in_memory=not config.stream), donate_argnums=0)
    eval_step = jax.jit(make_eval_step(run))
    epoch_order = jax.jit(lambda e: jax.random.permutation(jax.random.fold_in(data_key, e), n_train),
                          out_shardings=replicated)

    if data is not None:
        x_train, y_train = _put_global(data.x_train, replicated), _put_global(data.y_train, replicated)
        evals = {name: [tuple(_put_global(a, s) for a, s in zip(b, (data_sharding,) * 3))
                        for b in _pad_batches(x, y, config.eval_batch_size)]
                 for name, x, y in (("val", data.x_val, data.y_val), ("test", data.x_test, data.y_test)) if len(x)}

    def evaluate() -> dict[str, float]:
        out = {}
        if data is not None:
            batches = evals.items()
        else:  # ImageNet: stream the validation split through the same fixed-size, masked batches
            stream = input_pipeline.stream_eval_batches(test_src, config.image_size, config.eval_batch_size)
            batches = [("test", (tuple(_put_global(a, data_sharding)
                                       for a in _pad_batches(x, y, config.eval_batch_size)[0]) for x, y in stream))]
        for name, items in batches:
            total = sum(np.asarray(eval_step(state, *b)) for b in items)
            out[f"{name}_loss"] = float(total[0] / total[2])
            out[f"{name}_acc"] = float(total[1] / total[2])
        return out

    writers = _Writers(workdir, is_main, config.tensorboard, start_step)
    bar = tqdm(total=total_steps, initial=start_step, disable=quiet or not is_main, unit="step", dynamic_ncols=True)
    t_start = time.perf_counter()
    seconds = lambda: prior_seconds + time.perf_counter() - t_start  # noqa: E731

    def save(step: int) -> None:
        meta = {"config": config_dict, "param_shapes": shapes, "wall_seconds": seconds(), "step": step}
        checkpoints.save(mgr, step, state, meta, config.keep_checkpoints)

    step = start_step
    try:
        for epoch in range(start_step // steps_per_epoch, config.epochs):
            t_epoch = time.perf_counter()
            order = epoch_order(epoch)
            first = step - epoch * steps_per_epoch
            if data is not None:
                batches = ((x_train, y_train) for _ in range(first, steps_per_epoch))
            else:
                pid, nproc = jax.process_index(), jax.process_count()
                local = config.batch_size // nproc
                order_np = np.asarray(order)
                mine = np.concatenate([order_np[s * config.batch_size + pid * local:
                                                s * config.batch_size + (pid + 1) * local]
                                       for s in range(steps_per_epoch)])
                local_cfg = dataclasses.replace(config, batch_size=local)
                batches = ((jax.make_array_from_process_local_data(data_sharding, xb),
                            jax.make_array_from_process_local_data(data_sharding, yb))
                           for xb, yb in input_pipeline.stream_train_batches(train_src, local_cfg, epoch, first,
                                                                            steps_per_epoch, mine))
            for images, labels in batches:
                state = train_step(state, images, labels, order)
                step += 1
                bar.update(1)
                if config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0 \
                        and step % steps_per_epoch:
                    save(step)
            sums = np.asarray(state.epoch_sums)
            train_loss, train_acc = float(sums[0] / sums[2]), float(sums[1] / sums[2])
            if not math.isfinite(train_loss):
                raise TrainingError(f"train_loss is {train_loss} in epoch {epoch + 1} (step {step}); lower "
                                    "learning_rate, enable grad_clip_norm, or use float32")
            metrics = evaluate()
            row = {"epoch": epoch + 1, "step": step, "learning_rate": float(schedule(step - 1)),
                   "train_loss": train_loss, "train_acc": train_acc, "val_loss": metrics.get("val_loss", ""),
                   "val_acc": metrics.get("val_acc", ""), "test_loss": metrics["test_loss"],
                   "test_acc": metrics["test_acc"], "epoch_seconds": time.perf_counter() - t_epoch}
            writers.write(row)
            bar.set_postfix(loss=f"{train_loss:.3f}", test_acc=f"{metrics['test_acc']:.4f}")
            # Epoch-end saves come after the metrics row, so a resumed run never loses or repeats a row.
            if epoch + 1 == config.epochs \
                    or (config.checkpoint_every_epochs and (epoch + 1) % config.checkpoint_every_epochs == 0) \
                    or (config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0):
                save(step)
    finally:
        bar.close()
        writers.close()

    rows = _read_rows(workdir / "metrics.csv") if is_main else []
    best = max(rows, key=lambda r: float(r["test_acc"])) if rows else {}
    summary = {
        "recipe": config.recipe, "space": config.space, "cell": config.cell, "dataset": config.dataset,
        "epochs": config.epochs, "steps": int(state.step),
        "final_train_loss": float(rows[-1]["train_loss"]) if rows else None,
        "final_test_acc": float(rows[-1]["test_acc"]) if rows else None,
        "final_val_acc": float(rows[-1]["val_acc"]) if rows and rows[-1]["val_acc"] else None,
        "best_test_acc": float(best["test_acc"]) if best else None,
        "best_epoch": int(best["epoch"]) if best else None,
        "wall_seconds": seconds(), "device": devices[0].device_kind, "platform": devices[0].platform,
        "num_devices": len(devices), "num_processes": jax.process_count(),
        "param_count": count_params(model, (1, config.image_size, config.image_size, 3)),
        "workdir": str(workdir),
    }
    if is_main:
        _write_json(workdir / "summary.json", summary)
    return summary
