"""`import workbench` is cheap and the core never pulls in the oracle or the notebook UI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_top_level_import_is_lazy():
    loaded = modules_after("from workbench import pipeline, AutoModel, AutoTokenizer, AutoConfig")
    assert "torch" not in loaded and "transformers" not in loaded and "huggingface_hub" not in loaded


def test_core_never_imports_transformers_or_widgets():
    code = (
        "import workbench, pkgutil, importlib\n"
        "for m in pkgutil.walk_packages(workbench.__path__, 'workbench.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    loaded = modules_after(code)
    forbidden = {"transformers", "widgets", "ipywidgets", "anywidget", "IPython", "sentence_transformers"}
    assert not forbidden & {m.split(".")[0] for m in loaded}


def test_no_source_file_mentions_the_oracle_as_import():
    for folder in ("workbench", "widgets"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "import transformers" not in text and "from transformers" not in text, path


def test_every_lazy_export_resolves():
    """A name listed for lazy export must exist in the module named for it."""
    import widgets
    import workbench

    for package in (workbench, widgets):
        for name in package._EXPORTS:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
        assert set(package._EXPORTS) <= set(dir(package))
