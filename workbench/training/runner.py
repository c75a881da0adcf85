"""Where a run trains: a thread of this process, or a worker process. One interface for a UI.

`make_runner(trainer, kind="auto")` gives a `ThreadRunner` or a `ProcessRunner`. Both: `run(resume)` blocks
until the run ends (a UI calls it from its own thread), `stop()` and `evaluate_now()` are requests applied at
the next step boundary; a process runner's `latest_probe` holds the probe texts' predictions at the last
evaluation (made in the worker, which has the live weights). The
trainer's callbacks fire in this process either way, with `trainer.state` current and `trainer.model` holding
the trained weights when `run` returns, so a UI reads the same objects whichever runner trained.

Why a process: on CPU, once this process's main thread has used torch's OpenMP pool (a notebook kernel has),
training in a second thread runs a second pool against the first and loses about a third of its speed; a
worker process has one pool and trains as fast as a script. It is forked from a forkserver that imported
torch and workbench once (the first run pays that, later runs start in well under a second) and never ran
a parallel region. What crosses is files and plain data (see `workbench.training.worker`); a worker that
dies (killed, out of memory) is reported with the last checkpoint to resume from. On GPU the thread runner
is kept: the GPU does the work, and a thread shares the model without copies.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue
import shutil
import signal
import tempfile
import weakref
from pathlib import Path
from typing import Any, Sequence

from ..errors import InputError, WorkbenchError
from .checkpoint import checkpoints_in
from .data import DataCollatorWithPadding, default_collate
from .state import TrainerState

KINDS = ("auto", "thread", "process")


class WorkerDiedError(WorkbenchError, RuntimeError):
    """The training process ended without finishing its run (killed, out of memory, crashed)."""


class WorkerError(WorkbenchError, RuntimeError):
    """An error raised inside the training process, with its type name and message."""


def _path_of(obj: Any) -> str | None:
    """`module:qualname` when `obj` is a class or function defined inside workbench (what a worker may import)."""
    module, name = getattr(obj, "__module__", ""), getattr(obj, "__qualname__", "")
    if (module == "workbench" or module.startswith("workbench.")) and name and "<" not in name:
        return f"{module}:{name}"
    return None


def process_problem(trainer: Any) -> str | None:
    """Why `trainer` cannot train in a worker process (None: it can)."""
    if trainer.device.type != "cpu":
        return f"it trains on {trainer.device.type} (the worker process is for CPU training)"
    if trainer.world_size > 1:
        return "it runs under torchrun (one process per device already)"
    if _path_of(type(trainer.model)) is None or not hasattr(trainer.model, "save_pretrained"):
        return f"its model ({type(trainer.model).__name__}) is not a workbench model the worker can rebuild from files"
    tok = trainer.processing_class
    if tok is not None and (_path_of(type(tok)) is None or not hasattr(tok, "save_pretrained")):
        return f"its processing_class ({type(tok).__name__}) is not a workbench tokenizer"
    collator = trainer.data_collator
    if not (collator is default_collate or (isinstance(collator, DataCollatorWithPadding) and collator.tokenizer is tok)):
        return "it has a custom data_collator (only the default collators are rebuilt in the worker)"
    if trainer.compute_metrics is not None and _path_of(trainer.compute_metrics) is None:
        return "its compute_metrics is not a workbench function (e.g. classification_metrics)"
    for dataset in (trainer.train_dataset, trainer.eval_dataset):
        if dataset is not None and not hasattr(dataset, "save_to_disk"):
            return "its datasets are not datasets.Dataset objects (they travel as Arrow files)"
    return None


def make_runner(trainer: Any, kind: str = "auto", *, probe_texts: Sequence[str] = (), max_length: int | None = 128
                ) -> "ThreadRunner | ProcessRunner":
    """`kind`: "process" (CPU: a worker process), "thread", or "auto" (a process where it can run, else a thread)."""
    if kind not in KINDS:
        raise InputError(f"runner={kind!r} is not one of {KINDS}.")
    problem = process_problem(trainer) if kind != "thread" else None
    if kind == "process" and problem is not None:
        raise InputError(f"this run cannot train in a worker process: {problem}; use runner='thread'.")
    cls = ThreadRunner if kind == "thread" or problem is not None else ProcessRunner
    return cls(trainer, probe_texts=probe_texts, max_length=max_length)


class ThreadRunner:
    """Trains `trainer` in the calling thread; `stop` / `evaluate_now` set the flags on its state."""

    kind = "thread"

    def __init__(self, trainer: Any, *, probe_texts: Sequence[str] = (), max_length: int | None = 128) -> None:
        self.trainer = trainer
        self.latest_probe: list[tuple[str, float]] | None = None  # a thread's UI predicts with the live model itself
        self.pid: int | None = None

    def run(self, resume: bool | str | None = None, threads: int | None = None) -> Any:
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        return self.trainer.train(resume_from_checkpoint=resume)

    def stop(self) -> None:
        self.trainer.state.should_stop = True

    def evaluate_now(self) -> None:
        self.trainer.state.should_evaluate = True

    def close(self) -> None:
        pass


def _context(modules: Sequence[str] = ()) -> Any:
    """The forkserver context. Its server (started by the first run) imports torch and workbench once, with the
    modules of the first run's model and tokenizer (`modules`), so that every worker starts with them loaded."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["workbench.training.worker", *modules])  # no effect once the server runs
    return ctx


