"""Enumerates the whole NAS-Bench-101 space and checks the published counts (Ying et al., 2019, Sec. 2.2).

    python benchmarks/enumerate_nb101.py                   # all 423,624 cells, a few minutes on 2 cores
    python benchmarks/enumerate_nb101.py --max-vertices 5  # seconds (1 + 6 + 84 + 2441 cells)

Prints the number of unique cells per vertex count, the total and the run time, and writes them as JSON
(default ``benchmarks/results/nb101_enumeration.json``). With the team's reference data (``--data DIR`` or the
``NASI_NAL_DATA`` variable), it also checks that every hash of the 20,001-cell NB101 sample is enumerated.
Exits with status 1 when a count differs from the published one or a sample hash is missing.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np

from nasi_nal.spaces import nb101

# Published in the NAS-Bench-101 paper and the official generate_graphs.py: unique cells by vertex count.
PUBLISHED_COUNTS = {2: 1, 3: 6, 4: 84, 5: 2441, 6: 62010, 7: 359082}
SAMPLE_FILE = "nb101_cifar10_sample20001.npz"
DEFAULT_OUTPUT = pathlib.Path(__file__).resolve().parent / "results" / "nb101_enumeration.json"


def run(max_vertices: int = nb101.MAX_VERTICES, data_dir: pathlib.Path | None = None) -> dict:
    """Enumerates every cell up to ``max_vertices`` and returns the counts, run time and checks as a dict."""
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    counts: collections.Counter[int] = collections.Counter()
    hashes = []
    for cell in nb101.enumerate_cells(max_vertices):
        counts[cell.num_vertices] += 1
        hashes.append(cell.hash)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    published = {v: PUBLISHED_COUNTS[v] for v in range(2, max_vertices + 1)}
    result = {
        "max_vertices": max_vertices,
        "counts_by_vertices": {str(v): counts[v] for v in range(2, max_vertices + 1)},
        "total": sum(counts.values()),
        "published_counts_by_vertices": {str(v): n for v, n in published.items()},
        "published_total": sum(published.values()),
        "matches_published": all(counts[v] == n for v, n in published.items()),
        "unique_hashes": len(set(hashes)),
        # A fingerprint of the hash set, to compare enumerations across machines and versions.
        "sorted_hashes_sha256": hashlib.sha256("\n".join(sorted(hashes)).encode("utf-8")).hexdigest(),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),  # this process's CPU time: less sensitive to a shared machine
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpu_count": os.cpu_count(),
            # The machine may be shared: the 1-minute load average before and after puts "seconds" in context.
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "platform": platform.platform(),
        },
    }
    if data_dir is not None:
        sample = np.load(data_dir / SAMPLE_FILE, allow_pickle=False)
        sample_hashes = {
            h for h, v in zip(sample["hash"].tolist(), sample["num_vertices"].tolist()) if v <= max_vertices
        }
        missing = sample_hashes - set(hashes)
        result["reference_sample"] = {"file": SAMPLE_FILE, "hashes": len(sample_hashes), "missing": len(missing)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-vertices", type=int, default=nb101.MAX_VERTICES, help="2..7 (default 7)")
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT, help="JSON file to write")
    parser.add_argument(
        "--data", type=pathlib.Path, default=None, help="reference data folder (default: $NASI_NAL_DATA if set)"
    )
    args = parser.parse_args(argv)
    data_dir = args.data or (pathlib.Path(os.environ["NASI_NAL_DATA"]) if os.environ.get("NASI_NAL_DATA") else None)
    if data_dir is not None and not (data_dir / SAMPLE_FILE).is_file():
        parser.error(f"{data_dir / SAMPLE_FILE} does not exist: point --data / NASI_NAL_DATA at the reference data")

    result = run(args.max_vertices, data_dir)
    for v, n in result["counts_by_vertices"].items():
        print(f"V={v}: {n:>7,d} cells (published {result['published_counts_by_vertices'][v]:,d})")
    print(f"total: {result['total']:,d} (published {result['published_total']:,d}) in {result['seconds']:.1f} s "
          f"({result['cpu_seconds']:.1f} s CPU)")
    ok = result["matches_published"]
    if "reference_sample" in result:
        ref = result["reference_sample"]
        print(f"reference sample: {ref['hashes'] - ref['missing']:,d} of {ref['hashes']:,d} hashes enumerated")
        ok = ok and ref["missing"] == 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
