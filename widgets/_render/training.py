"""Renderers for the FineTune cockpit: run records -> HTML tables, curves PNG, messages.

A run is anything with `name`, `status`, `settings`, `steps`, `losses`, `lrs` and `evals`
(list of eval metric dicts), such as `widgets.finetune.Run`.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from typing import Any

from . import figure_png

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def run_color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def format_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def progress_html(state: Any, loss: float, speed: float, eta: float | None, status: str) -> str:
    """The line under the progress bar: step, epoch, last loss, speed, time left, status. A narrow panel wraps it
    between items only ("ETA" never parts from its time)."""
    items = [f"step {state.global_step}/{state.max_steps}", f"epoch {state.epoch:.2f}", f"loss {loss:.4f}",
             f"{speed:.1f} examples/s", f"ETA {format_eta(eta)}", html.escape(status)]
    return " · ".join(f'<span style="white-space:nowrap">{item}</span>' for item in items)


def chart_series(runs: Sequence[Any], current: Any) -> tuple[list[dict[str, Any]], ...]:
    """The live charts' series, one chart per quantity (loss, learning rate, eval loss, eval accuracy): one
    colour per run, earlier runs dashed. Loss and accuracy never share an axis (different units and ranges)."""
    loss, lr, eval_loss, accuracy = [], [], [], []
    for i, run in enumerate(runs):
        color, dash = run_color(i), run is not current
        loss.append({"name": run.name, "x": run.steps, "y": run.losses, "color": color, "dash": dash})
        lr.append({"name": run.name, "x": run.steps, "y": run.lrs, "color": color, "dash": dash})
        if run.evals:
            steps = [e["step"] for e in run.evals]
            eval_loss.append({"name": run.name, "x": steps, "y": [e["eval_loss"] for e in run.evals],
                              "color": color, "dash": dash})
            if "eval_accuracy" in run.evals[0]:
                accuracy.append({"name": run.name, "x": steps, "y": [e["eval_accuracy"] for e in run.evals],
                                 "color": color, "dash": dash})
    return loss, lr, eval_loss, accuracy


def metrics_table_html(evals: Sequence[dict[str, float]]) -> str:
    if not evals:
        return "<i>no evaluation yet</i>"
    keys = [k for k in evals[-1] if k.startswith("eval_") and not k.endswith(("runtime", "samples_per_second"))]
    head = "".join(f"<th>{html.escape(k.removeprefix('eval_'))}</th>" for k in keys)
    rows = "".join(
        f"<tr><td>{int(e.get('step', 0))}</td><td>{e.get('epoch', 0):.2f}</td>"
        + "".join(f"<td>{e.get(k, float('nan')):.4f}</td>" for k in keys) + "</tr>"
        for e in evals
    )
    return (f'<table class="wb-finetune-metrics" style="border-collapse:collapse;font-size:12px">'
            f"<tr><th>step</th><th>epoch</th>{head}</tr>{rows}</table>")


def probe_table_html(texts: Sequence[str], before: Sequence[tuple[str, float]] | None,
                     now: Sequence[tuple[str, float]] | None, now_title: str = "now") -> str:
    if not texts:
        return ""
    head = "<tr><th>text</th>" + ("<th>before</th>" if before else "") + (f"<th>{now_title}</th>" if now else "") + "</tr>"
    rows = []
    for i, text in enumerate(texts):
        cells = [f"<td>{html.escape(text)}</td>"]
        for preds in (before, now):
            if preds:
                label, score = preds[i]
                cells.append(f"<td><b>{html.escape(label)}</b> {score:.2f}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="wb-finetune-probe" style="font-size:12px">{head}{"".join(rows)}</table>'


def history_html(runs: Sequence[Any]) -> str:
    """One row per run: status, last step and loss, last accuracy, learning rate and batch size."""
    rows = []
    for i, run in enumerate(runs):
        last_eval = run.evals[-1] if run.evals else {}
        acc = last_eval.get("eval_accuracy")
        rows.append(
            f'<tr><td style="color:{run_color(i)}">{html.escape(run.name)}</td><td>{html.escape(run.status)}</td>'
            f"<td>{run.steps[-1] if run.steps else 0}</td><td>{run.losses[-1] if run.losses else float('nan'):.4f}</td>"
            f"<td>{'' if acc is None else f'{acc:.3f}'}</td>"
            f"<td>lr {run.settings.get('learning_rate')}, bs {run.settings.get('per_device_train_batch_size')}</td></tr>")
    return ('<table class="wb-finetune-runs" style="font-size:12px"><tr><th>run</th><th>status</th><th>step</th>'
            f"<th>loss</th><th>accuracy</th><th>settings</th></tr>{''.join(rows)}</table>")


def curves_figure(runs: Sequence[Any]) -> Any:
    """Loss, learning-rate and (when evaluated) accuracy curves of the runs: one quantity per axes, scientific
    ticks where values are tiny, one legend under the axes (matplotlib, no pyplot: thread-safe)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    has_acc = any(run.evals and "eval_accuracy" in run.evals[0] for run in runs)
    fig = Figure(figsize=(9 if has_acc else 7, 3.2), dpi=90, layout="constrained")
    axes = fig.subplots(1, 3 if has_acc else 2)
    ax_loss, ax_lr = axes[0], axes[1]
    for i, run in enumerate(runs):
        color = run_color(i)
        if run.steps:
            ax_loss.plot(run.steps, run.losses, color=color, label=f"{run.name} train")
            ax_lr.plot(run.steps, run.lrs, color=color)
        if run.evals:
            steps = [e["step"] for e in run.evals]
            ax_loss.plot(steps, [e["eval_loss"] for e in run.evals], "o--", color=color, label=f"{run.name} eval")
            if has_acc and "eval_accuracy" in run.evals[0]:
                axes[2].plot(steps, [e["eval_accuracy"] for e in run.evals], "o-", color=color)
    for ax, title in zip(axes, ("loss", "learning rate", "eval accuracy")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 4))  # 9.6e-5, not 0.0000963
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    if runs:
        fig.legend(*ax_loss.get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    return fig


def curves_png(runs: Sequence[Any]) -> bytes:
    """`curves_figure` as PNG bytes: the static view of the cockpit's charts."""
    return figure_png(curves_figure(runs))


def summary_html(runs: Sequence[Any], current: Any, probe_texts: Sequence[str],
                 probe_before: Sequence[tuple[str, float]] | None, probe_after: Sequence[tuple[str, float]] | None) -> str:
    """The static view a saved notebook shows: curves PNG, the current run's metrics, the runs, the probe set."""
    try:
        png = base64.b64encode(curves_png(runs)).decode("ascii")
    except Exception as err:  # the static view is a bonus; never hide the run's outcome for it
        png, note = "", f"(curves unavailable: {err})"
    else:
        note = ""
    evals = current.evals if current is not None else []
    return (
        '<div class="wb-finetune-summary"><b>Fine-tuning summary</b> '
        f"{html.escape(note)}<br>"
        + (f'<img alt="training curves" src="data:image/png;base64,{png}"/>' if png else "")
        + metrics_table_html(evals) + history_html(runs)
        + probe_table_html(probe_texts, probe_before, probe_after, "after") + "</div>"
    )


def out_of_memory_message(err: BaseException, batch_size: int) -> str | None:
    text = str(err)
    is_oom = type(err).__name__ == "OutOfMemoryError" or "out of memory" in text.lower()
    if not is_oom:
        return None
    return (f"Out of memory during training (batch size {batch_size}): {text.splitlines()[0] if text else ''}\n"
            "Fix: lower the batch size and raise gradient accumulation to keep the same effective batch, "
            "lower the max length, or enable bf16/fp16 on a GPU. The last checkpoint is kept; Resume continues from it.")
