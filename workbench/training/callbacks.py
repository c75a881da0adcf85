"""Callbacks: objects with `on_*` methods the Trainer calls with the one `TrainerState`.

Events, in order: on_fit_start, (on_step_end, on_log, on_eval_end, on_save)*, on_fit_end.
A callback stops a run by setting `state.should_stop = True`, and asks for an evaluation at the
next step boundary with `state.should_evaluate = True` (the trainer runs it and fires on_eval_end).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from .state import TrainerState


class Trainer(Protocol):
    """What callbacks may use of the trainer that calls them (the real one is `workbench.training.Trainer`;
    naming it through a protocol keeps this module below trainer.py, with no import cycle)."""

    args: Any
    model: Any
    state: TrainerState

    @property
    def is_main_process(self) -> bool: ...


class TrainerCallback:
    """Override the events you need; each gets the state and the trainer."""

    def on_fit_start(self, state: TrainerState, trainer: "Trainer") -> None: ...

    def on_step_end(self, state: TrainerState, trainer: "Trainer") -> None: ...

    def on_log(self, state: TrainerState, trainer: "Trainer", logs: dict[str, float]) -> None: ...

    def on_eval_end(self, state: TrainerState, trainer: "Trainer", metrics: dict[str, float]) -> None: ...

    def on_save(self, state: TrainerState, trainer: "Trainer", checkpoint: Path) -> None: ...

    def on_fit_end(self, state: TrainerState, trainer: "Trainer") -> None: ...


class CallbackList:
    def __init__(self, callbacks: list[TrainerCallback]) -> None:
        self.callbacks = list(callbacks)

    def fire(self, event: str, state: TrainerState, trainer: "Trainer", *payload: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(state, trainer, *payload)


class ProgressCallback(TrainerCallback):
    """A tqdm.auto bar over optimizer steps (on rank 0), with the last loss in its postfix."""

    def __init__(self) -> None:
        self.bar = None

    def on_fit_start(self, state: TrainerState, trainer: "Trainer") -> None:
        from tqdm.auto import tqdm

        if trainer.is_main_process:
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="training", unit="step")

    def on_step_end(self, state: TrainerState, trainer: "Trainer") -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, state: TrainerState, trainer: "Trainer", logs: dict[str, float]) -> None:
        if self.bar is not None and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_fit_end(self, state: TrainerState, trainer: "Trainer") -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
