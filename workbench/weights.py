"""Checkpoint weights: safetensors files -> key fixes -> the model, with a load report.

Safetensors only by default: a pickle checkpoint (`pytorch_model.bin`) can run code when
unpickled, so it is refused unless the caller opts in, and then read with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .errors import WeightsError

if TYPE_CHECKING:
    from .modeling import PreTrainedModel

SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
PICKLE_WEIGHTS = "pytorch_model.bin"
PICKLE_INDEX = "pytorch_model.bin.index.json"


@dataclass
class LoadReport:
    """What happened when a checkpoint met a model."""

    missing: list[str] = field(default_factory=list)  # in the model, not the file: newly initialised
    unexpected: list[str] = field(default_factory=list)  # in the file, not used by the model
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # key, file, model

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        if self.ok:
            return "all weights loaded"
        parts = []
        if self.missing:
            parts.append(f"newly initialised (not in the checkpoint): {', '.join(self.missing)}")
        if self.unexpected:
            parts.append(f"unused (in the checkpoint, not in the model): {', '.join(self.unexpected)}")
        if self.mismatched:
            parts.append(
                "re-initialised after a shape mismatch: "
                + ", ".join(f"{k} (checkpoint {list(a)}, model {list(b)})" for k, a, b in self.mismatched)
            )
        return "; ".join(parts)


# -- reading -------------------------------------------------------------------------------
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
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"{path} could not be read with torch.load(weights_only=True): {err}") from err
    if not isinstance(state, dict):
        raise WeightsError(f"{path} does not hold a state dict (found {type(state).__name__}).")
    return state


def _read_index(folder: Path, index_name: str, reader) -> dict[str, torch.Tensor]:
    index_path = folder / index_name
    try:
        weight_map: dict[str, str] = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise WeightsError(f"{index_path} is not a valid shard index (needs a 'weight_map'): {err}") from err
    state: dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = folder / shard
        if not shard_path.is_file():
            raise WeightsError(
                f"{index_path} lists the shard {shard}, which is missing from {folder}; download the whole checkpoint again."
            )
        state.update(reader(shard_path))
    return state


def read_state_dict(folder: str | os.PathLike, *, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint folder (single file or sharded), on the CPU."""
    folder = Path(folder)
    if (folder / SAFE_WEIGHTS).is_file():
        return _read_safetensors(folder / SAFE_WEIGHTS)
    if (folder / SAFE_INDEX).is_file():
        return _read_index(folder, SAFE_INDEX, _read_safetensors)
    pickled = [n for n in (PICKLE_WEIGHTS, PICKLE_INDEX) if (folder / n).is_file()]
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


# -- matching a checkpoint to a model ------------------------------------------------------
def _fix_keys(model: "PreTrainedModel", state: dict[str, torch.Tensor], model_keys: set[str]) -> dict[str, torch.Tensor]:
    ignore = [re.compile(p) for p in model.ignore_on_load]
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if any(p.search(key) for p in ignore):
            continue
        for pattern, repl in model.key_renames:
            key = re.sub(pattern, repl, key)
        renamed[key] = tensor
    # Base-model prefix: a bare encoder checkpoint into a model with a head, or the reverse.
    prefix = model.base_model_prefix
    if prefix:
        dotted = prefix + "."
        model_has = any(k.startswith(dotted) for k in model_keys)
        file_has = any(k.startswith(dotted) for k in renamed)
        if model_has and not file_has:
            renamed = {(dotted + k if dotted + k in model_keys else k): v for k, v in renamed.items()}
        elif file_has and not model_has:
            renamed = {(k[len(dotted):] if k.startswith(dotted) else k): v for k, v in renamed.items()}
    return renamed


def load_into_model(
    model: "PreTrainedModel",
    state: dict[str, torch.Tensor],
    *,
    strict: bool = False,
    ignore_mismatched_sizes: bool = False,
) -> LoadReport:
    """Copy checkpoint tensors into `model`; initialise what the checkpoint lacks."""
    model_state = model.state_dict()
    model_keys = set(model_state)
    state = _fix_keys(model, state, model_keys)
    tied = set(model.tied_targets())
    # Legacy aliases: keep a key under its current name when only the old one is present.
    for old, new in model.key_aliases.items():
        if old in state and new not in state and new in model_keys:
            state[new] = state.pop(old)
        elif old in state and old not in model_keys:
            state.pop(old)

    report = LoadReport()
    report.unexpected = sorted(k for k in state if k not in model_keys)
    for key in sorted(model_keys & set(state)):
        want, got = tuple(model_state[key].shape), tuple(state[key].shape)
        if want != got:
            report.mismatched.append((key, got, want))
    if report.mismatched and not ignore_mismatched_sizes:
        lines = "\n".join(f"  {k}: checkpoint {list(a)}, model {list(b)}" for k, a, b in report.mismatched)
        raise WeightsError(
            f"checkpoint tensors do not fit {type(model).__name__}:\n{lines}\n"
            "Check that the config matches the weights; to start those layers afresh "
            "(e.g. a classifier with a different number of labels) pass ignore_mismatched_sizes=True."
        )
    for key, _, _ in report.mismatched:
        state.pop(key)
    report.missing = sorted(k for k in model_keys if k not in state and k not in tied)
    if strict and (report.missing or report.unexpected):
        raise WeightsError(
            f"strict loading of {type(model).__name__} failed: "
            + "; ".join(
                f"{label}: {', '.join(keys)}"
                for label, keys in (("missing", report.missing), ("unexpected", report.unexpected))
                if keys
            )
            + ". Use the matching model class, or strict=False to initialise missing weights."
        )

    # Initialise every module that owns a parameter the checkpoint does not provide.
    fresh = set(report.missing) | {k for k, _, _ in report.mismatched}
    if fresh:
        owners = {k.rsplit(".", 1)[0] for k in fresh}
        for name, module in model.named_modules():
            if name in owners:
                model._init_weights(module)
    loadable = {k: v for k, v in state.items() if k in model_keys}
    with torch.no_grad():
        for key, tensor in loadable.items():
            model_state[key].copy_(tensor)
    model.tie_weights()

    if report.missing or report.mismatched:
        warnings.warn(
            f"Some weights of {type(model).__name__} were not in the checkpoint and are newly initialised: "
            f"{', '.join(report.missing + [k for k, _, _ in report.mismatched])}. "
            "Train the model on a downstream task before trusting its predictions.",
            stacklevel=3,
        )
    if report.unexpected:
        warnings.warn(
            f"Some checkpoint weights were not used by {type(model).__name__}: {', '.join(report.unexpected)}. "
            "That is expected when the checkpoint was saved with another task head.",
            stacklevel=3,
        )
    return report


# -- writing -------------------------------------------------------------------------------
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
