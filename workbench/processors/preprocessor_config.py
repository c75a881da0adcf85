"""`preprocessor_config.json` for the feature extractors written here: typed settings in, the file out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError

PREPROCESSOR_CONFIG = "preprocessor_config.json"


def settings(data: dict[str, Any], types: dict[str, Callable[[Any], Any]], what: str) -> dict[str, Any]:
    """The keys of `types` that `data` sets (not None), each cast to its type; unknown keys are ignored."""
    try:
        return {k: cast(data[k]) for k, cast in types.items() if data.get(k) is not None}
    except (TypeError, ValueError) as err:
        raise InputError(f"{PREPROCESSOR_CONFIG} has an invalid {what} setting: {err}") from err


def write(folder: str | os.PathLike, data: dict[str, Any]) -> Path:
    path = Path(folder) / PREPROCESSOR_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
