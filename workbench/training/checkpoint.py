"""Training checkpoints: the `output_dir/checkpoint-<step>/` layout, written and read back in one place.

A checkpoint holds the weights (safetensors), optimizer, scheduler and RNG states (`torch.save`,
read back with `torch.load(weights_only=True)`: tensors and plain containers only, so a replaced
file cannot run code), and the trainer state (JSON). `read_checkpoint` reads and checks every
file (present, readable, consistent with the others and with the model) before anything is
applied, so a bad checkpoint raises one `CheckpointError` that names the file and offers the
previous checkpoint, and leaves the model and every checkpoint as they were.
"""

from __future__ import annotations

import pickle
import random
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointNotFoundError, InputError, WeightsError, WorkbenchError
from ..files import OutsideCheckpointError, inside, read_json_object
from ..formats.safetensors import SAFE_INDEX, SAFE_WEIGHTS, read_state_dict
from .state import STATE_NAME, TrainerState

OPTIMIZER_NAME = "optimizer.pt"
SCHEDULER_NAME = "scheduler.pt"
RNG_NAME = "rng_state.pt"
SCALER_NAME = "scaler.pt"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


class CheckpointError(WorkbenchError):
    """A checkpoint with a missing, damaged, unsafe or inconsistent file; nothing was loaded."""


@dataclass
class Checkpoint:
    """Everything a resume applies, read and checked; nothing of it is applied yet."""

    folder: Path
    state: TrainerState
    weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]
    scaler: dict[str, Any] | None


def checkpoints_in(output_dir: str | Path) -> list[Path]:
    """Checkpoint folders, oldest step first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def is_checkpoint(folder: Path) -> bool:
    """Named checkpoint-<step>, or holding a file only a checkpoint has (damaged ones included)."""
    return bool(_CHECKPOINT_RE.match(folder.name)) or any(
        (folder / n).is_file() for n in (STATE_NAME, OPTIMIZER_NAME, SCHEDULER_NAME, RNG_NAME))


def previous_checkpoint(folder: Path) -> Path | None:
    """The latest checkpoint beside `folder` from an earlier step."""
    match = _CHECKPOINT_RE.match(folder.name)
    if match is None:
        return None
    earlier = [p for p in checkpoints_in(folder.parent) if int(_CHECKPOINT_RE.match(p.name).group(1)) < int(match.group(1))]
    return earlier[-1] if earlier else None


def damaged(folder: Path, name: str, problem: str) -> CheckpointError:
    """The one message for a bad checkpoint file: which file, what is wrong, where to resume instead."""
    previous = previous_checkpoint(folder)
    if previous is not None:
        offer = f"Resume from the previous checkpoint instead: trainer.train(resume_from_checkpoint={str(previous)!r})."
    else:
        offer = (f"There is no earlier checkpoint in {folder.parent}; train without resume_from_checkpoint, "
                 "or put back an intact copy of the file.")
    return CheckpointError(f"cannot resume from {folder}: {name} {problem}. Nothing was loaded. {offer}")


# -- writing -------------------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    rng = {"python": random.getstate(), "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
           "cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def write_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                     state: TrainerState, scaler: Any = None) -> None:
    """Write into `<folder>.tmp`, then rename: a killed process never leaves a half-written checkpoint-<step>."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / OPTIMIZER_NAME)
    torch.save(scheduler.state_dict(), tmp / SCHEDULER_NAME)
    if scaler is not None:
        torch.save(scaler.state_dict(), tmp / SCALER_NAME)
    torch.save(rng_state(), tmp / RNG_NAME)
    state.save_to_json(tmp / STATE_NAME)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


# -- reading -------------------------------------------------------------------------------------------
def read_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, *, scaler: bool = False,
                    device: torch.device | str = "cpu") -> Checkpoint:
    """Every file of `folder`, read and checked against each other, `model` and `optimizer`; applies nothing."""
    folder = Path(folder)
    state = _read_state(folder)
    weights = read_weights(folder, model)
    optim = _load_pt(folder, OPTIMIZER_NAME, device)
    _check_optimizer(folder, optim, optimizer)
    sched = _load_pt(folder, SCHEDULER_NAME)
    if not isinstance(sched, dict) or not isinstance(sched.get("last_epoch"), int):
        raise damaged(folder, SCHEDULER_NAME, "does not hold a learning-rate scheduler's state")
    if sched["last_epoch"] != state.global_step:  # the scheduler steps once per optimizer step
        raise damaged(folder, SCHEDULER_NAME, f"is at step {sched['last_epoch']}, but {STATE_NAME} is at step "
                                              f"{state.global_step}: the files come from different steps")
    rng = _load_pt(folder, RNG_NAME)
    _check_rng(folder, rng)
    scaler_state = _load_pt(folder, SCALER_NAME) if scaler and (folder / SCALER_NAME).is_file() else None
    return Checkpoint(folder, state, weights, optim, sched, rng, scaler_state)


