"""The end-to-end search: propose -> de-duplicate -> score at initialization -> rank -> top-k -> train -> report.

``search(...)`` is the Python API; ``python -m nasi_nal.search`` is a thin command line over it. Methods:

* ``nal+nasi`` (default): the NAL graph-attention model proposes cells (NAS-Bench-101 directly; NAS-Bench-201 and
  DARTS through its documented transfer mapping), NASI's penalised NTK-trace score ranks them.
* ``nal``: the same proposals, ranked by the model's own log-probability (no network is built).
* ``nasi``: NASI's one-shot Gumbel-softmax supernet search (NAS-Bench-201, DARTS). NAS-Bench-101 has no fixed
  edge set to relax into a supernet, so there ``nasi`` ranks uniformly sampled cells by NASI's penalised score.
* ``random``: uniformly sampled cells, kept in sampling order (the random-search baseline; nothing is scored).
* any score name of ``nasi_nal.scores.SCORES`` (``synflow``, ``nwot``, ``ntk_cond``, ...): uniformly sampled
  cells ranked by that score.

Scoring builds each candidate's network at its proxy size (``nasi_nal.networks.build(..., proxy=True)``), draws
its variables from ``nasi_nal.scores.cell_key(seed, the cell's canonical key)`` (so a cell's score never depends on
the other candidates), and scores it on one batch shared by all candidates (Gaussian inputs and random labels by
default: NASI's data- and label-agnostic mode) with batch norm in ``config.bn`` mode. ``nasi_nal.scores.choose``
picks the engines (``engine="auto"``: blockwise on a CPU, the masked engine on a GPU/TPU for the scores it
computes); the report's ``details.engines`` says which ran. The masked engine draws a cell's variables with its own
network, so an accelerator's ranking is not a CPU's draw for draw (each is deterministic).
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import pathlib
import platform
import sys
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal import report, scores
from nasi_nal.errors import NasiNalError
from nasi_nal.networks import build, count_params
from nasi_nal.scores import ensemble
from nasi_nal.scores.common import check_bn, check_probes, draw_keys
from nasi_nal.spaces import darts, nb101, nb201

SCHEMA = "nasi_nal.search/1"
SPACES = ("nb101", "nb201", "darts")
METHODS = ("nal+nasi", "nal", "nasi", "ensemble", "random")
DATA_MODES = ("gaussian", "cifar10")
SCORING_BATCH = 16  # default batch of the per-cell scores: small, as every candidate compiles its own network
DEFAULT_TOP_K = 5
POOL_SIZE = 512  # real images loaded to draw scoring batches from
DEFAULT_RECIPES = {"nb101": "nb101", "nb201": "nb201", "darts": "darts_cifar"}  # trainer recipe per space


def method_names() -> tuple[str, ...]:
    """Every accepted ``method``: the pipeline methods, then each registered score name."""
    return METHODS + tuple(sorted(scores.SCORES))


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Everything that determines a search's result (timings aside). Same config -> same JSON."""

    space: str = "nb101"
    method: str = "nal+nasi"
    candidates: int = 16  # proposals to score: NB201/NB101 blockwise (blocks compile once, then < 1 s per cell on
    # a 2-core CPU), DARTS and the exact NTK scores one program per cell (~5 s each there)
    top_k: int | None = None  # winners reported (and trained with train=True); None: min(5, candidates)
    seed: int = 0
    cells: tuple[str, ...] = ()  # user-given cells (arch strings, JSON, NB101 hashes) ranked with the proposals
    data: str = "gaussian"  # "gaussian" (no dataset), "cifar10" (tensorflow-datasets) or a path (npz / image folder)
    labels: str = "random"  # "random" or "real" (needs real data)
    batch_size: int | None = None  # scoring batch; None: 16 for per-cell scores, NASI's 64 for the supernet
    mu: float = 2.0  # NASI's penalty weight in R = T - mu * max(0, T - nu)
    nu: float | None = None  # NASI's trace constraint; None: adaptive, the nu_quantile of the candidates' traces
    nu_quantile: float = 0.9
    unscorable: str = "fail"  # a candidate whose ranking score cannot be computed (e.g. jacob_cov of a cell whose
    # output ignores its input): "fail" stops with an error naming it; "last" ranks it after every scored candidate
    # and keeps the error in the report
    engine: str = "auto"  # scoring engine (nasi_nal.scores.ENGINES): "auto" lets nasi_nal.scores.choose pick
    scores_file: str | None = None  # precomputed scores (python -m nasi_nal.score) looked up instead of computed
    bn: str = scores.DEFAULT_BN  # batch norm while scoring: "train" (batch statistics) or "eval" (initial statistics)
    probes: int | str = scores.DEFAULT_PROBES  # Rademacher probes of the ntk_trace score, or "exact"
    inits: int = 1  # draws of each candidate's variables its scores are averaged over
    nasi_steps: int | None = None  # supernet search steps T (method "nasi" on nb201 / darts); None: NASI's 100
    table: str | None = None  # NAS-Bench table for true accuracies: nb101 tfrecord/npz cache/sample, nb201 CSV
    output: str | None = None  # JSON report path; PNGs of the winners are written beside it
    train: bool = False
    train_recipe: str | None = None  # default: the space's benchmark recipe
    train_overrides: tuple[str, ...] = ()  # "field=value" overrides of the recipe
    train_workdir: str | None = None


