"""Files inside a checkpoint folder: confined to the folder, and JSON read with errors that name the file.

A shard index, a tokenizer config or a format's own metadata can name other files. A hostile
checkpoint could name `../../etc/passwd` or an absolute path; every such name goes through
`inside()` before anything is opened. Every JSON file of a checkpoint (config.json,
tokenizer_config.json, preprocessor_config.json, generation_config.json, ...) is read by
`read_json_object()`, so a damaged or hostile one gives the same clear error everywhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import CheckpointNotFoundError, WeightsError


class OutsideCheckpointError(WeightsError):
    """A checkpoint names a file that lies outside its folder."""


def _allowed_roots(folder: Path) -> list[Path]:
    """The folder itself; for a hub cache snapshot (`<repo>/snapshots/<rev>/`) also the repo's `blobs/`,
    where huggingface_hub keeps the files its snapshot links point to."""
    roots = [folder.resolve()]
    if folder.parent.name == "snapshots":
        roots.append((folder.parent.parent / "blobs").resolve())
    return roots


def inside(folder: str | os.PathLike, name: str, *, what: str | None = None) -> Path:
    """`folder / name`, refused (before it is opened) when it resolves outside `folder`.

    `what` says which entry named the file (e.g. "the shard index model.safetensors.index.json");
    None for the files a checkpoint has by convention (config.json, tokenizer.json, ...).
    Symbolic links are followed, as opening the file would: a link leading out is refused too.
    """
    folder = Path(folder)
    root = folder.resolve()
    if not isinstance(name, str) or not name or "\x00" in name:
        raise OutsideCheckpointError(f"{what or 'an entry'} in {root} names an invalid file {name!r}; the checkpoint is damaged.")
    path = folder / name
    target = path.resolve()
    if not any(target == r or r in target.parents for r in _allowed_roots(folder)):
        named = f"{what} in {root} names {name!r}, which" if what else f"{path.name} in {root} is a link that"
        raise OutsideCheckpointError(
            f"{named} resolves to {target}, outside the checkpoint folder. It was not opened: a checkpoint may "
            "only use files inside its own folder. Get the checkpoint from a trusted source, or fix that entry."
        )
    return path


def checkpoint_file(folder: str | os.PathLike, name: str) -> Path | None:
    """A conventional file of a checkpoint (`config.json`, `tokenizer.json`, ...), checked by `inside()`;
    None when the folder has no such file."""
    path = inside(folder, name)
    return path if path.is_file() else None


def read_json_object(path: str | os.PathLike, *, fix: str = "re-download or re-save the checkpoint") -> dict[str, Any]:
    """A JSON file that must hold an object, as a dict; a damaged file raises an error naming it and `fix`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointNotFoundError(f"{path} is not valid JSON ({err}); {fix}.") from err
    if not isinstance(data, dict):
        raise CheckpointNotFoundError(f"{path} must hold a JSON object, found {type(data).__name__}; {fix}.")
    return data
