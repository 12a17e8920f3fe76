"""``python -m nasi_nal.train``: parses arguments and calls :func:`nasi_nal.train.train_and_evaluate`.

Kept short on purpose (as flax ``examples/imagenet/main.py``): everything else is importable and tested.

Examples::

    python -m nasi_nal.train --recipe nb201_12ep --cell '|nor_conv_3x3~0|+|...|' --workdir runs/a \\
        data_source=folder data_dir=cifar10_jpeg epochs=2
    python -m nasi_nal.train --recipe darts_cifar --search-output search.json --winner 0 --workdir runs/b
    python -m nasi_nal.train --recipe nb101 --cell 00005c142e6f48ac74fdcf73e3439874 --workdir runs/c --resume
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from nasi_nal.cli import HelpFormatter, add_compile_cache_option, use_compile_cache
from nasi_nal.errors import NasiNalError
from nasi_nal.train import cells, recipes
from nasi_nal.train.train import train_and_evaluate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nasi_nal.train", description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--recipe", required=True, help=f"one of {', '.join(sorted(recipes.RECIPES))}")
    parser.add_argument("--workdir", required=True, help="checkpoints, metrics.csv, tensorboard/, summary.json")
    parser.add_argument("--cell", help="the cell (see nasi_nal.train.cells) or a .json/.txt file holding it")
    parser.add_argument("--search-output", help='a search output JSON {"space": ..., "winners": [{"cell": ...}]}')
    parser.add_argument("--winner", type=int, default=0, help="which winner of --search-output (0 = best)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --workdir")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs="*", help="config fields as key=value, e.g. epochs=12 batch_size=128")
    add_compile_cache_option(parser)
    args = parser.parse_args(argv)
    use_compile_cache(args.compile_cache)
    try:
        config = recipes.get_recipe(args.recipe)
        extra = list(args.overrides)
        if args.search_output:
            space, winners = cells.winners(args.search_output)
            if not 0 <= args.winner < len(winners):
                parser.error(f"--winner {args.winner} is out of range: the search output has {len(winners)} winners")
            extra = [f"space={space}", f"cell={winners[args.winner]}"] + extra
        elif args.cell:
            extra = [f"cell={args.cell}"] + extra
        config = recipes.apply_overrides(config, extra)
        summary = train_and_evaluate(config, args.workdir, resume=args.resume, quiet=args.quiet)
    except NasiNalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
