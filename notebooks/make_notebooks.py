"""Writes the exploration notebooks (``notebooks/*.ipynb``) with nbformat, outputs stripped.

    python notebooks/make_notebooks.py

The notebooks are generated so that their source lives in one reviewable Python file and they are committed
without outputs; ``tests/test_notebooks.py`` runs each with nbclient and checks the committed files are stripped.
Each notebook imports nasi_nal (no copied code), runs in about a minute on a CPU with small settings, finds the
team's reference data through ``NASI_NAL_DATA`` and works without it (the embedded NAS-Bench-101 table, Gaussian
inputs, a synthetic image set).
"""
from __future__ import annotations

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = pathlib.Path(__file__).resolve().parent

SETUP = '''\
import io
import os
import pathlib
import tempfile

import matplotlib
matplotlib.use("Agg")  # headless; figures are shown as PNGs by show()
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

# Reference data (NAS-Bench tables, CIFAR-10 copies) through NASI_NAL_DATA; None when absent.
DATA = pathlib.Path(os.environ["NASI_NAL_DATA"]) if os.environ.get("NASI_NAL_DATA") else None


def data_file(name):
    """The file ``name`` inside NASI_NAL_DATA, or None."""
    path = DATA / name if DATA else None
    return path if path is not None and path.exists() else None


def show(fig):
    """Displays a matplotlib figure as a PNG (works under any backend) and closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    display(Image(data=buf.getvalue()))


WORK = pathlib.Path(tempfile.mkdtemp(prefix="nasi_nal_nb_"))  # pictures and runs go here, not into the repo
print("reference data:", DATA, "| scratch:", WORK)'''

NB01 = [
    new_markdown_cell("# 01 · The search spaces\n\n"
                      "NAS-Bench-101 puts operations on the nodes of a DAG of up to 7 vertices and 9 edges; "
                      "NAS-Bench-201 puts one of 5 operations on each of the 6 edges of a 4-node cell; the DARTS "
                      "space picks two (operation, input) pairs for each of 4 intermediate nodes, for a normal and a "
                      "reduction cell. Cells are drawn with `nasi_nal.adapters.draw_cell` (`report.draw_dag`)."),
    new_code_cell(SETUP),
    new_code_cell('''\
from nasi_nal import adapters, tables
from nasi_nal.nal import load_pretrained
from nasi_nal.spaces import darts, nb101, nb201

rng = np.random.default_rng(0)  # host-side sampling: an explicit generator
print("NAS-Bench-201 cells:", nb201.NUM_ARCHS, "=", len(nb201.OPS), "ops **", nb201.NUM_EDGES, "edges;", nb201.OPS)
print("NAS-Bench-101 ops:", nb101.OPS[1:-1], "| at most", nb101.MAX_VERTICES, "vertices,", nb101.MAX_EDGES,
      "edges")'''),
    new_code_cell('''\
cells = {"nb101": nb101.sample(rng), "nb201": nb201.sample(rng), "darts": darts.DARTS_V2}
for space, cell in cells.items():
    for path in adapters.draw_cell(space, cell, WORK / f"{space}.png", title=f"{space}: a cell"):
        display(Image(filename=str(path)))'''),
    new_markdown_cell("## Expert cells\n\nThe NAL model learns from *expert* cells: the best NAS-Bench-101 cells "
                      "of the team's 20,001-cell sample. With `NASI_NAL_DATA` the sample itself is read; otherwise "
                      "the table embedded in the package (its 500 best cells). The statistics of the experts are "
                      "compared with uniformly sampled cells."),
    new_code_cell('''\
sample = data_file("nb101_cifar10_sample20001.npz")
table = tables.load_nb101(sample) if sample else tables.load_embedded()
model = load_pretrained()
expert_rows = [i for i, h in enumerate(table.hashes) if h in model.expert_hashes]
experts = [table.cell(i) for i in expert_rows]
uniform = [nb101.sample(rng) for _ in range(len(experts))]
print(f"{table!r}: {len(experts)} of its cells are the GAT's experts")


def stats(cells):
    vertices = np.array([len(c.ops) for c in cells])
    edges = np.array([int(c.matrix.sum()) for c in cells])
    ops = {op: sum(c.ops.count(op) for c in cells) / len(cells) for op in nb101.OPS[1:-1]}
    return vertices, edges, ops


fig, axes = plt.subplots(1, 3, figsize=(12, 3))
for label, group in (("experts", experts), ("uniform", uniform)):
    v, e, ops = stats(group)
    axes[0].hist(v, bins=np.arange(1.5, 8.5), alpha=0.5, label=label)
    axes[1].hist(e, bins=np.arange(0.5, 10.5), alpha=0.5, label=label)
    axes[2].bar([f"{o[:7]}\\n{label}" for o in ops], list(ops.values()), alpha=0.7)
    print(f"{label}: mean vertices {v.mean():.2f}, mean edges {e.mean():.2f}, ops per cell",
          {k: round(x, 2) for k, x in ops.items()})
axes[0].set_title("vertices"); axes[1].set_title("edges"); axes[2].set_title("ops per cell")
axes[0].legend(); axes[2].tick_params(labelsize=6)
fig.tight_layout(); show(fig)'''),
    new_code_cell('''\
best = table.top(1)[0]
print(f"best cell in the table: {best.hash}, val acc {best.val_acc:.4f}")
for path in adapters.draw_cell("nb101", table.cell(table.index_of(best.hash)), WORK / "best.png", title="best"):
    display(Image(filename=str(path)))'''),
]

