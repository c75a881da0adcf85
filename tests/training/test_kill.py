"""A training process killed without warning loses only the steps since its last checkpoint.

A child process trains and is SIGKILLed once a checkpoint exists (possibly mid-write of the
next one); resuming in this process must continue the same loss curve as an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from workbench.training import Trainer, TrainerCallback, TrainingArguments, checkpoints_in

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = dict(max_steps=12, save_strategy="steps", save_steps=3, per_device_train_batch_size=8, learning_rate=2e-3,
                logging_steps=1, disable_tqdm=True, seed=3, warmup_steps=2)


class Slow(TrainerCallback):
    """Gives the parent time to kill between steps (the child only)."""

    def on_step_end(self, args, state, control=None, **kwargs):
        time.sleep(0.3)


def make_trainer(output_dir: str, slow: bool = False) -> Trainer:
    from tests.support import minilm_folder
    from tests.training.test_trainer import DATA, tiny_model
    from workbench import AutoTokenizer
    from workbench.training import load_local_dataset, tokenize_dataset

    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    model = tiny_model(tokenizer, dropout=0.1, seed=5)
    raw = load_local_dataset({"train": DATA / "train.csv"}, split="train").select(range(48))
    data = tokenize_dataset(raw, tokenizer, config=model.config, max_length=32)
    args = TrainingArguments(output_dir=output_dir, **SETTINGS)
    return Trainer(model, args, data, processing_class=tokenizer, callbacks=[Slow()] if slow else [])


def losses(trainer: Trainer) -> list[float]:
    return [e["loss"] for e in trainer.state.log_history if "loss" in e]


def test_killed_run_resumes_on_the_same_curve(tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", f"from tests.training.test_kill import make_trainer; make_trainer({str(out)!r}, slow=True).train()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(p.name == "checkpoint-6" for p in checkpoints_in(out) if out.exists()):
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the child never reached checkpoint-6"
            time.sleep(0.05)
        time.sleep(0.4)  # somewhere in steps 7-8: work that is lost
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    last = checkpoints_in(out)[-1]
    assert last.name in ("checkpoint-6", "checkpoint-9")

    torch.manual_seed(1234)  # the checkpoint, not this process, must decide the RNG state
    resumed = make_trainer(str(out))
    resumed.train(resume_from_checkpoint=True)
    full = make_trainer(str(tmp_path / "full"))
    full.train()
    assert resumed.state.global_step == full.state.global_step == 12
    assert losses(resumed) == losses(full)
