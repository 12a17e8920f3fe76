"""NAS-Bench-201 tables: the CSV layout, consistency with the space's official index order, clear errors."""
from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

from nasi_nal.errors import InvalidCellError, NotInTableError, TableError
from nasi_nal.spaces import nb201 as space
from nasi_nal.tables import NB201Table, load_nb201

HEADER = "index,arch_str,cifar10_test_acc_200ep,cifar10_val_acc_12ep"
URL = "https://github.com/D-X-Y/NATS-Bench"


def write_csv(path: pathlib.Path, rows: list[str], header: str = HEADER) -> pathlib.Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def row(index: int, test: str = "90.5", val: str = "80.25") -> str:
    return f"{index},{space.index_to_arch(index)},{test},{val}"


@pytest.fixture
def small(tmp_path) -> pathlib.Path:
    # Made-up metrics on real (index, arch string) pairs: the format, not the numbers, is under test here.
    return write_csv(tmp_path / "nb201_small.csv", [row(5, "91.0"), row(0, "93.5", ""), row(15624, "93.5", "70")])


def test_small_table_lookups(small):
    table = load_nb201(small, partial=True)
    assert len(table) == 3 and not table.complete
    assert table.metric_names == ("cifar10_test_acc_200ep", "cifar10_val_acc_12ep")
    assert table.indices.tolist() == [5, 0, 15624]
    arch = space.index_to_arch(5)
    for key in (5, np.int64(5), str(arch), arch):
        result = table.query(key)
        assert result.index == 5 and result.arch == arch and result.arch_str == str(arch)
        assert result.metrics["cifar10_test_acc_200ep"] == 91.0
    assert math.isnan(table.query(0).metrics["cifar10_val_acc_12ep"])  # an empty field is missing, not 0
    assert 0 in table and 1 not in table and str(space.index_to_arch(1)) not in table
    with pytest.raises(NotInTableError, match="cell 1 .* not in this table"):
        table.query(1)
    with pytest.raises(InvalidCellError, match="out of range"):
        table.query(15625)
    with pytest.raises(InvalidCellError):
        table.query("|bogus~0|")
    with pytest.raises(InvalidCellError):
        table.query(True)
    assert [r.index for r in table.top(3, "cifar10_test_acc_200ep")] == [0, 15624, 5]  # tie broken by index
    assert [r.index for r in table.top(5, "cifar10_val_acc_12ep")] == [5, 15624]  # NaN never ranked
    assert [a for a in table.archs()] == [space.index_to_arch(i) for i in (5, 0, 15624)]
    with pytest.raises(ValueError, match="unknown metric"):
        table.metric("cifar100_test_acc")


@pytest.mark.parametrize(
    "rows, header, match",
    [
        ([f"7,{space.index_to_arch(8)},90,80"], HEADER, "gives index 7 .* official index is 8"),
        (["3,|nor_conv_3x3~0|+|nor_conv_3x3~0|,90,80"], HEADER, "line 2 is malformed"),
        ([row(3), "4,x,1"], HEADER, "line 3 has 3 fields, the header 4"),
        ([row(3, test="ninety")], HEADER, "line 2 is malformed"),
        ([row(3, test="inf")], HEADER, "infinite 'cifar10_test_acc_200ep'"),
        ([row(3), row(3)], HEADER, "duplicates"),
        ([row(3)], "idx,arch,acc", "its header is"),
        ([row(3)], "index,arch_str,acc,acc", "repeated"),
        ([], "index,arch_str", "its header is"),
    ],
    ids=["wrong-index", "bad-arch", "field-count", "not-a-number", "inf", "duplicate", "header", "repeated-column",
         "no-metric"],
)
def test_bad_files_are_table_errors(tmp_path, rows, header, match):
    path = write_csv(tmp_path / "bad.csv", rows, header)
    with pytest.raises(TableError, match=match) as info:
        load_nb201(path)
    assert "bad.csv" in str(info.value) and URL in str(info.value)


def test_a_table_cut_short_is_refused_unless_partial_is_asked(tmp_path):
    cut = write_csv(tmp_path / "cut.csv", [row(i) for i in range(4999)])  # as `head -n 5000` of the official file
    with pytest.raises(TableError, match=r"cut.csv.*holds 4,999 of the 15,625 cells.*partial=True") as info:
        load_nb201(cut)
    assert URL in str(info.value)
    assert len(load_nb201(cut, partial=True)) == 4999 and len(NB201Table.from_csv(cut, partial=True)) == 4999


def test_bad_arch_error_is_chained(tmp_path):
    path = write_csv(tmp_path / "bad.csv", ["3,|nor_conv_3x3~0|+|nor_conv_3x3~0|,90,80"])
    with pytest.raises(TableError) as info:
        load_nb201(path)
    assert isinstance(info.value.__cause__, InvalidCellError)


def test_missing_empty_and_binary_files(tmp_path):
    with pytest.raises(TableError, match="nowhere.csv.*no such file.*NATS-Bench"):
        load_nb201(tmp_path / "nowhere.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(TableError, match="it is empty"):
        NB201Table.from_csv(tmp_path / "empty.csv")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TableError, match="UTF-8 CSV") as info:
        load_nb201(tmp_path / "binary.csv")
    assert info.value.__cause__ is not None


def test_reference_csv(reference_file):
    table = load_nb201(reference_file("nb201_cifar10.csv"))
    assert len(table) == space.NUM_ARCHS and table.complete
    assert table.indices.tolist() == list(range(space.NUM_ARCHS))  # official index order, every row checked
    test200 = table.metric("cifar10_test_acc_200ep")
    best = table.top(2, "cifar10_test_acc_200ep")
    assert sorted(r.index for r in best) == [6111, 13714]  # README: best 94.37 at these indices
    assert round(best[0].metrics["cifar10_test_acc_200ep"], 2) == 94.37 == round(float(test200.max()), 2)
    one = table.query("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    assert one.index == 1 and one.metrics == table.query(1).metrics
    assert not np.isnan(test200).any()
