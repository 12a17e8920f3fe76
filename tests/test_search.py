"""The end-to-end pipeline and its command line, on tiny settings."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import nasi_nal
import nasi_nal.search as search_cli
from nasi_nal import adapters, methods, proposers, ranking, schema
from nasi_nal.errors import NasiNalError
from nasi_nal.networks.build import PROXY_CONFIGS
from nasi_nal.scores import engines
from nasi_nal.spaces import nb201

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOOD_NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(autouse=True)
def small_proxies(monkeypatch):
    """Narrow, shallow scoring networks for these tests (the package's proxies are sized for ranking, not speed)."""
    monkeypatch.setitem(PROXY_CONFIGS, "nb201", dict(channels=4, cells_per_stage=1))
    monkeypatch.setitem(PROXY_CONFIGS, "nb101", dict(stem_channels=8, num_stacks=2, cells_per_stack=1))


def run_cli(capsys, *argv):
    code = search_cli.main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def without_timings(doc):
    doc = dict(doc)
    doc.pop("timings")
    details = dict(doc["details"])
    for k in ("search_wall_s", "compile_s"):
        details.pop(k, None)
    doc["details"] = details
    return doc


def test_help_lists_options_and_examples(capsys):
    with pytest.raises(SystemExit) as e:
        search_cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for option in ("--space", "--method", "--candidates", "--top-k", "--data", "--labels", "--table", "--output",
                   "--train", "--quiet", "examples:"):
        assert option in out
    flat = " ".join(out.split())  # argparse wraps the help text
    for default in ("--space SPACE search space: nb101, nb201, darts (default: nb101)", "(default: nal+nasi)",
                    "--candidates CANDIDATES cells proposed and scored (default: 16)",
                    "--seed SEED", "(default: 0)", "(default: 2.0)", "(default: adaptive", "(default: fail)",
                    "(default: auto)", "(default: gaussian)", "(default: random)", "(default: 16 per cell",
                    "(default: min(5, --candidates))", "default: NASI's 100)", "(default: runs)"):
        assert default in flat, default
    assert "(default: None)" not in flat and "(default: False)" not in flat and "default: []" not in flat


def test_table_metric_says_how_many_runs_it_averages():
    _, metric = adapters.get("nb101").load_table(None)
    assert "one run" in metric and "mean over runs" not in metric


def test_an_unknown_nb101_hash_names_the_search_option(capsys):
    code, _, err = run_cli(capsys, "--cell", "0" * 32)
    assert code == 2 and "--table PATH" in err and "nb101_table" not in err, err


@pytest.mark.parametrize("argv, message", [
    (["--space", "nb999"], "unknown space 'nb999'"),
    (["--method", "oracle"], "unknown method 'oracle'"),
    (["--candidates", "3", "--top-k", "4"], "--top-k 4 must lie between 1 and --candidates (3)"),
    (["--space", "nb201", "--cell", "|nor_conv_3x3~0|+|bogus~0|nor_conv_3x3~1|+|"], "bogus"),
    (["--space", "nb201", "--table", "/nonexistent/nb201.csv"], "/nonexistent/nb201.csv"),
    (["--output", "/nonexistent/folder/out.json"], "output folder /nonexistent/folder does not exist"),
    (["--data", "/nonexistent/cifar.npz"], "--data '/nonexistent/cifar.npz'"),
    (["--space", "darts", "--table", "x.csv"], "DARTS has no tabular benchmark"),
    (["--space", "darts", "--engine", "masked"], "not darts: use engine='joint'"),
    (["--space", "nb201", "--method", "nwot", "--engine", "masked"], "not ['nwot']: use engine='auto'"),
    (["--bn", "batch"], "bn='batch' is not a batch-norm mode"),
    (["--probes", "0"], "probes=0"),
    (["--inits", "0"], "inits=0"),
])
def test_bad_input_is_one_clear_line_and_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_corrupt_table_names_the_file(capsys, tmp_path):
    bad = tmp_path / "nb201.csv"
    bad.write_text("index,arch_str,cifar10_test_acc_200ep\n0,not-an-arch,12\n")
    code, _, err = run_cli(capsys, "--space", "nb201", "--method", "random", "--table", str(bad))
    assert code == 2 and str(bad) in err


def test_a_table_cut_short_is_refused_before_any_work(capsys, tmp_path, no_work):
    cut = tmp_path / "nb201_head.csv"
    cut.write_text("index,arch_str,cifar10_test_acc_200ep\n"
                   + "".join(f"{i},{nb201.format(nb201.index_to_arch(i))},90.0\n" for i in range(4999)))
    code, out, err = run_cli(capsys, "--space", "nb201", "--method", "random", "--table", str(cut))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "holds 4,999 of the 15,625 cells" in err and "NATS-Bench" in err


def test_output_is_checked_before_any_work(capsys, tmp_path, monkeypatch):
    calls = []
    for name in proposers.PROPOSERS:
        monkeypatch.setitem(proposers.PROPOSERS, name, lambda *a: calls.append(a))
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # root ignores permissions: use a path whose parent is a file instead
        target = tmp_path / "file.txt"
        target.write_text("x")
        out_path = str(target / "out.json")
    else:
        out_path = str(folder / "out.json")
    code, _, err = run_cli(capsys, "--space", "nb201", "--method", "random", "--output", out_path)
    assert code == 2 and "error:" in err and not calls


def test_random_nb201_with_table_lookup_and_outputs(tmp_path, reference_file):
    csv = reference_file("nb201_cifar10.csv")
    out = tmp_path / "run.json"
    result = nasi_nal.search(space="nb201", method="random", candidates=6, top_k=2, table=str(csv),
                             output=str(out), cells=(GOOD_NB201,))
    doc = json.loads(out.read_text())
    assert doc["schema"] == schema.SCHEMA and doc["space"] == "nb201"
    assert len(doc["candidates"]) == 7 and [c["rank"] for c in doc["candidates"]] == list(range(1, 8))
    assert doc["candidates"][0]["cell"] == GOOD_NB201  # user cells come first; random keeps proposal order
    from nasi_nal.tables import load_nb201

    table = load_nb201(csv)
    for w in result.winners:
        assert w.table_accuracy == pytest.approx(table.query(w.cell).metrics["cifar10_test_acc_200ep"])
        assert w.params and w.params > 0
    assert (tmp_path / "run_rank1.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "run_rank2.png").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_scored_search_is_deterministic_and_ranked(tmp_path):
    docs = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        out = tmp_path / run / "search.json"
        nasi_nal.search(space="nb201", method="nasi_trace", candidates=3, top_k=2, batch_size=4, seed=3,
                        output=str(out))
        docs.append(json.loads(out.read_text()))
        docs[-1]["config"].pop("output")
    assert without_timings(docs[0]) == without_timings(docs[1])
    values = [c["scores"]["nasi_trace"] for c in docs[0]["candidates"]]
    assert values == sorted(values, reverse=True)
    other = nasi_nal.search(space="nb201", method="nasi_trace", candidates=3, top_k=2, batch_size=4, seed=4)
    assert [c.key for c in other.candidates] != [c["key"] for c in docs[0]["candidates"]]


def test_adding_or_reordering_candidates_changes_no_candidates_score():
    other = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    kw = dict(space="nb201", method="nasi_trace", candidates=2, top_k=1, batch_size=4, seed=5)
    alone = nasi_nal.search(**kw, cells=(GOOD_NB201,))
    more = nasi_nal.search(**kw, cells=(other, GOOD_NB201))  # one more candidate, every position shifted
    scores = {c.key: c.scores["nasi_trace"] for c in more.candidates}
    assert len(scores) == len(alone.candidates) + 1
    for c in alone.candidates:
        assert scores[c.key] == c.scores["nasi_trace"]


def test_penalty_ties_are_broken_by_the_trace_and_shown():
    traces = [1.0, 2.0, 3.0, 4.0]
    nu = float(nasi_nal.scores.adaptive_nu(traces, 0.5))  # 2.5: R = 1, 2, 2, 1 (2 nu - T mirrors T above nu)
    cands = [schema.Candidate(None, f"c{t}", f"c{t}", None,
                                scores={"nasi_trace": t, "nasi_penalized": nasi_nal.scores.nasi_penalized(t, 2.0, nu)})
             for t in reversed(traces)]  # proposal order puts the larger trace of each tied pair first
    order = ranking.order(cands, "nasi_penalized", True)
    assert [c.scores["nasi_trace"] for c in order] == [2.0, 3.0, 1.0, 4.0]  # inside the constraint first
    for rank, c in enumerate(order, 1):
        c.rank = rank
    assert ranking.ties(order, "nasi_penalized") == [[1, 2], [3, 4]]
    result = schema.SearchResult(schema.SearchConfig(), "nasi_penalized", order, order, {}, {})
    text = result.table()
    assert text.splitlines()[2].split()[0] == "1=" and "ranks 1, 2 tie on nasi_penalized" in text
    assert "the smaller nasi_trace first" in text


def test_masked_engine_ranks_by_the_masked_networks_scores():
    result = nasi_nal.search(space="nb201", method="nasi_trace", candidates=3, top_k=2, batch_size=4, seed=3,
                             engine="masked")
    values = [c.scores["nasi_trace"] for c in result.candidates]
    assert len(values) == 3 and values == sorted(values, reverse=True) and len(set(values)) == 3
    assert result.config.engine == "masked" and result.details["engines"] == {"masked": ["nasi_trace"]}


def test_auto_engine_takes_the_masked_form_on_an_accelerator(monkeypatch):
    kw = dict(space="nb201", method="nasi_trace", candidates=3, top_k=2, batch_size=4, seed=3)
    assert nasi_nal.search(**kw).details["engines"] == {"blockwise": ["nasi_trace"]}  # this CPU
    monkeypatch.setattr(engines, "platform", lambda: "gpu")
    on_gpu = nasi_nal.search(**kw)  # as a GPU would run it (the masked program of the test above, cached)
    masked = nasi_nal.search(**kw, engine="masked")
    assert on_gpu.details["engines"] == {"masked": ["nasi_trace"]}
    assert [c.scores for c in on_gpu.candidates] == [c.scores for c in masked.candidates]
    assert nasi_nal.search(**{**kw, "method": "nwot"}).details["engines"] == {"blockwise": ["nwot"]}  # not masked


def test_unscorable_candidates_fail_or_rank_last():
    constant = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"  # output ignores the input
    live = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    kw = dict(space="nb201", method="jacob_cov", candidates=1, top_k=1, batch_size=4, cells=(constant, live))
    with pytest.raises(NasiNalError, match=r"jacob_cov.*--unscorable last"):
        nasi_nal.search(**kw)
    result = nasi_nal.search(**kw, unscorable="last")
    keys = [c.key for c in result.candidates]
    assert keys.index(constant) == len(keys) - 1 and result.winners[0].key != constant
    assert "jacob_cov" in result.candidates[-1].errors and "jacob_cov" not in result.candidates[-1].scores
    assert all("jacob_cov" in c.scores for c in result.candidates[:-1])


def test_default_method_on_nb101_ranks_nal_proposals_by_nasi_in_the_ensemble():
    from nasi_nal.scores import ensemble

    result = nasi_nal.search(candidates=3, top_k=2, batch_size=4)
    assert result.config.space == "nb101" and result.ranking_score == "ensemble"
    assert all(c.proposal_log_prob is not None for c in result.candidates)
    assert result.details["nu"] > 0 and result.details["mu"] == 2.0
    members = result.details["ensemble_members"]
    assert members[0] == "nasi_penalized" and members[-1] == "nal_log_prob" and "nasi_trace" not in members
    for c in result.candidates:
        trace, nu, mu = c.scores["nasi_trace"], result.details["nu"], result.details["mu"]
        assert c.scores["nasi_penalized"] == pytest.approx(trace - mu * max(0.0, trace - nu))
    expected = ensemble.log_rank_sum({m: [c.scores.get(m) for c in result.candidates] for m in members})
    assert [c.scores["ensemble"] for c in result.candidates] == pytest.approx(list(expected))
    assert [c.scores["ensemble"] for c in result.candidates] == sorted(
        (c.scores["ensemble"] for c in result.candidates), reverse=True)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_nal_transfer_proposes_valid_cells(space):
    result = nasi_nal.search(space=space, method="nal", candidates=4, top_k=2)
    assert len({c.key for c in result.candidates}) == 4
    logps = [c.scores["nal_log_prob"] for c in result.candidates]
    assert logps == sorted(logps, reverse=True)
    if space == "nb201":
        assert all(nb201.format(nb201.parse(c.key)) == c.key for c in result.candidates)


def test_default_top_k_is_at_most_the_candidates():
    assert len(nasi_nal.search(space="nb201", method="random", candidates=3).winners) == 3
    assert len(nasi_nal.search(space="nb201", method="random", candidates=8).winners) == 5


def test_nal_ranks_user_cells_by_the_same_likelihood():
    cell = '{"matrix": [[0, 1, 1], [0, 0, 1], [0, 0, 0]], "ops": ["input", "conv3x3-bn-relu", "output"]}'
    result = nasi_nal.search(space="nb101", method="nal", candidates=3, cells=(cell,))
    from nasi_nal import nal

    user = [c for c in result.candidates if c.summary.split()[1] == "3v/3e"]
    assert len(user) == 1 and user[0].scores["nal_log_prob"] == pytest.approx(
        float(nal.cell_log_likelihood(nal.load_pretrained(), [user[0].cell], include_ops=True)[0]))


def test_callable_module_keeps_the_python_api():
    assert callable(nasi_nal.search)
    assert isinstance(nasi_nal.search(space="nb201", method="random", candidates=2, top_k=1),
                      schema.SearchResult)


def test_ctrl_c_leaves_no_output_file(tmp_path):
    out = tmp_path / "interrupted.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nasi_nal.search", "--space", "nb201", "--method", "nasi_trace", "--candidates",
         "40", "--top-k", "1", "--output", str(out)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    buf = ""
    while time.time() < deadline and "scoring" not in buf:  # wait until scoring has started
        buf += proc.stderr.read(1) or ""
        if proc.poll() is not None:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list(tmp_path.iterdir()) == []


def test_train_hands_the_winner_to_the_trainer(tmp_path):
    from train_support import make_npz

    npz = make_npz(tmp_path / "tiny.npz", n_train=96, n_test=32)
    result = nasi_nal.search(
        space="nb201", method="random", candidates=2, top_k=1, train=True, train_recipe="nb201_12ep",
        train_workdir=str(tmp_path / "runs"),
        train_overrides=("data_source=npz", f"data_dir={npz}", "image_size=16", "epochs=1", "batch_size=32",
                         "eval_batch_size=32", "validation_holdout=0", "tensorboard=false",
                         'model_overrides={"channels": 4, "cells_per_stage": 1}'))
    (run,) = result.training
    assert run["rank"] == 1 and run["key"] == result.winners[0].key
    summary = json.loads((tmp_path / "runs" / "rank1" / "summary.json").read_text())
    assert summary == run["summary"] and summary["space"] == "nb201" and 0.0 <= summary["final_test_acc"] <= 1.0


def test_bad_train_options_fail_before_the_search(capsys):
    code, _, err = run_cli(capsys, "--space", "nb201", "--train", "--train-override", "epochz=3")
    assert code == 2 and "epochz" in err


@pytest.fixture
def no_work(monkeypatch):
    """Makes the first step of any search fail loudly: a test using it checks that validation came first."""

    def started(*args, **kwargs):
        raise AssertionError("the search started before its input was validated")

    for name in proposers.PROPOSERS:
        monkeypatch.setitem(proposers.PROPOSERS, name, started)


@pytest.mark.parametrize("argv, message", [
    (["--nu", "nan"], "--nu nan: pass a finite number > 0"),
    (["--mu", "inf"], "--mu inf: pass a finite number >= 0"),
    (["--mu", "-1"], "--mu -1.0: pass a finite number >= 0"),
    (["--seed", "-1"], "--seed -1: pass an integer in 0..4294967295"),
    (["--seed", "4294967296"], "--seed 4294967296: pass an integer in 0..4294967295"),
    (["--space", "nb201", "--method", "nasi", "--nasi-steps", "0"], "--nasi-steps 0: pass an integer >= 1"),
    (["--candidates", "0"], "--candidates 0: pass an integer >= 1"),
])
def test_bad_numbers_fail_before_any_work(capsys, no_work, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


def test_python_api_numbers_are_checked_too(no_work):
    for bad in (dict(candidates=2.5), dict(seed=True), dict(mu="2"), dict(nu=float("-inf"))):
        with pytest.raises(NasiNalError):
            nasi_nal.search(space="nb201", method="random", **bad)


def _images(n, size=8, dtype=np.uint8):
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3)).astype(dtype)


def _image_folder(root, sizes):
    from PIL import Image

    (root / "train" / "cat").mkdir(parents=True)
    for i, size in enumerate(sizes):
        Image.fromarray(_images(1, size)[0]).save(root / "train" / "cat" / f"{i}.png")
    return root


BAD_DATA = {  # name: (make the data in a folder -> path, extra options, what the error says)
    "npz without labels": (lambda d: _npz(d, x_train=_images(32)), [], "lacks x_train/y_train"),
    "npz grey images": (lambda d: _npz(d, x_train=_images(32)[..., 0], y_train=np.zeros(32, int)), [],
                        "not (N, H, W, 3) images"),
    "npz float labels": (lambda d: _npz(d, x_train=_images(32), y_train=np.zeros(32)), [], "integer labels"),
    "npz too few images": (lambda d: _npz(d, x_train=_images(8), y_train=np.zeros(8, int)), [],
                           "holds 8 training images, fewer than the scoring batch of 16"),
    "npz labels out of range": (lambda d: _npz(d, x_train=_images(32), y_train=np.arange(32)),
                                ["--labels", "real"], "labels span 0..31"),
    "folder without train": (lambda d: d, [], "train/<class>"),
    "folder without images": (lambda d: _image_folder(d, []), [], "no images"),
    "folder of mixed sizes": (lambda d: _image_folder(d, [8] * 20 + [16]), [], "differ in size"),
}


def _npz(folder, **arrays):
    np.savez(folder / "data.npz", **arrays)
    return folder / "data.npz"


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_fails_before_any_work(capsys, tmp_path, no_work, case):
    make, extra, message = BAD_DATA[case]
    code, out, err = run_cli(capsys, "--space", "nb201", "--method", "grad_norm", "--data", str(make(tmp_path)),
                             *extra)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


def test_a_scores_file_ranks_the_candidates_as_scoring_them_would(tmp_path, monkeypatch):
    from nasi_nal import space_scoring

    kw = dict(space="nb201", method="nasi_trace", candidates=3, top_k=2, batch_size=4, seed=3)
    scored = nasi_nal.search(**kw)
    listed = tmp_path / "cells.txt"
    listed.write_text("\n".join(c.key for c in reversed(scored.candidates)) + "\n")  # another order, same scores
    space_scoring.score_space("nb201", tmp_path / "s.npz", cell_list=listed, scores=["nasi_trace"], batch_size=4,
                              seed=3)
    monkeypatch.setattr(ranking.scores, "iter_scores", None)  # nothing may be scored now
    looked_up = nasi_nal.search(**kw, scores_file=str(tmp_path / "s.npz"))
    assert [(c.key, c.scores) for c in looked_up.candidates] == [(c.key, c.scores) for c in scored.candidates]
    assert looked_up.details["engines"] == scored.details["engines"] == {"blockwise": ["nasi_trace"]}


def _scores_file(path, keys, **meta):
    from nasi_nal import scores_file
    from nasi_nal.scores import CellScores

    settings = {"schema": scores_file.SCHEMA, "space": "nb201", "scores": ["grad_norm"], "bn": "train", "probes": 8,
                "inits": 1, "seed": 0, "batch": {"size": 16, "data": "gaussian", "labels": "random"},
                "network": {"proxy": True, "overrides": {}}, "engine_plan": {"blockwise": ["grad_norm"]},
                "cells": {"count": len(keys)}, **meta}
    results = [CellScores({"grad_norm": float(i)}, {}) for i in range(len(keys))]
    scores_file.write(path, scores_file.Columns.from_results(keys, range(len(keys)), ["grad_norm"], results), settings)
    return str(path)


@pytest.mark.parametrize("argv, meta, message", [
    (["--method", "grad_norm"], {"bn": "eval"}, "bn 'eval' there, 'train' here"),
    (["--method", "grad_norm", "--batch-size", "64"], {}, "batch.size 16 there, 64 here"),
    (["--method", "snip"], {}, "has no snip (it holds grad_norm), which this search ranks by"),
    (["--method", "nasi"], {}, "--method nasi on nb201 scores no candidate"),
    (["--method", "grad_norm", "--engine", "masked"], {}, "not with --engine masked"),
    (["--method", "grad_norm"], {"space": "nb101"}, "space 'nb101' there, 'nb201' here"),
])
def test_a_scores_file_that_does_not_fit_is_refused_before_any_work(capsys, tmp_path, no_work, argv, meta, message):
    path = _scores_file(tmp_path / "s.npz", [GOOD_NB201], **meta)
    code, out, err = run_cli(capsys, "--space", "nb201", "--scores-file", path, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


def test_a_scores_file_lacking_a_candidate_stops_the_search_before_scoring(capsys, tmp_path, monkeypatch):
    path = _scores_file(tmp_path / "s.npz", [GOOD_NB201])
    monkeypatch.setattr(ranking.scores, "iter_scores", None)
    code, out, err = run_cli(capsys, "--space", "nb201", "--method", "grad_norm", "--candidates", "3",
                             "--scores-file", path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "lacks 3 of the 3 cells asked for" in err
    missing = tmp_path / "none.npz"
    code, _, err = run_cli(capsys, "--space", "nb201", "--method", "grad_norm", "--scores-file", str(missing))
    assert code == 2 and f"scores file {missing} does not exist" in err


def test_a_new_method_is_one_registry_entry(monkeypatch, tmp_path):
    """A toy ranker (most non-'none' edges first) paired with uniform proposals, registered and run through the CLI."""
    def by_edges(config, cands, key, quiet, details):
        for c in cands:
            c.scores["edges"] = float(sum(op != "none" for op in c.cell.ops))
        return "edges", True

    monkeypatch.setitem(ranking.RANKERS, "edges", ranking.Ranker(lambda space: [], by_edges))
    monkeypatch.setattr(methods, "METHODS", dict(methods.METHODS))
    methods.register("toy", methods.Method("uniform", "edges"))
    out = tmp_path / "toy.json"
    assert search_cli.main(["--space", "nb201", "--method", "toy", "--candidates", "6", "--top-k", "3", "--quiet",
                            "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    edges = [c["scores"]["edges"] for c in doc["candidates"]]
    assert doc["ranking_score"] == "edges" and edges == sorted(edges, reverse=True) and len(edges) == 6
    with pytest.raises(NasiNalError, match="exists already"):
        methods.register("toy", methods.Method("uniform", "edges"))
