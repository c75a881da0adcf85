"""`Compare(task, models=[...])`: one input through N models, answers in aligned columns, differences marked.

The first model is the reference: every other column says how its answer differs from the reference's
(rank moves, label flips and score deltas, entity changes, word edits, box matches with IoU: the task's
`CompareRule` in `widgets._compare_rules`), with each model's latency and parameter count. `batch(data)`
runs a small dataset (a list, a `datasets.Dataset`, a CSV file) through every model: per-model metric
when there are labels and the examples where the answers differ. Models are hub ids, folders, loaded
models or pipelines; the diffs are pure functions (`widgets._diff`) and the drawing is
`widgets._render.compare`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import anywidget
import ipywidgets as W
import traitlets as T

from ._base import Panel, es_module, guarded
from ._compare_rules import rule_for
from ._live import resolve_pipeline
from ._render import compare as R


def model_name(model: Any, index: int) -> str:
    """A column's title: the hub id or folder, else the pipeline's / model's name_or_path, else its class."""
    if isinstance(model, (str, os.PathLike)):
        return str(model)
    inner = getattr(model, "model", model)
    name = getattr(getattr(inner, "config", None), "name_or_path", "") or ""
    return str(name) or f"{type(inner).__name__} #{index + 1}"


def parameter_count(pipe: Any) -> int | None:
    model = getattr(pipe, "model", None)
    return sum(p.numel() for p in model.parameters()) if hasattr(model, "parameters") else None


def read_examples(data: Any, input_column: str, label_column: str | None) -> tuple[list[Any], list[Any] | None]:
    """Inputs (and labels, when the column exists) from a list, a `datasets.Dataset` or a CSV file."""
    if isinstance(data, (str, os.PathLike)):
        import csv

        with open(data, newline="", encoding="utf-8") as f:
            data = list(csv.DictReader(f))
    rows = [row for row in data]
    if rows and not isinstance(rows[0], dict):
        return rows, None  # a plain list of inputs
    if rows and input_column not in rows[0]:
        raise ValueError(f"the examples have no column {input_column!r} (columns: {', '.join(rows[0])}); "
                         "pass input_column=...")
    labels = [row[label_column] for row in rows] if rows and label_column and label_column in rows[0] else None
    return [row[input_column] for row in rows], labels


class DisagreementTable(anywidget.AnyWidget):
    """The batch's disagreement table, sorted in the browser (click a header): `columns`, `rows` (lists), and
    `wrong`: per row, the column indices whose answer is not the label."""

    _esm = es_module("compare_table.js")
    css = T.Unicode(R.CSS).tag(sync=True)
    columns = T.List().tag(sync=True)
    rows = T.List().tag(sync=True)
    wrong = T.List().tag(sync=True)