@dataclasses.dataclass
class Candidate:
    """One proposed cell: its identity, the scores it got, and what the table knows of it."""

    rank: int | None
    key: str  # NB101 hash, NB201 arch string, DARTS genotype JSON
    summary: str
    cell: Any
    proposal_log_prob: float | None = None
    scores: dict[str, float] = dataclasses.field(default_factory=dict)
    params: int | None = None  # trainable parameters of the full-size benchmark network
    table_accuracy: float | None = None  # percent; see SearchResult.table_metric
    errors: dict[str, str] = dataclasses.field(default_factory=dict)  # scores it could not get (unscorable="last")

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank, "key": self.key, "summary": self.summary, "cell": _cell_json(self.cell),
            "proposal_log_prob": self.proposal_log_prob, "scores": self.scores, "params": self.params,
            "table_accuracy": self.table_accuracy, "errors": self.errors,
        }


@dataclasses.dataclass
class SearchResult:
    """What a search returns: the config, every candidate (ranked), the winners, timings and the environment."""

    config: SearchConfig
    ranking_score: str | None
    candidates: list[Candidate]
    winners: list[Candidate]
    timings: dict[str, float]
    environment: dict[str, Any]
    table_metric: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)  # method-specific (nu, supernet cost, ...)
    training: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The versioned JSON document (schema ``nasi_nal.search/1``, documented in the README)."""
        return {
            "schema": SCHEMA,
            "space": self.config.space,
            "config": dataclasses.asdict(self.config),
            "environment": self.environment,
            "ranking_score": self.ranking_score,
            "table_metric": self.table_metric,
            "details": self.details,
            "candidates": [c.to_json() for c in self.candidates],
            "winners": [c.to_json() for c in self.winners],
            "training": self.training,
            "timings": self.timings,
        }

    def table(self) -> str:
        """The winners as a plain-text table; ties in the ranking score are marked "=" and explained below it."""
        tied = {r for group in ties(self.winners, self.ranking_score) for r in group}
        headers = ["rank", "cell", self.ranking_score or "score", "params", "table acc %"]
        rows = [[f"{c.rank}=" if c.rank in tied else c.rank, c.summary,
                 c.scores.get(self.ranking_score) if self.ranking_score else None, c.params, c.table_accuracy]
                for c in self.winners]
        text = report.format_table(headers, rows)
        for group in ties(self.winners, self.ranking_score):
            rule = (f"the smaller {TIE_BREAKERS[self.ranking_score]} first, then proposal order"
                    if self.ranking_score in TIE_BREAKERS else "proposal order")
            text += (f"\nranks {', '.join(map(str, group))} tie on {self.ranking_score}; ordered by {rule}")
        return text


# ----------------------------------------------------------------------------------------------- spaces ----

def _cell_key(space: str, cell: Any) -> str:
    if space == "nb101":
        return cell.hash
    if space == "nb201":
        return nb201.format(cell)
    return darts.to_json(cell)


def _cell_summary(space: str, cell: Any) -> str:
    if space == "nb101":
        short = {"conv1x1-bn-relu": "c1", "conv3x3-bn-relu": "c3", "maxpool3x3": "mp"}
        edges = int(np.sum(cell.matrix))
        return f"{cell.hash[:8]} {len(cell.ops)}v/{edges}e " + "-".join(short[o] for o in cell.ops[1:-1])
    if space == "nb201":
        return nb201.format(cell)
    return "normal " + ",".join(f"{op}@{i}" for op, i in cell.normal)


def _cell_json(cell: Any) -> Any:
    if isinstance(cell, nb101.Cell):
        return {"matrix": cell.matrix.tolist(), "ops": list(cell.ops)}
    if isinstance(cell, nb201.Arch):
        return nb201.format(cell)
    return json.loads(darts.to_json(cell))


def _sample(space: str, rng: np.random.Generator) -> Any:
    return {"nb101": nb101.sample, "nb201": nb201.sample, "darts": darts.sample}[space](rng)


def draw_cell(space: str, cell: Any, path: str | os.PathLike, title: str = "") -> list[pathlib.Path]:
    """PNG picture(s) of a cell: one file (NB101, NB201) or ``<stem>_normal.png`` and ``<stem>_reduce.png`` (DARTS)."""
    path = pathlib.Path(path)
    if space == "nb101":
        edges = [(int(i), int(j)) for i, j in zip(*np.nonzero(cell.matrix))]
        report.draw_dag(path, list(cell.ops), edges, title=title)
        return [path]
    if space == "nb201":
        kept = [(f, t, op) for (t, f), op in zip(nb201.EDGES, cell.ops) if op != "none"]
        report.draw_dag(path, ["in", "node 1", "node 2", "out"], [(f, t) for f, t, _ in kept],
                        [op for _, _, op in kept], title=title + "  ('none' edges omitted)")
        return [path]
    out = []
    for kind in ("normal", "reduce"):
        pairs = getattr(cell, kind)
        edges = [(src, 2 + k // 2) for k, (_, src) in enumerate(pairs)] + [(n, 6) for n in range(2, 6)]
        labels = ["c_{k-2}", "c_{k-1}", "0", "1", "2", "3", "c_{k}"]
        p = path.with_name(f"{path.stem}_{kind}.png")
        report.draw_dag(p, labels, edges, [op for op, _ in pairs] + ["concat"] * 4, title=f"{title} {kind}")
        out.append(p)
    return out


# ----------------------------------------------------------------------------------------------- tables ----

def _load_table(space: str, path: str | None) -> tuple[Callable[[Any], float | None], str]:
    """A look-up cell -> accuracy (percent, None when the table lacks the cell) and the metric's description.

    Without a path, NAS-Bench-101 cells are looked up in the package's embedded table.
    """
    from nasi_nal import tables

    if space == "nb101":
        table = tables.load_nb101(path) if path else tables.load_embedded()
        path = path or "the embedded table (500 best cells of a 20,001-cell NAS-Bench-101 sample, one run)"
        use_test = bool(np.isfinite(table.metric("test_acc", 108)).any())
        metric = "test_acc" if use_test else "val_acc"

        def nb101_lookup(cell: nb101.Cell) -> float | None:
            if cell.hash not in table:
                return None
            value = getattr(table.query(cell.hash, 108), metric)
            return None if value is None or not np.isfinite(value) else 100.0 * float(value)

        runs = f"mean over {table.num_runs} runs" if table.num_runs > 1 else "one run"
        return nb101_lookup, f"NAS-Bench-101 {metric} after 108 epochs ({runs}) from {path}"
    if space == "nb201":
        table = tables.load_nb201(path)
        column = "cifar10_test_acc_200ep"
        if column not in table.metric_names:
            raise NasiNalError(f"NAS-Bench-201 table {path} has no column {column!r} (it has "
                               f"{', '.join(table.metric_names)}): pass a CIFAR-10 results CSV")

        def nb201_lookup(arch: nb201.Arch) -> float | None:
            return float(table.query(arch).metrics[column]) if arch in table else None

        return nb201_lookup, f"NAS-Bench-201 CIFAR-10 test accuracy, 200-epoch schedule, from {path}"
    raise NasiNalError("--table is not available for the DARTS space: DARTS has no tabular benchmark")


# ------------------------------------------------------------------------------------------------- data ----

def _scoring_batch(config: SearchConfig, key: jax.Array) -> scores.Batch:
    """The one batch every candidate is scored on (NASI's four data/label modes)."""
    size = config.batch_size or SCORING_BATCH
    if config.data == "gaussian":
        return scores.make_batch(key, size, inputs="gaussian", targets="random")
    images, labels = _image_pool(config)
    return scores.make_batch(key, size, images=images, labels=labels, inputs="real", targets=config.labels)


def _image_pool(config: SearchConfig) -> tuple[np.ndarray, np.ndarray]:
    """A few hundred real training images and labels to draw scoring batches from."""
    from nasi_nal.train import input_pipeline

    return input_pipeline.load_pool(config.data, limit=POOL_SIZE)


# ------------------------------------------------------------------------------------------------ search ----

def _status(message: str, quiet: bool) -> None:
    """One line on stderr for a stage that has no finer progress to show."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _validate(config: SearchConfig) -> None:
    if config.space not in SPACES:
        raise NasiNalError(f"unknown space {config.space!r}: choose one of {', '.join(SPACES)}")
    if config.method not in method_names():
        raise NasiNalError(f"unknown method {config.method!r}: choose one of {', '.join(method_names())}")
    _check_numbers(config)
    if not 1 <= config.top_k <= config.candidates:  # top_k is set by now (search() fills the default)
        raise NasiNalError(f"--top-k {config.top_k} must lie between 1 and --candidates ({config.candidates})")
    if config.unscorable not in ("fail", "last"):
        raise NasiNalError(f"--unscorable {config.unscorable!r}: choose 'fail' or 'last'")
    scores.choose(config.space, _computed(config), engine=config.engine)
    check_bn(config.bn)
    check_probes(config.probes)
    draw_keys(jax.random.PRNGKey(0), config.inits)
    if config.labels not in ("random", "real"):
        raise NasiNalError(f"unknown labels mode {config.labels!r}: choose 'random' or 'real'")
    if config.labels == "real" and config.data == "gaussian":
        raise NasiNalError("--labels real needs real data: pass --data cifar10 or --data PATH")
    if config.output is not None:
        report.check_writable(config.output)
    _user_cells(config)
    if config.train:
        _train_config(config)
    if config.cells and config.method == "nal" and config.space != "nb101":
        raise NasiNalError(f"--method nal ranks --cell cells by the GAT's NAS-Bench-101 likelihood, which the one-way "
                           f"transfer to {config.space} does not define: use --method nal+nasi or a score name")
    if config.space == "darts" and config.table is not None:
        raise NasiNalError("--table is not available for the DARTS space: DARTS has no tabular benchmark")
    _check_data(config)
    if config.scores_file is not None:
        from nasi_nal import scores_file

        scores_file.check_for_search(config, _computed(config), config.batch_size or SCORING_BATCH)


SEED_MAX = 2**32 - 1  # jax.random.PRNGKey keeps 32 bits of a seed: larger seeds would share keys
NUM_CLASSES = 10  # classifier outputs of the scored networks (networks.build's default)


def _check_numbers(config: SearchConfig) -> None:
    """Every numeric option in its range, integers as integers and reals finite (a NaN would pass any ``<``)."""
    _check_integer("--candidates", config.candidates, 1)
    _check_integer("--top-k", config.top_k, 1)
    _check_integer("--seed", config.seed, 0, SEED_MAX)
    if config.batch_size is not None:
        _check_integer("--batch-size", config.batch_size, 2)
    if config.nasi_steps is not None:
        _check_integer("--nasi-steps", config.nasi_steps, 1)
    _check_real("--mu", config.mu, ">= 0", lambda v: v >= 0)
    if config.nu is not None:
        _check_real("--nu", config.nu, "> 0", lambda v: v > 0)
    _check_real("nu_quantile", config.nu_quantile, "in [0, 1]", lambda v: 0 <= v <= 1)
    if _uses_supernet(config):
        _supernet_settings(config)


def _check_integer(option: str, value: Any, low: int, high: int | None = None) -> None:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and low <= value
    if not ok or (high is not None and value > high):
        allowed = f"an integer in {low}..{high}" if high is not None else f"an integer >= {low}"
        raise NasiNalError(f"{option} {value!r}: pass {allowed}")


def _check_real(option: str, value: Any, allowed: str, in_range: Callable[[float], bool]) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not in_range(value):
        raise NasiNalError(f"{option} {value!r}: pass a finite number {allowed}")


def _uses_supernet(config: SearchConfig) -> bool:
    return config.method == "nasi" and config.space != "nb101"


def _supernet_settings(config: SearchConfig) -> Any:
    """The NASI supernet's settings for this search (``nasi.configs`` checks them)."""
    from nasi_nal.nasi import configs

    overrides = {"steps": config.nasi_steps, "batch_size": config.batch_size, "mu": config.mu, "nu": config.nu}
    return configs.get_config(config.space, **{k: v for k, v in overrides.items() if v is not None})


def _check_data(config: SearchConfig) -> None:
    """Reads ``--data``'s scoring pool now, so a bad data set (arrays, shapes, labels, a folder's contents, too few
    images for the batch) fails before any work rather than after the proposals."""
    if config.data == "gaussian":
        return
    if config.data not in DATA_MODES and not pathlib.Path(config.data).exists():
        raise NasiNalError(f"--data {config.data!r} is neither 'gaussian', 'cifar10' nor an existing path "
                           "(an .npz with x_train/y_train or an image folder with train/<class>/*)")
    images, labels = _image_pool(config)
    batch = _supernet_settings(config).batch_size if _uses_supernet(config) else config.batch_size or SCORING_BATCH
    if len(images) < batch:
        raise NasiNalError(f"--data {config.data!r} holds {len(images)} training images, fewer than the scoring batch "
                           f"of {batch}: pass a smaller --batch-size or more images")
    if config.labels == "real" and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise NasiNalError(f"--data {config.data!r}: labels span {labels.min()}..{labels.max()}, but the scored "
                           f"networks have {NUM_CLASSES} classes (labels 0..{NUM_CLASSES - 1}); use --labels random")


def _user_cells(config: SearchConfig) -> list[Candidate]:
    """The ``--cell`` cells as candidates; an invalid one fails before any work with the space's own message."""
    from nasi_nal.train.cells import parse_cell

    out = []
    for text in config.cells:
        cell = parse_cell(config.space, text, config.table or "", table_option="--table PATH")
        out.append(Candidate(None, _cell_key(config.space, cell), _cell_summary(config.space, cell), cell))
    return out


def _propose(config: SearchConfig, rng: np.random.Generator) -> tuple[list[Candidate], dict[str, Any]]:
    """Distinct candidate cells, in proposal order: the user's ``cells`` first, then the method's proposals."""
    user = _user_cells(config)
    cands, details = _proposals(config, rng)
    seen = {c.key for c in user}
    merged = user + [c for c in cands if c.key not in seen]
    details["user_cells"] = len(user)
    return merged, details


def _proposals(config: SearchConfig, rng: np.random.Generator) -> tuple[list[Candidate], dict[str, Any]]:
    space, n = config.space, config.candidates
    if config.method in ("nal", "nal+nasi"):
        from nasi_nal.nal import checkpoint, generate, transfer

        model = checkpoint.load_pretrained()
        if space == "nb101":
            props = generate.generate(model, n, rng=rng)
            cells = [(p.cell, p.log_prob + p.op_log_prob) for p in props]
        elif space == "nb201":
            cells = [(p.arch, p.score) for p in transfer.to_nb201(model, None, rng=rng)[:n]]
        else:
            cells = [(p.genotype, p.score) for p in transfer.to_darts(model, n)]
        if len(cells) < n:
            raise NasiNalError(f"the NAL transfer to {space} yields only {len(cells)} distinct cells; "
                               f"ask for --candidates {len(cells)} or fewer")
        details = {"proposer": "NAL graph-attention link predictor (shipped checkpoint)"}
        return [Candidate(None, _cell_key(space, c), _cell_summary(space, c), c, float(lp)) for c, lp in cells], details
    seen: dict[str, Candidate] = {}
    tries = 0
    while len(seen) < n:
        tries += 1
        if tries > 100 * n:
            raise NasiNalError(f"could not draw {n} distinct cells in {tries} samples")
        cell = _sample(space, rng)
        key = _cell_key(space, cell)
        if key not in seen:
            seen[key] = Candidate(None, key, _cell_summary(space, cell), cell)
    return list(seen.values()), {"proposer": "uniform sampling", "samples_drawn": tries}


def _computed(config: SearchConfig) -> list[str]:
    """The scores the method computes for every candidate (empty: the method scores no network)."""
    if config.method in ("nal+nasi", "ensemble"):
        return list(ensemble.members(config.space))
    if config.method == "nasi" and config.space == "nb101":
        return ["nasi_trace"]
    return [config.method] if config.method in scores.SCORES else []


def _score_all(config: SearchConfig, cands: list[Candidate], names: Sequence[str], key: jax.Array, quiet: bool,
               required: Sequence[str]) -> dict[str, list[str]]:
    """Scores ``names`` of every candidate (its variables drawn from (seed, its key)); returns the engine plan.

    A candidate that a ``required`` score fails on stops the search, or with ``unscorable="last"`` keeps the error
    and ranks last; other failures are kept in the candidate's ``errors``.
    """
    from tqdm.auto import tqdm

    if config.scores_file is not None:  # checked in _validate; a candidate it lacks stops the search here
        from nasi_nal import scores_file

        found = scores_file.read(config.scores_file)
        results = found.lookup([c.key for c in cands], names)
        plan = {e: [n for n in names if n in held] for e, held in found.meta["engine_plan"].items()
                if any(n in held for n in names)}
    else:
        batch = _scoring_batch(config, key)
        plan = scores.choose(config.space, names, engine=config.engine)
        models = [build(config.space, c.cell, proxy=True) for c in cands]
        results = scores.iter_scores(
            models, batch, names, [scores.cell_key(config.seed, c.key) for c in cands], bn=config.bn,
            probes=config.probes, inits=config.inits, engine=config.engine, cell_names=[c.summary for c in cands])
    label = ", ".join(names) if len(names) < 3 else f"{len(names)} scores"
    for cand, result in zip(tqdm(cands, desc=f"scoring ({label})", disable=quiet, unit="cell"), results):
        failed = [n for n in required if n in result.errors]
        if failed and config.unscorable == "fail":
            raise NasiNalError(f"{result.errors[failed[0]]} (--unscorable last ranks such cells last instead)")
        cand.errors.update(result.errors)
        cand.scores.update(result.values)
    return plan


def search(config: SearchConfig | None = None, *, quiet: bool = True, **overrides: Any) -> SearchResult:
    """Runs one search and returns its result; writes the JSON and PNGs when ``config.output`` is set.

    Example:
        >>> result = nasi_nal.search(space="nb201", method="nal+nasi", candidates=10, top_k=3)
        >>> print(result.table())
    """
    config = dataclasses.replace(config or SearchConfig(), **overrides)
    if config.top_k is None:
        config = dataclasses.replace(config, top_k=min(DEFAULT_TOP_K, config.candidates))
    _validate(config)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    has_table = config.table is not None or config.space == "nb101"
    lookup, metric = _load_table(config.space, config.table) if has_table else (None, None)
    timings["load_table_s"] = time.perf_counter() - t0

    key = jax.random.PRNGKey(config.seed)
    k_propose, k_score = jax.random.split(key)
    rng = np.random.default_rng([config.seed, 101])  # host-side proposals: its own stream of the same seed
    t = time.perf_counter()
    details: dict[str, Any] = {}
    if config.method == "nasi" and config.space != "nb101":
        _status("NASI supernet search: compiling once, then all steps in one call (minutes on a CPU)", quiet)
        cands, details = _supernet(config, k_propose, quiet)
        ranking, higher_better = "nasi_penalized", True
    else:
        _status(f"proposing {config.candidates} {config.space} cells ({config.method})", quiet)
        cands, details = _propose(config, rng)
        timings["propose_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ranking, higher_better = _rank_scores(config, cands, k_score, quiet, details)
        timings["score_s"] = time.perf_counter() - t
    order = _order(cands, ranking, higher_better)
    for r, c in enumerate(order, 1):
        c.rank = r
    winners = order[: config.top_k]
    for c in winners:
        c.params = count_params(build(config.space, c.cell))
        if lookup is not None:
            c.table_accuracy = lookup(c.cell)
    if lookup is not None:
        for c in order[config.top_k:]:
            c.table_accuracy = lookup(c.cell)
    result = SearchResult(config, ranking, order, winners, timings, _environment(), metric, details)
    if config.train:
        t = time.perf_counter()
        result.training = _train(config, winners, quiet)
        timings["train_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    if config.output:
        _write(result)
    return result


def _rank_scores(config: SearchConfig, cands: list[Candidate], key: jax.Array, quiet: bool,
                 details: dict[str, Any]) -> tuple[str | None, bool]:
    """Scores the candidates as the method says; returns the ranking score's name and its direction."""
    if config.method == "random":
        return None, True
    if config.method == "nal":
        _nal_log_probs(cands)
        return "nal_log_prob", True
    names = _computed(config)
    if config.method == "ensemble":
        details["engines"] = _score_all(config, cands, names, key, quiet, required=())
        _ensemble(cands, names, details)
        return "ensemble", True
    if config.method in ("nal+nasi", "nasi"):
        details["engines"] = _score_all(config, cands, names, key, quiet, required=("nasi_trace",))
        _nasi_objective(config, cands, details)
        if config.method == "nasi":
            return "nasi_penalized", True
        _ensemble(cands, ["nasi_penalized" if n == "nasi_trace" else n for n in names]
                  + (["nal_log_prob"] if config.space == "nb101" else []), details)
        return "ensemble", True
    details["engines"] = _score_all(config, cands, names, key, quiet, required=names)
    return config.method, config.method not in scores.LOWER_IS_BETTER


def _nal_log_probs(cands: list[Candidate]) -> None:
    """``nal_log_prob``: the GAT's log-probability of each NB101 candidate (``--cell`` cells scored by it too)."""
    user = [c for c in cands if c.proposal_log_prob is None]
    if user:
        from nasi_nal import nal

        logp = nal.cell_log_likelihood(nal.load_pretrained(), [c.cell for c in user], include_ops=True)
        for c, lp in zip(user, logp):
            c.proposal_log_prob = float(lp)
    for c in cands:
        c.scores["nal_log_prob"] = c.proposal_log_prob


def _nasi_objective(config: SearchConfig, cands: list[Candidate], details: dict[str, Any]) -> None:
    """NASI's penalised trace R of every candidate with a trace (nu fixed, or the candidates' quantile)."""
    scored = [c for c in cands if "nasi_trace" in c.scores]
    if not scored:
        raise NasiNalError("no candidate has a NASI trace (see each candidate's errors): nothing to rank")
    traces = np.array([c.scores["nasi_trace"] for c in scored])
    nu = config.nu if config.nu is not None else scores.adaptive_nu(traces, config.nu_quantile)
    details.update(mu=config.mu, nu=nu, nu_rule="fixed" if config.nu is not None
                   else f"adaptive: quantile {config.nu_quantile} of the candidates' NASI traces")
    for c in scored:
        c.scores["nasi_penalized"] = float(scores.nasi_penalized(c.scores["nasi_trace"], config.mu, nu))


def _ensemble(cands: list[Candidate], members: Sequence[str], details: dict[str, Any]) -> None:
    """Each candidate's ``ensemble`` score: AZ-NAS's log-rank sum of ``members`` over these candidates."""
    if "nal_log_prob" in members:
        _nal_log_probs(cands)
    values = ensemble.log_rank_sum({m: [c.scores.get(m) for c in cands] for m in members}, scores.LOWER_IS_BETTER)
    for c, v in zip(cands, values):
        c.scores["ensemble"] = float(v)
    details["ensemble_members"] = list(members)


#: Equal ranking scores are ordered by this score, smaller first, then by proposal order. NASI's R = T - mu max(0,
#: T - nu) gives a trace above nu the same R as one below it (with mu = 2, 2 nu - T mirrors T): of two such
#: candidates the one inside NASI's constraint (the smaller trace) ranks first.
TIE_BREAKERS = {"nasi_penalized": "nasi_trace"}


def _order(cands: list[Candidate], score: str | None, higher_better: bool) -> list[Candidate]:
    """Best first by ``score``; ties by ``TIE_BREAKERS`` then proposal order; unscored candidates last."""
    if score is None:
        return list(cands)
    sign = -1.0 if higher_better else 1.0
    tie = TIE_BREAKERS.get(score)
    scored = [(i, c) for i, c in enumerate(cands) if score in c.scores]
    unscored = [c for c in cands if score not in c.scores]  # unscorable="last": after the others, in proposal order
    return [c for _, c in sorted(scored, key=lambda ic: (sign * _tie_level(ic[1].scores[score]),
                                                         ic[1].scores.get(tie, 0.0) if tie else 0.0, ic[0]))] + unscored


def _tie_level(value: float) -> float:
    """``value`` to 12 significant digits: scores equal but for float rounding (2 nu - T against T) tie."""
    return float(f"{value:.12g}")


def ties(cands: Sequence[Candidate], score: str | None) -> list[list[int]]:
    """Groups of ranks (two or more) whose ``score`` is exactly equal, among ranked candidates."""
    groups: dict[float, list[int]] = {}
    for c in cands:
        if score is not None and score in c.scores and c.rank is not None:
            groups.setdefault(_tie_level(c.scores[score]), []).append(c.rank)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def _supernet(config: SearchConfig, key: jax.Array, quiet: bool) -> tuple[list[Candidate], dict[str, Any]]:
    from nasi_nal import nasi

    images = labels = None
    inputs = "gaussian" if config.data == "gaussian" else "real"
    if inputs == "real":
        images, labels = _image_pool(config)
    res = nasi.search(config.space, key, steps=config.nasi_steps, batch_size=config.batch_size, mu=config.mu,
                      nu="adaptive" if config.nu is None else config.nu, inputs=inputs, targets=config.labels,
                      bn=config.bn, images=images, labels=labels)
    cell = res.cell
    cand = Candidate(None, _cell_key(config.space, cell), _cell_summary(config.space, cell), cell,
                     scores={"nasi_penalized": float(res.score)})
    details = {"proposer": "NASI Gumbel-softmax supernet", "steps": res.steps, "device": res.device,
               "search_wall_s": res.wall_seconds, "compile_s": res.compile_seconds, "settings": res.settings,
               "trace": float(res.trace), "nu": float(res.nu), "mu": config.mu,
               "nu_rule": "fixed" if config.nu is not None else "adaptive (see nasi_nal.nasi.configs)"}
    if config.candidates != 1 or config.top_k != 1:
        details["note"] = "the supernet search returns one architecture; --candidates and --top-k do not apply"
    return [cand], details


def _train_config(config: SearchConfig) -> Any:
    """The trainer config for the winners (recipe + overrides), checked before the search starts."""
    from nasi_nal import train

    recipe = config.train_recipe or DEFAULT_RECIPES[config.space]
    return train.apply_overrides(train.get_recipe(recipe), [*config.train_overrides, f"space={config.space}"])


def _train(config: SearchConfig, winners: Sequence[Candidate], quiet: bool) -> list[dict[str, Any]]:
    """Hands each winner to the Flax trainer; one workdir per rank under ``train_workdir``."""
    from nasi_nal import train

    base = _train_config(config)
    root = pathlib.Path(config.train_workdir or "runs")
    out = []
    for w in winners:
        text = json.dumps(_cell_json(w.cell)) if not isinstance(w.cell, nb201.Arch) else nb201.format(w.cell)
        workdir = root / f"rank{w.rank}"
        summary = train.train_and_evaluate(dataclasses.replace(base, cell=text), workdir, quiet=quiet)
        out.append({"rank": w.rank, "key": w.key, "workdir": str(workdir), "summary": summary})
    return out


def _environment() -> dict[str, Any]:
    import flax
    import optax

    return {
        "nasi_nal": _version(), "python": platform.python_version(), "jax": jax.__version__,
        "flax": flax.__version__, "optax": optax.__version__, "numpy": np.__version__,
        "device": str(jax.devices()[0].device_kind), "platform": jax.default_backend(),
    }


def _version() -> str:
    from nasi_nal import __version__

    return __version__


def _write(result: SearchResult) -> None:
    """The JSON report and a picture of each winner, moved into place as one set (``report.output_set``)."""
    out = pathlib.Path(result.config.output)
    with report.output_set(out) as folder:
        for c in result.winners:
            draw_cell(result.config.space, c.cell, folder / report.picture_name(out, c.rank),
                      title=f"rank {c.rank}: {c.summary}")
        report.write_json(folder / out.name, result.to_json())
