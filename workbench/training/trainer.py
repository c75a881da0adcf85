"""The Trainer: a plain PyTorch loop with the conventions users know, checkpoints that resume
exactly, and torch DistributedDataParallel when launched under `torchrun`.

One optimizer step = `gradient_accumulation_steps` micro-batches. Everything a resumed run
needs to continue the same curve goes into `output_dir/checkpoint-<step>/`: weights
(safetensors), optimizer and scheduler state, RNG states, data position, trainer state.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputError, WorkbenchError, user_stacklevel
from ..formats.safetensors import has_weights
from ..weights import load_into_model
from .arguments import TrainingArguments
from .callbacks import CallbackList, ProgressCallback, TrainerCallback
from .checkpoint import (
    Checkpoint, checkpoints_in, is_checkpoint, read_checkpoint, read_weights, restore_rng, write_checkpoint,
)
from .data import DataCollatorWithPadding, check_labels, column_names, default_collate
from .state import TrainerState


class TrainingDivergedError(WorkbenchError, FloatingPointError):
    """The loss became NaN or infinite; the run stopped before applying that step."""


@dataclass
class EvalPrediction:
    predictions: np.ndarray
    label_ids: np.ndarray | None


@dataclass
class PredictionOutput:
    predictions: np.ndarray
    label_ids: np.ndarray | None
    metrics: dict[str, float]


@dataclass
class TrainOutput:
    global_step: int
    training_loss: float
    metrics: dict[str, float]


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_lambda(kind: str, warmup: int, total: int) -> Callable[[int], float]:
    """The reference's schedules: linear or cosine decay to 0, or constant, after a linear warmup ("constant"
    itself has no warmup in the reference: its scheduler ignores the warmup steps; "constant_with_warmup" has)."""

    def schedule(step: int) -> float:
        if kind == "constant":
            return 1.0
        if step < warmup:
            return step / max(1, warmup)
        if kind == "constant_with_warmup":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if kind == "linear":
            return max(0.0, (total - step) / max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))  # cosine, half a cycle

    return schedule


_NO_DECAY_NAMES = re.compile(r"bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)")


def decay_parameter_names(model: nn.Module) -> set[str]:
    """Weight decay applies to every parameter except biases and norm weights (as the reference:
    by layer type, nn.LayerNorm, and by name pattern)."""
    names: set[str] = set()
    for module_name, module in model.named_modules():
        if isinstance(module, nn.LayerNorm):
            continue
        for name, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{name}" if module_name else name
            if not _NO_DECAY_NAMES.search(full.lower()):
                names.add(full)
    return names


def _distributed_env() -> tuple[int, int, int]:
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    return 0, 1, 0


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        args: TrainingArguments | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        data_collator: Callable[[Any], dict[str, torch.Tensor]] | None = None,
        compute_metrics: Callable[[EvalPrediction], dict[str, float]] | None = None,
        callbacks: Sequence[TrainerCallback] | None = None,
    ) -> None:
        if model is None:
            raise InputError("Trainer needs a model, e.g. AutoModelForSequenceClassification.from_pretrained(...).")
        self.args = args or TrainingArguments()
        self.model = model
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.processing_class = processing_class
        if data_collator is None:
            data_collator = DataCollatorWithPadding(processing_class) if processing_class is not None else default_collate
        self.data_collator = data_collator
        self.compute_metrics = compute_metrics
        extra = [ProgressCallback()] if not self.args.disable_tqdm else []
        self.callbacks = CallbackList([*extra, *(callbacks or [])])
        self.state = TrainerState()
        self.rank, self.world_size, self.local_rank = _distributed_env()
        self.device = self._pick_device()
        self.optimizer: torch.optim.Optimizer | None = None
        self.lr_scheduler: torch.optim.lr_scheduler.LambdaLR | None = None
        self._scaler: Any = None
        self._ddp: nn.Module | None = None

    # -- setup -------------------------------------------------------------------------
    @property
    def is_main_process(self) -> bool:
        return self.rank == 0

    def add_callback(self, callback: TrainerCallback) -> None:
        self.callbacks.callbacks.append(callback)

    def remove_callback(self, callback: TrainerCallback) -> None:
        self.callbacks.callbacks.remove(callback)

    def _pick_device(self) -> torch.device:
        if self.args.use_cpu or not torch.cuda.is_available():
            if self.args.fp16 or self.args.bf16:
                raise InputError("fp16/bf16 mixed precision runs on CUDA only; set fp16=False, bf16=False on CPU.")
            return torch.device("cpu")
        return torch.device("cuda", self.local_rank if self.world_size > 1 else torch.cuda.current_device())

    def _setup_distributed(self) -> None:
        if self.world_size == 1 or self._ddp is not None:
            return
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        if not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        ids = [self.device.index] if self.device.type == "cuda" else None
        self._ddp = DistributedDataParallel(self.model, device_ids=ids)

    def _check_dataset(self, dataset: Any, what: str) -> None:
        if dataset is None:
            raise InputError(f"no {what} given; pass {what}=... (a tokenized datasets.Dataset or a list of dicts).")
        if len(dataset) == 0:
            raise InputError(f"the {what} is empty; it needs at least one row.")
        columns = column_names(dataset)
        if "input_ids" not in columns and "pixel_values" not in columns:
            raise InputError(
                f"the {what} has no 'input_ids' column (columns: {columns}); tokenize it first, e.g. "
                "workbench.training.tokenize_dataset(dataset, tokenizer, text_column=..., label_column=...). "
                "Image rows need 'pixel_values' from the checkpoint's image processor."
            )
        # the same label check as tokenize_dataset's, for rows that did not come through it
        check_labels(dataset, self.model, what, required=what == "train_dataset")

    def _check_output_dir(self) -> None:
        """A folder that cannot take checkpoints is found before step 1, not at the first save
        (save_steps, often hundreds of steps, later). Every rank checks, so none waits on a failed one."""
        if self.args.save_strategy == "no":
            return
        folder = Path(self.args.output_dir)
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            where = "is a file" if blocker == folder else f"cannot be created: {blocker} is a file"
            raise InputError(f"output_dir={str(folder)!r} {where}, and checkpoints need a folder; "
                             "pass another output_dir (a new or an existing folder).")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):  # the real test: permissions, read-only mounts, quotas
                pass
        except OSError as err:
            raise InputError(f"output_dir={str(folder)!r} is not writable ({err.strerror}); "
                             "pass an output_dir you can write to.") from err

    def create_optimizer_and_scheduler(self, num_training_steps: int) -> None:
        args = self.args
        decay = decay_parameter_names(self.model)
        params = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in params if n in decay], "weight_decay": args.weight_decay},
            {"params": [p for n, p in params if n not in decay], "weight_decay": 0.0},
        ]
        # The fused kernel updates every tensor in one pass (5x faster per step on a 2-core CPU);
        # it needs floating-point parameters on CPU or CUDA, as the reference's default does.
        fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for _, p in params)
        self.optimizer = torch.optim.AdamW(
            groups, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon,
            fused=fused or None,
        )
        schedule = lr_lambda(args.lr_scheduler_type, args.warmup_for(num_training_steps), num_training_steps)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)

    # -- data ------------------------------------------------------------------------------
    def _epoch_order(self, n: int, epoch: int) -> list[int]:
        """This rank's sample order for an epoch: a permutation seeded by (seed, epoch), so a resumed
        run sees the same order; under DDP each rank takes its share (DistributedSampler)."""
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(n), num_replicas=self.world_size, rank=self.rank, shuffle=True,
                                     seed=self.args.seed, drop_last=False)
        sampler.set_epoch(epoch)
        return list(sampler)

    def _batches(self, dataset: Any, order: Sequence[int], batch_size: int, drop_last: bool) -> list[list[int]]:
        chunks = [list(order[i:i + batch_size]) for i in range(0, len(order), batch_size)]
        if drop_last and chunks and len(chunks[-1]) < batch_size:
            chunks.pop()
        return chunks

    def _collate(self, dataset: Any, indices: list[int]) -> dict[str, torch.Tensor]:
        if hasattr(dataset, "column_names") and hasattr(dataset, "select"):
            rows = dataset[indices]  # datasets.Dataset: one columnar read for the batch
        else:
            rows = [dataset[i] for i in indices]
        batch = self.data_collator(rows)
        return {k: _to_device(v, self.device) for k, v in batch.items()}

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda" and (self.args.fp16 or self.args.bf16):
            return torch.autocast("cuda", dtype=torch.float16 if self.args.fp16 else torch.bfloat16)
        return contextlib.nullcontext()

    # -- training --------------------------------------------------------------------------
    def train(self, resume_from_checkpoint: bool | str | os.PathLike | None = None) -> TrainOutput:
        """Train to max_steps / num_train_epochs. `resume_from_checkpoint=True` continues from the
        latest checkpoint in output_dir; a path continues from that checkpoint."""
        args = self.args
        self._check_dataset(self.train_dataset, "train_dataset")
        self._check_output_dir()
        self.model.to(self.device)
        self._setup_distributed()

        micro_per_epoch = len(self._batches(self.train_dataset, self._epoch_order(len(self.train_dataset), 0),
                                            args.per_device_train_batch_size, args.dataloader_drop_last))
        if micro_per_epoch == 0:
            raise InputError("the train_dataset is smaller than one batch with dataloader_drop_last=True.")
        steps_per_epoch = math.ceil(micro_per_epoch / args.gradient_accumulation_steps)
        if args.max_steps > 0:
            max_steps = args.max_steps
            num_epochs = math.ceil(max_steps / steps_per_epoch)
        else:
            max_steps = math.ceil(args.num_train_epochs * steps_per_epoch)
            num_epochs = math.ceil(args.num_train_epochs)

        checkpoint = self._resolve_resume(resume_from_checkpoint)
        set_seed(args.seed)
        self.create_optimizer_and_scheduler(max_steps)
        if self.device.type == "cuda" and args.fp16:
            self._scaler = torch.amp.GradScaler("cuda")
        state = TrainerState(max_steps=max_steps, num_train_epochs=num_epochs,
                             train_batch_size=args.per_device_train_batch_size * args.gradient_accumulation_steps * self.world_size)
        if checkpoint is not None:
            state = self._load_checkpoint(checkpoint, state)
        state.should_stop = False
        state.should_evaluate = False
        state.stop_reason = None
        state.is_training = True
        self.state = state
        self.callbacks.fire("on_fit_start", state, self)
        try:
            self._loop(state, micro_per_epoch, steps_per_epoch)
        finally:
            state.is_training = False
        if args.load_best_model_at_end and state.best_model_checkpoint and state.stop_reason == "finished":
            self._load_weights(Path(state.best_model_checkpoint))
        self.callbacks.fire("on_fit_end", state, self)
        losses = [loss for _, loss in state.losses()]
        metrics = {"train_runtime": state.train_runtime, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                   "train_samples_per_second": state.examples_seen / max(state.train_runtime, 1e-9), "epoch": state.epoch}
        return TrainOutput(state.global_step, metrics["train_loss"], metrics)

    def fit(self, resume_from_checkpoint: bool | str | os.PathLike | None = None) -> TrainOutput:
        """Same as `train` (the name DESIGN.md uses)."""
        return self.train(resume_from_checkpoint)

    def _loop(self, state: TrainerState, micro_per_epoch: int, steps_per_epoch: int) -> None:
        args = self.args
        model = self._ddp or self.model
        model.train()
        ga = args.gradient_accumulation_steps
        n = len(self.train_dataset)
        logged_loss, logged_count = 0.0, 0
        segment_start = time.perf_counter()
        runtime_before = state.train_runtime
        last_saved = state.global_step if state.global_step else -1
        while state.global_step < state.max_steps and not state.should_stop:
            batches = self._batches(self.train_dataset, self._epoch_order(n, state.epoch_index),
                                    args.per_device_train_batch_size, args.dataloader_drop_last)
            while state.step_in_epoch < len(batches) and state.global_step < state.max_steps:
                group_start = state.step_in_epoch
                # the accumulation group: ga micro-batches, fewer at the end of an epoch
                group = batches[group_start: min(group_start + (ga - group_start % ga), len(batches))]
                step_loss = torch.zeros((), device=self.device)
                for i, indices in enumerate(group):
                    batch = self._collate(self.train_dataset, indices)
                    sync = i == len(group) - 1
                    ctx = model.no_sync() if (self._ddp is not None and not sync) else contextlib.nullcontext()
                    with ctx:
                        with self._autocast():
                            loss = model(**batch).loss
                        if loss is None:
                            raise InputError("the model returned no loss: the batches need a 'labels' column.")
                        loss = loss / len(group)
                        if self._scaler is not None:
                            self._scaler.scale(loss).backward()
                        else:
                            loss.backward()
                    step_loss += loss.detach()
                    state.examples_seen += len(indices) * self.world_size
                if self.world_size > 1:
                    import torch.distributed as dist

                    dist.all_reduce(step_loss, op=dist.ReduceOp.AVG if self.device.type == "cuda" else dist.ReduceOp.SUM)
                    if self.device.type != "cuda":  # gloo has no AVG
                        step_loss /= self.world_size
                loss_value = float(step_loss)
                if not math.isfinite(loss_value):
                    self.optimizer.zero_grad(set_to_none=True)
                    last = checkpoints_in(args.output_dir)
                    message = (
                        f"training stopped: the loss became {loss_value} at step {state.global_step + 1}; that step was "
                        f"not applied. Last good checkpoint: {last[-1] if last else 'none (no checkpoint was saved yet)'}. "
                        "Try a lower learning_rate, fp32 instead of fp16, or check the labels and inputs."
                    )
                    state.stop_reason = message
                    state.should_stop = True
                    raise TrainingDivergedError(message)
                grad_norm = self._clip_and_step()
                state.global_step += 1
                state.step_in_epoch = group_start + len(group)
                state.epoch = state.epoch_index + state.step_in_epoch / len(batches)
                state.train_runtime = runtime_before + time.perf_counter() - segment_start
                logged_loss += loss_value
                logged_count += 1
                self.callbacks.fire("on_step_end", state, self)
                epoch_end = state.step_in_epoch >= len(batches)
                last_step = state.global_step >= state.max_steps
                if self._due(args.logging_strategy, args.logging_steps, epoch_end) or last_step or state.should_stop:
                    if logged_count:
                        self._log(state, {"loss": logged_loss / logged_count,
                                          "learning_rate": self.lr_scheduler.get_last_lr()[0],
                                          "grad_norm": grad_norm})
                        logged_loss, logged_count = 0.0, 0
                metrics = None
                requested = state.should_evaluate  # "evaluate now" (set from another thread): once, here
                if requested:
                    state.should_evaluate = False
                if (self._due(args.eval_strategy, args.eval_steps, epoch_end) or requested) and self.eval_dataset is not None:
                    metrics = self.evaluate()
                    model.train()
                if self._due(args.save_strategy, args.save_steps, epoch_end) or (state.should_stop and state.global_step != last_saved):
                    self._save_checkpoint(state, metrics)
                    last_saved = state.global_step
                if state.should_stop:
                    break
            if state.step_in_epoch >= len(batches):
                state.epoch_index += 1
                state.step_in_epoch = 0
        state.train_runtime = runtime_before + time.perf_counter() - segment_start
        state.stop_reason = "stopped" if state.global_step < state.max_steps else "finished"
        if state.stop_reason == "finished" and args.save_strategy != "no" and last_saved != state.global_step:
            self._save_checkpoint(state, None)

    def _due(self, strategy: str, every: int | None, epoch_end: bool) -> bool:
        if strategy == "steps":
            return bool(every) and self.state.global_step % every == 0
        return strategy == "epoch" and epoch_end

    def _clip_and_step(self) -> float:
        args = self.args
        if self._scaler is not None:
            self._scaler.unscale_(self.optimizer)
        grad_norm = float("nan")
        if args.max_grad_norm:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), args.max_grad_norm))
        if self._scaler is not None:
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    def _log(self, state: TrainerState, logs: dict[str, float]) -> None:
        entry = {**logs, "epoch": round(state.epoch, 4), "step": state.global_step}
        state.log_history.append(entry)
        self.callbacks.fire("on_log", state, self, entry)

    # -- evaluation ---------------------------------------------------------------------------
    @torch.no_grad()
    def _predict_loop(self, dataset: Any, prefix: str) -> PredictionOutput:
        self._check_dataset(dataset, "eval_dataset" if prefix == "eval" else "test_dataset")
        self.model.to(self.device)
        model = self.model
        was_training = model.training
        model.eval()
        start = time.perf_counter()
        logits, labels, loss_sum, count = [], [], 0.0, 0
        # evaluation runs on every rank over the whole set (simple and identical everywhere)
        for indices in self._batches(dataset, range(len(dataset)), self.args.per_device_eval_batch_size, False):
            batch = self._collate(dataset, indices)
            with self._autocast():
                out = model(**batch)
            logits.append(out.logits.float().cpu().numpy())
            if "labels" in batch:
                labels.append(batch["labels"].cpu().numpy())
                if out.loss is not None:
                    loss_sum += float(out.loss) * len(indices)
            count += len(indices)
        model.train(was_training)
        runtime = time.perf_counter() - start
        predictions = np.concatenate(logits)
        label_ids = np.concatenate(labels) if labels else None
        metrics: dict[str, float] = {}
        if label_ids is not None:
            metrics["loss"] = loss_sum / count
        if self.compute_metrics is not None and label_ids is not None:
            metrics.update(self.compute_metrics(EvalPrediction(predictions, label_ids)))
        metrics.update({"runtime": runtime, "samples_per_second": count / max(runtime, 1e-9)})
        metrics = {f"{prefix}_{k}": float(v) for k, v in metrics.items()}
        return PredictionOutput(predictions, label_ids, metrics)

    def evaluate(self, eval_dataset: Any = None) -> dict[str, float]:
        """Loss and `compute_metrics` on the eval set, as {"eval_loss": ..., "eval_accuracy": ...}."""
        out = self._predict_loop(eval_dataset if eval_dataset is not None else self.eval_dataset, "eval")
        metrics = {**out.metrics, "epoch": round(self.state.epoch, 4), "step": self.state.global_step}
        self.state.log_history.append(metrics)
        self._track_best(metrics)
        self.callbacks.fire("on_eval_end", self.state, self, metrics)
        return metrics

    def predict(self, test_dataset: Any) -> PredictionOutput:
        """Logits for every row (and `test_*` metrics when the rows have labels)."""
        return self._predict_loop(test_dataset, "test")

    def _track_best(self, metrics: dict[str, float]) -> None:
        name = self.args.metric_for_best_model
        if name is None:
            return
        key = name if name.startswith("eval_") else f"eval_{name}"
        if key not in metrics:
            raise InputError(f"metric_for_best_model={name!r} is not among the eval metrics {sorted(metrics)}.")
        value, best = metrics[key], self.state.best_metric
        if best is None or (value > best if self.args.greater_is_better else value < best):
            self.state.best_metric = value
            self._best_pending = True  # the checkpoint saved at this step becomes the best one

    # -- checkpoints ----------------------------------------------------------------------------
    def _save_checkpoint(self, state: TrainerState, metrics: dict[str, float] | None) -> Path:
        folder = Path(self.args.output_dir) / f"checkpoint-{state.global_step}"
        if getattr(self, "_best_pending", False):
            state.best_model_checkpoint = str(folder)
            self._best_pending = False
        if self.is_main_process:
            write_checkpoint(folder, self.model, self.optimizer, self.lr_scheduler, state, self._scaler)
            self._rotate_checkpoints(state)
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()
        self.callbacks.fire("on_save", state, self, folder)
        return folder

    def _rotate_checkpoints(self, state: TrainerState) -> None:
        limit = self.args.save_total_limit
        if not limit:
            return
        found = checkpoints_in(self.args.output_dir)
        best = Path(state.best_model_checkpoint).resolve() if state.best_model_checkpoint else None
        if best is not None and limit == 1 and found and found[-1].resolve() != best:
            limit = 2  # keep the best and the latest (to resume from), as the reference does
        removable = [p for p in found if p.resolve() != best]
        excess = len(found) - limit
        for path in removable[:max(0, excess)]:
            if path != found[-1]:
                shutil.rmtree(path, ignore_errors=True)

    def _resolve_resume(self, resume: bool | str | os.PathLike | None) -> Path | None:
        if resume is None or resume is False:
            return None
        if resume is True:
            found = checkpoints_in(self.args.output_dir)
            if not found:
                raise InputError(f"resume_from_checkpoint=True, but {self.args.output_dir} has no checkpoint-<step> folder; "
                                 "start without resuming, or pass the checkpoint's path.")
            return found[-1]
        path = Path(resume)
        if not path.exists():
            raise InputError(f"resume_from_checkpoint={str(path)!r} does not exist; pass an output_dir/checkpoint-<step> "
                             "folder, or True for the latest checkpoint in output_dir.")
        if not path.is_dir():
            raise InputError(f"resume_from_checkpoint={str(path)!r} is a file; pass the checkpoint-<step> folder it is in.")
        if is_checkpoint(path):
            return path  # damaged or not: read_checkpoint says which file is wrong
        inside = checkpoints_in(path)
        if inside:
            raise InputError(f"{path} is an output_dir, not a checkpoint: it holds {', '.join(p.name for p in inside)}. "
                             f"Pass one of them (e.g. resume_from_checkpoint={str(inside[-1])!r}), or "
                             f"resume_from_checkpoint=True with output_dir={str(path)!r}.")
        if has_weights(path):
            raise InputError(f"{path} is a saved model (save_model / save_pretrained), not a training checkpoint: it has no "
                             f"optimizer, scheduler or trainer state. Load it with from_pretrained({str(path)!r}) and "
                             "train without resume_from_checkpoint.")
        raise InputError(f"{path} is not a checkpoint folder; pass an output_dir/checkpoint-<step> folder.")

    def _load_weights(self, folder: Path) -> None:
        load_into_model(self.model, read_weights(folder, self.model), strict=True)

    def _load_checkpoint(self, folder: Path, fresh: TrainerState) -> TrainerState:
        """Resume: every file is read and checked first (CheckpointError names a bad one), then the run's
        own checks, and only then is anything applied, so a refused resume leaves the model as it was."""
        checkpoint = read_checkpoint(folder, self.model, self.optimizer, scaler=self._scaler is not None,
                                     device=self.device)
        state = self._continued_state(checkpoint, fresh)
        load_into_model(self.model, checkpoint.weights, strict=True)
        self.optimizer.load_state_dict(checkpoint.optimizer)
        self.lr_scheduler.load_state_dict(checkpoint.scheduler)
        if checkpoint.scaler is not None:
            self._scaler.load_state_dict(checkpoint.scaler)
        restore_rng(checkpoint.rng)
        return state

    def _continued_state(self, checkpoint: Checkpoint, fresh: TrainerState) -> TrainerState:
        """The checkpoint's state, continued to these arguments' max_steps (raised to train a finished run
        further, as users do with the reference Trainer)."""
        state, folder = checkpoint.state, checkpoint.folder
        if state.global_step > fresh.max_steps:
            raise InputError(f"{folder} is at step {state.global_step}, past max_steps={fresh.max_steps}; raise max_steps "
                             "to continue it, or resume from an earlier checkpoint.")
        if state.train_batch_size and state.train_batch_size != fresh.train_batch_size:
            raise InputError(f"{folder} was trained with a global batch of {state.train_batch_size} rows per step, but "
                             f"these arguments give {fresh.train_batch_size}; resume with the same "
                             "per_device_train_batch_size x gradient_accumulation_steps x processes (the data position "
                             "is counted in batches).")
        if state.max_steps != fresh.max_steps:
            self._warn_if_schedule_changes(checkpoint, fresh.max_steps)
            state.max_steps, state.num_train_epochs = fresh.max_steps, fresh.num_train_epochs
        return state

    def _warn_if_schedule_changes(self, checkpoint: Checkpoint, max_steps: int) -> None:
        """A constant schedule continues the same curve; others are re-planned for the new length (as the
        reference does), which the user should know. Compared at the resume step: the saved learning rate
        against the new plan's."""
        step, saved = checkpoint.state.global_step, checkpoint.scheduler
        if not (saved.get("_last_lr") and saved.get("base_lrs")):
            return
        old_lr = float(saved["_last_lr"][0])
        new_lr = float(saved["base_lrs"][0]) * self.lr_scheduler.lr_lambdas[0](step)
        if math.isclose(old_lr, new_lr, rel_tol=1e-9, abs_tol=1e-15):
            return
        kind = self.args.lr_scheduler_type
        then = "stays there" if kind.startswith("constant") else f"decays to 0 at step {max_steps}"
        warnings.warn(
            f"the {kind} learning-rate schedule of {checkpoint.folder.name} was planned for {checkpoint.state.max_steps} "
            f"steps; continuing to max_steps={max_steps} re-plans it: at step {step} the learning rate goes from "
            f"{old_lr:.3g} to {new_lr:.3g} and then {then}, so the curve differs from one run of {max_steps} steps. "
            "For a continued curve equal to one uninterrupted run, train with lr_scheduler_type='constant'.",
            UserWarning, stacklevel=user_stacklevel(),
        )

    def save_model(self, output_dir: str | os.PathLike | None = None) -> Path:
        """Weights and config (and the tokenizer when one was given) in the hub layout."""
        folder = Path(output_dir or self.args.output_dir)
        if self.is_main_process:
            self.model.save_pretrained(folder)
            if self.processing_class is not None and hasattr(self.processing_class, "save_pretrained"):
                self.processing_class.save_pretrained(folder)
        return folder


    def push_to_hub(self, commit_message: str = "End of training", *, repo_id: str | None = None,
                    token: str | None = None, private: bool | None = None, revision: str | None = None,
                    finetuned_from: str | None = None, dataset: str | None = None, tags: Sequence[str] = (),
                    license: str | None = None, language: str | Sequence[str] | None = None) -> Any:
        """Share the trained model on the hub: weights, config and tokenizer (`save_model`), a model card (base
        model, dataset, eval metrics, training arguments, results table) and the training curves as an image, in
        one commit. `repo_id` defaults to `args.hub_model_id`, else output_dir's name (in your namespace); the
        token to `args.hub_token`, else your login. `finetuned_from` defaults to the model's hub id. Returns
        huggingface_hub's `CommitInfo` (None on other ranks than 0)."""
        from ..sharing import push_to_hub
        from .modelcard import CURVES_FILE, curves_png, training_card

        if not self.is_main_process:
            return None
        png = curves_png(self.state)

        def save(folder: Path) -> None:
            self.save_model(folder)
            if png is not None:
                (folder / CURVES_FILE).write_bytes(png)

        def card(full_id: str) -> str:
            return training_card(full_id, state=self.state, args=self.args, model=self.model, finetuned_from=finetuned_from,
                                 dataset=dataset, tags=tags, license=license, language=language, curves=png is not None,
                                 world_size=self.world_size)

        repo = repo_id or self.args.hub_model_id or Path(self.args.output_dir).absolute().name
        return push_to_hub(save, repo, commit_message=commit_message,
                           token=token if token is not None else self.args.hub_token,
                           private=private if private is not None else self.args.hub_private_repo,
                           revision=revision, card=card, replace_card=True)


def _to_device(value: Any, device: torch.device) -> Any:
    """A batch entry on `device`: tensors, and lists of tensors (per-image targets of different sizes)."""
    if torch.is_tensor(value):
        return value.to(device, non_blocking=True)
    if isinstance(value, list) and value and all(torch.is_tensor(v) for v in value):
        return [v.to(device, non_blocking=True) for v in value]
    return value
