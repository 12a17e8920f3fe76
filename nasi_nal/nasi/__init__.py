"""NASI's one-shot search at initialization (Shu et al., ICLR 2022) on NAS-Bench-201 and DARTS.

``search(space, key, ...)`` relaxes the cell into a supernet (``nasi_nal.networks.supernet``), follows the
normalised gradient of the penalised NTK-trace estimate w.r.t. Gumbel-softmax architecture logits for T steps
without training any weight (:mod:`.search`), and returns the cell of largest probability with its score and the
search's cost. Settings are data (:mod:`.configs`).

Example:
    >>> import jax
    >>> from nasi_nal import nasi
    >>> result = nasi.search("nb201", jax.random.PRNGKey(0), steps=20, batch_size=16)
    >>> result.cell_str
"""
from nasi_nal.nasi.configs import NasiConfig, get_config
from nasi_nal.nasi.search import (
    NasiResult,
    SearchRun,
    build_supernet,
    derive_darts,
    derive_nb201,
    penalized,
    run_search,
    search,
    straight_through_sample,
    supernet_trace,
    trace_counts,
)
from nasi_nal.networks.supernet import ARCH, DARTS_EDGES, DartsSuperNet, NB201SuperNet

__all__ = [
    "ARCH", "DARTS_EDGES", "DartsSuperNet", "NB201SuperNet", "NasiConfig", "NasiResult", "SearchRun",
    "build_supernet", "derive_darts", "derive_nb201", "get_config", "penalized", "run_search", "search",
    "straight_through_sample", "supernet_trace", "trace_counts",
]
