"""NAL proposals: a jraph graph-attention link predictor trained on expert NAS-Bench-101 cells.

After Liang & Sun, "Automating Neural Architecture Design without Search" (no official code; the design is
documented in ``nasi_nal.nal.data`` and ``nasi_nal.nal.model``). Typical use::

    from nasi_nal import nal
    model = nal.load_pretrained()
    cands = nal.generate.generate(model, 100, rng=np.random.default_rng(0))  # best-first, valid, distinct
    scores = nal.cell_log_likelihood(model, cells, include_ops=True)  # rank existing cells
    genotype = nal.to_darts(model)[0].genotype

Training (``nasi_nal.nal.train``, also ``python -m nasi_nal.nal.train``) and leakage-free evaluation
(``nasi_nal.nal.evaluate``) are imported from their modules.
"""
from nasi_nal.nal.checkpoint import TrainedNAL, load, load_pretrained, save
from nasi_nal.nal.data import CellSet, OpStats, cellset_from_cells, cellset_from_table
from nasi_nal.nal.generate import Candidate, cell_log_likelihood
from nasi_nal.nal.model import LinkPredictor, ModelConfig, edge_logits, edge_probabilities
from nasi_nal.nal.transfer import to_darts, to_nb201

__all__ = [
    "Candidate", "CellSet", "LinkPredictor", "ModelConfig", "OpStats", "TrainedNAL",
    "cell_log_likelihood", "cellset_from_cells", "cellset_from_table", "edge_logits",
    "edge_probabilities", "load", "load_pretrained", "save", "to_darts", "to_nb201",
]
