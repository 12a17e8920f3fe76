"""Fuzzing every parser a user reaches: random and mutated NB101 cell JSON, NB201 arch strings, DARTS genotype JSON
and trainer overrides raise only nasi_nal's own errors (one clear line in the command lines), never another
exception. A short deterministic run is part of the default suite; ``pytest -m slow`` runs a long random one."""
from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasi_nal.errors import NasiNalError
from nasi_nal.spaces import darts, nb101, nb201
from nasi_nal.train import TrainConfig, apply_overrides, get_recipe
from nasi_nal.adapters import parse_cell

BUDGETS = [pytest.param(dict(max_examples=300, derandomize=True), id="short"),
           pytest.param(dict(max_examples=20_000), id="long", marks=pytest.mark.slow)]

NB101_JSON = json.dumps({"matrix": [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
                         "ops": ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]})
NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
DARTS_JSON = darts.to_json(darts.DARTS_V2)
FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]


@st.composite
def mutated(draw, text: str) -> str:
    """``text`` with a few characters deleted, inserted, replaced or a slice repeated."""
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 8)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "repeat"]))
        piece = draw(st.text(min_size=1, max_size=4))
        text = {"delete": text[:i] + text[j:], "insert": text[:i] + piece + text[i:],
                "replace": text[:i] + piece + text[j:], "repeat": text[:j] + text[i:j] + text[j:]}[kind]
    return text


SCALARS = (st.none() | st.booleans() | st.integers(-10, 10) | st.integers() | st.floats() | st.text(max_size=20)
           | st.sampled_from(list(nb101.OPS) + list(darts.OPS) + list(nb201.OPS)))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=8)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=40)
DEEP = st.tuples(st.sampled_from(["[", '{"a":', '{"matrix":[', '{"normal":[']), st.integers(500, 5000)).map(
    lambda piece_count: piece_count[0] * piece_count[1])  # nested past Python's recursion limit


def nb101_texts() -> st.SearchStrategy[str]:
    shaped = st.fixed_dictionaries({"matrix": JSON_VALUES, "ops": JSON_VALUES}).map(json.dumps)
    entries = st.integers(-1, 2) | SCALARS | st.just([]) | st.just({})
    square = st.integers(0, 9).flatmap(lambda n: st.fixed_dictionaries({
        "matrix": st.lists(st.lists(entries, min_size=n, max_size=n), min_size=n, max_size=n),
        "ops": st.lists(st.sampled_from(nb101.OPS) | SCALARS, min_size=n, max_size=n) | JSON_VALUES})).map(json.dumps)
    return st.one_of(st.text(), mutated(NB101_JSON), shaped, square, JSON_VALUES.map(json.dumps), DEEP,
                     st.text(alphabet="0123456789abcdef", min_size=32, max_size=32), st.text().map(lambda t: t + ".json"))


def nb201_texts() -> st.SearchStrategy[str]:
    tokens = st.lists(st.sampled_from(["|", "+", "~", "0", "1", "2", "3", *nb201.OPS]), max_size=30).map("".join)
    return st.one_of(st.text(), mutated(NB201_ARCH), tokens)


def darts_texts() -> st.SearchStrategy[str]:
    pairs = st.lists(st.tuples(st.sampled_from(list(darts.OPS) + ["bogus"]) | SCALARS, st.integers(-1, 6) | SCALARS)
                     | JSON_VALUES, max_size=10)
    concat = st.lists(st.integers(-1, 7) | SCALARS, max_size=6) | JSON_VALUES
    shaped = st.fixed_dictionaries({"normal": pairs, "normal_concat": concat, "reduce": pairs,
                                    "reduce_concat": concat}).map(json.dumps)
    return st.one_of(st.text(), mutated(DARTS_JSON), shaped, JSON_VALUES.map(json.dumps), DEEP,
                     st.sampled_from(["DARTS_V1", "DARTS_V2", "DARTS", "OPS", "sample", "__class__"]))


def override_texts() -> st.SearchStrategy[str]:
    numbers = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e400", "1_0", "0x10", " 3 ", "9" * 5000])
    values = st.one_of(st.text(), numbers, st.integers().map(str), st.floats().map(repr), DEEP,
                       JSON_VALUES.map(json.dumps), st.sampled_from(["true", "no", "sgd", "npz", "bfloat16", "nb201"]))
    return st.one_of(st.text(), st.tuples(st.sampled_from(FIELDS), values).map("=".join),
                     values.map("model_overrides={}".format),  # the one field read as JSON
                     mutated("epochs=12"), mutated('model_overrides={"channels": 4, "cells_per_stage": 1}'))


def _only_project_errors(parse):
    def check(text: str) -> None:
        try:
            parse(text)
        except NasiNalError as error:
            assert str(error).strip(), "an error without a message"
    return check


CASES = {
    "nb101 cell": (nb101_texts, lambda text: parse_cell("nb101", text)),
    "nb201 arch": (nb201_texts, lambda text: parse_cell("nb201", text)),
    "darts genotype": (darts_texts, lambda text: parse_cell("darts", text)),
    "train override": (override_texts, lambda text: apply_overrides(get_recipe("nb201"), [text])),
}


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("case", CASES)
def test_parsers_raise_only_project_errors(case, budget):
    strategy, parse = CASES[case]
    run = given(strategy())(_only_project_errors(parse))
    settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow], **budget)(run)()
