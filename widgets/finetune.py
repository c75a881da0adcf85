"""FineTune: configure, launch, watch, stop, resume and compare fine-tuning runs in one panel.

Training runs in a background thread (the notebook stays responsive). A throttled callback
copies the trainer's state into the widgets a few times per second; charts are drawn in the
browser from float32 buffers (no images pushed while training). When a run ends the panel
leaves a static summary (curves PNG + metrics table) in `static_html` for saved notebooks.
"""

from __future__ import annotations

import html
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import ipywidgets as W
import numpy as np
import traitlets as T

from workbench.training import Trainer, TrainerCallback, TrainingArguments, classification_metrics, tokenize_dataset
from workbench.training.data import check_columns, label_mapping, load_local_dataset

from ._base import Panel, guarded
from ._render.training import (
    format_eta,
    history_html,
    metrics_table_html,
    out_of_memory_message,
    probe_table_html,
    run_color,
    summary_html,
)
from .linechart import LineChart


# -- run records -------------------------------------------------------------------------------
@dataclass
class Run:
    name: str
    settings: dict[str, Any]
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    status: str = "running"

    def to_dicts(self) -> dict[str, Any]:
        return {"name": self.name, "settings": self.settings, "steps": self.steps, "losses": self.losses,
                "learning_rates": self.lrs, "evals": self.evals, "status": self.status}


