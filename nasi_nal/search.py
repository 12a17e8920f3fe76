"""``python -m nasi_nal.search``: propose, score at initialization, rank, (train) and report cells.

A thin command line over ``nasi_nal.pipeline.search``; every option is a field of ``SearchConfig``.
"""
from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time
import types
from typing import Any, Sequence

from nasi_nal import report
from nasi_nal.cli import HelpFormatter, add_compile_cache_option, use_compile_cache
from nasi_nal.errors import NasiNalError

EXAMPLES = """\
examples:
  python -m nasi_nal.search                                   # NB101, NAL proposals ranked by NASI, offline
  python -m nasi_nal.search --space nb201 --method nasi --table nb201_cifar10.csv
  python -m nasi_nal.search --space darts --method nasi --nasi-steps 20
  python -m nasi_nal.search --space nb201 --method synflow --candidates 50 --data cifar10 --labels real
  python -m nasi_nal.search --space nb101 --method nal --table nasbench_only108.tfrecord --output run.json
  python -m nasi_nal.search --space nb201 --cell '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
  python -m nasi_nal.search --space nb201 --top-k 1 --train --train-override epochs=12
  python -m nasi_nal.search --space nb201 --method synflow --candidates 1000 --scores-file nb201_scores.npz
"""


def parser() -> argparse.ArgumentParser:
    from nasi_nal.adapters import spaces
    from nasi_nal.methods import names
    from nasi_nal.ranking import SCORING_BATCH
    from nasi_nal.schema import SearchConfig
    from nasi_nal.validate import DATA_MODES
    from nasi_nal.scores import BN_MODES, ENGINES

    d = SearchConfig()
    p = argparse.ArgumentParser(
        prog="python -m nasi_nal.search", description=__doc__.splitlines()[0].split(": ", 1)[1],
        epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("--space", default=d.space, help=f"search space: {', '.join(spaces())}")
    p.add_argument("--method", default=d.method, help=f"one of {', '.join(names())}")
    p.add_argument("--candidates", type=int, default=d.candidates, help="cells proposed and scored")
    p.add_argument("--top-k", type=int, default=d.top_k, help="winners reported (default: min(5, --candidates))")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the proposals and the scores' keys (0..2**32-1)")
    p.add_argument("--cell", action="append", default=[], metavar="CELL",
                   help="also rank this cell (NB201 arch string, NB101 matrix+ops JSON or hash, DARTS genotype "
                        "JSON or a .json file holding it; repeatable)")
    p.add_argument("--data", default=d.data,
                   help=f"{' or '.join(DATA_MODES)} or a path (.npz with x_train/y_train, or train/<class>/* folder)")
    p.add_argument("--labels", default=d.labels, help="random (label-agnostic) or real")
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help=f"scoring batch size (default: {SCORING_BATCH} per cell, NASI's 64 for the supernet)")
    p.add_argument("--mu", type=float, default=d.mu, help="NASI penalty weight")
    p.add_argument("--nu", type=float, default=d.nu,
                   help=f"NASI trace constraint (default: adaptive, the {d.nu_quantile} quantile of the candidates' "
                        "traces)")
    p.add_argument("--unscorable", choices=("fail", "last"), default=d.unscorable,
                   help="a candidate whose ranking score cannot be computed: stop with an error (fail) or rank it "
                        "last and keep its error in the report (last)")
    p.add_argument("--engine", default=d.engine,
                   help=f"scoring engine, one of {', '.join(ENGINES)}: blockwise (nb201/nb101, blocks compiled "
                        "once), joint (one program per network), masked (many nb201/nb101 cells per call), oracle "
                        "(neural-tangents, exact ntk_trace); auto: blockwise on a CPU, masked on a GPU/TPU")
    p.add_argument("--scores-file", default=d.scores_file, metavar="PATH",
                   help="look the candidates' scores up in this scores file (python -m nasi_nal.score) instead of "
                        "computing them; it must hold every candidate, scored with this search's settings")
    p.add_argument("--bn", default=d.bn,
                   help=f"batch norm while scoring, {' or '.join(BN_MODES)}: train (batch statistics, as the "
                        "reference implementations) or eval (initial statistics)")
    p.add_argument("--probes", type=_probes, default=d.probes,
                   help="Rademacher probes of the ntk_trace score, or 'exact'")
    p.add_argument("--inits", type=int, default=d.inits,
                   help="draws of each candidate's variables to average its scores over")
    p.add_argument("--nasi-steps", type=int, default=d.nasi_steps,
                   help="supernet search steps (--method nasi; default: NASI's 100)")
    p.add_argument("--table", default=d.table,
                   help="NAS-Bench table to look up true accuracies (default: none; nb101 uses the embedded "
                        "500-cell table)")
    p.add_argument("--output", default=d.output,
                   help="JSON report path, winner PNGs written beside it (default: none, only the printed table)")
    p.add_argument("--train", action="store_true", help="fully train the winners afterwards")
    p.add_argument("--train-recipe", default=d.train_recipe, help="trainer recipe (default: the space's)")
    p.add_argument("--train-override", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a recipe field, e.g. epochs=12 (repeatable)")
    p.add_argument("--train-workdir", default=d.train_workdir,
                   help="where training writes checkpoints and logs (default: runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars, only the result table")
    add_compile_cache_option(p)
    return p


def _probes(text: str) -> int | str:
    """``--probes``: "exact" or an integer (checked with the other options before any work)."""
    return text if text == "exact" or not text.lstrip("-").isdigit() else int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    use_compile_cache(args.compile_cache)
    from nasi_nal.pipeline import search
    from nasi_nal.schema import SearchConfig

    fields = {f.name for f in dataclasses.fields(SearchConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields}
    values["train_overrides"] = tuple(args.train_override)
    values["cells"] = tuple(args.cell)
    t0 = time.perf_counter()
    interrupts = []

    def on_interrupt(signum: int, frame: Any) -> None:
        interrupts.append(signum)
        raise KeyboardInterrupt

    # A Ctrl-C whose KeyboardInterrupt lands in a garbage-collector callback (JAX runs one) is swallowed there;
    # the handler records it so the search still ends as interrupted.
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        result = search(SearchConfig(**values), quiet=args.quiet)
        if interrupts:
            if args.output:  # the JSON and the winners' drawings it just wrote
                for path in report.report_files(args.output):
                    path.unlink()
            raise KeyboardInterrupt
    except NasiNalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no output was written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    print(result.table())
    if result.table_metric:
        print(f"table accuracy: {result.table_metric}")
    if result.details.get("nu") is not None:
        print(f"NASI penalty: mu={result.details['mu']}, nu={result.details['nu']:.4g} ({result.details['nu_rule']})")
    if args.output:
        print(f"wrote {args.output}")
    print(f"total time {time.perf_counter() - t0:.1f} s on {result.environment['device']}")
    return 0


class _CallableModule(types.ModuleType):
    """Keeps ``nasi_nal.search(...)`` the pipeline function even after ``import nasi_nal.search`` has bound the
    package attribute to this module."""

    def __call__(self, *args, **kwargs):
        from nasi_nal.pipeline import search

        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
