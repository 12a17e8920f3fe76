"""benchmarks/table.py: structure and sanity of the regenerated table (not its final numbers)."""
import csv
import importlib.util
import itertools
import json
import pathlib
import sys
from typing import Sequence

import numpy as np
import pytest

from nasi_nal.errors import NasiNalError
from nasi_nal.evaluate import load_settings
from nasi_nal.scores import SCORES

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "table.py"
_spec = importlib.util.spec_from_file_location("benchmark_table", _PATH)
table = importlib.util.module_from_spec(_spec)
sys.modules["benchmark_table"] = table  # dataclasses look their module up while the file executes
_spec.loader.exec_module(table)

PNG = b"\x89PNG\r\n\x1a\n"
FULL, _ = load_settings("full")
QUICK, _ = load_settings("quick")


def _csv(path: pathlib.Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_full_settings_are_the_documented_ones():
    assert FULL.cells == {"nb201": 1000, "nb101": 1000}
    assert FULL.seeds >= 10
    assert set(FULL.scores) | set(FULL.costly.scores) == set(SCORES)  # some on a cheaper setting
    assert min(FULL.costly.cells.values()) >= 40 and FULL.costly.batch_size >= 8
    for method in ("random", "nasi", "nal", "nal+nasi", "synflow", "nwot", "jacob_cov"):
        assert method in FULL.methods


# The names of section 1's resumable runs (their records and summaries in <out>/section1) as the table's code
# computed them before the settings became config files: the same settings must find the same files.
PINNED_TAGS = {
    ("full", "nb201"): ["corr_nb201_real-real_db523d09f8", "corr_nb201_gaussian-random_34b046229f",
                        "corr_nb201_real-real_14b410a19e"],
    ("full", "nb101"): ["corr_nb101_real-real_1e7495ed5e", "corr_nb101_gaussian-random_83f0be7bdf",
                        "corr_nb101_real-real_08f29bd89f"],
    ("quick", "nb201"): ["corr_nb201_real-real_c3dfd96a43", "corr_nb201_gaussian-random_76d8ff580a",
                         "corr_nb201_real-real_b33dea3eff"],
    ("quick", "nb101"): ["corr_nb101_real-real_f08347e77e", "corr_nb101_gaussian-random_081e7e3183",
                         "corr_nb101_real-real_d1fa888f7e"],
}


@pytest.mark.parametrize("name, space", sorted(PINNED_TAGS))
def test_section1_run_names_are_pinned(name, space):
    settings, _ = load_settings(name)
    data = pathlib.Path("/any/folder")
    runs, costly, not_run = table.section1_runs(space, data / table.DATA_NAMES[space],
                                                data / table.DATA_NAMES["images"], settings)
    assert [table.run_tag(r) for r in (*runs.values(), costly)] == PINNED_TAGS[name, space] and not not_run
    without_images, costly, not_run = table.section1_runs(space, data / table.DATA_NAMES[space], None, settings)
    assert list(without_images) == ["gaussian-random"] and list(not_run) == ["real-real"]
    assert table.run_tag(without_images["gaussian-random"]) == PINNED_TAGS[name, space][1]
    assert costly.inputs == "gaussian" and costly.images is None  # the costly set follows the first mode run


def test_settings_by_name_or_path(tmp_path, monkeypatch):
    monkeypatch.delenv("NASI_NAL_DATA", raising=False)
    table.main(["--settings", "quick", "--out", str(tmp_path / "a")])
    assert json.loads((tmp_path / "a" / "settings.json").read_text())["cells"] == QUICK.cells
    config = tmp_path / "mine.py"
    config.write_text("import dataclasses\nfrom nasi_nal.evaluate.configs import table_quick\n\n\n"
                      "def get_config():\n    return dataclasses.replace(table_quick.get_config(), seeds=5)\n")
    text = table.main(["--settings", str(config), "--out", str(tmp_path / "b")])
    assert f"Settings: `{config}`" in text
    assert json.loads((tmp_path / "b" / "settings.json").read_text())["seeds"] == 5
    with pytest.raises(NasiNalError, match="--quick is --settings quick"):
        table.main(["--quick", "--settings", "full", "--out", str(tmp_path / "c")])
    with pytest.raises(NasiNalError, match="choose from full, quick or give"):
        table.main(["--settings", "fast", "--out", str(tmp_path / "c")])


def test_published_values_name_their_source():
    for entry in table.PUBLISHED_CORRELATIONS + table.PUBLISHED_SEARCH:
        assert entry["source"] and isinstance(entry["checked"], bool)
        assert entry["space"] in ("nb201", "nb101", "darts")
    for entry in table.PUBLISHED_CORRELATIONS:
        assert entry["statistic"] in ("spearman", "kendall")
        assert entry["value"] is None or -1.0 <= entry["value"] <= 1.0
        assert entry["score"] in SCORES or "not implemented" in entry["score"]
    # an entry without a value is shown as such, never as a number
    assert "not read in a primary source" in table._pub_value({"value": None, "checked": False})


def test_pool_search_picks_the_best_scored_cell():
    acc = np.linspace(0.80, 0.95, 20)  # fractions, as the NB101 sample stores them
    records = [{"accuracy": float(a), "scores": {"oracle": float(a), "ntk_cond": float(-a), "anti": float(-a)}}
               for a in acc]
    records[0]["scores"].pop("anti")  # a cell a score failed on is skipped, not ranked
    res = table.pool_search(records, ["oracle", "ntk_cond", "anti"], pool_size=5, seeds=4)
    assert res["pool_size"] == 5 and res["seeds"] == 4
    assert res["picks"]["oracle"]["mean"] == pytest.approx(res["pool_best"])  # percent, like the pool best
    assert res["picks"]["ntk_cond"]["mean"] == pytest.approx(res["pool_best"])  # lower is better for ntk_cond
    assert res["picks"]["anti"]["mean"] < res["random"] <= res["pool_best"] <= 95.0
    assert res == table.pool_search(records, ["oracle", "ntk_cond", "anti"], pool_size=5, seeds=4)


def test_missing_inputs_are_marked_not_run(tmp_path, monkeypatch):
    monkeypatch.delenv("NASI_NAL_DATA", raising=False)
    text = table.main(["--out", str(tmp_path / "out")])
    assert "### nb201: not run: no --nb201-table given" in text
    assert "### nb101: not run: no --nb101-table given" in text
    assert "Not run: no --runs given" in text
    assert "## Environment" in text and "data `images`: not given" in text
    env = json.loads((tmp_path / "out" / "environment.json").read_text())
    assert env["data"] == {"nb201": None, "nb101": None, "images": None}
    assert (tmp_path / "out" / "table.md").read_text() == text


def test_full_settings_search_only_the_tabulated_spaces(tmp_path, monkeypatch):
    monkeypatch.delenv("NASI_NAL_DATA", raising=False)
    sample = tmp_path / "nb101_sample.npz"
    sample.write_bytes(b"")  # never read: the full settings do not search NB-101
    text = table.main(["--out", str(tmp_path / "out"), "--nb101-table", str(sample), "--section", "2"])
    assert "### nb101: not run: the full settings search nb201 only" in text
    assert not (tmp_path / "out" / "section2").exists()


def test_bad_inputs_fail_with_a_clear_error(tmp_path):
    with pytest.raises(NasiNalError, match="no such file"):
        table.main(["--out", str(tmp_path), "--nb201-table", str(tmp_path / "missing.csv")])
    with pytest.raises(NasiNalError, match="not a folder"):
        table.main(["--out", str(tmp_path), "--runs", str(tmp_path / "nowhere")])
    with pytest.raises(NasiNalError, match="choose from"):
        table.main(["--out", str(tmp_path), "--methods", "random,bogus"])


def test_section3_reads_trainer_summaries(tmp_path):
    runs = tmp_path / "runs"
    for rank, acc in ((1, 0.91), (2, 0.88)):
        (runs / f"rank{rank}").mkdir(parents=True)
        (runs / f"rank{rank}" / "summary.json").write_text(json.dumps({
            "recipe": "nb201", "space": "nb201", "cell": f"cell{rank}", "dataset": "cifar10", "epochs": 200,
            "final_test_acc": acc, "best_test_acc": acc, "best_epoch": 200, "param_count": 1000 * rank,
            "wall_seconds": 12.5, "device": "cpu", "platform": "cpu", "workdir": "x"}))
    out = tmp_path / "out"
    text = table.main(["--out", str(out), "--section", "3", "--runs", str(runs)])
    rows = _csv(out / "section3.csv")
    assert [r["cell"] for r in rows] == ["cell1", "cell2"]
    assert [float(r["final_test_acc"]) for r in rows] == [0.91, 0.88]
    assert "| nb201 | nb201 | cell1 | cifar10 | 200 | 0.91 |" in text
    (runs / "rank3").mkdir()
    (runs / "rank3" / "summary.json").write_text(json.dumps({"something": "else"}))
    with pytest.raises(NasiNalError, match="not a nasi_nal.train summary"):
        table.main(["--out", str(out), "--section", "3", "--runs", str(runs)])


def test_nal_correlation_leaves_out_the_experts(reference_file):
    path = reference_file("nb101_cifar10_sample20001.npz")
    cells, acc, hashes = table._cached_table("nb101", path)
    from nasi_nal.nal import load_pretrained

    experts = load_pretrained().expert_hashes
    rows = [i for i, h in enumerate(hashes) if h in experts][:5] + list(range(60))
    records = [{"row": i, "cell": hashes[i], "accuracy": float(acc[i]), "scores": {}} for i in rows]
    entry, note = table._nal_correlation(path, records, seed=0)
    unseen = sum(hashes[i] not in experts for i in rows)
    assert entry["cells"] == unseen < len(rows)
    assert -1.0 <= entry["spearman"] <= 1.0 and entry["spearman_ci95"][0] <= entry["spearman_ci95"][1]
    assert f"{len(rows) - unseen} of the {len(rows)}" in note


def test_quick_nb201_structure_and_resume(tmp_path, reference_file):
    csv_path = reference_file("nb201_cifar10.csv")
    out = tmp_path / "out"
    argv = ["--quick", "--out", str(out), "--nb201-table", str(csv_path), "--space", "nb201", "--scores",
            "params,ntk_trace", "--methods", "random,nal", "--section", "1", "--section", "2"]
    text = table.main(argv)

    s1 = json.loads((out / "section1" / "nb201.json").read_text())
    assert list(s1["modes"]) == ["gaussian-random"] and s1["bn"] == "train"  # no --images: no real-data mode
    assert "no --images given" in s1["modes_not_run"]["real-real"] and "### nb201, real-real: not run" in text
    part = s1["modes"]["gaussian-random"]
    assert len(part["records"]) == QUICK.cells["nb201"]
    assert all(0 < r["accuracy"] <= 100 for r in part["records"])
    params = part["correlations"]["params"]
    assert params["cells"] == 3 and -1.0 <= params["spearman"] <= 1.0
    assert part["pool_search"]["pool_size"] == min(QUICK.candidates, 3)
    assert part["pool_search"]["picks"]["params"]["pools"] == QUICK.seeds
    assert list(part["correlations"]) == ["params"]  # the costly score is correlated on its own setting
    assert part["config"]["bn"] == "train" and part["config"]["probes"] == QUICK.probes
    costly = s1["costly"]
    assert costly["config"]["batch_size"] == QUICK.costly.batch_size and not costly["config"]["full"]
    assert costly["config"]["probes"] == "exact"
    assert list(costly["correlations"]) == ["ntk_trace"] and costly["correlations"]["ntk_trace"]["cells"] == 3
    assert all(r["scores"]["ntk_trace"] > 0 for r in costly["records"])
    assert "| ntk_trace (costly) | 3 |" in text
    rows = _csv(out / "section1.csv")
    ours = [r for r in rows if r["origin"] == "ours"]
    assert [(r["space"], r["data"], r["score"], r["setting"]) for r in ours] == [
        ("nb201", "gaussian-random", "params", "main"), ("nb201", "gaussian-random", "ntk_trace", "costly")]
    assert any(r["origin"].startswith("published") and r["score"] == "synflow" for r in rows)

    s2 = json.loads((out / "section2" / "nb201.json").read_text())
    assert list(s2["methods"]) == ["random", "nal"]
    assert s2["table_best"] == pytest.approx(94.37, abs=0.01)
    for m in s2["methods"].values():
        assert m["seeds"] == QUICK.seeds == m["picks_in_table"]
        accs = [p["accuracy"] for p in m["picks"]]
        assert np.mean(accs) == pytest.approx(m["accuracy_mean"])
        assert all(0 < a <= s2["table_best"] for a in accs)
        assert m["pool_best_mean"] <= s2["table_best"] and m["wall_seconds_mean"] > 0
    units = sorted((out / "section2" / "units").glob("*.json"))
    assert len(units) == 2 * QUICK.seeds
    for unit in units:  # the pick is one of the pool, so never better than the pool's best
        result = json.loads(unit.read_text())
        pool = [c["table_accuracy"] for c in result["candidates"]]
        assert result["winners"][0]["table_accuracy"] <= max(pool)
    assert "| random | sampling order |" in text and "| TE-NAS | nb201 | 93.9 +- 0.47 (secondary source) |" in text
    for png in ("section1_nb201_gaussian-random_scatter.png", "section2_nb201_picks.png"):
        assert (out / "plots" / png).read_bytes()[:8] == PNG
    assert "### nb101: not run" in text

    # Resumable: a rerun reuses every unit (files untouched) and gives the same numbers.
    stamps = {p: p.stat().st_mtime_ns for p in units + list((out / "section1").glob("*.partial"))}
    table.main(argv)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert json.loads((out / "section2" / "nb201.json").read_text())["methods"]["random"]["picks"] == \
        s2["methods"]["random"]["picks"]
    again = json.loads((out / "section1" / "nb201.json").read_text())["modes"]["gaussian-random"]
    assert (again["correlations"], again["records"]) == (part["correlations"], part["records"])


@pytest.mark.slow
def test_quick_mode_every_section(tmp_path, reference_file):
    """The CI command itself: ``--quick`` over both spaces (several minutes on a 2-core CPU)."""
    runs = tmp_path / "runs" / "rank1"
    runs.mkdir(parents=True)
    (runs / "summary.json").write_text(json.dumps({"recipe": "nb201", "epochs": 1, "final_test_acc": 0.1}))
    out = tmp_path / "out"
    text = table.main(["--quick", "--out", str(out), "--nb201-table", str(reference_file("nb201_cifar10.csv")),
                       "--nb101-table", str(reference_file("nb101_cifar10_sample20001.npz")),
                       "--images", str(reference_file("cifar10_exact_first1017.npz")), "--runs",
                       str(tmp_path / "runs")])
    assert "not run" not in text
    s1 = json.loads((out / "section1" / "nb101.json").read_text())
    assert list(s1["modes"]) == ["real-real", "gaussian-random"]
    for part in s1["modes"].values():
        assert set(part["correlations"]) == {*QUICK.scores, table.NAL_SCORE}
    assert set(s1["costly"]["correlations"]) == set(QUICK.costly.scores)
    for space in ("nb201", "nb101"):
        s2 = json.loads((out / "section2" / f"{space}.json").read_text())
        assert list(s2["methods"]) == list(QUICK.methods)
    assert len(_csv(out / "section3.csv")) == 1


def _heavy_tailed_result(n: int = 300) -> dict:
    """Section-1 records shaped like the committed NB201 run's: scores over many decades, zeros, negative tails."""
    rng = np.random.default_rng(0)
    accuracy = rng.uniform(60, 94, n)
    scores = {
        "grad_norm": np.where(rng.random(n) < 0.05, 0.0, np.exp(rng.normal(-2, 3, n))),  # zeros and 1e-5..1e2
        "synflow": np.where(rng.random(n) < 0.05, 0.0, 10.0 ** rng.uniform(0, 59, n)),  # up to 1e59
        "jacob_cov": -np.exp(rng.normal(3, 2.5, n)),  # negative, down to about -30,000
        "nasi_trace": 10.0 ** rng.uniform(-2, 17, n),  # positive over 19 decades
        "params": rng.uniform(0.07e6, 1.5e6, n),  # linear, but in millions
        "nwot": rng.normal(700, 40, n),  # plain
        "jacob_cov_nb101": np.where(rng.random(n) < 0.03, -75.0, rng.normal(-66, 0.5, n)),  # outliers, no decades
    }
    records = [{"accuracy": float(a), "scores": {k: float(v[i]) for k, v in scores.items()}}
               for i, a in enumerate(accuracy)]
    return {"space": "nb201", "records": records, "correlations": {k: {"spearman": 0.1} for k in scores}}


def test_scatter_panels_spread_their_points_and_say_their_scale():
    import matplotlib

    matplotlib.use("Agg")
    fig = table.scatter_figure(_heavy_tailed_result())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.collections]
    scales = {"grad_norm": "symlog scale", "synflow": "symlog scale", "jacob_cov": "symlog scale",
              "nasi_trace": "log scale", "params": "x 1e6", "nwot": "", "jacob_cov_nb101": "rank"}
    assert len(panels) == len(scales)
    for ax in panels:
        name = ax.get_title().split()[0]
        assert scales[name] in ax.get_xlabel() and (scales[name] or ax.get_xlabel() == name), ax.get_xlabel()
        x = ax.transAxes.inverted().transform(ax.transData.transform(np.asarray(ax.collections[0].get_offsets())))[:, 0]
        middle = np.percentile(x, 75) - np.percentile(x, 25)
        assert middle > 0.1, f"{name}: the middle half of the points covers {middle:.3f} of the axis"
        assert ax.get_xlabel().startswith(name) and (ax.get_xscale() == "linear" or ax.get_xscale() in ax.get_xlabel())
        assert not ax.xaxis.get_offset_text().get_text()  # no "1e10" floating into the next panel's title
        ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        assert len(ticks) >= 3 and not any(a.overlaps(b) for a, b in itertools.combinations(ticks, 2)), name
        assert not ax.yaxis.get_offset_text().get_text()
    titles = [ax.title.get_window_extent(renderer) for ax in panels]
    labels = [ax.xaxis.label.get_window_extent(renderer) for ax in panels]
    ticks = [t.get_window_extent(renderer) for ax in panels for t in ax.get_xticklabels() if t.get_text()]
    for i, title in enumerate(titles):
        assert not any(title.overlaps(b) for b in titles[:i] + titles[i + 1:] + labels + ticks)


