"""A model name -> a local folder.

`resolve_model_folder(name)` accepts either

* a local folder (returned as is, `~` expanded), or
* a hub id, `"org/name"` or `"name"`, downloaded with `huggingface_hub.snapshot_download` into
  the standard Hugging Face cache (`HF_HUB_CACHE`, by default `~/.cache/huggingface/hub`), with
  huggingface_hub's progress bars. A snapshot already in the cache is reused.

Offline mode (`HF_HUB_OFFLINE=1`, read at call time) uses the cache only. When the hub is offline
or unreachable and the id is one of the embedded models of `workbench.embedded` whose package is
installed, the embedded copy is used after its SHA-256 check.

Every failure raises a `WorkbenchError` subclass whose message names the problem and the fix.
`huggingface_hub` is imported inside the functions, so `import workbench.hub` stays cheap.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CheckpointNotFoundError, OfflineError

if TYPE_CHECKING:
    from tqdm.auto import tqdm

__all__ = ["DEFAULT_ALLOW_PATTERNS", "allow_patterns_for", "is_offline", "resolve_model_folder"]

# The files a model folder needs, and nothing else:
#   *.json         config.json, tokenizer.json / tokenizer_config.json / special_tokens_map.json,
#                  generation_config.json, preprocessor_config.json, vocab.json,
#                  model.safetensors.index.json (shards), sentence-transformers' modules.json ...
#   *.safetensors  weights, single file or shards
#   *.txt          vocab.txt (WordPiece), merges.txt (BPE), vocabulary.txt (CTranslate2)
#   *.model        SentencePiece models (spiece.model, tokenizer.model)
#   *.tiktoken     tiktoken BPE ranks
#   model.bin      CTranslate2 weights (e.g. Systran/faster-whisper-*); matches only that exact root
#                  file name, so pickled PyTorch weights (`pytorch_model.bin`) are NOT downloaded
# Left out on purpose: pickled weights (pytorch_model.bin, *.pt, *.ckpt), TF/Flax/ONNX/OpenVINO/GGUF
# exports, and README/images. Pass your own `allow_patterns` (e.g. ["*"]) to get more.
DEFAULT_ALLOW_PATTERNS: tuple[str, ...] = (
    "*.json",
    "*.safetensors",
    "*.txt",
    "*.model",
    "*.tiktoken",
    "model.bin",
)



def allow_patterns_for(gguf_file: str | None) -> list[str] | None:
    """The download patterns when one GGUF file of a repo is asked for (`gguf_file=`): the default files
    plus that one (a GGUF repo holds many quantisations; only the named one is fetched). None: the default."""
    return None if gguf_file is None else [*DEFAULT_ALLOW_PATTERNS, gguf_file]


# Hub repo ids: an optional namespace and a name made of letters, digits, "-", "_" and ".".
_REPO_ID = re.compile(r"^(?:(?P<namespace>\w[\w.-]*)/)?(?P<name>\w[\w.-]*)$", re.ASCII)
_REPO_ID_MAX = 96

_TRUE = {"1", "ON", "YES", "TRUE"}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in _TRUE


def is_offline() -> bool:
    """Whether the hub is switched off: `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) set now, or at
    huggingface_hub's import (it keeps its own copy of the flag and refuses requests when it is set)."""
    if _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE"):
        return True
    constants = sys.modules.get("huggingface_hub.constants")  # only if already imported: keep this cheap
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith(("./", "../", "/", "~", ".\\", "..\\"))
        or text in {".", ".."}
        or "\\" in text
        or text.count("/") > 1
        or bool(re.match(r"^[A-Za-z]:[\\/]", text))  # Windows drive
    )


def _repo_id_problem(repo_id: str) -> str | None:
    """Why `repo_id` is not a valid hub id, or None when it is one."""
    if not repo_id:
        return "it is empty"
    if len(repo_id) > _REPO_ID_MAX:
        return f"it is longer than {_REPO_ID_MAX} characters"
    if not _REPO_ID.match(repo_id):
        return "hub ids contain only letters, digits, '-', '_', '.' and at most one '/', and each part starts with a letter, digit or '_'"
    if "--" in repo_id or ".." in repo_id:
        return "'--' and '..' are not allowed in hub ids"
    if repo_id.endswith((".", "-")) or repo_id.endswith(".git"):
        return "hub ids do not end with '.', '-' or '.git'"
    return None


def resolve_model_folder(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    allow_patterns: list[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool | None = None,
    token: str | bool | None = None,
    local_hint: str = "from_pretrained('/path/to/folder')",
) -> Path:
    """A local folder for `name_or_path`: the folder itself, or a hub snapshot in the HF cache.

    Args:
        name_or_path: a folder, or a hub id such as `"sentence-transformers/all-MiniLM-L6-v2"`.
        revision: branch, tag or commit sha on the hub (default: the repo's `main`).
        allow_patterns: glob patterns of the files to download; default `DEFAULT_ALLOW_PATTERNS`.
        cache_dir: the hub cache folder (default: `HF_HUB_CACHE`).
        local_files_only: use the cache only, never the network (also implied by `HF_HUB_OFFLINE=1`).
        token: hub token for private or gated repos (default: the saved login / `HF_TOKEN`).

    When the hub is offline (`HF_HUB_OFFLINE=1`, `local_files_only=True`) or unreachable and the
    snapshot is not cached, an embedded model of the same id (see `workbench.embedded`) is used for
    the default revision, after its SHA-256 check.

    Raises:
        CheckpointNotFoundError: missing folder, malformed id, unknown repo or revision.
        OfflineError: offline or unreachable hub, and neither a cached nor an embedded copy.
        IntegrityError: the embedded copy does not match its recorded SHA-256.
    """
    text = os.fspath(name_or_path)
    if not text.strip():
        raise CheckpointNotFoundError(
            "The model name is empty. Pass a model folder, or a hub id such as "
            "'sentence-transformers/all-MiniLM-L6-v2'."
        )
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(text) or path.exists():
        if path.exists():
            raise CheckpointNotFoundError(
                f"{text!r} is a file, not a model folder. Pass the folder that holds config.json "
                f"(here probably {str(path.parent)!r})."
            )
        raise CheckpointNotFoundError(
            f"The folder {str(path)!r} does not exist. Check the path, or pass a hub id such as "
            "'org/name' to download a model."
        )
    problem = _repo_id_problem(text)
    if problem is not None:
        raise CheckpointNotFoundError(
            f"{text!r} is neither an existing folder nor a valid hub id ({problem}). "
            "Pass a model folder, or a hub id such as 'sentence-transformers/all-MiniLM-L6-v2'."
        )
    return _resolve_hub_id(
        text,
        revision=revision,
        allow_patterns=list(allow_patterns) if allow_patterns is not None else list(DEFAULT_ALLOW_PATTERNS),
        cache_dir=cache_dir,
        local_files_only=bool(local_files_only),
        token=token,
        local_hint=local_hint,
    )


def _progress_class() -> type[tqdm] | None:
    """A silenced bar class when `HF_HUB_DISABLE_PROGRESS_BARS` is set now (huggingface_hub reads it
    only at import); otherwise None, which keeps huggingface_hub's own bars and switches."""
    if not _env_true("HF_HUB_DISABLE_PROGRESS_BARS"):
        return None
    from huggingface_hub.utils import tqdm as hf_tqdm

    class _SilentBar(hf_tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return _SilentBar


def _endpoint() -> str | None:
    """`HF_ENDPOINT` as set now (huggingface_hub reads it only at import), or None for its default."""
    value = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/")
    return value or None


def _reason_unreachable(error: BaseException) -> str:
    """Words for why the hub could not be used, from the chain of causes of a cache miss."""
    from huggingface_hub.utils import HfHubHTTPError, OfflineModeIsEnabled

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OfflineModeIsEnabled):
            return "huggingface_hub's offline mode is on"
        if isinstance(current, HfHubHTTPError) and current.response is not None:
            return f"the hub answered HTTP {current.response.status_code}"
        name = type(current).__name__
        if "Timeout" in name or isinstance(current, TimeoutError):
            return f"the hub did not answer in time ({name})"
        if "Connect" in name or "Network" in name or isinstance(current, ConnectionError):
            return f"the hub is unreachable ({name}: {current})"
        current = current.__cause__ or current.__context__
    return f"the hub could not be reached ({type(error).__name__})"


def _fallback_allowed(repo_id: str, revision: str | None) -> bool:
    """Embedded copies stand in for a repo's default revision only."""
    from .embedded import find_embedded

    return revision in (None, "main") and find_embedded(repo_id) is not None


def _offline_error(
    repo_id: str,
    revision: str | None,
    *,
    reason: str,
    cache_dir: str | os.PathLike | None,
    error: BaseException | None,
    local_hint: str,
) -> OfflineError:
    from huggingface_hub import constants

    where = os.fspath(cache_dir) if cache_dir is not None else constants.HF_HUB_CACHE
    if is_offline():
        last_step = "or, once connected, unset HF_HUB_OFFLINE (and TRANSFORMERS_OFFLINE) to download it."
    else:
        endpoint = _endpoint() or constants.ENDPOINT
        last_step = f"or check the network connection to {endpoint} (HF_ENDPOINT, proxy settings) and retry."
    at = f" at revision {revision!r}" if revision is not None else ""
    detail = f"\n(huggingface_hub said: {error})" if error is not None else ""
    return OfflineError(
        f"Cannot get {repo_id!r}{at}: {reason}, and it is not in the local cache ({where}).\n"
        "Fix it with one of:\n"
        f"  - point at a local copy of the model folder: {local_hint};\n"
        f"  - on a connected machine, run `hf download {repo_id}` (older huggingface_hub: "
        f"`huggingface-cli download {repo_id}`) or `huggingface_hub.snapshot_download({repo_id!r})`, "
        "then copy that cache folder here (or set HF_HUB_CACHE to it);\n"
        f"  - {last_step}"
        f"{detail}"
    )


def _resolve_hub_id(
    repo_id: str,
    *,
    revision: str | None,
    allow_patterns: list[str],
    cache_dir: str | os.PathLike | None,
    local_files_only: bool,
    token: str | bool | None,
    local_hint: str,
) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import (
        DisabledRepoError,
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = is_offline()
    cache_only = offline or local_files_only
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            allow_patterns=allow_patterns,
            cache_dir=cache_dir,
            local_files_only=cache_only,
            token=token,
            endpoint=_endpoint(),
            tqdm_class=_progress_class(),
        )
    except GatedRepoError as error:
        raise CheckpointNotFoundError(
            f"{repo_id!r} is a gated repo on the hub: accept its terms on the model page while logged in, "
            "then pass token=... (or run `hf auth login`) so the download is authorised.\n"
            f"(huggingface_hub said: {error})"
        ) from error
    except RepositoryNotFoundError as error:
        raise CheckpointNotFoundError(
            f"The hub has no model repo {repo_id!r} that this session can see. Check the id for a typo "
            "(it is 'org/name', case-sensitive); if the repo is private, pass token=... (or run "
            "`hf auth login`); for a local model, pass its folder path instead."
        ) from error
    except RevisionNotFoundError as error:
        raise CheckpointNotFoundError(
            f"The repo {repo_id!r} exists on the hub but has no revision {revision!r}. Pass an existing "
            "branch, tag or commit sha (see the repo's 'Files and versions' page), or leave revision unset "
            "for 'main'."
        ) from error
    except DisabledRepoError as error:
        raise CheckpointNotFoundError(
            f"The hub has disabled the repo {repo_id!r}; it cannot be downloaded. Pick another checkpoint "
            "or a local folder."
        ) from error
    except HFValidationError as error:
        raise CheckpointNotFoundError(f"{repo_id!r} is not a valid hub id: {error}") from error
    except LocalEntryNotFoundError as error:  # includes IncompleteSnapshotError
        # Not (completely) in the cache and the hub is off or out of reach.
        if _fallback_allowed(repo_id, revision):
            from .embedded import embedded_folder

            embedded = embedded_folder(repo_id)  # IntegrityError if the package was tampered with
            if embedded is not None:
                return embedded
        if offline:
            reason = "offline mode is on (HF_HUB_OFFLINE is set)"
        elif local_files_only:
            reason = "local_files_only=True forbids downloads"
        else:
            reason = _reason_unreachable(error)
        # The hub's own words are in the message: one error, not a chain of three tracebacks.
        raise _offline_error(repo_id, revision, reason=reason, cache_dir=cache_dir, error=error,
                             local_hint=local_hint) from None
    except Exception as error:  # a connection dropped mid-download, a 5xx on a file, a full disk ...
        if _is_network_error(error) and _fallback_allowed(repo_id, revision):
            from .embedded import embedded_folder

            embedded = embedded_folder(repo_id)
            if embedded is not None:
                return embedded
        if _is_network_error(error):
            raise _offline_error(repo_id, revision, reason=_reason_unreachable(error), cache_dir=cache_dir, error=error,
                                 local_hint=local_hint) from None
        raise

    folder_path = Path(folder)
    if not folder_path.is_dir():
        raise CheckpointNotFoundError(
            f"No file of {repo_id!r} matches allow_patterns={allow_patterns}; nothing was downloaded. "
            "Pass allow_patterns that name the files you need (e.g. ['*'] for all of them)."
        )
    return folder_path


def _is_network_error(error: BaseException) -> bool:
    """A transport failure (no answer, refused, timed out), as opposed to an answer the hub gave."""
    from huggingface_hub.utils import HfHubHTTPError

    if isinstance(error, HfHubHTTPError):
        return error.response is not None and error.response.status_code >= 500
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    module = type(error).__module__.split(".")[0]
    return module in {"httpx", "httpx2", "httpcore", "requests", "urllib3"} and any(
        word in type(error).__name__ for word in ("Connect", "Timeout", "Network", "Protocol")
    )
