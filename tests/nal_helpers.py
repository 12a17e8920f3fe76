"""Tiny NAL models and cell sets shared by the tests/test_nal_*.py files."""
import jax
import numpy as np

from nasi_nal.nal import checkpoint, data
from nasi_nal.nal.model import ModelConfig, init_params
from nasi_nal.spaces import nb101

TINY = ModelConfig(hidden=16, num_heads=2, num_layers=2, dropout=0.1, decoder_hidden=16)


def random_cellset(n: int = 60, seed: int = 0) -> data.CellSet:
    """``n`` distinct uniformly sampled valid cells with made-up accuracies (a synthetic table)."""
    rng = np.random.default_rng(seed)
    cells, seen = [], set()
    while len(cells) < n:
        c = nb101.sample(rng)
        if c.hash not in seen:
            seen.add(c.hash)
            cells.append(c)
    return data.cellset_from_cells(cells, accuracy=rng.uniform(0.8, 0.95, n))


def untrained_model(seed: int = 0, table_fraction: float = 1.0) -> checkpoint.TrainedNAL:
    """A freshly initialised tiny model with op statistics of a synthetic expert set."""
    experts = random_cellset(30, seed=seed + 1)
    meta = {"train_config": {"table_fraction": table_fraction, "split_seed": 0},
            "data": {"train_hashes": list(experts.hashes[:20]), "heldout_hashes": list(experts.hashes[20:])}}
    return checkpoint.TrainedNAL(TINY, init_params(TINY, jax.random.PRNGKey(seed)),
                                 data.OpStats.from_cells(experts), meta)