GOLDEN = pathlib.Path(__file__).resolve().parent / "data" / "table_render"


def _synthetic_sections(out: pathlib.Path) -> None:
    """Section JSONs of every shape ``render`` formats (two data modes, a mode not run, costly rows, pool search,
    a failed correlation, unscorable candidates, picks outside the table, section 3 runs), made up and small."""
    rng = np.random.default_rng(0)

    def part(space: str, mode: str, scores: Sequence[str], cells: int = 6) -> dict:
        records = [{"cell": f"{space}-{i}", "accuracy": float(80 + 2 * i),
                    "scores": {s: float(rng.normal(k + 1, 1)) for k, s in enumerate(scores)}} for i in range(cells)]
        correlations = {s: {"cells": cells, "failed": 0, "lower_is_better": s == "ntk_cond", "spearman": 0.1 * k,
                            "kendall": 0.05 * k, "spearman_ci95": [0.1 * k - 0.2, 0.1 * k + 0.2],
                            "kendall_ci95": [0.05 * k - 0.1, 0.05 * k + 0.1]} for k, s in enumerate(scores)}
        correlations[scores[-1]] = {"cells": 2, "failed": cells - 2, "lower_is_better": False, "spearman": None,
                                    "kendall": None, "note": "fewer than 3 scored cells"}
        return {"config": {"batch_size": 8, "bn": "train", "probes": 8},
                "summary": {"cells": cells, "table": f"{space}.table", "accuracy": "test accuracy",
                            "data": f"{mode} batch", "network": {"channels": 4}, "device": "cpu: cpu",
                            "seconds_per_cell": {"mean": 0.25, "median": 0.2}},
                "correlations": correlations, "records": records,
                "pool_search": {"pool_size": 3, "seeds": 2, "random": 84.0, "pool_best": 88.5,
                                "picks": {s: ({"mean": 86.0, "std": 1.5, "pools": 2} if s != scores[-1] else
                                              {"mean": None, "std": None, "pools": 0}) for s in scores}}}

    costly = part("nb201", "real-real", ["ntk_cond", "ntk_trace"], cells=4)
    costly.pop("pool_search")
    sections = {
        "section1/nb201.json": {"space": "nb201", "bn": "train", "nal_note": "no NB201 likelihood",
                                "modes": {"real-real": part("nb201", "real-real", ["synflow", "nwot", "snip"]),
                                          "gaussian-random": part("nb201", "gaussian-random", ["synflow", "nwot"])},
                                "modes_not_run": {}, "costly": costly, "wall_seconds": 1.0},
        "section1/nb101.json": {"space": "nb101", "bn": "train", "nal_note": "1 of the 6 sampled cells are experts",
                                "modes": {"gaussian-random": part("nb101", "gaussian-random", ["params", "nwot"])},
                                "modes_not_run": {"real-real": "no --images given"}, "costly": None,
                                "wall_seconds": 1.0},
        "section2/nb201.json": {
            "space": "nb201", "table": "nb201.table", "data": "gaussian", "candidates": 5, "seeds": 2,
            "table_best": 94.37, "table_mean": 87.04, "methods": {
                "random": {"seeds": 2, "picks_in_table": 2, "accuracy_mean": 90.0, "accuracy_std": 1.0,
                           "pool_best_mean": 92.0, "wall_seconds_mean": 3.0, "device": "cpu", "platform": "cpu",
                           "ranking_score": None, "candidates": 5, "unscorable_candidates": 0,
                           "picks": [{"seed": 0, "cell": "a", "accuracy": 89.0}, {"seed": 1, "cell": "b",
                                                                                  "accuracy": 91.0}]},
                "nal": {"seeds": 2, "picks_in_table": 1, "accuracy_mean": 92.5, "accuracy_std": 0.0,
                        "pool_best_mean": None, "wall_seconds_mean": 4.5, "device": "cpu", "platform": "cpu",
                        "ranking_score": "nwot", "candidates": 7, "unscorable_candidates": 3,
                        "picks": [{"seed": 0, "cell": "c", "accuracy": 92.5}, {"seed": 1, "cell": "d",
                                                                               "accuracy": None}]}}},
        "section3/runs.json": {"runs": "runs", "trained": [
            {f: (None if f == "best_epoch" else f"{f}-{i}") for f in table.SECTION3_FIELDS} | {"summary": f"r{i}"}
            for i in range(2)]},
        "environment.json": {"nasi_nal": "0.1.0", "jax": "0", "data": {
            "nb201": {"file": "nb201.table", "caveat": "made up"}, "nb101": None}},
    }
    for name, payload in sections.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(json.dumps(payload))


