"""nasi_nal: zero-cost neural architecture search in JAX.

Data flows space -> proposals -> scores -> ranking -> training -> report:
``nasi_nal.spaces`` encodes cells, ``nasi_nal.tables`` looks up benchmark results,
``nasi_nal.networks`` builds the benchmarks' networks, ``nasi_nal.nal`` proposes cells,
``nasi_nal.scores`` ranks them at initialization and ``nasi_nal.train`` trains the winners.
"""

__version__ = "0.1.0"

from nasi_nal.pipeline import SearchConfig, SearchResult, search

__all__ = ["SearchConfig", "SearchResult", "search"]