class ProcessRunner:
    """Trains `trainer`'s run in a worker process; events come back and fire the trainer's callbacks here."""

    kind = "process"

    def __init__(self, trainer: Any, *, probe_texts: Sequence[str] = (), max_length: int | None = 128) -> None:
        self.trainer = trainer
        self.probe_texts, self.max_length = list(probe_texts), max_length
        self.latest_probe: list[tuple[str, float]] | None = None
        self.pid: int | None = None
        self._ctx = _context([path.partition(":")[0] for path in (_path_of(type(trainer.model)),
                                                                  _path_of(type(trainer.processing_class))) if path])
        self._stop = self._ctx.Event()
        self._evaluate = self._ctx.Event()
        self._process: Any = None
        self._folder = Path(tempfile.mkdtemp(prefix="wb-worker-"))
        self._datasets: dict[str, str | None] | None = None
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self._folder), True)

    # -- requests --------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def evaluate_now(self) -> None:
        self._evaluate.set()

    def kill(self) -> None:
        """End the worker at once (SIGKILL): what a crash looks like; the last checkpoint stays."""
        if self._process is not None and self._process.is_alive():
            os.kill(self._process.pid, signal.SIGKILL)

    def close(self) -> None:
        self.kill()
        self._finalizer()

    # -- a run -------------------------------------------------------------------------------------
    def _spec(self, resume: bool | str | None, threads: int) -> dict[str, Any]:
        """What the worker needs, as files under this runner's folder and plain values."""
        trainer = self.trainer
        model_dir = self._folder / "model"
        trainer.model.save_pretrained(model_dir)  # every run: the worker starts from the weights as they are now
        tok = trainer.processing_class
        if tok is not None and not (model_dir / "tokenizer.json").exists():
            tok.save_pretrained(model_dir)
        if self._datasets is None:
            self._datasets = {}
            for name, dataset in (("train", trainer.train_dataset), ("eval", trainer.eval_dataset)):
                path = None
                if dataset is not None:
                    path = str(self._folder / name)
                    dataset.save_to_disk(path)
                self._datasets[name] = path
        final = self._folder / "final"
        shutil.rmtree(final, ignore_errors=True)
        return {
            "folder": str(model_dir), "model_class": _path_of(type(trainer.model)),
            "tokenizer_class": _path_of(type(tok)) if tok is not None else None,
            "metrics": _path_of(trainer.compute_metrics) if trainer.compute_metrics is not None else None,
            "train": self._datasets["train"], "eval": self._datasets["eval"],
            "args": {**dataclasses.asdict(trainer.args), "disable_tqdm": True},  # bars are drawn here, from events
            "resume": str(resume) if isinstance(resume, os.PathLike) else resume,
            "threads": threads, "parent_pid": os.getpid(), "weights_out": str(final),
            "probe": {"texts": self.probe_texts, "max_length": self.max_length} if self.probe_texts else None,
        }

    def run(self, resume: bool | str | None = None, threads: int | None = None) -> TrainerState:
        """Train in a worker process until the run ends; the trained weights are loaded into `trainer.model`."""
        import torch

        from .worker import main

        if self._process is not None and self._process.is_alive():
            raise InputError("this runner's worker is still training; stop it first.")
        self._stop.clear()
        self._evaluate.clear()
        spec = self._spec(resume, threads or torch.get_num_threads())
        events = self._ctx.Queue()
        self._process = self._ctx.Process(target=main, args=(spec, events, self._stop, self._evaluate),
                                          name="workbench-training", daemon=True)
        self._process.start()
        self.pid = self._process.pid
        trainer, state = self.trainer, self.trainer.state
        state.is_training = True
        error: tuple[str, str, str] | None = None
        weights: str | None = None
        done = False
        try:
            while not done:
                try:
                    message = events.get(timeout=0.2)
                except queue.Empty:
                    if not self._process.is_alive():
                        try:  # what it sent just before it ended
                            message = events.get(timeout=0.5)
                        except queue.Empty:
                            break
                    else:
                        continue
                kind, payload = message[0], message[1:]
                if kind == "done":
                    weights, done = payload[0], True
                elif kind == "error":
                    error = error or payload
                else:
                    try:
                        self._apply(kind, payload)
                    except BaseException:  # a callback here failed: the run stops, as it would in-process
                        self._stop.set()
                        self._drain(events)
                        raise
        finally:
            self._process.join(timeout=30)
            state.is_training = False
        if weights is not None:
            trainer._load_weights(Path(weights))
        if error is not None:
            raise _rebuild(*error)
        if not done:
            raise self._died()
        return state

    def _drain(self, events: Any, timeout: float = 30.0) -> None:
        """Wait for the stopped worker's last message (it saves a checkpoint), or end it after `timeout` s."""
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end and (self._process.is_alive() or not events.empty()):
            try:
                if events.get(timeout=0.2)[0] == "done":
                    return
            except queue.Empty:
                pass
        self.kill()

    def _apply(self, kind: str, payload: tuple) -> None:
        """One event: mirror the worker's state here, then fire the trainer's callbacks as the trainer would."""
        trainer, state = self.trainer, self.trainer.state
        fields = payload[0]
        if kind == "fit_start":
            state.log_history = list(fields["log_history"])
        for name, value in fields.items():
            if name != "log_history":
                setattr(state, name, value)
        state.is_training = True
        callbacks = trainer.callbacks
        if kind == "fit_start":
            callbacks.fire("on_fit_start", state, trainer)
        elif kind == "step":
            callbacks.fire("on_step_end", state, trainer)
        elif kind == "log":
            state.log_history.append(payload[1])
            callbacks.fire("on_log", state, trainer, payload[1])
        elif kind == "eval":
            state.log_history.append(payload[1])
            if payload[2] is not None:
                self.latest_probe = [tuple(p) for p in payload[2]]
            callbacks.fire("on_eval_end", state, trainer, payload[1])
        elif kind == "save":
            callbacks.fire("on_save", state, trainer, Path(payload[1]))
        elif kind == "fit_end":
            state.is_training = False
            callbacks.fire("on_fit_end", state, trainer)

    def _died(self) -> WorkerDiedError:
        code = self._process.exitcode
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
            if code == -signal.SIGKILL:
                how += " (out of memory, or killed from outside)"
        else:
            how = f"exit code {code}"
        found = checkpoints_in(self.trainer.args.output_dir)
        last = (f"The last checkpoint is {found[-1]}: Resume continues from it." if found
                else "No checkpoint was saved yet: start the run again.")
        self.trainer.state.stop_reason = f"the training process died ({how})"
        return WorkerDiedError(f"The training process ended unexpectedly at step {self.trainer.state.global_step} "
                               f"({how}). {last}")


def _rebuild(kind: str, message: str, trace: str) -> BaseException:
    """The worker's error raised here: workbench's own error classes keep their type; others say theirs."""
    from ..errors import CheckpointNotFoundError, ConfigError, WeightsError
    from .checkpoint import CheckpointError
    from .data import LabelMismatchError
    from .trainer import TrainingDivergedError

    known = {cls.__name__: cls for cls in (InputError, ConfigError, WeightsError, CheckpointNotFoundError,
                                           CheckpointError, LabelMismatchError, TrainingDivergedError)}
    if kind in known:
        err = known[kind](message)
    else:
        err = WorkerError(f"{kind} in the training process: {message}")
    err.worker_traceback = trace
    return err
