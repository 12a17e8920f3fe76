"""Builds the NAS-Bench-101 table shipped with nasi_nal (``nasi_nal/tables/data/nb101_sample_top500.npz``).

    python benchmarks/make_embedded_table.py --sample $NASI_NAL_DATA/nb101_cifar10_sample20001.npz

Keeps the ``--top`` best cells (default 500) of the team's 20,001-cell NAS-Bench-101 sample by 108-epoch
validation accuracy (one training run; ties broken by hash), with their matrix, ops, hash, validation accuracy at
4/12/36/108 epochs, parameter count and 108-epoch training time. Deterministic: the same sample gives the same
bytes, so the shipped file can be checked against a rebuild.
"""
from __future__ import annotations

import argparse
import pathlib
from typing import Sequence

from nasi_nal.tables import nb101

DEFAULT_OUT = pathlib.Path(nb101.__file__).resolve().parent / "data" / nb101.EMBEDDED_FILE


def make_embedded_table(sample: str | pathlib.Path, top: int = 500) -> nb101.NB101Table:
    """The ``top`` best cells of the sample by 108-epoch validation accuracy, best first."""
    table = nb101.NB101Table.from_sample_npz(sample)
    rows = table.top_indices(top, metric="val_acc", epochs=108)
    return table.select(rows, source=f"top {len(rows)} by val_acc at 108 epochs of {table.source}")


def main(argv: Sequence[str] | None = None) -> pathlib.Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", required=True, type=pathlib.Path,
                        help="nb101_cifar10_sample20001.npz (the team's reference data, see NASI_NAL_DATA)")
    parser.add_argument("--top", type=int, default=500, help="how many of the best cells to keep")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="where to write the npz")
    args = parser.parse_args(argv)
    table = make_embedded_table(args.sample, args.top)
    table.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): {table}")
    return args.out


if __name__ == "__main__":
    main()
