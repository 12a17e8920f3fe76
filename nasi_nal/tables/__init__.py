"""Benchmark tables: NAS-Bench-101 and NAS-Bench-201 results, queried by cell.

``load_nb101`` reads the official NAS-Bench-101 tfrecords (through an npz cache), a saved table or the team's
sample; ``load_embedded`` returns the small NAS-Bench-101 table shipped with the package; ``load_nb201`` reads a
NAS-Bench-201 results CSV. Layouts, units and missing values are documented in ``nb101`` and ``nb201``.
"""
from nasi_nal.tables.nb101 import NB101Result, NB101Table, load_embedded, load_nb101
from nasi_nal.tables.nb201 import NB201Result, NB201Table, load_nb201

__all__ = [
    "NB101Result",
    "NB101Table",
    "NB201Result",
    "NB201Table",
    "load_embedded",
    "load_nb101",
    "load_nb201",
]