def read_weights(folder: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, checked to be exactly the model's (a resume initialises nothing afresh)."""
    name = SAFE_INDEX if (folder / SAFE_INDEX).is_file() and not (folder / SAFE_WEIGHTS).is_file() else SAFE_WEIGHTS
    _file(folder, name)
    try:
        tensors = read_state_dict(folder)
    except WeightsError as err:
        raise damaged(folder, name, f"cannot be read ({err.__cause__ or err}); it is truncated or damaged") from err
    expected = model.state_dict()
    tied = set(getattr(model, "tied_targets", list)())
    missing = sorted(k for k in expected if k not in tensors and k not in tied)
    if missing:
        raise damaged(folder, name, f"lacks the tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    # copy_() would cast integers into float weights without a word: a file we wrote never holds any
    mistyped = [f"{k} ({str(tensors[k].dtype).removeprefix('torch.')})" for k, v in expected.items()
                if k in tensors and v.is_floating_point() and not tensors[k].is_floating_point()]
    if mistyped:
        raise damaged(folder, name, f"holds non-float tensors for floating-point weights: {', '.join(mistyped[:5])}")
    wrong = [f"{k}: checkpoint {list(tensors[k].shape)}, model {list(v.shape)}"
             for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    if wrong:  # not damage: another model than the one the run trained
        raise InputError(f"{folder / name} does not fit {type(model).__name__} ({'; '.join(wrong[:5])}); resume with "
                         "the model the run was trained with (the same config and num_labels).")
    return tensors


def _file(folder: Path, name: str) -> Path:
    """`folder / name`, present and inside the folder: a link leading out of it is refused unopened, as for
    every checkpoint file (a swapped-in link could make a resume read any file the user can read)."""
    path = folder / name
    if not path.is_file():
        raise damaged(folder, name, "is missing")
    try:
        inside(folder, name, what=f"the checkpoint file {name}")
    except OutsideCheckpointError as err:
        raise damaged(folder, name, f"leads outside the checkpoint folder (to {path.resolve()}); it was not opened") from err
    return path


def _read_state(folder: Path) -> TrainerState:
    try:
        data = read_json_object(_file(folder, STATE_NAME))
        if not isinstance(data.get("global_step"), int):
            raise ValueError(f"its global_step is {data.get('global_step')!r}, not a step number")
        state = TrainerState.from_dict(data)
    except CheckpointNotFoundError as err:  # read_json_object's: the JSON error is its cause
        raise damaged(folder, STATE_NAME, f"is damaged ({err.__cause__ or 'it does not hold a JSON object'})") from err
    except ValueError as err:
        raise damaged(folder, STATE_NAME, f"is damaged ({err})") from err
    match = _CHECKPOINT_RE.match(folder.name)
    if match and int(match.group(1)) != state.global_step:
        raise damaged(folder, STATE_NAME, f"is at step {state.global_step}, but the folder is {folder.name}")
    return state


def _load_pt(folder: Path, name: str, device: torch.device | str = "cpu") -> Any:
    path = _file(folder, name)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")  # our error says it all
            # weights_only=True: tensors and plain containers only; a pickled object is refused, never run
            return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        detail = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\. Please|\n\n|$)", str(err), re.S)
        raise damaged(folder, name, "was refused: it holds something other than tensors and plain containers "
                      f"({detail.group(1).strip() if detail else 'not a tensor file'}). Pickled objects can run code "
                      "when loaded, so none was: a file this Trainer wrote never holds any, this one is damaged or "
                      "was replaced") from err
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        raise damaged(folder, name, f"cannot be read ({str(err).splitlines()[0]}); it is truncated or damaged") from err


def _check_optimizer(folder: Path, saved: Any, optimizer: torch.optim.Optimizer) -> None:
    """What `load_state_dict` would find only later (groups, sizes) or never (tensor shapes, found at step 1)."""
    if not (isinstance(saved, dict) and isinstance(saved.get("state"), dict) and isinstance(saved.get("param_groups"), list)
            and all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in saved["param_groups"])):
        raise damaged(folder, OPTIMIZER_NAME, "does not hold an optimizer's state")
    sizes = [len(g["params"]) for g in saved["param_groups"]]
    if sizes != [len(g["params"]) for g in optimizer.param_groups]:
        raise damaged(folder, OPTIMIZER_NAME, f"holds parameter groups of sizes {sizes}, but this model's are "
                                              f"{[len(g['params']) for g in optimizer.param_groups]}")
    params = dict(zip((i for g in saved["param_groups"] for i in g["params"]),
                      (p for g in optimizer.param_groups for p in g["params"])))
    for index, values in saved["state"].items():
        param = params.get(index)
        bad = param is None or not isinstance(values, dict) or any(
            torch.is_tensor(v) and v.dim() > 0 and v.shape != param.shape for v in values.values())
        if bad:
            raise damaged(folder, OPTIMIZER_NAME, f"holds a state for parameter {index} that does not fit this model")


def _check_rng(folder: Path, rng: Any) -> None:
    """Set every saved state on a throwaway generator: a bad one fails here, before anything global changes."""
    try:
        random.Random().setstate(to_tuple(rng["python"]))
        kind, keys, pos, has_gauss, cached = rng["numpy"]
        np.random.RandomState().set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.Generator().set_state(rng["cpu"])
        cuda = rng.get("cuda", [])  # set only on a machine with as many GPUs, after everything else is applied
        if not (isinstance(cuda, (list, tuple)) and all(torch.is_tensor(t) and t.dtype == torch.uint8 for t in cuda)):
            raise TypeError("the 'cuda' states are not byte tensors")
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as err:
        raise damaged(folder, RNG_NAME, f"does not hold the random generators' states ({type(err).__name__}: {err})") from err


def restore_rng(rng: dict[str, Any]) -> None:
    random.setstate(to_tuple(rng["python"]))
    kind, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])


def to_tuple(value: Any) -> Any:
    """JSON-ish lists back to the nested tuples `random.setstate` wants."""
    return tuple(to_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value