class Compare(Panel):
    """`Compare(task, models=[reference, other, ...], names=None, text="", tokenizer=None)`: the same input through
    every model (`tokenizer`: for loaded models that do not carry one; `options`: the task's call options, e.g.
    `top_k`, `threshold`, `max_new_tokens`).

    From code: set `text` (or call `run(value)` for images, audio or question/context pairs); `columns` holds
    each model's name, latency, parameters, result, `agrees` and `note`; `batch(data)` fills `summary` and
    `disagreements`."""

    text = T.Unicode("").tag(sync=True)
    columns = T.List()  # one dict per model, the reference first
    summary = T.List()  # batch: one dict per model (n, metric, latency)
    disagreements = T.List()  # batch: one dict per example where the short answers differ
    html = T.Unicode("")
    runs = T.Int(0)  # inputs compared so far (run calls that finished)

    def __init__(self, task: str, models: Sequence[Any], *, names: Sequence[str] | None = None, text: str = "",
                 options: dict[str, Any] | None = None, tokenizer: Any = None) -> None:
        self.task = task
        self.rule = rule_for(task)
        if len(models) < 2:
            raise ValueError(f"Compare needs at least two models (got {len(models)}): the first is the reference.")
        if names is not None and len(names) != len(models):
            raise ValueError(f"names has {len(names)} entries for {len(models)} models; give one name per model.")
        self.names = list(names) if names is not None else [model_name(m, i) for i, m in enumerate(models)]
        self.options = dict(options or {})
        self._input = W.Textarea(placeholder="The input every model reads", layout=W.Layout(width="100%"))
        self._run_button = W.Button(description="Compare", icon="columns", button_style="primary")
        self._view = W.HTML(value="")
        self._batch_view = W.HTML(value="")
        self.table = DisagreementTable()
        self._attention_button = W.Button(description="Attention side by side", icon="eye", layout=W.Layout(width="auto"),
                                          tooltip="the same layer and heads of every model on this input")
        self._attention_button.on_click(lambda _: self.show_attention())
        self.attention_box = W.HBox([], layout=W.Layout(flex_flow="row wrap"))
        controls = [self._input, W.HBox([self._run_button, self._attention_button])] if self.rule.input == "text" else []
        super().__init__(children=[*controls, self._view, self._batch_view, self.table, self.attention_box])
        self.add_class("wb-compare-panel")
        T.link((self._input, "value"), (self, "text"))
        self._run_button.on_click(lambda _: self.run())
        self.pipes = [resolve_pipeline(task, m, tokenizer) for m in models]  # `tokenizer`: for loaded models
        self.parameters = [parameter_count(p) for p in self.pipes]
        if text:
            self.text = text
            self.run()

    def _answer(self, pipe: Any, value: Any) -> tuple[Any, float]:
        start = time.perf_counter()
        result = self.rule.call(pipe, value, self.options)
        return result, (time.perf_counter() - start) * 1000

    @guarded
    def run(self, value: Any = None) -> list[dict[str, Any]]:
        """Run `value` (default: the `text` box) through every model and draw the columns."""
        value = self.text if value is None else value
        if isinstance(value, str) and not value.strip():
            raise ValueError("type an input first: every model reads the same one.")
        columns: list[dict[str, Any]] = []
        ref = None
        for i, pipe in enumerate(self.pipes):
            col: dict[str, Any] = {"name": self.names[i], "parameters": self.parameters[i]}
            try:
                result, col["latency_ms"] = self._answer(pipe, value)
            except Exception as err:  # one model failing is a column's news, not the panel's
                col.update(error=f"{type(err).__name__}: {err}", agrees=False, note="failed")
                columns.append(col)
                continue
            if i == 0:
                ref = result
                marks = None
                col.update(agrees=True, note="reference")
            elif ref is None:
                marks = None
                col.update(agrees=False, note="the reference failed: nothing to compare with")
            else:
                marks = self.rule.diff(ref, result)
                col.update(agrees=bool(marks["agrees"]), note=marks["note"])
            col.update(result=result, answer=self.rule.answer(result), marks=marks,
                       html=self.rule.render(value, result, marks, ref))
            columns.append(col)
        self.columns = columns
        self._draw()
        self.runs += 1
        return columns

    @guarded
    def batch(self, data: Any, *, input_column: str = "text", label_column: str | None = "label") -> list[dict[str, Any]]:
        """Every example through every model: per-model metric (when labels exist), mean latency, and the
        examples whose short answers differ (`disagreements`, most models disagreeing first)."""
        inputs, labels = read_examples(data, input_column, label_column)
        if not inputs:
            raise ValueError("the dataset is empty.")
        answers = [[] for _ in self.pipes]
        scores: list[list[float]] = [[] for _ in self.pipes]
        latency = [0.0 for _ in self.pipes]
        for k, value in enumerate(inputs):
            for i, pipe in enumerate(self.pipes):
                result, ms = self._answer(pipe, value)
                latency[i] += ms
                answers[i].append(self.rule.answer(result))
                if labels is not None and self.rule.score is not None:
                    scores[i].append(self.rule.score(result, labels[k]))
        metric = self.rule.metric if labels is not None and self.rule.score is not None else None
        self.summary = [{"name": self.names[i], "n": len(inputs), "latency_ms": latency[i] / len(inputs),
                         "parameters": self.parameters[i],
                         "metric": sum(scores[i]) / len(scores[i]) if metric else None} for i in range(len(self.pipes))]
        rows = []
        for k, value in enumerate(inputs):
            given = [answers[i][k] for i in range(len(self.pipes))]
            if len(set(given)) > 1:
                row = {"index": k, "input": str(value), "label": None if labels is None else labels[k],
                       "answers": dict(zip(self.names, given)),
                       "differs_from_reference": sum(a != given[0] for a in given[1:])}
                rows.append(row)
        rows.sort(key=lambda r: (-r["differs_from_reference"], r["index"]))
        self.disagreements = rows
        self._batch_metric = metric
        self._draw()
        return rows

    @guarded
    def show_attention(self, layer: int = 0, heads: Sequence[int] | None = None) -> list[Any]:
        """An `AttentionView` per model on the current text, side by side, their layer and heads linked (change one,
        all follow). Only for models whose tokenizers split the text into the same tokens (else the rows of the
        matrices would not be the same words)."""
        from .attention import AttentionView

        if self.rule.input != "text" or not self.text.strip():
            raise ValueError("type a text first: the attention views show every model reading the same one.")
        tokens = [list(p.tokenizer.tokenize(self.text)) if getattr(p, "tokenizer", None) is not None else None
                  for p in self.pipes]
        differ = [self.names[i] for i, t in enumerate(tokens) if t is None or t != tokens[0]]
        if differ:
            raise ValueError(f"{', '.join(differ)} split the text into other tokens than {self.names[0]}: attention "
                             "side by side needs models with the same tokenizer.")
        views = [AttentionView(model=p, text=self.text, layer=layer, heads=list(heads or [])) for p in self.pipes]
        failed = [f"{self.names[i]}: {v.error}" for i, v in enumerate(views) if v.error]
        if failed:
            raise RuntimeError("; ".join(failed))
        for view in views[1:]:
            T.link((views[0], "layer"), (view, "layer"))
            T.link((views[0], "heads"), (view, "heads"))
        self.attention_box.children = [W.VBox([W.HTML(f"<b>{R._e(n)}</b>"), v]) for n, v in zip(self.names, views)]
        self.attention_views = views
        return views

    def sorted_disagreements(self, by: str = "index", descending: bool = False) -> list[dict[str, Any]]:
        """The disagreement table sorted by "index", "input", "label" or a model's name (its answer)."""
        def key(row: dict[str, Any]) -> Any:
            value = row["answers"].get(by) if by in row["answers"] else row.get(by)
            return (value is None, str(value) if not isinstance(value, (int, float)) else value)

        if by not in ("index", "input", "label", "differs_from_reference") and by not in self.names:
            raise ValueError(f"sort by one of: index, input, label, {', '.join(self.names)}.")
        return sorted(self.disagreements, key=key, reverse=descending)

    def _draw(self) -> None:
        """The columns; after a batch, the summary with the live (browser-sorted) table below it. `static_html`
        (a saved notebook) has the same with the table as plain HTML."""
        self._view.value = R.page_html(R.columns_html(self.columns)) if self.columns else ""
        static = live = ""
        if self.summary:
            labelled = any(r["label"] is not None for r in self.disagreements)
            head = ["#", "input", *(["label"] if labelled else []), *self.names]
            rows = [[r["index"], r["input"], *([r["label"]] if labelled else []), *[r["answers"][n] for n in self.names]]
                    for r in self.disagreements]
            first = len(head) - len(self.names)  # the first model's column
            wrong = [[first + i for i, n in enumerate(self.names)
                      if r["label"] is not None and str(r["answers"][n]) != str(r["label"])] for r in self.disagreements]
            with self.table.hold_sync():
                self.table.columns, self.table.wrong, self.table.rows = head, wrong, rows
            summary = R.summary_html(self.summary, self._batch_metric, self.summary[0]["n"], len(self.disagreements))
            live, static = R.page_html(summary), R.page_html(summary + (R.table_html(head, rows) if rows else ""))
        self._batch_view.value = live
        self.html = self._view.value + static
        self.static_html = self.html
