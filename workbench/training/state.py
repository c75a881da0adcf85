"""`TrainerState`: the one record of a run that callbacks and the UI read (and Stop / Evaluate now write)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_NAME = "trainer_state.json"
# the field annotations (strings, under `from __future__ import annotations`) -> the JSON values they take
_TYPES: dict[str, type | tuple[type, ...]] = {
    "int": int, "float": (int, float), "bool": bool, "list[dict[str, Any]]": list,
    "float | None": (int, float, type(None)), "str | None": (str, type(None)),
}


@dataclass
class TrainerState:
    global_step: int = 0  # optimizer steps done
    max_steps: int = 0
    epoch: float = 0.0  # fractional: 1.5 = half way through the second epoch
    num_train_epochs: int = 0
    # data position: the next micro-batch is number `step_in_epoch` of epoch `epoch_index`
    epoch_index: int = 0
    step_in_epoch: int = 0
    train_batch_size: int = 0  # global: per device x devices x accumulation
    examples_seen: int = 0
    log_history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_model_checkpoint: str | None = None
    should_stop: bool = False  # set it (e.g. from a Stop button) to stop at the next step boundary
    should_evaluate: bool = False  # set it (e.g. "Evaluate now") to evaluate at the next step boundary; cleared then
    is_training: bool = False
    stop_reason: str | None = None  # "finished", "stopped", or an error message
    train_runtime: float = 0.0  # seconds of training so far, over all resumed segments

    def save_to_json(self, path: str | os.PathLike) -> None:
        data = dataclasses.asdict(self)
        Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load_from_json(cls, path: str | os.PathLike) -> "TrainerState":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainerState":
        """Known fields, each checked for its type (a ValueError names the first wrong one); unknown keys are
        dropped, so a state written by a newer version still loads."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name, value in data.items():
            if name in fields and not isinstance(value, _TYPES.get(fields[name].type, object)):
                raise ValueError(f"field {name!r} is {value!r}, not {fields[name].type}")
        return cls(**{k: v for k, v in data.items() if k in fields})

    def losses(self) -> list[tuple[int, float]]:
        """(step, training loss) pairs from the log history."""
        return [(e["step"], e["loss"]) for e in self.log_history if "loss" in e]

    def to_dicts(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
