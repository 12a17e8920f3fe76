"""nasi_nal: zero-cost neural architecture search in JAX.

Data flows space -> proposals -> scores -> ranking -> training -> report:
``nasi_nal.spaces`` encodes cells (``nasi_nal.adapters``: what a search needs of each space), ``nasi_nal.tables``
looks up benchmark results, ``nasi_nal.networks`` builds the benchmarks' networks, ``nasi_nal.proposers`` (the NAL
GAT in ``nasi_nal.nal``, NASI's supernet in ``nasi_nal.nasi``) propose cells, ``nasi_nal.scores`` scores them at
initialization, ``nasi_nal.ranking`` ranks them, ``nasi_nal.methods`` pairs proposers with rankers,
``nasi_nal.pipeline`` runs a search and ``nasi_nal.train`` trains the winners.
"""

__version__ = "0.1.0"

from nasi_nal.pipeline import search
from nasi_nal.schema import SearchConfig, SearchResult

__all__ = ["SearchConfig", "SearchResult", "search"]
