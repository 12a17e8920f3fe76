"""Cell pictures: no text box over another, each edge label on its own edge, arrowheads outside the node boxes."""
import itertools

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from matplotlib.patches import FancyArrowPatch  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from nasi_nal import adapters, report  # noqa: E402
from nasi_nal.spaces import darts, nb101, nb201  # noqa: E402

ALL_SIX = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
WIDE_NB101 = nb101.Cell([[0, 1, 1, 0, 0, 0, 1], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 0, 0],
                         [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
                        ("input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu",
                         "conv3x3-bn-relu", "output"))


def _figures(space, cell, monkeypatch, tmp_path):
    """The figures of ``draw_cell``'s pictures, built from the arguments it passes to ``report.draw_dag``."""
    calls = []
    monkeypatch.setattr(report, "draw_dag", lambda path, *args, **kwargs: calls.append((args, kwargs)))
    adapters.draw_cell(space, cell, tmp_path / "cell.png", title="rank 1: a cell with a long title")
    monkeypatch.undo()
    return [report.dag_figure(*args, **kwargs) for args, kwargs in calls]


def _boxes(fig):
    """(gid or text, display box) of every visible text, with its background box where it has one."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip():
            patch = t.get_bbox_patch()
            box = patch.get_window_extent(renderer) if patch is not None else t.get_window_extent(renderer)
            out.append((t.get_gid() or t.get_text(), box))
    return out


def _no_overlaps(fig):
    boxes = _boxes(fig)
    clashes = [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]
    assert not clashes, clashes
    return dict(boxes)


def _arrows(fig):
    """gid -> (n, 2) display points along each arrow, head included, 8 per segment of its outline."""
    ax = fig.axes[0]
    out = {}
    for patch in ax.patches:
        if isinstance(patch, FancyArrowPatch):
            lines = [ax.transData.transform(line) for line in patch.get_path().to_polygons(closed_only=False)]
            out[patch.get_gid()] = np.concatenate([np.linspace(line[:-1], line[1:], 8).reshape(-1, 2)
                                                   for line in lines if len(line) > 1])
    return out


def test_nb201_cell_with_all_six_edges_has_each_label_on_its_edge(monkeypatch, tmp_path):
    (fig,) = _figures("nb201", nb201.parse(ALL_SIX), monkeypatch, tmp_path)
    boxes = _no_overlaps(fig)
    arrows = _arrows(fig)
    labels = {gid: box for gid, box in boxes.items() if gid.startswith("edge")}
    assert len(labels) == len(arrows) == 6
    for gid, box in labels.items():  # the label's box is crossed by its own edge, and by no other
        crossing = [g for g, points in arrows.items() if box.count_contains(points)]
        assert crossing == [gid], (gid, crossing)


@pytest.mark.parametrize("space, cell", [("nb101", WIDE_NB101), ("nb201", nb201.parse(ALL_SIX))])
def test_arrowheads_end_at_the_box_they_point_to(monkeypatch, tmp_path, space, cell):
    (fig,) = _figures(space, cell, monkeypatch, tmp_path)
    nodes = {gid: box for gid, box in _no_overlaps(fig).items() if gid.startswith("node")}
    for gid, path in _arrows(fig).items():
        target = nodes[f"node {gid.split('->')[1]}"]
        for name, box in nodes.items():  # nothing of the arrow, head included, lies under a box
            assert not box.padded(-1.5).count_contains(path), (gid, name)
        tip = path[np.argmin([_distance(target, p) for p in path])]
        assert _distance(target, tip) < 4, gid  # and it reaches its target


def _distance(box, point):
    dx = max(box.x0 - point[0], 0, point[0] - box.x1)
    dy = max(box.y0 - point[1], 0, point[1] - box.y1)
    return float(np.hypot(dx, dy))


@pytest.mark.parametrize("space, seed", [("nb101", 0), ("nb101", 1), ("nb201", 0), ("nb201", 1), ("darts", 0)])
def test_random_cells_have_no_overlapping_text(monkeypatch, tmp_path, space, seed):
    cell = {"nb101": nb101.sample, "nb201": nb201.sample, "darts": darts.sample}[space](np.random.default_rng(seed))
    for fig in _figures(space, cell, monkeypatch, tmp_path):
        _no_overlaps(fig)


def test_darts_v2_has_no_overlapping_text(monkeypatch, tmp_path):
    figs = _figures("darts", darts.DARTS_V2, monkeypatch, tmp_path)
    assert len(figs) == 2
    for fig in figs:
        _no_overlaps(fig)
