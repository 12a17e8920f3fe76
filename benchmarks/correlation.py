"""Rank correlation of every zero-cost score with NAS-Bench accuracy, with bootstrap 95% intervals.

    # 1,000 NB201 cells, Gaussian inputs and random labels (NASI's data- and label-agnostic mode), proxy networks:
    NASI_NAL_DATA=../shared/data python benchmarks/correlation.py --space nb201 --cells 1000
    # NB101 sample, real CIFAR-10 pixels (exact npz) and real labels:
    python benchmarks/correlation.py --space nb101 --table nb101_cifar10_sample20001.npz \
        --images cifar10_exact_first1017.npz --inputs real --targets real --cells 1000

A command line over ``nasi_nal.evaluate.run`` (how cells are drawn and scored: ``nasi_nal.evaluate.correlation``).
Each cell's result is appended to ``benchmarks/results/<run>.jsonl.partial`` (``.partial.<pid>`` per worker) as soon
as it is computed, and a rerun with the same settings reuses those lines (resumable). The summary -- Spearman and
Kendall correlation with accuracy, bootstrap 95% intervals, number of cells, network size, device and wall time per
cell -- goes to ``benchmarks/results/<run>.json`` and ``.md``. ``--engine auto`` (default) lets
``nasi_nal.scores.choose`` pick (blockwise on a CPU, masked on a GPU/TPU for the scores it computes). ``--workers N``
scores cells in N processes side by side. ``--scores-file PATH`` looks the drawn cells' scores up in a scores file
(``python -m nasi_nal.score``) made with this run's settings (checked before any work) instead of computing them.

Images: ``--images`` takes the exact-pixel npz (``x_train``/``y_train`` uint8) or the image-folder tarball
``cifar10_jpeg_q75.tar.gz`` (train/<class>/*.jpg). The tarball is LOSSY JPEG (quality 75, mean absolute pixel
error about 5.8/255): scores computed on it are on near-CIFAR-10 images, and the summary says so.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any, Sequence

from nasi_nal.errors import NasiNalError
from nasi_nal.evaluate import CorrelationRun, markdown, run
from nasi_nal.scores import DEFAULT_BN, DEFAULT_PROBES, ENGINES, SCORES

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: a thin layer over ``nasi_nal.evaluate.run``; errors end it with one line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", choices=("nb201", "nb101"), default="nb201")
    p.add_argument("--table", help="table file (path, or name inside $NASI_NAL_DATA); default by space")
    p.add_argument("--cells", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scores", default=",".join(SCORES), help=f"comma-separated, from {sorted(SCORES)}")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--inputs", choices=("gaussian", "real"), default="gaussian")
    p.add_argument("--targets", choices=("random", "real"), default="random")
    p.add_argument("--images", help="cifar10_exact_first1017.npz or cifar10_jpeg_q75.tar.gz (lossy)")
    p.add_argument("--image-pool", type=int, default=2048, help="tarball images decoded to draw the batch from")
    p.add_argument("--full", action="store_true", help="benchmark-size networks instead of the proxies")
    p.add_argument("--override", action="append", default=[], metavar="FIELD=INT",
                   help="network field override, e.g. channels=8 (integers only)")
    p.add_argument("--input-size", type=int, default=32, help="side of Gaussian inputs")
    p.add_argument("--out", type=pathlib.Path, default=RESULTS)
    p.add_argument("--tag", help="run name (default: from the settings)")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="auto: blockwise on a CPU (NB201/NB101), masked on a GPU/TPU for the scores it computes; or "
                        "one engine for every score")
    p.add_argument("--bn", choices=("train", "eval"), default=DEFAULT_BN, help="batch-norm mode while scoring")
    p.add_argument("--probes", default=str(DEFAULT_PROBES), help="Rademacher probes of ntk_trace, or 'exact'")
    p.add_argument("--inits", type=int, default=1, help="draws of each cell's variables to average scores over")
    p.add_argument("--scores-file", metavar="PATH",
                   help="look the cells' scores up in this scores file (python -m nasi_nal.score), made with the "
                        "settings given here, instead of computing them")
    p.add_argument("--workers", type=int, default=1,
                   help="processes scoring cells side by side (compilation is single-threaded per process)")
    args = p.parse_args(argv)
    overrides = {}
    for item in args.override:
        field, _, value = item.partition("=")
        if not value.lstrip("-").isdigit():
            raise SystemExit(f"--override {item!r}: use FIELD=INT, e.g. channels=8")
        overrides[field] = int(value)
    settings = CorrelationRun(
        space=args.space, table=args.table, cells=args.cells, seed=args.seed,
        scores=[s for s in args.scores.split(",") if s], batch_size=args.batch_size, inputs=args.inputs,
        targets=args.targets, images=args.images, image_pool=args.image_pool, full=args.full, overrides=overrides,
        input_size=args.input_size, engine=args.engine, bn=args.bn,
        probes=args.probes if args.probes == "exact" else int(args.probes), inits=args.inits,
        scores_file=args.scores_file)
    try:
        summary = run(settings, out_dir=args.out, tag=args.tag, workers=args.workers)
    except NasiNalError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(markdown(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
