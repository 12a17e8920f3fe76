"""The benchmark table's documented settings: those of ``benchmarks/results/table``.

    NASI_NAL_DATA=../shared/data python benchmarks/table.py --out benchmarks/results/table

Expect ``table.md`` (with CSVs and plots) holding: section 1, on NB201 and on NB101, 1,000 cells in each data mode
(exact CIFAR-10 pixels with real labels; Gaussian inputs with random labels), a batch of 64, NB201 on the
benchmark's own network (the published correlations are for it) and NB101 on the proxy; every score but the exact
NTK condition number, the ensemble, and on NB101 the NAL log-likelihood; the exact NTK as a costly set on 60 NB201
and 40 NB101 cells of its own (proxy networks, batch 8). The parameter count's Spearman with accuracy does not
depend on the batch: 0.772 on the NB201 cells, 0.449 on the NB101 ones. Section 2: NB201 searches, 10 seeds of 100
candidates per method (table best 94.37, mean 87.04); section 3 from ``--runs``. Run it on an accelerator or in
pieces (``--section``, ``--space``); it resumes where it stopped.
"""
from nasi_nal.evaluate.settings import CostlyScores, TableSettings
from nasi_nal.scores import SCORES

COSTLY = ("ntk_cond",)  # one backward pass per example and logit: a sample of its own
ALL_METHODS = ("random", *sorted(s for s in SCORES if s not in ("nasi_trace",)), "nasi", "nal", "nal+nasi")
BOTH_DATA_MODES = (("real", "real"), ("gaussian", "random"))


def get_config() -> TableSettings:
    """The full settings."""
    return TableSettings(
        cells={"nb201": 1000, "nb101": 1000}, scores=tuple(s for s in SCORES if s not in COSTLY),
        data_modes=BOTH_DATA_MODES,
        costly=CostlyScores((*COSTLY, "ntk_trace"), cells={"nb201": 60, "nb101": 40}, batch_size=8),
        batch_size=64, input_size=32, network_overrides={}, full_networks=("nb201",),
        search_spaces=("nb201",), seeds=10, methods=tuple(m for m in ALL_METHODS if m not in COSTLY),
        candidates=100, search_batch_size=None,
        nasi_steps=20)  # a step of the masked supernet at batch 64 is slow on a CPU; NASI takes 100
