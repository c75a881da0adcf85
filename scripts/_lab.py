"""Helpers for scripts/start.sh (run with the venv's python; standard library + jupyter_server only).

    python scripts/_lab.py running ROOT TOUR   prints the tour's URL on a JupyterLab already serving ROOT
                                               (from the runtime dir's server files; nothing when none)
    python scripts/_lab.py port PORT           prints PORT when 127.0.0.1:PORT is free, else a free port
"""

from __future__ import annotations

import os
import socket
import sys


def running(root: str, tour: str) -> str:
    from jupyter_server.serverapp import list_running_servers

    want = os.path.realpath(root)
    for info in list_running_servers():  # only servers whose process is alive
        if os.path.realpath(info.get("root_dir", "")) == want:
            token = info.get("token") or ""
            return f"{info['url'].rstrip('/')}/lab/tree/{tour}" + (f"?token={token}" if token else "")
    return ""


def port(wanted: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", wanted))
            return wanted
        except OSError:
            pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    print(running(*args) if cmd == "running" else port(int(args[0])))
