"""FineTune: configure, launch, watch, stop, resume and compare fine-tuning runs in one panel.

Wiring only: the settings are traits linked to the form; Start hands them to the headless
`workbench.training.prepare_classification` (data, labels, model, tokenizer) and a `Trainer`,
which a runner trains while the notebook stays responsive: on CPU in a worker process (as fast
as a script: the kernel's own thread pool does not compete), on GPU in a background thread
(`runner=`; see `workbench.training.runner`). Stop and Evaluate now are requests the trainer
applies at its next step. A throttled callback copies the state into the widgets a few
times per second; charts are drawn in the browser from float32 arrays (`LineChart`), tables
and the static summary a saved notebook shows come from `widgets._render.training`.
"""

from __future__ import annotations

import copy
import html
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import ipywidgets as W
import traitlets as T

from workbench.training import (
    Trainer,
    TrainerCallback,
    TrainingArguments,
    classification_metrics,
    predict_labels,
    prepare_classification,
)
from workbench.training.runner import KINDS, make_runner

from ._base import Panel, guarded
from ._render.training import (
    chart_series,
    history_html,
    metrics_table_html,
    out_of_memory_message,
    probe_table_html,
    progress_html,
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
        runner = self.panel._runner
        in_worker = runner is not None and runner.kind == "process" and self.panel.running
        self.panel._probe_now = runner.latest_probe if in_worker else self.panel._predict_probe()
        self._maybe_refresh(force=True)

    def on_save(self, state, trainer, checkpoint) -> None:
        self.panel._last_checkpoint = str(checkpoint)

    def on_fit_end(self, state, trainer) -> None:
        self._maybe_refresh(force=True)


class FineTune(Panel):
    """`FineTune(model=..., dataset=..., text_column="text", label_column="label")`.

    model: a hub id, a folder, or a model with a sequence-classification head.
    dataset: a `datasets.Dataset`/`DatasetDict`, a local CSV/JSON/Parquet file, or a hub dataset id.
    runner: "auto" (CPU: a worker process, GPU: a thread), "process" or "thread".
    The settings are traits (named as the arguments; `max_train_steps` is `max_steps`), linked both
    ways to the form's controls; Start reads them.
    """

    running = T.Bool(False).tag(sync=True)
    step = T.Int(0).tag(sync=True)  # the run's progress: optimizer steps done ...
    max_steps = T.Int(0).tag(sync=True)  # ... of this many
    # -- settings
    model_name = T.Unicode("").tag(sync=True)  # hub id or folder ("" when a model object was given)
    dataset_name = T.Unicode("").tag(sync=True)  # file or hub id ("" when a dataset object was given)
    text_column = T.Unicode("text").tag(sync=True)
    label_column = T.Unicode("label").tag(sync=True)
    output_dir = T.Unicode("finetune_runs").tag(sync=True)  # each run writes to <output_dir>/run-<n>
    learning_rate = T.Float(5e-5).tag(sync=True)
    num_train_epochs = T.Float(3.0).tag(sync=True)
    max_train_steps = T.Int(-1).tag(sync=True)  # TrainingArguments.max_steps; -1: num_train_epochs decides
    batch_size = T.Int(16).tag(sync=True)
    gradient_accumulation_steps = T.Int(1).tag(sync=True)
    warmup_ratio = T.Float(0.1).tag(sync=True)
    weight_decay = T.Float(0.01).tag(sync=True)
    lr_scheduler_type = T.Enum(["linear", "cosine", "constant"], "linear").tag(sync=True)
    eval_steps = T.Int(0).tag(sync=True)  # evaluate (and save) every this many steps; 0: every epoch
    logging_steps = T.Int(5).tag(sync=True)
    max_length = T.Int(128).tag(sync=True)
    seed = T.Int(42).tag(sync=True)

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
        runner: str = "auto",
    ) -> None:
        if runner not in KINDS:
            raise ValueError(f"runner={runner!r} is not one of {KINDS}.")
        self.runner = runner
        self._model_before: Any = None
        self._runner: Any = None  # the current run's ThreadRunner / ProcessRunner
        by_name = (str, os.PathLike)
        self.model: Any = None if isinstance(model, by_name) or model is None else model
        self._dataset_object = None if isinstance(dataset, by_name) else dataset
        self._eval_arg = eval_dataset
        self.tokenizer = tokenizer
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
        settings = dict(
            model_name=str(model) if isinstance(model, by_name) else "",
            dataset_name=str(dataset) if isinstance(dataset, by_name) else "", text_column=text_column,
            label_column=label_column, output_dir=str(output_dir), learning_rate=learning_rate,
            num_train_epochs=num_train_epochs, max_train_steps=max_steps, batch_size=batch_size,
            gradient_accumulation_steps=gradient_accumulation_steps, warmup_ratio=warmup_ratio, weight_decay=weight_decay,
            lr_scheduler_type=lr_scheduler_type, eval_steps=eval_steps, logging_steps=logging_steps,
            max_length=max_length, seed=seed)
        self.b_start = W.Button(description="Start", button_style="primary", icon="play")
        self.b_stop = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.b_resume = W.Button(description="Resume", icon="forward", disabled=True)
        self.b_eval = W.Button(description="Evaluate now", icon="check", disabled=True)
        self.b_try = W.Button(description="Try it", icon="columns", disabled=True,
                              tooltip="the model before and after training side by side (Compare): your text and the probe set")
        self.b_alone = W.Button(description="Trained model alone", icon="hand-pointer-o", disabled=True,
                                tooltip="the trained model in the text-classification panel")
        self.b_share = W.Button(description="Share", icon="upload", disabled=True,
                                tooltip="push the trained model, its tokenizer and a model card to the hub")
        self.w_repo = W.Text(value="", placeholder="repo id (default: the run folder's name)", layout=W.Layout(width="260px"))
        self.w_private = W.Checkbox(value=True, description="private", indent=False, layout=W.Layout(width="80px"))
        self.share_html = W.HTML("")
        for b in (self.b_start, self.b_stop, self.b_resume, self.b_eval, self.b_try, self.b_alone):
            b.layout = W.Layout(width="auto", flex="0 0 auto")  # each as wide as its label: one row, none cut
        for b, name in ((self.b_start, "start"), (self.b_stop, "stop"), (self.b_resume, "resume"),
                        (self.b_eval, "evaluate"), (self.b_try, "try"), (self.b_alone, "alone"),
                        (self.b_share, "share")):
            b.add_class(f"wb-finetune-{name}")
        self.b_start.on_click(lambda _: self.start())
        self.b_stop.on_click(lambda _: self.stop())
        self.b_resume.on_click(lambda _: self.resume())
        self.b_eval.on_click(lambda _: self.evaluate_now())
        self.b_try.on_click(lambda _: self.try_it())
        self.b_alone.on_click(lambda _: self.try_alone())
        self.b_share.on_click(lambda _: self.share())
        self.progress = W.IntProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="60%"))
        self.progress_text = W.HTML("")
        self.progress_text.add_class("wb-finetune-progress")
        self.loss_chart = LineChart(title="loss")
        self.lr_chart = LineChart(title="learning rate")
        self.eval_chart = LineChart(title="eval loss")
        self.accuracy_chart = LineChart(title="eval accuracy")
        self.metrics_html = W.HTML("<i>no evaluation yet</i>")
        self.probe_html = W.HTML("")
        self.history_html = W.HTML("")
        self.try_box = W.VBox([])
        self.form = W.HBox([])
        super().__init__(children=[
            self.form,
            W.HBox([self.b_start, self.b_stop, self.b_resume, self.b_eval, self.b_try, self.b_alone],
                   layout=W.Layout(flex_flow="row wrap")),  # narrow outputs wrap the row, never cut a label
            W.HBox([self.progress, self.progress_text]),
            W.HBox([self.loss_chart, self.lr_chart, self.eval_chart, self.accuracy_chart],
                   layout=W.Layout(flex_flow="row wrap")),
            W.HBox([W.VBox([W.HTML("<b>evaluation</b>"), self.metrics_html]),
                    W.VBox([W.HTML("<b>probe set</b>"), self.probe_html])]),
            W.VBox([W.HTML("<b>runs</b>"), self.history_html]),
            W.HBox([self.b_share, self.w_repo, self.w_private]), self.share_html,
            self.try_box,
        ], **settings)
        self.add_class("wb-finetune")
        self._build_form()

    def _build_form(self) -> None:
        """One control per setting, linked both ways to its trait (a model or dataset object: a disabled note)."""
        style, lay = {"description_width": "170px"}, W.Layout(width="360px")  # "max steps (-1: epochs)" whole

        def control(cls: type, name: str, description: str, **kw: Any) -> W.Widget:
            widget = cls(value=getattr(self, name), description=description, style=style, layout=lay, **kw)
            T.link((self, name), (widget, "value"))
            return widget

        def source(name: str, description: str, given: Any, note: str) -> W.Widget:
            if given is None:
                return control(W.Text, name, description)
            return W.Text(value=note, description=description, disabled=True, style=style, layout=lay)

        self.w_model = source("model_name", "model", self.model, "(model object)")
        self.w_dataset = source("dataset_name", "dataset", self._dataset_object, "(dataset object)")
        self.w_text = control(W.Text, "text_column", "text column")
        self.w_label = control(W.Text, "label_column", "label column")
        self.w_lr = control(W.FloatText, "learning_rate", "learning rate")
        self.w_epochs = control(W.FloatText, "num_train_epochs", "epochs")
        self.w_max_steps = control(W.IntText, "max_train_steps", "max steps (-1: epochs)")
        self.w_batch = control(W.IntText, "batch_size", "batch size")
        self.w_accum = control(W.IntText, "gradient_accumulation_steps", "grad accumulation")
        self.w_warmup = control(W.FloatText, "warmup_ratio", "warmup ratio")
        self.w_decay = control(W.FloatText, "weight_decay", "weight decay")
        self.w_sched = control(W.Dropdown, "lr_scheduler_type", "lr schedule", options=["linear", "cosine", "constant"])
        self.w_eval_steps = control(W.IntText, "eval_steps", "eval every (0: epoch)")
        self.w_log_steps = control(W.IntText, "logging_steps", "log every")
        self.w_max_len = control(W.IntText, "max_length", "max length")
        self.w_seed = control(W.IntText, "seed", "seed")
        self.w_output = control(W.Text, "output_dir", "output dir")
        self.form.children = [
            W.VBox([self.w_model, self.w_dataset, self.w_text, self.w_label, self.w_output, self.w_max_len, self.w_seed]),
            W.VBox([self.w_lr, self.w_epochs, self.w_max_steps, self.w_batch, self.w_accum, self.w_warmup,
                    self.w_decay, self.w_sched, self.w_eval_steps, self.w_log_steps]),
        ]

    # -- building the run ----------------------------------------------------------------------
    def _arguments(self) -> TrainingArguments:
        eval_steps = self.eval_steps
        return TrainingArguments(
            output_dir=os.path.join(self.output_dir, f"run-{len(self.runs) + 1}"),
            learning_rate=self.learning_rate, num_train_epochs=self.num_train_epochs,
            max_steps=self.max_train_steps, per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=max(self.batch_size, 32),
            gradient_accumulation_steps=self.gradient_accumulation_steps, warmup_ratio=self.warmup_ratio,
            weight_decay=self.weight_decay, lr_scheduler_type=self.lr_scheduler_type,
            eval_strategy="steps" if eval_steps > 0 else "epoch", eval_steps=eval_steps or None,
            save_strategy="steps" if eval_steps > 0 else "epoch", save_steps=eval_steps or 500, save_total_limit=2,
            logging_steps=max(1, self.logging_steps), seed=self.seed, disable_tqdm=True,
        )

    def _prepare(self) -> Trainer:
        """Data, labels, model and tokenizer through the headless helper; then the run's Trainer."""
        prepared = prepare_classification(
            self.model if self.model is not None else self.model_name,
            self._dataset_object if self._dataset_object is not None else self.dataset_name, self._eval_arg,
            text_column=self.text_column, label_column=self.label_column, tokenizer=self.tokenizer,
            max_length=self.max_length, seed=self.seed)
        self.model, self.tokenizer = prepared.model, prepared.tokenizer
        if not self._probe_texts:
            self._probe_texts = [str(t) for t in prepared.raw_eval[self.text_column][:4]]
        return Trainer(self.model, self._arguments(), prepared.train_dataset, prepared.eval_dataset,
                       processing_class=self.tokenizer, compute_metrics=classification_metrics, callbacks=[self.callback])

    def _predict_probe(self) -> list[tuple[str, float]] | None:
        if not self._probe_texts or self.model is None or self.tokenizer is None:
            return None
        return predict_labels(self.model, self.tokenizer, self._probe_texts, self.max_length)

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
        if self._model_before is None:  # the model as it was before any training: "before" in Compare
            self._model_before = copy.deepcopy(self.model).eval()
        self._probe_before = self._predict_probe()
        self._probe_now = None
        settings = {k: v for k, v in self.trainer.args.to_dict().items()
                    if k in ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                             "gradient_accumulation_steps", "warmup_ratio", "weight_decay", "lr_scheduler_type", "seed")}
        self.current_run = Run(name=f"run {len(self.runs) + 1}", settings=settings)
        self.runs.append(self.current_run)
        if self._runner is not None:
            self._runner.close()
        self._runner = make_runner(self.trainer, self.runner, probe_texts=self._probe_texts, max_length=self.max_length)
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
            self._runner.stop()
            self.progress_text.value = "stopping at the next step (saving a checkpoint)…"

    @guarded
    def evaluate_now(self) -> dict[str, float] | None:
        if self.trainer is None:
            raise RuntimeError("no run yet; press Start first.")
        if self.running:
            self._runner.evaluate_now()  # the trainer evaluates at the next step boundary
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
    def try_it(self, text: str | None = None) -> Any:
        """Try the trained model against itself before training: `Compare` with the model before training (the
        reference) and after it, your `text` (default: the first probe text; type others in its box) in columns
        and the probe set's answers where the two disagree. `try_alone()`: the trained model by itself."""
        from workbench.pipelines import pipeline

        from .compare import Compare

        if self.model is None or self._model_before is None or self.running:
            raise RuntimeError("no finished run yet; train first (Compare needs the model before and after).")
        self.model.eval()
        pipes = [pipeline("text-classification", model=m, tokenizer=self.tokenizer)
                 for m in (self._model_before, self.model)]
        panel = Compare("text-classification", pipes, names=["before training", "after training"],
                        text=text if text is not None else (self._probe_texts[0] if self._probe_texts else ""))
        if self._probe_texts:
            panel.batch(list(self._probe_texts))
        self.try_box.children = [panel]
        return panel

    @guarded
    def try_alone(self) -> Any:
        """Hand the fine-tuned model alone to the matching task panel (TextClassifier)."""
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

    @guarded
    def share(self, repo_id: str | None = None, *, private: bool | None = None, token: str | None = None) -> Any:
        """Push the trained model, tokenizer and a model card (metrics, settings, curves) to the hub (the Share
        button: repo id and private flag from the form). Returns huggingface_hub's CommitInfo."""
        if self.trainer is None or self.running:
            raise RuntimeError("no finished run to share; train first (Stop a running one first).")
        repo = (repo_id or self.w_repo.value or "").strip() or None
        self.share_html.value = "<i>uploading…</i>"
        try:
            info = self.trainer.push_to_hub(
                f"Fine-tuned in the workbench cockpit ({self.current_run.name if self.current_run else 'run'})",
                repo_id=repo, token=token, private=self.w_private.value if private is None else private,
                finetuned_from=self.model_name or None, dataset=self.dataset_name or None)
        except BaseException:
            self.share_html.value = ""
            raise
        url = str(getattr(info, "repo_url", "") or "")
        self.share_html.value = (f'<div class="wb-finetune-shared">Shared: <a href="{html.escape(url)}" target="_blank">'
                                 f'{html.escape(url)}</a> (commit {html.escape(str(info.oid)[:8])})</div>')
        return info

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
        run = self.current_run
        try:
            self._runner.run(resume, threads)
            run.status = self.trainer.state.stop_reason or "finished"
            self.clear_error()
        except BaseException as err:  # shown in the panel: a widget never dies silently
            message = out_of_memory_message(err, self.batch_size) or f"{type(err).__name__}: {err}"
            if self._last_checkpoint and self._last_checkpoint not in message:
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
        self.b_try.disabled = not done or self._model_before is None
        self.b_alone.disabled = not done
        self.b_share.disabled = not done

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
        self.progress_text.value = progress_html(state, last_loss, speed, eta if self.running else None, status)
        for chart, series in zip((self.loss_chart, self.lr_chart, self.eval_chart, self.accuracy_chart),
                                 chart_series(self.runs, self.current_run)):
            chart.set_series(series)
        if self.current_run is not None:
            self.metrics_html.value = metrics_table_html(self.current_run.evals)
        finished = not self.running and self.current_run is not None and self.current_run.status in ("finished", "stopped")
        self.probe_html.value = probe_table_html(self._probe_texts, self._probe_before, self._probe_now,
                                                 "after" if finished else "now")
        self.history_html.value = history_html(self.runs)
