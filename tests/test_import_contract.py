"""The import contract of DESIGN.md, checked by import-linter (contracts in pyproject.toml).

Layers inside `workbench` (models never import generation, pipelines, inspect or processors;
the core imports no model), `workbench` never importing the notebook UI or the reference
library, `widgets` reaching the core only through pipelines, training, inspect, processors and
errors, and no import cycle anywhere (imports under TYPE_CHECKING count too).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is part of the test extra; reinstall with bash scripts/test.sh"
    run = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_models_import_no_generation_or_pipelines():
    """The issue's literal check, independent of the linter: no such import line in workbench/models."""
    offending = []
    for path in (ROOT / "workbench" / "models").rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            text = line.strip()
            if text.startswith(("import ", "from ")) and any(
                    word in text for word in ("generation import", "generation", "pipelines", "widgets")):
                if "from . import generation" in text or "from .generation" in text:
                    continue  # the family's own rules module (models/whisper/decoding.py), not workbench.generation
                offending.append(f"{path.relative_to(ROOT)}:{n}: {text}")
    assert not offending, offending
