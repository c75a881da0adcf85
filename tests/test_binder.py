"""Launch configuration stays consistent: binder/ (mybinder), scripts/ (the README's two
commands) and .ci/run agree with pyproject.toml and with each other, and the main command
really serves the tour."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import free_port

try:
    import tomllib
except ImportError:  # Python 3.10: pytest brings tomli there
    import tomli as tomllib
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
TOUR = "notebooks/00_tour.ipynb"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SHELL_SCRIPTS = ["binder/postBuild", "binder/start", "scripts/_venv.sh", "scripts/start.sh",
                 "scripts/test.sh", ".ci/run"]


def _commands(path: Path) -> list[str]:
    """Non-empty, non-comment lines of a shell script (shebang excluded)."""
    return [ln.strip() for ln in path.read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def _torch_pin(text: str) -> str:
    pins = set(re.findall(r"torch==([0-9][0-9A-Za-z.+]*)", text))
    assert len(pins) == 1, f"expected exactly one torch pin, found {pins or 'none'}"
    return pins.pop()


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


# ----------------------------------------------------------------------------- binder
def test_postbuild_is_strict_bash():
    post = BINDER / "postBuild"
    assert _executable(post), "binder/postBuild must be executable (chmod +x)"
    assert post.read_text().splitlines()[0] == "#!/bin/bash"
    assert _commands(post)[0] == "set -e", "set -e must come before any command"


def test_postbuild_installs_cpu_torch_with_the_scripts_pin_then_the_project():
    post = _commands(BINDER / "postBuild")
    pin = _torch_pin((ROOT / "scripts" / "_venv.sh").read_text())
    assert _torch_pin("\n".join(post)) == pin, "binder/postBuild and scripts/_venv.sh pin different torch"
    torch_line = next(i for i, ln in enumerate(post) if "torch==" in ln)
    assert "download.pytorch.org/whl/cpu" in post[torch_line], "torch must come from the CPU index"
    project_line = next(i for i, ln in enumerate(post) if re.search(r"-e \"?\.\[offline\]", ln))
    assert torch_line < project_line, "torch must be installed before the project"
    assert "offline" in PYPROJECT["project"]["optional-dependencies"]
    # the pin satisfies the project's own torch requirement
    torch_req = next(Requirement(r) for r in PYPROJECT["project"]["dependencies"]
                     if Requirement(r).name == "torch")
    assert Version(pin) in torch_req.specifier, f"torch=={pin} violates {torch_req}"


def test_runtime_matches_requires_python():
    m = re.fullmatch(r"python-(\d+\.\d+)", (BINDER / "runtime.txt").read_text().strip())
    assert m, "binder/runtime.txt must read python-X.Y"
    assert Version(m.group(1)) in SpecifierSet(PYPROJECT["project"]["requires-python"])


def test_apt_packages():
    pkgs = _commands(BINDER / "apt.txt")
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", p) for p in pkgs), pkgs
    assert {"espeak-ng", "ffmpeg", "libsndfile1"} <= set(pkgs)


def test_start_wrapper_execs_its_arguments():
    start = BINDER / "start"
    assert _executable(start), "binder/start must be executable (chmod +x)"
    assert start.read_text().splitlines()[0] == "#!/bin/bash"
    assert _commands(start)[-1] == 'exec "$@"'


def test_landing_page_exists():
    readme = (BINDER / "README.md").read_text()
    paths = set(re.findall(r"urlpath=lab/tree/(\S+?\.ipynb)", readme))
    assert paths == {TOUR}, paths
    start_sh = (ROOT / "scripts" / "start.sh").read_text()
    assert f'tour="{TOUR}"' in start_sh
    import nbformat

    nbformat.validate(nbformat.read(ROOT / TOUR, as_version=4))


# ----------------------------------------------------------------------------- scripts, CI
@pytest.mark.parametrize("rel", SHELL_SCRIPTS)
def test_shell_syntax(rel):
    bash = shutil.which("bash")
    assert bash, "bash is needed"
    r = subprocess.run([bash, "-n", str(ROOT / rel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("rel", ["scripts/start.sh", "scripts/test.sh", ".ci/run"])
def test_entry_points_are_strict(rel):
    path = ROOT / rel
    assert _executable(path), f"{rel} must be executable"
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in _commands(path)


def test_ci_runs_the_readme_test_command():
    assert _commands(ROOT / ".ci" / "run")[-1] in ("bash scripts/test.sh", "exec bash scripts/test.sh")


def _venv_env(tmp_path: Path, **extra: str) -> dict:
    if not (Path(sys.prefix) / "bin" / "activate").exists():
        pytest.skip("pytest is not running inside a virtual environment")
    env = dict(os.environ)
    env.update(WORKBENCH_VENV=sys.prefix, WORKBENCH_SKIP_INSTALL="1",
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), **extra)
    return env


def test_start_no_launch_only_installs(tmp_path):
    r = subprocess.run(["bash", str(ROOT / "scripts" / "start.sh")], capture_output=True, text=True,
                       env=_venv_env(tmp_path, WORKBENCH_NO_LAUNCH="1"), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "not starting JupyterLab" in r.stderr


def _wait_for_url(proc: subprocess.Popen, log: Path, pattern: str, timeout: float = 60) -> re.Match:
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(pattern, log.read_text())
        if m:
            return m
        assert proc.poll() is None, f"start.sh exited early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"start.sh printed no URL:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


def test_start_serves_the_tour_then_points_a_second_start_at_it(tmp_path):
    """The README's main command starts JupyterLab on 127.0.0.1 with the tour as landing page, on a free
    port when the asked one is taken, with the announcements pop-up configured off; run again, it prints
    the running server's address (its token) and exits instead of failing on the port."""
    import json
    import socket

    token = secrets.token_hex(8)
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)  # another program holds the asked port
    asked = taken.getsockname()[1]
    env = _venv_env(tmp_path, WORKBENCH_PORT=str(asked), JUPYTER_TOKEN=token, WORKBENCH_NO_BROWSER="1")
    log = tmp_path / "start.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "start.sh")], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        m = _wait_for_url(proc, log, rf"http://127\.0\.0\.1:(\d+)/lab/tree/{re.escape(TOUR)}\?token={token}")
        port = int(m.group(1))
        assert port != asked and f"port {asked} is in use" in log.read_text()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"start.sh exited early:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no answer on {base}:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{base}/?token={token}", timeout=2) as r:
                    landed = r.geturl()  # after the redirect to the default URL
                break
            except OSError:
                time.sleep(0.2)
        assert landed.startswith(f"{base}/lab/tree/{TOUR}"), landed

        def api(path: str):
            req = urllib.request.Request(f"{base}/{path}", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(req, timeout=10) as r:
                assert r.status == 200
                return json.loads(r.read())

        api(f"api/contents/{TOUR}?content=0")
        # the news pop-up: the server's notification settings default to "never fetch news"
        schema = api("lab/api/settings/@jupyterlab/apputils-extension:notification")["schema"]["properties"]
        assert schema["fetchNews"]["default"] == "false" and schema["checkForUpdates"]["default"] is False

        # a second start while this one runs: the running server's address, exit 0, no new server
        again = subprocess.run(["bash", str(ROOT / "scripts" / "start.sh")], capture_output=True, text=True,
                               env={**env, "JUPYTER_TOKEN": "", "WORKBENCH_PORT": str(port)}, timeout=60)
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout and f"{base}/lab/tree/{TOUR}?token={token}" in again.stdout, \
            again.stdout + again.stderr
        assert proc.poll() is None  # the first server is untouched
    finally:
        taken.close()
        # stop by PID: bash exec'd into jupyter, so proc.pid is the server itself
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
