"""The engine chooser and the one driver: which engine scores what, per-cell keys, averaged initializations."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from nasi_nal.errors import ScoringConfigError, UnknownScoreError
from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.scores import SCORES, cell_key, choose, definitions, draw_keys, iter_scores, make_batch, score_cell
from nasi_nal.scores.masked import MASKED_SCORES

CELLS = (
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
)


def _tiny(arch: str) -> NB201Network:
    return NB201Network(arch, channels=4, cells_per_stage=1)


def test_every_score_is_defined_once_with_what_it_needs():
    assert set(SCORES) == {"ntk_trace", "nasi_trace", "ntk_cond", "params", "flops", "grad_norm", "snip", "synflow",
                           "jacob_cov", "nwot"}
    quantities = {v for k, v in vars(definitions.Quantity).items() if not k.startswith("_")}
    for name, score in SCORES.items():
        assert score.name == name and score.needs in quantities and score.reference
        assert (score.reduce is not None) == (score.needs in ("loss_grad", "synflow"))
    assert [n for n, s in SCORES.items() if s.lower_is_better] == ["ntk_cond"]


def test_choose_maps_space_backend_and_scores_to_engines():
    names = ["nasi_trace", "nwot", "params"]
    assert choose("nb201", names, backend="cpu") == {"blockwise": names}
    assert choose("nb101", names, backend="cpu") == {"blockwise": names}
    assert choose("darts", names, backend="gpu") == {"joint": names}
    assert choose(None, names, backend="cpu") == {"joint": names}
    assert choose("nb201", names, backend="gpu") == {"masked": ["nasi_trace"], "blockwise": ["nwot", "params"]}
    assert choose("nb201", names, backend="gpu", many=False) == {"blockwise": names}  # given variables: per cell
    assert choose("nb201", ["nwot"], engine="joint") == {"joint": ["nwot"]}
    assert set(MASKED_SCORES) < set(SCORES)
    with pytest.raises(ScoringConfigError, match="not darts: use engine='joint'"):
        choose("darts", names, engine="blockwise")
    with pytest.raises(ScoringConfigError, match=r"not \['nwot', 'params'\]"):
        choose("nb201", names, engine="masked")
    with pytest.raises(ScoringConfigError, match="choose one of"):
        choose("nb201", names, engine="fast")
    with pytest.raises(UnknownScoreError, match="bogus"):
        choose("nb201", ["bogus"])


def test_cell_keys_depend_on_the_seed_and_the_cell_only():
    assert np.array_equal(cell_key(0, CELLS[0]), cell_key(0, CELLS[0]))
    assert not np.array_equal(cell_key(0, CELLS[0]), cell_key(1, CELLS[0]))
    assert not np.array_equal(cell_key(0, CELLS[0]), cell_key(0, CELLS[1]))
    draws = draw_keys(cell_key(0, CELLS[0]), 3)
    assert np.array_equal(draws[0], cell_key(0, CELLS[0])) and len({tuple(np.asarray(k)) for k in draws}) == 3
    with pytest.raises(ScoringConfigError, match="inits=0"):
        draw_keys(draws[0], 0)


def test_a_cells_scores_do_not_depend_on_its_neighbours_and_inits_average_draws():
    batch = make_batch(jax.random.PRNGKey(0), 4, inputs="gaussian", targets="random")
    names = ["grad_norm", "ntk_trace"]

    def scores(archs, **kw):
        results = iter_scores([_tiny(a) for a in archs], batch, names, [cell_key(3, a) for a in archs], **kw)
        return {a: r.values for a, r in zip(archs, results)}

    alone = scores(CELLS[:1])
    crowded = scores([CELLS[2], CELLS[1], CELLS[0]])
    assert crowded[CELLS[0]] == alone[CELLS[0]]
    assert crowded[CELLS[2]] != crowded[CELLS[0]]

    averaged = scores(CELLS[:1], inits=2)[CELLS[0]]
    draws = [score_cell(_tiny(CELLS[0]), None, batch, names, k)[1].values
             for k in draw_keys(cell_key(3, CELLS[0]), 2)]
    assert draws[0] == alone[CELLS[0]]
    for n in names:
        assert averaged[n] == pytest.approx(np.mean([d[n] for d in draws]), rel=1e-12)
