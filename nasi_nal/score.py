"""``python -m nasi_nal.score``: score every cell of a space (or of a table or list) into one scores file.

A thin command line over ``nasi_nal.space_scoring.score_space``; the file's schema is in ``nasi_nal.scores_file``.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from nasi_nal.cli import HelpFormatter, add_compile_cache_option, use_compile_cache
from nasi_nal.errors import NasiNalError

EXAMPLES = """\
examples:
  python -m nasi_nal.score --space nb201 --out nb201_scores.npz                     # all 15,625 cells, nasi_trace
  python -m nasi_nal.score --space nb201 --scores nasi_trace,synflow,jacob_cov --data cifar10_exact.npz \\
      --labels real --batch-size 64 --out nb201_real.npz
  python -m nasi_nal.score --space nb101 --scores grad_norm --out nb101_scores.npz  # all 423,624 cells
  python -m nasi_nal.score --space nb201 --table nb201_cifar10.csv --first 1000 --out first1000.npz
  python -m nasi_nal.score --space darts --list genotypes.txt --out darts.npz
  # two hosts (run on each, with its --process-id; --out on a shared folder):
  python -m nasi_nal.score --space nb101 --out /shared/nb101.npz --coordinator host0:1234 --num-processes 2 \\
      --process-id 0

An interrupted run (Ctrl-C, a kill, a lost host) keeps its finished chunks in <out>.chunks/: run the same command
again to score only the rest.
"""


def parser() -> argparse.ArgumentParser:
    from nasi_nal.scores import BN_MODES, DEFAULT_BN, DEFAULT_PROBES, ENGINES, SCORES
    from nasi_nal.space_scoring import DEFAULT_SCORES, SPACES

    p = argparse.ArgumentParser(prog="python -m nasi_nal.score", description=__doc__.splitlines()[0].split(": ", 1)[1],
                                epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("--space", required=True, help=f"search space: {', '.join(SPACES)}")
    p.add_argument("--out", required=True, help="the scores file to write (.npz); chunks go to <out>.chunks/")
    p.add_argument("--scores", default=",".join(DEFAULT_SCORES), help=f"comma-separated, from {', '.join(SCORES)}")
    p.add_argument("--table", help="score the cells of this table (NB201 results CSV, NB101 tfrecord or npz) instead "
                                   "of the whole space")
    p.add_argument("--list", dest="cell_list", metavar="FILE",
                   help="score the cells of this text file (one per line: NB201 arch string, NB101 matrix+ops JSON "
                        "or hash, DARTS genotype JSON) instead of the whole space")
    p.add_argument("--first", type=int, help="only the first N cells (a smoke run)")
    p.add_argument("--bn", default=DEFAULT_BN, help=f"batch norm while scoring: {' or '.join(BN_MODES)}")
    p.add_argument("--probes", type=_probes, default=DEFAULT_PROBES,
                   help="Rademacher probes of the ntk_trace score, or 'exact'")
    p.add_argument("--inits", type=int, default=1, help="draws of each cell's variables to average its scores over")
    p.add_argument("--batch-size", type=int, default=16, help="scoring batch (the search's default is 16)")
    p.add_argument("--data", default="gaussian",
                   help="gaussian, cifar10 or a path (.npz with x_train/y_train, or train/<class>/* folder)")
    p.add_argument("--labels", default="random", help="random or real")
    p.add_argument("--full", action="store_true", help="the benchmark's full-size networks instead of the proxies")
    p.add_argument("--override", action="append", default=[], metavar="FIELD=INT",
                   help="network field override, e.g. channels=4 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the batch and of every cell's variables")
    p.add_argument("--engine", default="auto",
                   help=f"scoring engine, one of {', '.join(ENGINES)}; auto: blockwise on a CPU, masked on a GPU/TPU")
    p.add_argument("--chunk-cells", type=int,
                   help="cells per resumable chunk (default: 1024 with the masked engine, else 64; a resumed run "
                        "keeps its first run's)")
    p.add_argument("--per-call", type=_per_call, default="auto",
                   help="cells per masked call, or auto (from the device's free memory)")
    p.add_argument("--devices", type=int, help="use the first N local devices (default: all)")
    p.add_argument("--coordinator", help="host:port of process 0, to score on several processes/hosts "
                                         "(jax.distributed); with --num-processes and --process-id")
    p.add_argument("--num-processes", type=int, help="processes taking part (with --coordinator)")
    p.add_argument("--process-id", type=int, help="this process's number, 0..N-1 (with --coordinator)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_compile_cache_option(p)
    return p


def _probes(text: str) -> int | str:
    """``--probes``: "exact" or an integer (checked with the other options before any work)."""
    return text if text == "exact" or not text.lstrip("-").isdigit() else int(text)


def _per_call(text: str) -> int | str:
    return text if text == "auto" or not text.lstrip("-").isdigit() else int(text)


def _overrides(items: Sequence[str]) -> dict[str, int]:
    overrides = {}
    for item in items:
        field, _, value = item.partition("=")
        if not field or not value.lstrip("-").isdigit():
            raise NasiNalError(f"--override {item!r}: use FIELD=INT, e.g. channels=4")
        overrides[field] = int(value)
    return overrides


def _distributed(args: argparse.Namespace) -> None:
    """``jax.distributed.initialize`` when ``--coordinator`` is given, before anything touches a device."""
    given = [args.coordinator is not None, args.num_processes is not None, args.process_id is not None]
    if not any(given):
        return
    if not all(given):
        raise NasiNalError("--coordinator, --num-processes and --process-id go together: pass all three")
    if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
        raise NasiNalError(f"--process-id {args.process_id} must lie in 0..{args.num_processes - 1}")
    import jax

    try:
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id)
    except (RuntimeError, ValueError) as exc:
        raise NasiNalError(f"jax.distributed could not reach {args.coordinator} ({exc})") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    use_compile_cache(args.compile_cache)
    t0 = time.perf_counter()
    try:
        overrides = _overrides(args.override)
        _distributed(args)
        from nasi_nal.space_scoring import score_space

        result = score_space(
            args.space, args.out, scores=[s for s in args.scores.split(",") if s], table=args.table,
            cell_list=args.cell_list, first=args.first, bn=args.bn, probes=args.probes, inits=args.inits,
            batch_size=args.batch_size, data=args.data, labels=args.labels, proxy=not args.full,
            overrides=overrides, seed=args.seed, engine=args.engine, chunk_cells=args.chunk_cells,
            per_call=args.per_call, devices=args.devices, quiet=args.quiet)
    except NasiNalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: finished chunks are kept in {args.out}.chunks/; run the same command to resume",
              file=sys.stderr)
        return 130
    devices = ", ".join(f"{d} {n}" for d, n in result.devices.items()) or "none"
    failed = ", ".join(f"{n} {k}" for n, k in result.failed.items() if k) or "none"
    print(f"{result.path}: {result.cells} cells; chunks scored here {result.chunks_scored} (per device: {devices}), "
          f"finished before {result.chunks_reused}, of {result.chunks}; failed scores: {failed}; "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
