"""`TrainingArguments`: every knob of a run in one dataclass, named as users know them."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

_STRATEGIES = ("no", "steps", "epoch")
_SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")


@dataclass
class TrainingArguments:
    output_dir: str = "trainer_output"
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides num_train_epochs
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0  # 0 or None disables clipping
    lr_scheduler_type: str = "linear"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0  # used when warmup_steps is 0
    logging_strategy: str = "steps"
    logging_steps: int = 500
    eval_strategy: str = "no"
    eval_steps: int | None = None  # defaults to logging_steps
    save_strategy: str = "steps"
    save_steps: int = 500
    save_total_limit: int | None = None
    load_best_model_at_end: bool = False
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    seed: int = 42
    fp16: bool = False
    bf16: bool = False
    use_cpu: bool = False
    dataloader_drop_last: bool = False
    disable_tqdm: bool = False
    hub_model_id: str | None = None  # trainer.push_to_hub()'s repo: 'name' (your namespace) or 'org/name'; None: output_dir's name
    hub_token: str | None = None  # None: the standard login (HF_TOKEN, `hf auth login`)
    hub_private_repo: bool | None = None  # a new repo is private (None: the namespace's default)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept with the run

    def __post_init__(self) -> None:
        for name in ("logging_strategy", "eval_strategy", "save_strategy"):
            value = str(getattr(self, name))
            if value not in _STRATEGIES:
                raise InputError(f"{name}={value!r} is not one of {_STRATEGIES}.")
            setattr(self, name, value)
        if self.lr_scheduler_type not in _SCHEDULERS:
            raise InputError(f"lr_scheduler_type={self.lr_scheduler_type!r} is not one of {_SCHEDULERS}.")
        if self.gradient_accumulation_steps < 1:
            raise InputError("gradient_accumulation_steps must be >= 1.")
        if self.per_device_train_batch_size < 1 or self.per_device_eval_batch_size < 1:
            raise InputError("batch sizes must be >= 1.")
        if self.fp16 and self.bf16:
            raise InputError("choose one of fp16=True or bf16=True, not both.")
        if self.eval_steps is None:
            self.eval_steps = self.logging_steps
        if self.load_best_model_at_end:
            if self.eval_strategy == "no":
                raise InputError("load_best_model_at_end=True needs evaluations: set eval_strategy='steps' or 'epoch'.")
            if self.save_strategy != self.eval_strategy or (
                self.save_strategy == "steps" and self.save_steps % self.eval_steps
            ):
                raise InputError(
                    "load_best_model_at_end=True needs a checkpoint at every evaluation: use the same "
                    "save_strategy as eval_strategy and save_steps a multiple of eval_steps."
                )
        if self.metric_for_best_model is None and self.load_best_model_at_end:
            self.metric_for_best_model = "loss"
        if self.greater_is_better is None and self.metric_for_best_model is not None:
            self.greater_is_better = not self.metric_for_best_model.removeprefix("eval_").endswith("loss")

    def warmup_for(self, total_steps: int) -> int:
        return self.warmup_steps if self.warmup_steps > 0 else math.ceil(total_steps * self.warmup_ratio)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
