"""Peak memory of each notebook's kernel, run top to bottom offline (Binder gives a notebook 2 GB).

    python benchmarks/notebook_memory.py                 # every notebook in notebooks/
    python benchmarks/notebook_memory.py 00_tour 06_finetune

The kernel's resident set size (its child processes included) is sampled every 50 ms while nbclient
runs the notebook; the peak is what a host's memory limit sees. `workbench.classroom.NOTEBOOK_PEAK_MB`
records these numbers for `python -m workbench.doctor`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.harness import write_python_kernelspec  # noqa: E402  (the tests' kernelspec: this interpreter)


def _rss_mb(process: psutil.Process) -> float:
    total = 0
    for p in (process, *process.children(recursive=True)):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def peak_mb(path: Path) -> tuple[float, float]:
    """(peak kernel RSS in MB, seconds) of running the notebook at `path`."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=900, startup_timeout=120,
                            resources={"metadata": {"path": str(path.parent)}})
    peak, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            manager = client.km
            pid = getattr(getattr(manager, "provisioner", None), "pid", None) if manager else None
            if pid:
                try:
                    peak[0] = max(peak[0], _rss_mb(psutil.Process(pid)))
                except psutil.Error:
                    pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    try:
        client.execute()
    finally:
        done.set()
        sampler.join()
    return peak[0], time.perf_counter() - start


def main() -> None:
    names = sys.argv[1:]
    paths = [ROOT / "notebooks" / f"{n.removesuffix('.ipynb')}.ipynb" for n in names] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        write_python_kernelspec(Path(tmp) / "share" / "kernels")
        os.environ.update(JUPYTER_PATH=str(Path(tmp) / "share"), HF_HUB_OFFLINE="1",
                          PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        print(f"{'notebook':22} {'peak RSS':>10} {'time':>8}")
        for path in paths:
            mb, seconds = peak_mb(path)
            print(f"{path.stem:22} {mb:8.0f} MB {seconds:7.1f} s  {'(over Binder 2 GB)' if mb > 2048 else ''}", flush=True)


if __name__ == "__main__":
    main()