NB02 = [
    new_markdown_cell("# 02 · Zero-cost scores vs accuracy (small sample)\n\n"
                      "A handful of cells, scored at initialisation on narrow proxy networks with a few scores of "
                      "`nasi_nal.scores.SCORES`, and the NAL graph-attention log-likelihood on many NAS-Bench-101 "
                      "cells (it needs no network, so it is cheap). The full-size study is "
                      "`benchmarks/table.py` section 1; this notebook only shows the mechanics."),
    new_code_cell(SETUP),
    new_code_cell('''\
import jax
from scipy import stats

from nasi_nal import tables
from nasi_nal.networks import build
from nasi_nal.scores import get_score, make_batch

CELLS, SCORE_NAMES = 3, ("params", "nwot")  # tiny, so the notebook runs in about a minute on a CPU
csv_path = data_file("nb201_cifar10.csv")
if csv_path:  # NAS-Bench-201 with its CIFAR-10 accuracies
    space, table = "nb201", tables.load_nb201(csv_path)
    archs = list(table.archs())
    accuracy = table.metric("cifar10_test_acc_200ep")
    rows = np.random.default_rng(0).choice(len(archs), CELLS, replace=False)
    cells = [archs[r] for r in rows]
    overrides = {"channels": 4}
else:  # the embedded NAS-Bench-101 table (500 best cells of the team's sample)
    space, table = "nb101", tables.load_embedded()
    accuracy = 100 * table.metric("val_acc", 108)
    rows = np.random.default_rng(0).choice(len(table), CELLS, replace=False)
    cells = [table.cell(int(r)) for r in rows]
    overrides = {"stem_channels": 4, "num_stacks": 1}
acc = np.asarray(accuracy)[rows]
key = jax.random.PRNGKey(0)
batch = make_batch(key, 8, inputs="gaussian", targets="random", input_shape=(16, 16, 3))
values = {name: [] for name in SCORE_NAMES}
for i, cell in enumerate(cells):
    net = build(space, cell, proxy=True, **overrides)
    variables = jax.jit(lambda k, x: net.init(k, x, train=False))(jax.random.fold_in(key, i), batch.inputs[:1])
    for name in SCORE_NAMES:
        values[name].append(get_score(name)(net, variables, batch, key))
print(space, "accuracies:", np.round(acc, 2))
fig, axes = plt.subplots(1, len(SCORE_NAMES), figsize=(4 * len(SCORE_NAMES), 3))
for ax, name in zip(axes, SCORE_NAMES):
    ax.scatter(values[name], acc)
    ax.set_xlabel(name); ax.set_ylabel("accuracy (%)")
    ax.set_title(f"Spearman {stats.spearmanr(values[name], acc).statistic:.2f} on {CELLS} cells")
fig.tight_layout(); show(fig)'''),
    new_markdown_cell("## The GAT's log-likelihood on NAS-Bench-101 cells it never saw"),
    new_code_cell('''\
from nasi_nal.nal import cell_log_likelihood, load_pretrained

model = load_pretrained()
sample = data_file("nb101_cifar10_sample20001.npz")
nb101_table = tables.load_nb101(sample) if sample else tables.load_embedded()
rows = [i for i, h in enumerate(nb101_table.hashes) if h not in model.expert_hashes]
rows = np.random.default_rng(0).permutation(rows)[:2000]
ll = cell_log_likelihood(model, [nb101_table.cell(int(i)) for i in rows], include_ops=True)
val = 100 * nb101_table.metric("val_acc", 108)[rows]
rho = stats.spearmanr(ll, val).statistic
fig = plt.figure(figsize=(4.5, 3.2))
plt.scatter(ll, val, s=4, alpha=0.5)
plt.xlabel("log P(ops) + log P(edges | ops)"); plt.ylabel("val acc, 108 epochs (%)")
plt.title(f"{len(rows)} unseen cells, Spearman {rho:.2f}")
fig.tight_layout(); show(fig)
if not sample:
    print("embedded table: only the best 500 cells, so the accuracy range is narrow;",
          "set NASI_NAL_DATA for the sample")'''),
]

