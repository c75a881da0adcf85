"""The same Trainer under torchrun: 2 CPU processes on gloo give the losses of one process with
the same global batch. Run as a script, this file is the worker that torchrun starts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
GLOBAL_BATCH = 8


def build():
    import torch

    import workbench as wb
    from datasets import Dataset

    torch.manual_seed(0)
    cfg = wb.AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                  vocab_size=120, max_position_embeddings=32, hidden_dropout_prob=0.0,
                                  attention_probs_dropout_prob=0.0, num_labels=2)
    model = wb.AutoModelForSequenceClassification.from_config(cfg)
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(48):
        n = 12  # equal lengths: every rank's batch has the shape of its share of the single batch
        ids = rng.integers(5, 120, size=n).tolist()
        rows.append({"input_ids": ids, "attention_mask": [1] * n, "labels": int(sum(ids) % 2)})
    return model, Dataset.from_list(rows)


def run(output_dir: str, per_device: int) -> list[float]:
    from workbench.training import Trainer, TrainingArguments

    model, data = build()
    args = TrainingArguments(output_dir=output_dir, max_steps=6, per_device_train_batch_size=per_device,
                             learning_rate=1e-3, logging_steps=1, save_strategy="steps", save_steps=3,
                             disable_tqdm=True, seed=3)
    trainer = Trainer(model, args, data)
    trainer.train()
    return [e["loss"] for e in trainer.state.log_history if "loss" in e]


def test_two_gloo_processes_equal_one_process(tmp_path):
    from tests.support import free_port  # here, not at the top: torchrun runs this file as a plain script

    single = run(str(tmp_path / "single"), per_device=GLOBAL_BATCH)
    out = tmp_path / "ddp_losses.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1", "DDP_LOSSES": str(out), "DDP_OUTPUT_DIR": str(tmp_path / "ddp")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", str(Path(__file__).resolve())]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads(out.read_text())
    assert len(ddp) == len(single) == 6
    np.testing.assert_allclose(ddp, single, atol=1e-5)
    # rank 0 wrote the checkpoints, once
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["checkpoint-3", "checkpoint-6"]


if __name__ == "__main__":  # a torchrun worker
    losses = run(os.environ["DDP_OUTPUT_DIR"], per_device=GLOBAL_BATCH // int(os.environ["WORLD_SIZE"]))
    if os.environ["RANK"] == "0":
        Path(os.environ["DDP_LOSSES"]).write_text(json.dumps(losses))
    import torch.distributed as dist

    dist.destroy_process_group()
