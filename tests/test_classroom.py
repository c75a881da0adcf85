"""The classroom pack: prefetch downloads the manifest at its pinned revisions (against the local fake hub),
the doctor reads offline what will run, and notebooks pick the prefetched checkpoint with `real_or_tiny`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hubserver import fake_hub, tiny_model_files  # noqa: F401  (fixtures)
from workbench import classroom, doctor, prefetch
from workbench.classroom import ManifestEntry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pack(fake_hub, monkeypatch):  # noqa: F811
    """Two repos on the fake hub: one pinned to an older commit by a short sha, one followed at main;
    the manifest points at them (plus an id the hub does not have, for the failure path)."""
    pinned = fake_hub.add_repo("acme/pinned")
    old = pinned.commit(tiny_model_files(seed=1), ref="main")
    pinned.commit(tiny_model_files(seed=2), ref="main")  # main moved on after the pin
    followed = fake_hub.add_repo("acme/followed")
    followed.commit(tiny_model_files(seed=3), ref="main")
    manifest = [
        ManifestEntry("acme/pinned", old[:7], ("10_demo", "Demo"), 1),
        ManifestEntry("acme/followed", "main", ("10_demo", "11_other"), 1),
        ManifestEntry("acme/not-on-the-hub", "main", ("12_broken",), 5, fallback="none"),
    ]
    for module in (classroom, doctor):
        monkeypatch.setattr(module, "MANIFEST", manifest)
    monkeypatch.setattr(doctor, "NOTEBOOK_PEAK_MB", {})
    return fake_hub, old


def _seed(folder: Path) -> int:
    return json.loads((folder / "config.json").read_text())["_fake_hub_seed"]


def test_prefetch_downloads_pinned_revisions_and_keeps_going_after_a_failure(pack, capsys):
    hub, old = pack
    results = prefetch.prefetch()
    by_id = {r.entry.hub_id: r for r in results}
    assert _seed(by_id["acme/pinned"].folder) == 1  # the pinned commit, not main's newer one
    assert by_id["acme/pinned"].folder.name == old
    assert _seed(by_id["acme/followed"].folder) == 3
    assert by_id["acme/not-on-the-hub"].folder is None and "acme/not-on-the-hub" in by_id["acme/not-on-the-hub"].problem
    assert not (by_id["acme/pinned"].folder / "pytorch_model.bin").exists()  # pickles are never fetched
    out = capsys.readouterr().out
    assert "[1/3] acme/pinned @ " + old[:7] in out and "FAILED" in out


def test_prefetch_only_one_notebook_and_exit_codes(pack, capsys):
    hub, _ = pack
    assert prefetch.main(["--only", "11_other"]) == 0
    assert "1 of 1 checkpoints are in the cache" in capsys.readouterr().out
    assert hub.count(kind="file") > 0
    assert {r.path.split("/")[2] for r in hub.requests if r.kind == "file"} == {"followed"}
    assert prefetch.main(["--only", "12_broken"]) == 1
    with pytest.raises(SystemExit):
        prefetch.main(["--only", "99_nothing"])
    assert "known: 10_demo" in capsys.readouterr().err


def test_prefetch_list_says_what_and_how_much_without_downloading(pack, capsys):
    hub, _ = pack
    assert prefetch.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "acme/pinned" in out and "3 checkpoints, about 7 MB" in out
    assert hub.count() == 0


def test_after_prefetch_the_doctor_and_notebooks_find_the_checkpoints_offline(pack, monkeypatch):
    hub, old = pack
    before = doctor.diagnose()
    states = {u.name: u.status for u in before.notebooks}
    assert states == {"10_demo": "tiny", "11_other": "tiny", "12_broken": "blocked"}
    assert before.missing_mb == 7

    prefetch.prefetch()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.reset_counts()
    after = doctor.diagnose()
    assert {c.entry.hub_id: c.where for c in after.checkpoints} == {
        "acme/pinned": "cache", "acme/followed": "cache", "acme/not-on-the-hub": None}
    assert {u.name: u.status for u in after.notebooks} == {"10_demo": "real", "11_other": "real", "12_broken": "blocked"}
    assert {u.name: u.status for u in after.panels} == {"Demo": "real"}
    text = doctor.render(after)
    assert "12_broken" in text and "cannot run" in text and "about 5 MB" in text

    folder, real = classroom.real_or_tiny("acme/pinned", lambda: "tiny", say=lambda _: None)
    assert real and _seed(Path(folder)) == 1  # offline, the manifest's pinned revision is the one used
    said = []
    assert classroom.real_or_tiny("acme/not-on-the-hub", lambda: "tiny", say=said.append) == ("tiny", False)
    assert "RANDOM weights" in said[0] and "python -m workbench.prefetch" in said[0]
    assert hub.count() == 0  # offline: nothing asked of the hub


def test_doctor_reports_ram_that_a_notebook_lacks(pack, monkeypatch):
    monkeypatch.setattr(doctor, "NOTEBOOK_PEAK_MB", {"10_demo": 10**9})
    report = doctor.diagnose()
    demo = next(u for u in report.notebooks if u.name == "10_demo")
    assert demo.peak_mb == 10**9 and "MB of RAM" in demo.note


def test_doctor_command_is_offline_and_light(tmp_path):
    """The command a teacher runs: no network, no torch or download machinery imported (that is what keeps it
    under 2 s), and every notebook of the real manifest named."""
    code = ("import runpy, sys\n"
            "sys.argv = ['doctor']\n"
            "try:\n    runpy.run_module('workbench.doctor', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\n"
            "heavy = [m for m in ('torch', 'huggingface_hub.file_download', 'transformers', 'widgets') if m in sys.modules]\n"
            "print('HEAVY', heavy, 'EXIT', code)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-cache"), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT).stdout
    assert "HEAVY [] EXIT 0" in out
    for entry in classroom.MANIFEST:
        assert entry.hub_id in out
    assert "00_tour" in out and "python -m workbench.prefetch" in out


def test_manifest_names_real_notebooks_and_panels():
    import widgets

    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    for entry in classroom.MANIFEST:
        for user in entry.used_by:
            if user[:1].isdigit():
                assert user in notebooks, f"{entry.hub_id}: no notebook {user}.ipynb"
            else:
                assert user in widgets.__all__, f"{entry.hub_id}: no panel {user}"
        assert entry.fallback in ("tiny", "none")
    assert len({e.hub_id for e in classroom.MANIFEST}) == len(classroom.MANIFEST)