def test_render_is_unchanged_on_every_section_shape(tmp_path):
    """``table.md`` and the CSVs of a made-up result folder, byte for byte as ``render`` wrote them when it was one
    function (``tests/data/table_render``, the output folder written as ``{out}``)."""
    out = tmp_path / "out"
    _synthetic_sections(out)
    text = table.render(out, "full", {"s2_nb101": "a made-up reason"})
    assert text.replace(str(out), "{out}") == (GOLDEN / "table.md").read_text()
    assert (out / "table.md").read_text() == text
    for name in ("section1.csv", "section2.csv", "section3.csv"):
        assert (out / name).read_text() == (GOLDEN / name).read_text(), name
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "section1_nb101_gaussian-random_scatter.png", "section1_nb201_gaussian-random_scatter.png",
        "section1_nb201_real-real_scatter.png", "section2_nb201_picks.png"]


def test_a_section1_result_of_the_old_layout_is_named_not_rendered(tmp_path):
    (tmp_path / "section1").mkdir()
    (tmp_path / "section1" / "nb101.json").write_text(json.dumps({"config": {}, "correlations": {}, "records": []}))
    lines = []
    assert table._section_result(tmp_path, 1, "nb101", {}, lines) is None
    assert "predate the data modes" in lines[0] and "--section 1 --space nb101" in lines[0]
