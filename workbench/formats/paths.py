"""Files a checkpoint names must stay inside its folder.

A shard index, a tokenizer config or a format's own metadata can name other files. A hostile
checkpoint could name `../../etc/passwd` or an absolute path; every such name goes through
`inside()` before anything is opened.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import WeightsError


class OutsideCheckpointError(WeightsError):
    """A checkpoint names a file that lies outside its folder."""


def inside(folder: str | os.PathLike, name: str, *, what: str) -> Path:
    """`folder / name`, refused (before it is opened) when it resolves outside `folder`.

    `what` says which entry named the file (e.g. "the shard index model.safetensors.index.json").
    Symbolic links are followed, as opening the file would: a link leading out is refused too.
    """
    root = Path(folder).resolve()
    if not isinstance(name, str) or not name or "\x00" in name:
        raise OutsideCheckpointError(f"{what} in {root} names an invalid file {name!r}; the checkpoint is damaged.")
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise OutsideCheckpointError(
            f"{what} in {root} names {name!r}, which resolves to {target}, outside the checkpoint folder. "
            "It was not opened: a checkpoint may only use files inside its own folder. "
            "Get the checkpoint from a trusted source, or fix that entry."
        )
    return target
