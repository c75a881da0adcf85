"""The worker process's side of `ProcessRunner`: rebuild the run from files, train, report back.

`main(spec, events, stop, evaluate)` runs in a fresh process (forked from a clean forkserver that has
imported this module and never run torch's OpenMP pool). Everything it builds comes from files the
parent wrote (config.json + safetensors, tokenizer JSON, Arrow datasets) and from import paths inside
`workbench` (the model class, the metrics function): nothing the user made is unpickled or imported.
Events go back as plain tuples: ("fit_start", state), ("step", state), ("log", state, entry),
("eval", state, metrics, probe), ("save", state, path), ("fit_end", state), ("error", kind, message,
traceback), then always ("done", weights folder or None).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import time
import traceback
from pathlib import Path
from typing import Any

# Imported here, at module level, so the forkserver that preloads this module holds them, ready to fork:
# a worker starts in a fraction of a second instead of importing torch, datasets and the families again.
import datasets  # noqa: F401  (load_from_disk)
import multiprocessing.synchronize  # noqa: F401  (the Stop / Evaluate events)
import safetensors.torch  # noqa: F401  (weights in and out)
import torch

from .. import auto  # noqa: F401  (the model families' registry)
from .. import tokenizer  # noqa: F401  (the fast tokenizer every text run loads)
from .arguments import TrainingArguments
from .callbacks import TrainerCallback
from .state import TrainerState
from .trainer import Trainer

with torch.device("meta"):  # models are built on the meta device, whose first use imports torch's compiler
    torch.nn.Embedding(2, 2)  # machinery (seconds): once here, in the forkserver, not in every worker

# Seconds between "step" events (log, eval and save events are never held back): the cockpit redraws 4 times a
# second, so more would only wake the notebook's process for nothing while the worker trains.
STEP_EVENT_INTERVAL = 0.25


def resolve(path: str) -> Any:
    """`module:qualname` of an object inside workbench (anything else is refused, never imported)."""
    module, _, name = path.partition(":")
    if not (module == "workbench" or module.startswith("workbench.")):
        raise ValueError(f"the worker imports only workbench's own classes and functions, not {path!r}")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def compact(state: TrainerState) -> dict[str, Any]:
    """The state without its log history (the history travels entry by entry; copying it into every event would
    make each one cost more as a long run goes on)."""
    return {f.name: getattr(state, f.name) for f in dataclasses.fields(state) if f.name != "log_history"}


class _Relay(TrainerCallback):
    """Sends every event to the parent; applies its Stop / Evaluate-now requests at step boundaries."""

    def __init__(self, events: Any, stop: Any, evaluate: Any, parent_pid: int, probe: dict[str, Any] | None,
                 tokenizer: Any) -> None:
        self.events, self.stop, self.evaluate, self.parent_pid = events, stop, evaluate, parent_pid
        self.probe, self.tokenizer = probe, tokenizer
        self.last_step_event = 0.0
        self.last_parent_check = time.monotonic()
        self.saved: tuple[int, str] | None = None  # (step, folder) of the last checkpoint written

    def _parent_gone(self) -> bool:
        now = time.monotonic()
        if now - self.last_parent_check < 1.0:
            return False
        self.last_parent_check = now
        try:
            os.kill(self.parent_pid, 0)
        except ProcessLookupError:
            return True  # the notebook kernel died: stop (saving a checkpoint) instead of training for no one
        except PermissionError:
            pass
        return False

    def on_fit_start(self, state, trainer) -> None:
        self.events.put(("fit_start", dataclasses.asdict(state)))

    def on_step_end(self, state, trainer) -> None:
        if self.stop.is_set() or self._parent_gone():
            state.should_stop = True
        if self.evaluate.is_set():
            self.evaluate.clear()
            state.should_evaluate = True
        now = time.monotonic()
        if now - self.last_step_event >= STEP_EVENT_INTERVAL or state.should_stop:
            self.last_step_event = now
            self.events.put(("step", compact(state)))

    def on_log(self, state, trainer, logs) -> None:
        self.events.put(("log", compact(state), dict(logs)))

    def on_eval_end(self, state, trainer, metrics) -> None:
        probe = None
        if self.probe and self.tokenizer is not None:
            from .prepare import predict_labels

            probe = predict_labels(trainer.model, self.tokenizer, self.probe["texts"], self.probe["max_length"])
        self.events.put(("eval", compact(state), dict(metrics), probe))

    def on_save(self, state, trainer, checkpoint) -> None:
        self.saved = (state.global_step, str(checkpoint))
        self.events.put(("save", compact(state), str(checkpoint)))

    def on_fit_end(self, state, trainer) -> None:
        self.events.put(("fit_end", compact(state)))


def _dataset(path: str | None) -> Any:
    if path is None:
        return None
    from datasets import load_from_disk

    return load_from_disk(path)


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep what training frees for the next step instead of returning it to the system.

    Its defaults serve a long-lived process that should give memory back: blocks of a few MB (a step's
    activations and gradients) are mapped fresh and unmapped again, and the heap's free top is trimmed, so every
    step faults its pages in anew (about 17,000 page faults a step fine-tuning MiniLM, in kernel time the
    training threads wait for). A worker lives for one run and its memory goes back when it exits. False where
    the C library is not glibc (nothing changed)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    # blocks up to 1 GB from the heap (an embedding matrix's gradient is tens of MB); where glibc refuses a
    # threshold past its heap size / 2, 32 MB
    if not any(mallopt(m_mmap_threshold, size) for size in (1 << 30, 32 << 20)):
        return False
    return bool(mallopt(m_trim_threshold, 1 << 30))


def main(spec: dict[str, Any], events: Any, stop: Any, evaluate: Any) -> None:
    """Train the run `spec` describes (see `ProcessRunner._spec`), sending events; weights back as safetensors."""
    torch.set_num_threads(spec["threads"])
    keep_freed_memory()
    weights = None
    trainer = relay = None
    try:
        folder = spec["folder"]
        model = resolve(spec["model_class"]).from_pretrained(folder)
        tokenizer = resolve(spec["tokenizer_class"]).from_pretrained(folder) if spec["tokenizer_class"] else None
        metrics = resolve(spec["metrics"]) if spec["metrics"] else None
        relay = _Relay(events, stop, evaluate, spec["parent_pid"], spec["probe"], tokenizer)
        args = TrainingArguments(**spec["args"])
        trainer = Trainer(model, args, _dataset(spec["train"]), _dataset(spec["eval"]), processing_class=tokenizer,
                          compute_metrics=metrics, callbacks=[relay])
        trainer.train(resume_from_checkpoint=spec["resume"])
    except BaseException as err:  # reported to the parent, which raises it there
        events.put(("error", type(err).__name__, str(err), traceback.format_exc()))
    finally:
        if trainer is not None:
            try:
                weights = _weights_folder(trainer, relay, Path(spec["weights_out"]))
            except Exception as err:  # the run's own outcome was already sent; say the weights did not come back
                events.put(("error", type(err).__name__, f"the trained weights could not be written: {err}", ""))
        events.put(("done", weights))
        events.close()
        events.join_thread()


def _weights_folder(trainer: Trainer, relay: _Relay | None, out: Path) -> str:
    """Where the parent reads the trained weights: the checkpoint just written at this very step when there is
    one (a run that finishes or stops saves one: no second copy of the weights to write), else `out`."""
    if relay is not None and relay.saved is not None and relay.saved[0] == trainer.state.global_step \
            and Path(relay.saved[1]).is_dir():
        return relay.saved[1]
    trainer.model.save_pretrained(out)
    return str(out)
