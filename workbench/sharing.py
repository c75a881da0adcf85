"""Share on the hub: `push_to_hub(save, repo_id, ...)`, the one upload path of models, tokenizers and trainers.

Everything goes through `huggingface_hub`: `create_repo(exist_ok=True)` (a repo id without a
namespace lands in the token's user, as on the hub), then `upload_folder` of a temporary folder the
object saved itself into, as one commit. Before anything is saved, the repo id, offline mode and the
token (the argument, else the standard login: `HF_TOKEN` or `hf auth login`) are checked, so a push
that cannot happen says why at once. Failures raise `ShareError`, naming the fix.

The model card (`README.md`: YAML metadata the hub reads, then Markdown) is written by
`model_card(metadata, body)` through huggingface_hub's `ModelCardData`, so the keys are the hub's.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import WorkbenchError
from .hub import _endpoint, _is_network_error, _repo_id_problem, is_offline

CARD_NAME = "README.md"


class ShareError(WorkbenchError):
    """A push to the hub that could not happen (no token, offline, unreachable, refused); nothing was uploaded."""


def hub_token(token: str | bool | None = None) -> str:
    """The token a push sends: `token` when it is a string, else the standard login (`HF_TOKEN`, `hf auth login`)."""
    if token is False:
        raise ShareError("token=False sends no token, but pushing to the hub needs a write token; pass token='hf_...' "
                         "or leave token unset to use your login.")
    if isinstance(token, str) and token.strip():
        return token.strip()
    from huggingface_hub import get_token

    found = get_token()
    if not found:
        raise ShareError(
            "No hub token: pushing needs a write token, and none was passed or found in the standard login. "
            "Run `hf auth login` in a terminal (or `from huggingface_hub import login; login()` in the notebook), "
            "set the HF_TOKEN environment variable, or pass token='hf_...'. Nothing was uploaded; "
            "save_pretrained(folder) keeps a local copy.")
    return found


def check_push(repo_id: str) -> None:
    """Refuse a push that cannot work before any file is written: a malformed id, or offline mode."""
    problem = _repo_id_problem(str(repo_id))
    if problem is not None:
        raise ShareError(f"repo_id={repo_id!r} is not a valid hub id ({problem}); pass 'name' (your namespace) or "
                         "'org/name'.")
    if is_offline():
        raise ShareError(
            f"Cannot push {repo_id!r}: offline mode is on (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set), so the hub "
            "is not contacted. Unset it once connected and push again; save_pretrained(folder) keeps a local copy.")


def push_to_hub(
    save: Callable[[Path], Any],
    repo_id: str,
    *,
    commit_message: str,
    commit_description: str | None = None,
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    card: Callable[[str], str] | None = None,
    replace_card: bool = False,
) -> Any:
    """Create `repo_id` if needed, let `save(folder)` write the files, add the card, upload them as one commit.

    `card(repo_id)` gives the README.md text (the repo id with its namespace); with `replace_card=False` it is
    added only when the repo has no README.md yet (a card someone wrote on the hub is kept). Returns
    huggingface_hub's `CommitInfo` (`.commit_url`, `.oid`, `.repo_url`)."""
    check_push(repo_id)
    token = hub_token(token)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=_endpoint(), token=token)
    try:
        full_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory(prefix="wb-push-") as tmp:
            folder = Path(tmp)
            save(folder)
            if card is not None and (replace_card or not api.file_exists(full_id, CARD_NAME, revision=revision)):
                (folder / CARD_NAME).write_text(card(full_id), encoding="utf-8")
            return api.upload_folder(repo_id=full_id, folder_path=folder, commit_message=commit_message,
                                     commit_description=commit_description, revision=revision, create_pr=create_pr)
    except ShareError:
        raise
    except Exception as err:
        raise _share_error(err, repo_id) from err


def _share_error(err: BaseException, repo_id: str) -> BaseException:
    """The hub's failure in words a user can act on (other errors pass through unchanged)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import HfHubHTTPError

    endpoint = _endpoint() or constants.ENDPOINT
    if _is_network_error(err):
        return ShareError(f"Cannot reach the hub at {endpoint} to push {repo_id!r} ({type(err).__name__}: {err}). Check "
                          "the network connection (HF_ENDPOINT, proxy settings) and push again; nothing was committed.")
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        status = err.response.status_code
        if status in (401, 403):
            return ShareError(f"The hub refused the token (HTTP {status}) for {repo_id!r}: it is invalid or cannot "
                              "write there. Create a token with write access at https://huggingface.co/settings/tokens, "
                              "log in with `hf auth login` (or pass token=...), and check the namespace is yours.")
        message = err.response.headers.get("X-Error-Message") or str(err).splitlines()[0]
        return ShareError(f"The hub refused the push to {repo_id!r} (HTTP {status}): {message}")
    return err


# -- model cards ------------------------------------------------------------------------------------
def model_card(metadata: dict[str, Any], body: str) -> str:
    """README.md text: the metadata block (huggingface_hub's `ModelCardData`, `None` values left out), then `body`.
    `metadata["eval_results"]` may hold `(task_type, dataset_type, dataset_name, metric_type, value)` tuples."""
    from huggingface_hub import EvalResult, ModelCardData

    data = {k: v for k, v in metadata.items() if v not in (None, [], "")}
    results = data.pop("eval_results", None)
    if results:
        data["eval_results"] = [EvalResult(task_type=t, dataset_type=dt, dataset_name=dn, metric_type=m, metric_value=v)
                                for t, dt, dn, m, v in results]
        data.setdefault("model_name", "model")
    yaml = ModelCardData(**data).to_yaml()
    return f"---\n{yaml}\n---\n\n{body.strip()}\n"


def hub_id_or_none(name: Any) -> str | None:
    """`name` when it reads as a hub id ('org/name'), None for folders, objects and empty names."""
    if not isinstance(name, str) or not name.strip() or os.path.exists(name) or name.startswith((".", "/", "~")):
        return None
    return name if "/" in name and _repo_id_problem(name) is None else None


LIBRARY = "transformers"  # the library the card's snippet loads with (text in a card, never imported here)


def object_card(repo_id: str, what: str, loader: str, variable: str, *, metadata: dict[str, Any] | None = None) -> str:
    """The small card of a pushed model or tokenizer: what it is and how to load it (`loader` is the class whose
    `from_pretrained` reads it, `variable` the snippet's name for the result)."""
    lines = [f"from {LIBRARY} import {loader}", f"{variable} = {loader}.from_pretrained({repo_id!r})"]
    body = [f"# {repo_id.split('/')[-1]}", "", f"{what}, saved by transformers-workbench in the Hugging Face hub layout "
            f"(safetensors weights, JSON configs), so it loads in `{LIBRARY}` as in workbench:", "", "```python",
            *lines, "```"]
    meta = {"library_name": LIBRARY, "tags": ["workbench"], **(metadata or {})}
    return model_card(meta, "\n".join(body))
