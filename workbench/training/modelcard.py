"""The model card a training run shares: what the hub reads (base model, dataset, metrics, task), the eval
results, the training arguments, the results table and the curves as an image next to the card.

Pure functions of the run's `TrainerState` and `TrainingArguments`; `Trainer.push_to_hub` writes them.
The curves are drawn on a `matplotlib.figure.Figure` with its own Agg canvas (no pyplot, no backend change).
"""

from __future__ import annotations

import io
import math
from typing import Any, Sequence

from ..sharing import hub_id_or_none, model_card
from .data import _head_task
from .state import TrainerState

CURVES_FILE = "training_curves.png"
# the head a model is (its family's HEADS key) -> the hub's pipeline tag
PIPELINE_TAGS = {"sequence-classification": "text-classification", "token-classification": "token-classification",
                 "question-answering": "question-answering", "masked-lm": "fill-mask", "causal-lm": "text-generation",
                 "image-classification": "image-classification", "object-detection": "object-detection",
                 "speech-seq2seq": "automatic-speech-recognition"}
_NOT_METRICS = ("loss", "runtime", "samples_per_second", "steps_per_second")


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def eval_metrics(state: TrainerState) -> dict[str, float]:
    """The last evaluation's numbers (`eval_` dropped), loss first; {} when the run was never evaluated."""
    last = next((e for e in reversed(state.log_history) if "eval_loss" in e), None)
    if last is None:
        return {}
    out = {k.removeprefix("eval_"): v for k, v in last.items() if k.startswith("eval_")}
    return {k: v for k, v in out.items() if k not in _NOT_METRICS[1:]}


def hyperparameters(args: Any, world_size: int = 1) -> dict[str, Any]:
    """The training arguments a reader needs to repeat the run (named as the reference's cards name them)."""
    out = {"learning_rate": args.learning_rate, "train_batch_size": args.per_device_train_batch_size,
           "eval_batch_size": args.per_device_eval_batch_size, "seed": args.seed}
    if world_size > 1:
        out["distributed_type"], out["num_devices"] = "multi-process (DDP)", world_size
    if args.gradient_accumulation_steps > 1:
        out["gradient_accumulation_steps"] = args.gradient_accumulation_steps
        out["total_train_batch_size"] = args.per_device_train_batch_size * args.gradient_accumulation_steps * world_size
    out["optimizer"] = (f"AdamW with betas=({args.adam_beta1},{args.adam_beta2}), epsilon={args.adam_epsilon}, "
                        f"weight_decay={args.weight_decay}")
    out["lr_scheduler_type"] = args.lr_scheduler_type
    if args.warmup_steps > 0:
        out["lr_scheduler_warmup_steps"] = args.warmup_steps
    elif args.warmup_ratio > 0:
        out["lr_scheduler_warmup_ratio"] = args.warmup_ratio
    if args.max_steps > 0:
        out["training_steps"] = args.max_steps
    else:
        out["num_epochs"] = args.num_train_epochs
    if args.fp16 or args.bf16:
        out["mixed_precision_training"] = "fp16" if args.fp16 else "bf16"
    return out


def results_table(state: TrainerState) -> str:
    """Markdown: one row per evaluation with the training loss logged last before it."""
    evals = [e for e in state.log_history if "eval_loss" in e]
    if not evals:
        return ""
    metrics = [k for k in evals[-1] if k.startswith("eval_") and k.removeprefix("eval_") not in _NOT_METRICS]
    head = ["Training Loss", "Epoch", "Step", "Validation Loss", *(k.removeprefix("eval_").title() for k in metrics)]
    rows = []
    for e in evals:
        losses = [x["loss"] for x in state.log_history if "loss" in x and x["step"] <= e["step"]]
        train = f"{losses[-1]:.4f}" if losses else "No log"
        rows.append([train, f"{e.get('epoch', 0):.2f}", str(e.get("step", "")), f"{e['eval_loss']:.4f}",
                     *(_fmt(e.get(k, "")) for k in metrics)])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(":-:" for _ in head) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def curves_png(state: TrainerState) -> bytes | None:
    """Training loss and eval loss over steps, eval metrics (accuracy, F1...) on a second axis; None without logs."""
    losses = state.losses()
    evals = [e for e in state.log_history if "eval_loss" in e]
    if not losses and not evals:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if losses:
        ax.plot(*zip(*losses), color="#1f77b4", lw=1.2, label="training loss")
    if evals:
        ax.plot([e["step"] for e in evals], [e["eval_loss"] for e in evals], "o-", color="#d62728", label="eval loss")
        names = [k for k in evals[-1] if k.startswith("eval_") and k.removeprefix("eval_") not in _NOT_METRICS]
        if names:
            twin = ax.twinx()
            for i, name in enumerate(names[:3]):
                values = [e.get(name, math.nan) for e in evals]
                twin.plot([e["step"] for e in evals], values, "s--", color=["#2ca02c", "#9467bd", "#8c564b"][i],
                          label=f"eval {name.removeprefix('eval_')}")
            twin.set_ylabel("metric")
            twin.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def training_card(repo_id: str, *, state: TrainerState, args: Any, model: Any, finetuned_from: str | None = None,
                  dataset: str | None = None, tags: Sequence[str] = (), license: str | None = None,
                  language: str | Sequence[str] | None = None, curves: bool = True, world_size: int = 1) -> str:
    """README.md of a fine-tuned model: metadata (library, base model, dataset, metrics, task, model-index when the
    dataset is a hub id), results, hyperparameters, results table and the curves image (`curves`: CURVES_FILE
    is pushed next to the card)."""
    import torch

    from .. import __version__

    base = hub_id_or_none(finetuned_from if finetuned_from is not None else getattr(model.config, "name_or_path", None))
    dataset_id = hub_id_or_none(dataset)
    task = PIPELINE_TAGS.get(_head_task(model) or "")
    metrics = eval_metrics(state)
    names = [k for k in metrics if k != "loss"]
    name = repo_id.split("/")[-1]
    results = [(task, dataset_id, dataset_id, k, float(v)) for k, v in metrics.items() if k != "loss"] \
        if task and dataset_id and names else None
    meta = {"library_name": "transformers", "license": license, "language": language, "base_model": base,
            "tags": ["workbench", "generated_from_trainer", *tags], "datasets": [dataset_id] if dataset_id else None,
            "metrics": names or None, "pipeline_tag": task, "model_name": name, "eval_results": results}
    source = f"[{base}](https://huggingface.co/{base})" if base else (f"`{finetuned_from}`" if finetuned_from else None)
    on = f"the [{dataset_id}](https://huggingface.co/datasets/{dataset_id}) dataset" if dataset_id else (
        f"the `{dataset}` dataset" if dataset else "an unknown dataset")
    lines = [f"# {name}", "",
             (f"This model is a fine-tuned version of {source} on {on}." if source else f"This model was trained on {on}.")]
    if metrics:
        lines += ["It achieves the following results on the evaluation set:",
                  *(f"- {k.replace('_', ' ').title()}: {_fmt(v)}" for k, v in metrics.items())]
    lines += ["", "## Training procedure", "", "### Training hyperparameters", "",
              "The following hyperparameters were used during training:",
              *(f"- {k}: {v}" for k, v in hyperparameters(args, world_size).items())]
    table = results_table(state)
    if table:
        lines += ["", "### Training results", "", table]
    if curves:
        lines += ["", f"![training and evaluation curves]({CURVES_FILE})"]
    lines += ["", "### Framework versions", "", f"- transformers-workbench {__version__}", f"- PyTorch {torch.__version__}"]
    return model_card(meta, "\n".join(lines))