class _CockpitCallback(TrainerCallback):
    """Records every log/eval into the run and refreshes the panel at most `max_fps` times a second."""

    def __init__(self, panel: "FineTune", max_fps: float = 4.0) -> None:
        self.panel = panel
        self.interval = 1.0 / max_fps
        self.last = 0.0
        self.refreshes = 0

    def _maybe_refresh(self, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self.last >= self.interval:
            self.last = now
            self.refreshes += 1
            self.panel._refresh()

    def on_fit_start(self, state, trainer) -> None:
        self._maybe_refresh(force=True)

    def on_step_end(self, state, trainer) -> None:
        self._maybe_refresh()

    def on_log(self, state, trainer, logs) -> None:
        run = self.panel.current_run
        if run is not None and "loss" in logs:
            run.steps.append(int(logs["step"]))
            run.losses.append(float(logs["loss"]))
            run.lrs.append(float(logs["learning_rate"]))

    def on_eval_end(self, state, trainer, metrics) -> None:
        run = self.panel.current_run
        if run is not None:
            run.evals.append(dict(metrics))
        self.panel._probe_now = self.panel._predict_probe()
        self._maybe_refresh(force=True)

    def on_save(self, state, trainer, checkpoint) -> None:
        self.panel._last_checkpoint = str(checkpoint)

    def on_fit_end(self, state, trainer) -> None:
        self._maybe_refresh(force=True)


class FineTune(Panel):
    """`FineTune(model=..., dataset=..., text_column="text", label_column="label")`.

    model: a hub id, a folder, or a model with a sequence-classification head.
    dataset: a `datasets.Dataset`/`DatasetDict`, a local CSV/JSON/Parquet file, or a hub dataset id.
    """

    running = T.Bool(False).tag(sync=True)
    step = T.Int(0).tag(sync=True)
    max_steps = T.Int(0).tag(sync=True)

    def __init__(
        self,
        model: Any = None,
        dataset: Any = None,
        *,
        text_column: str = "text",
        label_column: str = "label",
        eval_dataset: Any = None,
        tokenizer: Any = None,
        probe_texts: Sequence[str] | None = None,
        output_dir: str | os.PathLike = "finetune_runs",
        learning_rate: float = 5e-5,
        num_train_epochs: float = 3.0,
        max_steps: int = -1,
        batch_size: int = 16,
        gradient_accumulation_steps: int = 1,
        warmup_ratio: float = 0.1,
        weight_decay: float = 0.01,
        lr_scheduler_type: str = "linear",
        eval_steps: int = 0,
        logging_steps: int = 5,
        max_length: int = 128,
        seed: int = 42,
        max_fps: float = 4.0,
    ) -> None:
        self._model_arg = model
        self._dataset_arg = dataset
        self._eval_arg = eval_dataset
        self.tokenizer = tokenizer
        self.model: Any = None if isinstance(model, (str, os.PathLike)) or model is None else model
        self.trainer: Trainer | None = None
        self.runs: list[Run] = []
        self.current_run: Run | None = None
        self._thread: threading.Thread | None = None
        self._probe_texts = list(probe_texts or [])
        self._probe_before: list[tuple[str, float]] | None = None
        self._probe_now: list[tuple[str, float]] | None = None
        self._last_checkpoint: str | None = None
        self._segment = (0.0, 0)  # (perf_counter, step) when this training segment started
        self.callback = _CockpitCallback(self, max_fps=max_fps)
        style = {"description_width": "140px"}
        lay = W.Layout(width="330px")
        model_name = "" if self.model is not None or model is None else str(model)
        dataset_name = str(dataset) if isinstance(dataset, (str, os.PathLike)) else ""
        self.w_model = W.Text(value=model_name or ("(model object)" if self.model is not None else ""),
                              description="model", disabled=self.model is not None, style=style, layout=lay)
        self.w_dataset = W.Text(value=dataset_name or ("(dataset object)" if dataset is not None else ""),
                                description="dataset", disabled=dataset is not None and not dataset_name, style=style, layout=lay)
        self.w_text = W.Text(value=text_column, description="text column", style=style, layout=lay)
        self.w_label = W.Text(value=label_column, description="label column", style=style, layout=lay)
        self.w_lr = W.FloatText(value=learning_rate, description="learning rate", style=style, layout=lay)
        self.w_epochs = W.FloatText(value=num_train_epochs, description="epochs", style=style, layout=lay)
        self.w_max_steps = W.IntText(value=max_steps, description="max steps (-1: epochs)", style=style, layout=lay)
        self.w_batch = W.IntText(value=batch_size, description="batch size", style=style, layout=lay)
        self.w_accum = W.IntText(value=gradient_accumulation_steps, description="grad accumulation", style=style, layout=lay)
        self.w_warmup = W.FloatText(value=warmup_ratio, description="warmup ratio", style=style, layout=lay)
        self.w_decay = W.FloatText(value=weight_decay, description="weight decay", style=style, layout=lay)
        self.w_sched = W.Dropdown(options=["linear", "cosine", "constant"], value=lr_scheduler_type,
                                  description="lr schedule", style=style, layout=lay)
        self.w_eval_steps = W.IntText(value=eval_steps, description="eval every (0: epoch)", style=style, layout=lay)
        self.w_log_steps = W.IntText(value=logging_steps, description="log every", style=style, layout=lay)
        self.w_max_len = W.IntText(value=max_length, description="max length", style=style, layout=lay)
        self.w_seed = W.IntText(value=seed, description="seed", style=style, layout=lay)
        self.w_output = W.Text(value=str(output_dir), description="output dir", style=style, layout=lay)
        form = W.HBox([
            W.VBox([self.w_model, self.w_dataset, self.w_text, self.w_label, self.w_output, self.w_max_len, self.w_seed]),
            W.VBox([self.w_lr, self.w_epochs, self.w_max_steps, self.w_batch, self.w_accum, self.w_warmup,
                    self.w_decay, self.w_sched, self.w_eval_steps, self.w_log_steps]),
        ])
        self.b_start = W.Button(description="Start", button_style="primary", icon="play")
        self.b_stop = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.b_resume = W.Button(description="Resume", icon="forward", disabled=True)
        self.b_eval = W.Button(description="Evaluate now", icon="check", disabled=True)
        self.b_try = W.Button(description="Try it", icon="hand-pointer-o", disabled=True)
        for b, name in ((self.b_start, "start"), (self.b_stop, "stop"), (self.b_resume, "resume"),
                        (self.b_eval, "evaluate"), (self.b_try, "try")):
            b.add_class(f"wb-finetune-{name}")
        self.b_start.on_click(lambda _: self.start())
        self.b_stop.on_click(lambda _: self.stop())
        self.b_resume.on_click(lambda _: self.resume())
        self.b_eval.on_click(lambda _: self.evaluate_now())
        self.b_try.on_click(lambda _: self.try_it())
        self.progress = W.IntProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="60%"))
        self.progress_text = W.HTML("")
        self.progress_text.add_class("wb-finetune-progress")
        self.loss_chart = LineChart(title="loss")
        self.lr_chart = LineChart(title="learning rate")
        self.metric_chart = LineChart(title="eval metrics")
        self.metrics_html = W.HTML("<i>no evaluation yet</i>")
        self.probe_html = W.HTML("")
        self.history_html = W.HTML("")
        self.try_box = W.VBox([])
        self.summary = W.HTML("")
        super().__init__(children=[
            form,
            W.HBox([self.b_start, self.b_stop, self.b_resume, self.b_eval, self.b_try]),
            W.HBox([self.progress, self.progress_text]),
            W.HBox([self.loss_chart, self.lr_chart, self.metric_chart], layout=W.Layout(flex_flow="row wrap")),
            W.HBox([W.VBox([W.HTML("<b>evaluation</b>"), self.metrics_html]),
                    W.VBox([W.HTML("<b>probe set</b>"), self.probe_html])]),
            W.VBox([W.HTML("<b>runs</b>"), self.history_html]),
            self.try_box,
        ])
        self.add_class("wb-finetune")

    # -- building the run ----------------------------------------------------------------------
    def _load_datasets(self) -> tuple[Any, Any]:
        import datasets

        data = self._dataset_arg
        if data is None or (isinstance(data, str) and not data) or self.w_dataset.value not in ("", "(dataset object)"):
            data = self.w_dataset.value.strip() or None
        if data is None:
            raise ValueError("no dataset: pass dataset=... (a datasets.Dataset, a CSV/JSON/Parquet file, or a hub id).")
        if isinstance(data, (str, os.PathLike)):
            if os.path.isfile(data):
                data = load_local_dataset(data)
            else:
                data = datasets.load_dataset(str(data))
        evals = self._eval_arg
        if isinstance(evals, (str, os.PathLike)):
            evals = load_local_dataset(evals)
        if isinstance(data, datasets.DatasetDict):
            if evals is None:
                evals = next((data[s] for s in ("validation", "test") if s in data), None)
            data = data["train"] if "train" in data else data[next(iter(data))]
        if len(data) == 0:
            raise ValueError("the dataset is empty; it needs at least one labelled row.")
        columns = [self.w_text.value, self.w_label.value]
        check_columns(data, columns, "the dataset")
        if evals is None:
            split = data.train_test_split(test_size=max(1, len(data) // 10), seed=int(self.w_seed.value))
            data, evals = split["train"], split["test"]
        check_columns(evals, columns, "the evaluation dataset")
        return data, evals

    def _load_model(self, labels: list[Any]) -> None:
        from workbench import AutoModelForSequenceClassification, AutoTokenizer

        if self.model is None:
            name = self.w_model.value.strip()
            if not name:
                raise ValueError("no model: pass model=... (a hub id, a folder, or a model with a classification head).")
            names = [str(v) for v in sorted(set(labels), key=str)]
            id2label = dict(enumerate(names))
            self.model = AutoModelForSequenceClassification.from_pretrained(
                name, num_labels=len(names), id2label=id2label, label2id={n: i for i, n in id2label.items()},
                ignore_mismatched_sizes=True)
        if self.tokenizer is None:
            source = getattr(self.model.config, "name_or_path", None) or self.w_model.value.strip()
            if not source:
                raise ValueError("no tokenizer: pass tokenizer=... (the model object does not say where it came from).")
            self.tokenizer = AutoTokenizer.from_pretrained(source)

    def _arguments(self) -> TrainingArguments:
        eval_steps = int(self.w_eval_steps.value)
        return TrainingArguments(
            output_dir=os.path.join(self.w_output.value, f"run-{len(self.runs) + 1}"),
            learning_rate=float(self.w_lr.value), num_train_epochs=float(self.w_epochs.value),
            max_steps=int(self.w_max_steps.value), per_device_train_batch_size=int(self.w_batch.value),
            per_device_eval_batch_size=max(int(self.w_batch.value), 32),
            gradient_accumulation_steps=int(self.w_accum.value), warmup_ratio=float(self.w_warmup.value),
            weight_decay=float(self.w_decay.value), lr_scheduler_type=self.w_sched.value,
            eval_strategy="steps" if eval_steps > 0 else "epoch", eval_steps=eval_steps or None,
            save_strategy="steps" if eval_steps > 0 else "epoch", save_steps=eval_steps or 500, save_total_limit=2,
            logging_steps=max(1, int(self.w_log_steps.value)), seed=int(self.w_seed.value), disable_tqdm=True,
        )

    def _prepare(self) -> Trainer:
        train_raw, eval_raw = self._load_datasets()
        label_col = self.w_label.value
        self._load_model(list(train_raw[label_col]))
        config = self.model.config
        label_mapping(list(train_raw[label_col]) + list(eval_raw[label_col]), config)  # clear error before any work
        max_len = int(self.w_max_len.value)
        train = tokenize_dataset(train_raw, self.tokenizer, text_column=self.w_text.value, label_column=label_col,
                                 config=config, max_length=max_len)
        evals = tokenize_dataset(eval_raw, self.tokenizer, text_column=self.w_text.value, label_column=label_col,
                                 config=config, max_length=max_len)
        if not self._probe_texts:
            self._probe_texts = [str(t) for t in eval_raw[self.w_text.value][:4]]
        return Trainer(self.model, self._arguments(), train, evals, processing_class=self.tokenizer,
                       compute_metrics=classification_metrics, callbacks=[self.callback])

    # -- probe set -------------------------------------------------------------------------------
    def _predict_probe(self) -> list[tuple[str, float]] | None:
        if not self._probe_texts or self.model is None or self.tokenizer is None:
            return None
        import torch

        was_training = self.model.training
        self.model.eval()
        try:
            device = next(self.model.parameters()).device
            with torch.no_grad():
                enc = self.tokenizer(self._probe_texts, padding=True, truncation=True,
                                     max_length=int(self.w_max_len.value), return_tensors="pt")
                logits = self.model(**{k: v.to(device) for k, v in enc.items()}).logits.float()
            probs = logits.softmax(-1).cpu()
        finally:
            self.model.train(was_training)
        id2label = self.model.config.id2label
        return [(id2label.get(int(p.argmax()), str(int(p.argmax()))), float(p.max())) for p in probs]

    # -- actions ---------------------------------------------------------------------------------
    def start(self, wait: bool = False) -> None:
        """Build a new run from the form and train it in a background thread (`wait=True`: block until done)."""
        if self._start() and wait:
            self.wait()

    def resume(self, wait: bool = False) -> None:
        """Continue the current run from its latest checkpoint."""
        if self._resume() and wait:
            self.wait()

    @guarded
    def _start(self) -> bool:
        if self.running:
            raise RuntimeError("a run is in progress; Stop it first (its checkpoint is kept), then Start or Resume.")
        self.trainer = self._prepare()
        self._probe_before = self._predict_probe()
        self._probe_now = None
        settings = {k: v for k, v in self.trainer.args.to_dict().items()
                    if k in ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                             "gradient_accumulation_steps", "warmup_ratio", "weight_decay", "lr_scheduler_type", "seed")}
        self.current_run = Run(name=f"run {len(self.runs) + 1}", settings=settings)
        self.runs.append(self.current_run)
        self._launch(resume=None)
        return True

    @guarded
    def _resume(self) -> bool:
        if self.running:
            raise RuntimeError("the run is still training; nothing to resume.")
        if self.trainer is None:
            raise RuntimeError("no run to resume yet; press Start first.")
        self.current_run.status = "running"
        self._launch(resume=True)
        return True

    def stop(self) -> None:
        """Stop at the next step boundary; the trainer saves a checkpoint there."""
        if self.trainer is not None and self.running:
            self.trainer.state.should_stop = True
            self.progress_text.value = "stopping at the next step (saving a checkpoint)…"

    @guarded
    def evaluate_now(self) -> dict[str, float] | None:
        if self.trainer is None:
            raise RuntimeError("no run yet; press Start first.")
        if self.running:
            self.trainer.state.should_evaluate = True  # the trainer evaluates at the next step boundary
            return None
        metrics = self.trainer.evaluate()
        return metrics

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the training thread ends (for scripts and headless notebooks). True when it ended."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @guarded
    def try_it(self) -> Any:
        """Hand the fine-tuned model to the matching task panel (TextClassifier)."""
        import importlib

        if self.model is None:
            raise RuntimeError("no model yet; train one first.")
        try:
            widgets = importlib.import_module("widgets")
            panel_cls = getattr(widgets, "TextClassifier")
        except (AttributeError, ImportError) as err:
            self.try_box.children = [W.HTML(
                '<div class="wb-finetune-try-missing">The TextClassifier panel is not available in this install '
                f"({html.escape(str(err))}). Use the model directly: <code>panel.model</code> and "
                "<code>panel.tokenizer</code>, or <code>panel.trainer.save_model(folder)</code>.</div>")]
            return None
        self.model.eval()
        panel = panel_cls(model=self.model, tokenizer=self.tokenizer)
        self.try_box.children = [panel]
        return panel

    # -- the training thread --------------------------------------------------------------------
    def _launch(self, resume: bool | None) -> None:
        self.running = True
        self._set_buttons()
        self._segment = (time.perf_counter(), self.trainer.state.global_step if resume else 0)
        import torch

        threads = torch.get_num_threads()  # the kernel's setting, applied in the training thread too
        self._thread = threading.Thread(target=self._run, args=(resume, threads), daemon=True, name="finetune")
        self._thread.start()

    def _run(self, resume: bool | None, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        run = self.current_run
        try:
            self.trainer.train(resume_from_checkpoint=resume)
            run.status = self.trainer.state.stop_reason or "finished"
            self.clear_error()
        except BaseException as err:  # shown in the panel: a widget never dies silently
            message = out_of_memory_message(err, int(self.w_batch.value)) or f"{type(err).__name__}: {err}"
            if self._last_checkpoint:
                message += f"\nLast checkpoint: {self._last_checkpoint}"
            run.status = "error"
            self.show_error(message)
        finally:
            self.running = False
            self._refresh()
            self.static_html = summary_html(self.runs, self.current_run, self._probe_texts, self._probe_before,
                                            self._probe_now)
            self._set_buttons()

    def _set_buttons(self) -> None:
        has_run = self.trainer is not None
        self.b_start.disabled = self.running
        self.b_stop.disabled = not self.running
        self.b_eval.disabled = not has_run
        done = has_run and not self.running
        self.b_resume.disabled = not (done and self.current_run is not None and self.current_run.status != "finished"
                                      and self._last_checkpoint is not None)
        self.b_try.disabled = not done

    # -- rendering -----------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Copy the trainer's state into the widgets (called throttled from the training thread)."""
        if self.trainer is None:
            return
        state = self.trainer.state
        start, start_step = self._segment
        elapsed = time.perf_counter() - start
        done = max(0, state.global_step - start_step)
        eta = (state.max_steps - state.global_step) * elapsed / done if done else None
        speed = state.examples_seen / state.train_runtime if state.train_runtime > 0 else 0.0
        last_loss = self.current_run.losses[-1] if self.current_run and self.current_run.losses else float("nan")
        with self.hold_sync():
            self.step, self.max_steps = state.global_step, state.max_steps
        self.progress.max = max(1, state.max_steps)
        self.progress.value = state.global_step
        status = "running" if self.running else (self.current_run.status if self.current_run else "")
        self.progress_text.value = (
            f"step {state.global_step}/{state.max_steps} · epoch {state.epoch:.2f} · loss {last_loss:.4f} · "
            f"{speed:.1f} examples/s · ETA {format_eta(eta) if self.running else '--:--'} · {html.escape(status)}")
        series_loss, series_lr, series_metric = [], [], []
        for i, run in enumerate(self.runs):
            current = run is self.current_run
            color = run_color(i)
            series_loss.append({"name": run.name, "x": run.steps, "y": run.losses, "color": color, "dash": not current})
            series_lr.append({"name": run.name, "x": run.steps, "y": run.lrs, "color": color, "dash": not current})
            if run.evals:
                series_metric.append({"name": f"{run.name} eval loss", "x": [e["step"] for e in run.evals],
                                      "y": [e["eval_loss"] for e in run.evals], "color": color, "dash": True})
                if "eval_accuracy" in run.evals[0]:
                    series_metric.append({"name": f"{run.name} accuracy", "x": [e["step"] for e in run.evals],
                                          "y": [e["eval_accuracy"] for e in run.evals], "color": color})
        self.loss_chart.set_series(series_loss)
        self.lr_chart.set_series(series_lr)
        self.metric_chart.set_series(series_metric)
        if self.current_run is not None:
            self.metrics_html.value = metrics_table_html(self.current_run.evals)
        finished = not self.running and self.current_run is not None and self.current_run.status in ("finished", "stopped")
        self.probe_html.value = probe_table_html(self._probe_texts, self._probe_before, self._probe_now,
                                                 "after" if finished else "now")
        self.history_html.value = history_html(self.runs)
