"""The benchmark table's CI settings: the full ones on tiny samples, narrow proxy networks and two seeds.

    NASI_NAL_DATA=../shared/data python benchmarks/table.py --quick --out /tmp/table   # = --settings quick

Expect ``/tmp/table/table.md`` with every section's structure and no meaningful numbers: 3 cells per space and data
mode (params, nwot, nasi_trace; ntk_trace exact as the costly set), searches on NB201 and NB101 with 2 seeds of 2
candidates (random, nal, nal+nasi, nwot). ``tests/test_table.py`` runs its NB201 part.
"""
import dataclasses

from nasi_nal.evaluate.configs import table_full
from nasi_nal.evaluate.settings import CostlyScores, TableSettings


def get_config() -> TableSettings:
    """The quick settings: the full ones with these fields replaced."""
    return dataclasses.replace(
        table_full.get_config(), cells={"nb201": 3, "nb101": 3}, scores=("params", "nwot", "nasi_trace"),
        costly=CostlyScores(("ntk_trace",), cells={"nb201": 3, "nb101": 3}, batch_size=4), batch_size=8,
        input_size=16, network_overrides={"nb201": {"channels": 4}, "nb101": {"stem_channels": 4, "num_stacks": 1}},
        full_networks=(), search_spaces=("nb201", "nb101"), seeds=2, methods=("random", "nal", "nal+nasi", "nwot"),
        candidates=2, search_batch_size=8, nasi_steps=2)
