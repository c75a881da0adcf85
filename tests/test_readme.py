"""README.md stays true: its two commands, and its tables of models, tasks, panels and notebooks."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(title)
    nxt = re.search(r"\n#{2,3} ", README[start + len(title):])
    return README[start: start + len(title) + (nxt.start() if nxt else len(README))]


def test_two_commands_and_ci_runs_the_test_command():
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["bash scripts/start.sh", "bash scripts/test.sh"]
    assert (ROOT / "notebooks" / "00_tour.ipynb").is_file()
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_model_table_matches_registry():
    from workbench.models import FAMILIES

    listed = [m for m in re.findall(r"^\| `([a-z0-9_-]+)` \|", section("### Supported models"), re.M) if m != "model_type"]
    assert sorted(listed) == sorted(FAMILIES)


def test_task_table_matches_registry():
    from workbench.pipelines import ALIASES, TASKS

    rows = re.findall(r"^\| `([a-z0-9-]+)`(?:, `([a-z0-9-]+)`)?(?: \(([^)]*)\))? \|", section("### Tasks"), re.M)
    tasks = {t for row in rows for t in row[:2] if t}
    aliases = {a.strip("` ") for row in rows for a in row[2].split(",") if a.strip()}
    assert tasks == set(TASKS)
    assert aliases == set(ALIASES)


def test_panel_table_matches_exports():
    import widgets

    listed = set(re.findall(r"`([A-Z][A-Za-z]+)(?:\(|`)", section("### Panels")))
    assert listed == set(widgets._EXPORTS) - {"Panel"}


def test_listed_notebooks_exist_and_all_are_listed():
    listed = set(re.findall(r"`(\d\d_[a-z_]+)`", section("### Notebooks")))
    assert listed == {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_embedded_table_matches_registry():
    from workbench.embedded import list_embedded

    text = section("### Embedded defaults")
    for entry in list_embedded():
        assert f"`{entry.repo_id}`" in text and f"`{entry.distribution}=={entry.version}`" in text
        # pinned in the offline extra, or (packages installed without their dependencies) in the --no-deps list
        pins = (ROOT / "pyproject.toml").read_text() + (ROOT / "requirements" / "offline-no-deps.txt").read_text()
        assert f"{entry.distribution}=={entry.version}" in pins
