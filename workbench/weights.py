"""Checkpoint tensors -> a model: key fixes, shape checks, initialisation of what is missing, a load report.

Reading files is the formats' job (`workbench.formats`); this module only matches a state dict
in hub keys to a model's parameters. The model is any module that carries the loading facts
its family declares (`LoadableModel`).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

from .errors import WeightsError, user_stacklevel


class LoadableModel(Protocol):
    """What loading needs from a model (the family's checkpoint facts); `PreTrainedModel` has it all."""

    base_model_prefix: str
    ignore_on_load: tuple[str, ...]
    key_renames: tuple[tuple[str, str], ...]
    key_aliases: dict[str, str]

    def state_dict(self) -> dict[str, torch.Tensor]: ...
    def named_modules(self): ...
    def tied_pairs(self) -> dict[str, str]: ...
    def tied_targets(self) -> list[str]: ...
    def untie(self, target: str) -> None: ...
    def tie_weights(self) -> None: ...
    def _init_weights(self, module: nn.Module) -> None: ...


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


# -- matching a checkpoint to a model ------------------------------------------------------
def _fix_keys(model: LoadableModel, state: dict[str, torch.Tensor], model_keys: set[str]) -> dict[str, torch.Tensor]:
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
    model: LoadableModel,
    state: dict[str, torch.Tensor],
    *,
    strict: bool = False,
    ignore_mismatched_sizes: bool = False,
) -> LoadReport:
    """Copy checkpoint tensors into `model`; initialise what the checkpoint lacks."""
    model_state = model.state_dict()
    model_keys = set(model_state)
    state = _fix_keys(model, state, model_keys)
    # A tied pair the file holds twice with different values was saved untied: keep both (as the reference does).
    for target, source in model.tied_pairs().items():
        if target in state and source in state and not torch.equal(state[target], state[source]):
            model.untie(target)
    tied = set(model.tied_targets())
    # Legacy aliases: keep a key under its current name when only the old one is present.
    for old, new in model.key_aliases.items():
        if old in state and new not in state and new in model_keys:
            state[new] = state.pop(old)
        elif old in state and old not in model_keys:
            state.pop(old)

    # A float parameter cannot take integer or boolean values: a cast would hide a broken or hostile file.
    bad = [(k, state[k].dtype) for k in sorted(model_keys & set(state))
           if model_state[k].is_floating_point() and not (state[k].is_floating_point() or state[k].is_complex())]
    if bad:
        lines = "\n".join(f"  {k}: {str(d).replace('torch.', '')}" for k, d in bad[:10])
        raise WeightsError(
            f"checkpoint tensors that must be floating-point weights of {type(model).__name__} hold other types:\n"
            f"{lines}\nThe file is damaged or not a weight file of this model; re-download or re-save it."
        )
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
        owners = {k.rpartition(".")[0] for k in fresh}  # "" (the model itself) owns its root-level buffers
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
            stacklevel=user_stacklevel(),
        )
    if report.unexpected:
        warnings.warn(
            f"Some checkpoint weights were not used by {type(model).__name__}: {', '.join(report.unexpected)}. "
            "That is expected when the checkpoint was saved with another task head.",
            stacklevel=user_stacklevel(),
        )
    return report
