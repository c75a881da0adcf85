"""Every notebook in notebooks/ runs top to bottom under nbclient: offline, in a kernel that
uses this interpreter (the venv's), with the notebook folder as working directory."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.harness import write_python_kernelspec

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 600  # seconds per cell


@pytest.mark.parametrize("path", NOTEBOOKS or [None],
                         ids=lambda p: p.name if p else "no-notebooks")
def test_notebook_runs(path: Path | None, tmp_path, monkeypatch):
    if path is None:
        pytest.fail(f"no notebooks found in {NOTEBOOK_DIR}")
    import nbformat
    from nbclient import NotebookClient

    # JUPYTER_PATH is searched first for kernelspecs: "python3" is this interpreter,
    # whatever python3 kernels a user or the system has installed elsewhere.
    write_python_kernelspec(tmp_path / "share" / "kernels")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # keep the inline backend, as in Lab
    # The kernel imports workbench/widgets from this checkout, like the tests do.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                            startup_timeout=120, resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError (with the traceback) when a cell fails

    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    assert ran, f"{path.name}: no code cell was executed"
