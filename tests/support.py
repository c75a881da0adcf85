"""Small helpers shared by test modules (standard library only at import time)."""

from __future__ import annotations

import socket
from pathlib import Path

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of the call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def minilm_folder() -> Path:
    """The embedded all-MiniLM-L6-v2 (the `offline` extra), digests checked like any user's load."""
    from workbench.embedded import embedded_folder

    folder = embedded_folder(MINILM)
    if folder is None:
        raise RuntimeError("the embedded MiniLM is missing: install the project with its `offline` extra")
    return folder