NB03 = [
    new_markdown_cell("# 03 · The GAT's link probabilities\n\n"
                      "Given a cell's operations, the NAL graph-attention model predicts P(i -> j) for every pair of "
                      "vertices i < j. The heat map shows them for an expert cell and for a uniformly sampled one; "
                      "crosses mark the edges the cell has."),
    new_code_cell(SETUP),
    new_code_cell('''\
from nasi_nal import tables
from nasi_nal.nal import cell_log_likelihood, edge_probabilities, load_pretrained
from nasi_nal.spaces import nb101

model = load_pretrained()
table = tables.load_embedded()
expert = table.cell(table.index_of(table.top(1)[0].hash))
random_cell = nb101.sample(np.random.default_rng(1))
cells = {"best embedded cell (an expert)": expert, "uniform sample": random_cell}
probs = edge_probabilities(model.config, model.params, [c.ops for c in cells.values()])
ll = cell_log_likelihood(model, list(cells.values()), include_ops=True)

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (name, cell), p, score in zip(axes, cells.items(), probs, ll):
    v = len(cell.ops)
    shown = np.where(np.triu(np.ones((v, v), bool), 1), p, np.nan)  # only i < j means anything
    im = ax.imshow(shown, vmin=0, vmax=1, cmap="viridis")
    for i, j in zip(*np.nonzero(cell.matrix)):
        ax.text(j, i, "x", ha="center", va="center", color="white", fontsize=12)
    labels = [o.replace("-bn-relu", "") for o in cell.ops]
    ax.set_xticks(range(v), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(v), labels, fontsize=7)
    ax.set_title(f"{name}\\nlog-likelihood {score:.1f}", fontsize=9)
fig.colorbar(im, ax=axes, label="P(i -> j)")
show(fig)
for name, cell, p in zip(cells, cells.values(), probs):
    iu = np.triu_indices(len(cell.ops), 1)
    present = cell.matrix[iu].astype(bool)
    print(f"{name}: mean P on its edges {p[iu][present].mean():.2f},",
          f"on its non-edges {p[iu][~present].mean():.2f}")'''),
]

NB04 = [
    new_markdown_cell("# 04 · Search and train, end to end (tiny settings)\n\n"
                      "`nasi_nal.search` proposes NAS-Bench-201 cells with the NAL model and ranks them by the "
                      "ensemble of zero-cost scores with NASI's penalised NTK trace among them; the winner is trained for one short epoch by `nasi_nal.train`. With "
                      "`NASI_NAL_DATA` the winner's table accuracy is looked up and training uses the exact first "
                      "1,017 CIFAR-10 images; without it, a synthetic Gaussian image set stands in (the accuracy is "
                      "then chance level, the point is the mechanics)."),
    new_code_cell(SETUP),
    new_code_cell('''\
import nasi_nal
from nasi_nal import adapters

csv_path = data_file("nb201_cifar10.csv")
result = nasi_nal.search(space="nb201", method="nal+nasi", candidates=2, top_k=1, seed=0, batch_size=8,
                         table=str(csv_path) if csv_path else None)
print(result.table())
print("timings (s):", {k: round(v, 1) for k, v in result.timings.items()})
winner = result.winners[0]
for path in adapters.draw_cell("nb201", winner.cell, WORK / "winner.png", title=winner.summary):
    display(Image(filename=str(path)))'''),
    new_code_cell('''\
from nasi_nal import train

images = data_file("cifar10_exact_first1017.npz")
if images is None:  # a synthetic stand-in with CIFAR-10's shapes
    gen = np.random.default_rng(0)
    pixels = lambda n: np.clip(gen.normal(128, 50, (n, 32, 32, 3)), 0, 255).astype(np.uint8)
    images = WORK / "gaussian.npz"
    np.savez(images, x_train=pixels(256), y_train=gen.integers(0, 10, 256), x_test=pixels(128),
             y_test=gen.integers(0, 10, 128))
config = train.apply_overrides(train.get_recipe("nb201"), {
    "cell": winner.key, "epochs": 1, "batch_size": 64, "eval_batch_size": 128, "data_source": "npz",
    "data_dir": str(images), "max_train_examples": 256, "max_test_examples": 128, "proxy": True,
    "model_overrides": {"channels": 4}, "tensorboard": False})
summary = train.train_and_evaluate(config, WORK / "run", quiet=True)
print({k: summary[k] for k in ("cell", "epochs", "final_test_acc", "param_count", "wall_seconds", "device")})'''),
]

NOTEBOOKS = {
    "01_spaces.ipynb": NB01,
    "02_scores_vs_accuracy.ipynb": NB02,
    "03_gat_link_probabilities.ipynb": NB03,
    "04_search_and_train.ipynb": NB04,
}


def build_notebook(cells: list) -> nbformat.NotebookNode:
    """A notebook of ``cells`` with the python3 kernel and no outputs."""
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # stable ids, so regenerating an unchanged notebook changes nothing
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build_notebook(cells), HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
