"""Hub-format weight files: `model.safetensors` (single or sharded with an index), and pickle only on request.

Safetensors only by default: a pickle checkpoint (`pytorch_model.bin`) can run code when
unpickled, so it is refused unless the caller opts in, and then read with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import WeightsError
from ..files import checkpoint_file, inside

SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
PICKLE_WEIGHTS = "pytorch_model.bin"
PICKLE_INDEX = "pytorch_model.bin.index.json"

if TYPE_CHECKING:  # torch is imported by the readers themselves: naming a format stays cheap
    import torch


def has_weights(folder: Path) -> bool:
    return any((folder / n).is_file() for n in (SAFE_WEIGHTS, SAFE_INDEX, PICKLE_WEIGHTS, PICKLE_INDEX))


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises SafetensorError / OSError on damage
        raise WeightsError(
            f"{path} could not be read as safetensors ({err}). The file is truncated or corrupted: "
            "delete it and download it again, or re-save the model with save_pretrained()."
        ) from err


def _read_pickle(path: Path) -> dict[str, torch.Tensor]:
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"{path} could not be read with torch.load(weights_only=True): {err}") from err
    if not isinstance(state, dict):
        raise WeightsError(f"{path} does not hold a state dict (found {type(state).__name__}).")
    return state


def _read_index(folder: Path, index_name: str, reader: Callable[[Path], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    index_path = inside(folder, index_name)
    try:
        weight_map: dict[str, str] = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise WeightsError(f"{index_path} is not a valid shard index (needs a 'weight_map' of key -> file): {err}") from err
    # Every shard is checked to lie inside the folder before any is opened.
    paths = [inside(folder, shard, what=f"the shard index {index_path.name}") for shard in shards]
    state: dict[str, torch.Tensor] = {}
    for shard, shard_path in zip(shards, paths):
        if not shard_path.is_file():
            raise WeightsError(
                f"{index_path} lists the shard {shard}, which is missing from {folder}; download the whole checkpoint again."
            )
        state.update(reader(shard_path))
    return state


def read_state_dict(folder: str | os.PathLike, *, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint folder (single file or sharded), on the CPU."""
    folder = Path(folder)
    single = checkpoint_file(folder, SAFE_WEIGHTS)
    if single:
        return _read_safetensors(single)
    if checkpoint_file(folder, SAFE_INDEX):
        return _read_index(folder, SAFE_INDEX, _read_safetensors)
    pickled = [n for n in (PICKLE_WEIGHTS, PICKLE_INDEX) if checkpoint_file(folder, n)]
    if pickled:
        if not allow_pickle:
            raise WeightsError(
                f"{folder} has only pickle weights ({pickled[0]}); they are refused by default because unpickling "
                "an untrusted file can run arbitrary code. If you trust its source, pass allow_pickle=True "
                "(read with torch.load(weights_only=True)), then save_pretrained() it to get model.safetensors."
            )
        if pickled[0] == PICKLE_WEIGHTS:
            return _read_pickle(folder / PICKLE_WEIGHTS)
        return _read_index(folder, PICKLE_INDEX, _read_pickle)
    raise WeightsError(
        f"{folder} has no weights: looked for {SAFE_WEIGHTS}, {SAFE_INDEX}, {PICKLE_WEIGHTS}. "
        "Download the checkpoint's weight files too, or save a model there with save_pretrained()."
    )


def _parse_size(size: int | str) -> int:
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)B?\s*", size.upper())
    if not match:
        raise ValueError(f"max_shard_size {size!r} is not a size like '5GB' or '500MB'")
    return int(float(match.group(1)) * {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}[match.group(2)])


def save_state_dict(state: dict[str, torch.Tensor], folder: str | os.PathLike, *, max_shard_size: int | str = "5GB") -> list[Path]:
    """Write safetensors (sharded with an index when over `max_shard_size`)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    limit = _parse_size(max_shard_size)
    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key in sorted(state):
        nbytes = state[key].numel() * state[key].element_size()
        if shards[-1] and size + nbytes > limit:
            shards.append({})
            size = 0
        shards[-1][key] = state[key]
        size += nbytes
    for stale in (SAFE_WEIGHTS, SAFE_INDEX):
        (folder / stale).unlink(missing_ok=True)
    if len(shards) == 1:
        save_file(shards[0], str(folder / SAFE_WEIGHTS), metadata={"format": "pt"})
        return [folder / SAFE_WEIGHTS]
    paths, weight_map = [], {}
    for i, shard in enumerate(shards, start=1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(folder / name), metadata={"format": "pt"})
        paths.append(folder / name)
        weight_map.update({k: name for k in shard})
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / SAFE_INDEX).write_text(json.dumps(index, indent=2, sort_keys=True), encoding="utf-8")
    return [*paths, folder / SAFE_INDEX]
