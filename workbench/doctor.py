"""Is this machine ready for the class? Offline, in well under 2 s: which notebooks and panels run on real
weights, which fall back to tiny random models, which cannot run, with what RAM and disk, and what to do.

    python -m workbench.doctor            # quick: looks at files only (no torch, no network)
    python -m workbench.doctor --verify   # also checks the embedded models' SHA-256 (a second or two more)

Nothing is downloaded and nothing heavy is imported: the answer comes from the Hugging Face cache's folders,
the embedded packages' folders and the manifest in `workbench.classroom`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .classroom import MANIFEST, NOTEBOOK_PEAK_MB, ManifestEntry
from .embedded import embedded_status, find_embedded

__all__ = ["CheckpointState", "Report", "UseState", "diagnose", "main"]

_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
# What the panels need in the browser's kernel; JupyterLab or Notebook 7 or Voila serves them.
_FRONT_END = ("ipywidgets", "anywidget")
_HOSTS = {"jupyterlab": "JupyterLab", "notebook": "Notebook 7", "voila": "Voila"}


@dataclass(frozen=True)
class CheckpointState:
    entry: ManifestEntry
    where: str | None  # "cache" (the pinned revision is in the HF cache), "embedded", or None: missing
    folder: Path | None


@dataclass(frozen=True)
class UseState:
    """A notebook or a panel, and how it will run here."""

    name: str
    status: str  # "real": every checkpoint is here; "tiny": runs on random stand-ins for some; "blocked"
    missing: tuple[str, ...]  # hub ids not on this machine
    missing_mb: int
    peak_mb: int | None  # the measured kernel peak (notebooks), when known
    note: str = ""


@dataclass
class Report:
    cache_dir: Path
    ram_total_mb: int | None
    ram_available_mb: int | None
    disk_free_mb: int | None
    checkpoints: list[CheckpointState] = field(default_factory=list)
    notebooks: list[UseState] = field(default_factory=list)
    panels: list[UseState] = field(default_factory=list)
    front_end: dict[str, str | None] = field(default_factory=dict)  # package -> version (None: missing)
    seconds: float = 0.0

    @property
    def missing_mb(self) -> int:
        return sum(c.entry.approx_mb for c in self.checkpoints if c.where is None)


def default_cache_dir() -> Path:
    """HF_HUB_CACHE as huggingface_hub resolves it (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def cached_snapshot(cache_dir: Path, hub_id: str, revision: str) -> Path | None:
    """The cached snapshot of `hub_id` at `revision` when it holds a config and weights, else None."""
    repo = cache_dir / f"models--{hub_id.replace('/', '--')}"
    ref = repo / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision if _FULL_SHA.match(revision) else None
    if commit is None:
        return None
    snapshot = repo / "snapshots" / commit
    has_weights = any(snapshot.glob("*.safetensors")) or (snapshot / "model.bin").is_file() or any(snapshot.glob("*.gguf"))
    return snapshot if (snapshot / "config.json").is_file() and has_weights else None


def _memory_mb() -> tuple[int | None, int | None]:
    """(total, available) RAM in MB from /proc/meminfo, else total from sysconf."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        return int(info["MemTotal"].split()[0]) // 1024, int(info["MemAvailable"].split()[0]) // 1024
    except (OSError, KeyError, ValueError):
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20, None
        except (ValueError, OSError, AttributeError):
            return None, None


def _disk_free_mb(path: Path) -> int | None:
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free // 2**20
    return None


def _version(distribution: str) -> str | None:
    if importlib.util.find_spec(distribution) is None:
        return None
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def diagnose(*, cache_dir: str | os.PathLike | None = None, verify: bool = False) -> Report:
    start = time.perf_counter()
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    total, available = _memory_mb()
    report = Report(cache, total, available, _disk_free_mb(cache))
    embedded = {s.repo_id: s for s in embedded_status(verify=verify)}
    for entry in MANIFEST:
        snapshot = cached_snapshot(cache, entry.hub_id, entry.revision)
        if snapshot is not None:
            report.checkpoints.append(CheckpointState(entry, "cache", snapshot))
            continue
        known = find_embedded(entry.hub_id)
        status = embedded.get(known.repo_id) if known is not None else None
        usable = status is not None and status.installed and (status.verified or not verify)
        report.checkpoints.append(CheckpointState(entry, "embedded" if usable else None,
                                                  status.folder if usable and status else None))
    report.front_end = {name: _version(name) for name in (*_FRONT_END, *_HOSTS)}
    front_end_missing = [name for name in _FRONT_END if report.front_end[name] is None]
    users = sorted({u for e in MANIFEST for u in e.used_by} | set(NOTEBOOK_PEAK_MB))
    for name in users:
        mine = [c for c in report.checkpoints if name in c.entry.used_by]
        missing = [c for c in mine if c.where is None]
        blocked = [c.entry.hub_id for c in missing if c.entry.fallback == "none"]
        is_notebook = name[:1].isdigit()
        note = ""
        if blocked:
            status = "blocked"
            note = "needs " + ", ".join(blocked)
        elif missing:
            status = "tiny"
            note = "random stand-ins for " + ", ".join(c.entry.hub_id for c in missing)
        else:
            status = "real"
        if not is_notebook and front_end_missing:
            status, note = "blocked", f"install {' and '.join(front_end_missing)}"
        peak = NOTEBOOK_PEAK_MB.get(name) if is_notebook else None
        if peak is not None and available is not None and peak > available:
            note = (note + "; " if note else "") + f"needs about {peak} MB of RAM, {available} MB are free"
        use = UseState(name, status, tuple(c.entry.hub_id for c in missing), sum(c.entry.approx_mb for c in missing),
                       peak, note)
        (report.notebooks if is_notebook else report.panels).append(use)
    report.seconds = time.perf_counter() - start
    return report


_WORDS = {"real": "ready, real weights", "tiny": "runs, RANDOM weights for some models", "blocked": "cannot run"}


def render(report: Report) -> str:
    lines = ["workbench doctor: what runs on this machine (offline check)", ""]
    ram = f"{report.ram_total_mb} MB total, {report.ram_available_mb} MB available" if report.ram_total_mb else "unknown"
    lines.append(f"RAM:  {ram}")
    disk = f"{report.disk_free_mb} MB free" if report.disk_free_mb is not None else "unknown"
    lines.append(f"disk: {disk} at {report.cache_dir} (the Hugging Face cache)")
    hosts = [f"{label} {report.front_end[name]}" for name, label in _HOSTS.items() if report.front_end.get(name)]
    lines.append("hosts: " + (", ".join(hosts) if hosts else "none installed (pip install jupyterlab)"))
    lines.append("")
    lines.append("checkpoints:")
    for c in report.checkpoints:
        where = {"cache": "in the cache", "embedded": "embedded package", None: "MISSING"}[c.where]
        lines.append(f"  {c.entry.hub_id:58} {where:17} ({c.entry.approx_mb} MB @ {c.entry.revision})")
    for title, uses in (("notebooks:", report.notebooks), ("panels (with the checkpoints the notebooks give them):", report.panels)):
        lines.append("")
        lines.append(title)
        for u in uses:
            peak = f", peak {u.peak_mb} MB" if u.peak_mb else ""
            lines.append(f"  {u.name:20} {_WORDS[u.status]}{peak}" + (f"  [{u.note}]" if u.note else ""))
    lines.append("")
    if report.missing_mb:
        lines.append(f"To get the real weights: while online, run `python -m workbench.prefetch` (about "
                     f"{report.missing_mb} MB), or `--only <notebook>` for one notebook.")
        if report.disk_free_mb is not None and report.disk_free_mb < report.missing_mb * 1.2:
            lines.append(f"That needs more disk than the {report.disk_free_mb} MB free: set HF_HUB_CACHE to a bigger disk.")
    blocked = [u.name for u in report.notebooks + report.panels if u.status == "blocked"]
    if blocked:
        lines.append("Cannot run: " + ", ".join(blocked) + ". Install the offline extra "
                     "(`bash scripts/start.sh` does) or prefetch while online.")
    if not report.missing_mb and not blocked:
        lines.append("Everything runs on real weights.")
    lines.append(f"(checked in {report.seconds:.2f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=None, help="the hub cache (default: HF_HUB_CACHE)")
    parser.add_argument("--verify", action="store_true", help="check the embedded models' SHA-256 too")
    args = parser.parse_args(argv)
    report = diagnose(cache_dir=args.cache_dir, verify=args.verify)
    print(render(report))
    return 1 if any(u.status == "blocked" for u in report.notebooks) else 0


if __name__ == "__main__":
    sys.exit(main())
