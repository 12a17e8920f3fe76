"""The scores file: columns, reproducible bytes, checks on reading, look-ups and settings that must fit."""
import json
import os
import time
import zipfile

import numpy as np
import pytest

from nasi_nal import scores_file
from nasi_nal.errors import ScoresFileError
from nasi_nal.scores import CellScores
from nasi_nal.scores_file import Columns

KEYS = ["a", "bb", "ccc"]
RESULTS = [CellScores({"grad_norm": 1.5, "synflow": 2.0}, {}),
           CellScores({"grad_norm": 0.25}, {"synflow": "score 'synflow' is nan for cell bb"}),
           CellScores({}, {"grad_norm": "no gradient", "synflow": "no output"})]
META = {"schema": scores_file.SCHEMA, "space": "nb201", "scores": ["grad_norm", "synflow"], "cells": {"count": 3},
        "bn": "train", "batch": {"size": 16, "data": "gaussian", "labels": "random"}}


def _columns():
    return Columns.from_results(KEYS, [7, 8, 9], ["grad_norm", "synflow"], RESULTS)


def test_columns_hold_values_nan_and_errors_and_join_in_order():
    c = _columns()
    assert c.values["grad_norm"].tolist()[:2] == [1.5, 0.25] and np.isnan(c.values["grad_norm"][2])
    assert c.error_row.tolist() == [1, 2, 2] and c.error_score.tolist() == ["synflow", "grad_norm", "synflow"]
    assert c.failed() == {"grad_norm": 1, "synflow": 2}
    joined = Columns.concatenate([c, Columns.from_results(["d"], [10], ["grad_norm", "synflow"],
                                                          [CellScores({"grad_norm": 3.0}, {"synflow": "x"})])])
    assert joined.keys.tolist() == KEYS + ["d"] and joined.index.tolist() == [7, 8, 9, 10]
    assert joined.error_row.tolist() == [1, 2, 2, 3] and joined.values["grad_norm"][3] == 3.0


def test_write_read_round_trip_with_reproducible_bytes(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    scores_file.write(a, _columns(), META)
    time.sleep(2.1)  # zip stores times in 2 s steps: a timestamp would now differ
    scores_file.write(b, _columns(), META)
    assert a.read_bytes() == b.read_bytes()
    assert not list(tmp_path.glob(".*partial"))
    with np.load(a, allow_pickle=False) as f:  # a plain npz
        assert f.files == ["meta", "key", "index", "score_grad_norm", "score_synflow", "error_row", "error_score",
                           "error_message"]
        assert json.loads(str(f["meta"])) == META and f["index"].dtype == np.int64
    found = scores_file.read(a)
    assert found.meta == META and found.scores == ["grad_norm", "synflow"]
    assert found.lookup(["ccc", "a"], ["grad_norm"]) == [CellScores({}, {"grad_norm": "no gradient"}),
                                                         CellScores({"grad_norm": 1.5}, {})]
    assert found.lookup(["bb"], ["grad_norm", "synflow"]) == [RESULTS[1]]


def test_lookups_name_what_the_file_lacks(tmp_path):
    path = tmp_path / "s.npz"
    scores_file.write(path, _columns(), META)
    found = scores_file.read(path)
    with pytest.raises(ScoresFileError, match=r"lacks 2 of the 3 cells asked for \(first: zz\)"):
        found.lookup(["a", "zz", "yy"], ["grad_norm"])
    with pytest.raises(ScoresFileError, match="has no nwot .it holds grad_norm, synflow"):
        found.lookup(["a"], ["nwot"])


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    scores_file.write_npz(path, {k: v for k, v in arrays.items() if v is not None})


@pytest.mark.parametrize("case, change, message", [
    ("not a zip", None, "is not an npz"),
    ("another schema", dict(meta=np.asarray(json.dumps({**META, "schema": "other/1"}))), "its schema is 'other/1'"),
    ("a column missing", dict(score_synflow=None), "it lacks score_synflow"),
    ("a short column", dict(score_synflow=np.zeros(2)), "score_synflow is not a float64 column of 3 cells"),
    ("a value where an error is", dict(score_synflow=np.array([2.0, 1.0, np.nan])), "NaN where no error"),
    ("a repeated key", dict(key=np.array(["a", "a", "b"])), "a key occurs twice"),
    ("an error of no score", dict(error_score=np.array(["synflow", "grad_norm", "nwot"])), "error columns"),
])
def test_corrupt_files_are_one_clear_error(tmp_path, case, change, message):
    path = tmp_path / "s.npz"
    scores_file.write(path, _columns(), META)
    if change is None:
        path.write_bytes(path.read_bytes()[:100])
    else:
        _rewrite(path, **change)
    with pytest.raises(ScoresFileError, match=message) as e:
        scores_file.read(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value) and "Delete it" in str(e.value)


def test_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ScoresFileError, match="does not exist: make one with python -m nasi_nal.score"):
        scores_file.read_meta(tmp_path / "none.npz")


def test_check_fits_lists_every_difference(tmp_path):
    scores_file.check_fits("f.npz", META, {"space": "nb201", "batch.size": 16}, "this search")
    with pytest.raises(ScoresFileError) as e:
        scores_file.check_fits("f.npz", META, {"space": "nb101", "bn": "train", "batch.size": 64,
                                               "network.proxy": True}, "this search")
    text = str(e.value)
    assert "other settings than this search" in text and "\n" not in text
    assert "space 'nb201' there, 'nb101' here" in text and "batch.size 16 there, 64 here" in text
    assert "network.proxy None there, True here" in text and "bn " not in text


def test_entries_carry_a_fixed_date_and_the_umask_permissions(tmp_path):
    path = tmp_path / "s.npz"
    scores_file.write(path, _columns(), META)
    with zipfile.ZipFile(path) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
