"""The exploration notebooks: committed without outputs, generated from notebooks/make_notebooks.py, and each
runs top to bottom (nbclient, kernel ``python3``) within a timeout."""
import importlib.util
import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
_spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
make_notebooks = importlib.util.module_from_spec(_spec)
sys.modules["make_notebooks"] = make_notebooks
_spec.loader.exec_module(make_notebooks)

NAMES = sorted(make_notebooks.NOTEBOOKS)
TIMEOUT_S = 300  # per cell; each notebook takes about a minute on a 2-core CPU


def test_the_four_notebooks_exist():
    assert NAMES == ["01_spaces.ipynb", "02_scores_vs_accuracy.ipynb", "03_gat_link_probabilities.ipynb",
                     "04_search_and_train.ipynb"]
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs_and_up_to_date(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip outputs before committing"
    expected = make_notebooks.build_notebook(make_notebooks.NOTEBOOKS[name])
    assert [c.source for c in nb.cells] == [c.source for c in expected.cells], \
        f"{name} differs from notebooks/make_notebooks.py: run `python notebooks/make_notebooks.py`"


@pytest.mark.parametrize("name", NAMES)
def test_runs_top_to_bottom(name, tmp_path):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, when a cell fails
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{name} drew nothing"
