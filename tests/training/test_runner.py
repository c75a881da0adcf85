"""The worker-process runner: a run stopped from this process and resumed continues the same curve as one
uninterrupted in-process run (same losses, same final weights, handed back here); the callbacks fire here
with the state mirrored; what cannot travel to a worker is said, and "auto" falls back to a thread."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import torch

from workbench.errors import InputError
from workbench.training import TrainerCallback, checkpoints_in
from workbench.training.runner import ProcessRunner, ThreadRunner, make_runner, process_problem
from tests.training.test_kill import losses, make_trainer


class Recorder(TrainerCallback):
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.on_third = None

    def on_fit_start(self, state, trainer) -> None:
        self.events.append(("fit_start", state.global_step))

    def on_log(self, state, trainer, logs) -> None:
        self.events.append(("log", logs["step"]))
        if logs["step"] == 3 and self.on_third is not None:
            self.on_third()

    def on_save(self, state, trainer, checkpoint) -> None:
        assert checkpoint.is_dir()  # the worker wrote it before saying so
        self.events.append(("save", state.global_step))

    def on_fit_end(self, state, trainer) -> None:
        self.events.append(("fit_end", state.global_step))


def test_stopped_and_resumed_in_a_worker_equals_one_run(tmp_path):
    trainer = make_trainer(str(tmp_path / "worker"))
    recorder = Recorder()
    trainer.add_callback(recorder)
    runner = make_runner(trainer)
    assert isinstance(runner, ProcessRunner)
    recorder.on_third = runner.stop  # Stop, pressed here while the worker trains
    thread = threading.Thread(target=runner.run)
    thread.start()
    thread.join(180)
    state = trainer.state
    stopped_at = state.global_step
    assert state.stop_reason == "stopped" and 3 <= stopped_at < 12
    assert checkpoints_in(trainer.args.output_dir)[-1].name == f"checkpoint-{stopped_at}"
    assert recorder.events[0] == ("fit_start", 0) and recorder.events[-1] == ("fit_end", stopped_at)
    assert [s for kind, s in recorder.events if kind == "log"] == list(range(1, stopped_at + 1))

    recorder.on_third = None
    runner.run(resume=True)  # a new worker, from the checkpoint on disk
    runner.close()
    full = make_trainer(str(tmp_path / "full"))
    full.train()
    assert trainer.state.global_step == 12 and trainer.state.stop_reason == "finished"
    assert losses(trainer) == losses(full)  # the history mirrored here is the worker's, and it is one curve
    for (name, ours), theirs in zip(trainer.model.state_dict().items(), full.model.state_dict().values()):
        assert torch.equal(ours, theirs), name  # the trained weights came back into this process's model


def test_weights_come_back_without_a_checkpoint_too(tmp_path):
    """A run that saves no checkpoint hands its weights back through a folder of its own (a run that saves one
    at its last step hands back that checkpoint's weights: the test above)."""
    trainer = make_trainer(str(tmp_path / "worker"))
    trainer.args.save_strategy = "no"
    runner = make_runner(trainer, "process")
    runner.run()
    runner.close()
    assert checkpoints_in(trainer.args.output_dir) == [] and trainer.state.stop_reason == "finished"
    full = make_trainer(str(tmp_path / "full"))
    full.train()
    for (name, ours), theirs in zip(trainer.model.state_dict().items(), full.model.state_dict().values()):
        assert torch.equal(ours, theirs), name


def test_what_cannot_travel_is_said(tmp_path):
    trainer = make_trainer(str(tmp_path / "out"))
    assert process_problem(trainer) is None
    trainer.data_collator = lambda rows: rows
    assert "custom data_collator" in process_problem(trainer)
    assert isinstance(make_runner(trainer, "auto"), ThreadRunner)  # auto falls back to a thread
    with pytest.raises(InputError, match="custom data_collator.*runner='thread'"):
        make_runner(trainer, "process")
    with pytest.raises(InputError, match="runner='fast'"):
        make_runner(trainer, "fast")


def test_a_killed_worker_names_the_checkpoint_to_resume_from(tmp_path):
    from workbench.training.runner import WorkerDiedError

    trainer = make_trainer(str(tmp_path / "killed"))
    trainer.args.max_steps = 100_000  # it would train for minutes: only the kill ends it
    runner = make_runner(trainer, "process")

    class KillAtFirstSave(TrainerCallback):
        def on_save(self, state, trainer, checkpoint) -> None:
            runner.kill()  # what the out-of-memory killer does

    trainer.add_callback(KillAtFirstSave())
    with pytest.raises(WorkerDiedError, match=r"SIGKILL.*The last checkpoint is .*checkpoint-3: Resume continues"):
        runner.run()
    assert trainer.state.stop_reason.startswith("the training process died")
    runner.close()


_FAULTS = """
import resource, sys, torch
from workbench.training.worker import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
def step():  # a training step's pattern: activations of a few MB and an embedding's 48 MB gradient, then freed
    blocks = [torch.empty(size << 20, dtype=torch.uint8).fill_(1) for size in (4, 8, 48, 8, 4)]
step()  # the first step faults its pages in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings exist on Linux only")
def test_the_worker_keeps_freed_memory_for_the_next_step():
    """In its own process (the setting is process-wide): with glibc's defaults each step faults its 48 MB block in
    again; the worker's setting reuses the freed blocks (under 100 faults a step)."""
    def faults(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout.split()
        return out[0], int(out[1])

    # glibc's default maps any block over 32 MB afresh, however its dynamic threshold has moved: 12,288 faults a step
    assert faults("default")[1] > 20 * 10_000
    kept, count = faults("keep")
    assert kept == "True" and count < 20 * 100
