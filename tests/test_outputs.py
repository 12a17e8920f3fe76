"""A search's outputs: the JSON and its pictures are written as one set, with the umask's permissions; an
interrupted write leaves an earlier report at the same path as it was."""
import json
import os
import stat

import pytest

import nasi_nal.search as search_cli
from nasi_nal import adapters, report

RANDOM_NB201 = ("--quiet", "--space", "nb201", "--method", "random", "--candidates", "3")


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _listing(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_outputs_respect_the_umask(tmp_path, umask_022):
    out = tmp_path / "run.json"
    assert search_cli.main([*RANDOM_NB201, "--top-k", "2", "--output", str(out)]) == 0
    written = sorted(tmp_path.iterdir())
    assert [p.name for p in written] == ["run.json", "run_rank1.png", "run_rank2.png"]
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def test_a_new_report_removes_the_pictures_of_an_earlier_one(tmp_path):
    out = tmp_path / "run.json"
    other = tmp_path / "run_rankings_rank1.png"  # another report's picture (stem "run_rankings"): kept
    other.write_bytes(b"other")
    assert search_cli.main([*RANDOM_NB201, "--top-k", "3", "--output", str(out)]) == 0
    assert search_cli.main([*RANDOM_NB201, "--top-k", "1", "--output", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run_rank1.png", "run_rankings_rank1.png"]
    assert len(json.loads(out.read_text())["winners"]) == 1 and other.read_bytes() == b"other"


def test_ctrl_c_after_the_first_picture_keeps_the_earlier_report(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run.json"
    assert search_cli.main([*RANDOM_NB201, "--top-k", "2", "--output", str(out)]) == 0
    before = _listing(tmp_path)
    drawn = []
    draw = adapters.draw_cell

    def draw_then_interrupt(*args, **kwargs):
        if drawn:
            raise KeyboardInterrupt
        drawn.append(args)
        return draw(*args, **kwargs)

    monkeypatch.setattr(adapters, "draw_cell", draw_then_interrupt)
    capsys.readouterr()
    assert search_cli.main([*RANDOM_NB201, "--top-k", "3", "--seed", "1", "--output", str(out)]) == 130
    assert "interrupted: no output was written" in capsys.readouterr().err
    assert drawn and _listing(tmp_path) == before


def test_an_interrupted_move_restores_the_earlier_report(tmp_path, monkeypatch):
    out = tmp_path / "run.json"
    out.write_text("old")
    (tmp_path / "run_rank1.png").write_text("old 1")
    (tmp_path / "run_rank2.png").write_text("old 2")
    before = _listing(tmp_path)
    replace = os.replace
    moved = []

    def replace_then_interrupt(src, dst):
        moved.append(dst)
        if len(moved) == 5:  # the earlier report is aside, one new file is in place
            raise KeyboardInterrupt
        replace(src, dst)

    monkeypatch.setattr(report.os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with report.output_set(out) as folder:
            for name in ("run_rank1.png", "run_rank2.png", "run_rank3.png", "run.json"):
                (folder / name).write_text("new")
    monkeypatch.undo()
    assert _listing(tmp_path) == before


def test_json_report_keeps_its_name_and_pictures_are_matched_exactly(tmp_path):
    out = tmp_path / "a.b.json"
    names = ["a.b_rank1.png", "a.b_rank12_normal.png", "a.b_rank2_reduce.png"]
    assert all(report.is_picture_of(out, n) for n in names)
    assert not any(report.is_picture_of(out, n) for n in ("a.b_rankings_rank1.png", "a.b.json", "ab_rank1.png",
                                                          "a.b_rank.png", "a.b_rank1.png.partial"))
