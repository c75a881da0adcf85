"""Every notebook in notebooks/ runs top to bottom under nbclient: offline, in a kernel that
uses this interpreter (the venv's), with the notebook folder as working directory. The tour runs twice in
one kernel (a second Run All keeps its figures)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.harness import write_python_kernelspec

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TOUR = NOTEBOOK_DIR / "00_tour.ipynb"  # run twice in one kernel by its own test below, not again here
CELL_TIMEOUT = 600  # seconds per cell


@pytest.fixture
def kernel_env(tmp_path, monkeypatch) -> None:
    """A kernel as Lab starts one, offline, importing workbench/widgets from this checkout."""
    # JUPYTER_PATH is searched first for kernelspecs: "python3" is this interpreter,
    # whatever python3 kernels a user or the system has installed elsewhere.
    write_python_kernelspec(tmp_path / "share" / "kernels")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # keep the inline backend, as in Lab
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def _client(nb):
    from nbclient import NotebookClient

    return NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                          startup_timeout=120, resources={"metadata": {"path": str(NOTEBOOK_DIR)}})


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p != TOUR] or [None],
                         ids=lambda p: p.name if p else "no-notebooks")
def test_notebook_runs(path: Path | None, kernel_env):
    if path is None:
        pytest.fail(f"no notebooks found in {NOTEBOOK_DIR}")
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PANEL_CHECK))  # panels catch their errors: the run must not hide them
    _client(nb).execute()  # raises CellExecutionError (with the traceback) when a cell fails

    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    assert ran, f"{path.name}: no code cell was executed"
    report = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout")
    assert "live panels:" in report, report
    shown = [line for line in report.splitlines() if line.startswith("panel error:")]
    expected = EXPECTED_PANEL_ERRORS.get(path.stem, ())
    assert [e for e in shown if not any(x in e for x in expected)] == [], shown


# A panel that shows an error on purpose in a notebook (the notebook demonstrates the refusal).
EXPECTED_PANEL_ERRORS: dict[str, tuple[str, ...]] = {
    "13_compare_and_share": ("offline",),
}
# Run after the notebook's own cells: every live panel (ErrorReporting) and the error it shows, if any.
PANEL_CHECK = """\
import gc as _gc, sys as _sys
_panels = []
if "widgets._base" in _sys.modules:
    _ER = _sys.modules["widgets._base"].ErrorReporting
    def _is_panel(o):
        try:
            return isinstance(o, _ER)
        except ReferenceError:  # a dead weak proxy
            return False
    _panels = [o for o in _gc.get_objects() if _is_panel(o)]
print(f"live panels: {len(_panels)}")
for _p in _panels:
    if _p.error:
        print(f"panel error: {type(_p).__name__}: {_p.error}")
"""


def _images(nb) -> list[int]:
    """Indices of the code cells whose outputs hold a PNG."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]


def test_tour_figures_survive_a_second_run_all(kernel_env):
    """Run All twice in one kernel (what a teacher does before class): the second run shows the same
    matplotlib figures as the first; no panel switched the kernel's backend away from inline."""
    import nbformat

    nb = nbformat.read(TOUR, as_version=4)
    check = nbformat.v4.new_code_cell("import matplotlib; print('BACKEND', matplotlib.get_backend())")
    nb.cells.append(check)  # the last cell: which backend the tour left
    client = _client(nb)
    runs = []
    with client.setup_kernel():
        for _ in range(2):
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)  # raises on a failing cell; outputs replaced, as in Lab
            runs.append(_images(nb))
            assert "BACKEND module://matplotlib_inline.backend_inline" in check.outputs[0]["text"], check.outputs
    first, second = runs
    plotting = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "plt." in c.source]
    assert plotting and set(plotting) <= set(first), (plotting, first)  # every plotting cell drew its figure
    assert second == first, (first, second)
