"""`Generate`: watch a language model write, see what it weighed at each step, and change how it decodes.

    from widgets import Generate
    Generate()                                   # SmolLM2-135M-Instruct, offline
    Generate(model="gpt2", prompt="Once upon a time")

Controls are stock ipywidgets (prompt, chat switch, sampling sliders, seed, buttons); the stream and
the decoding tree are drawn by `GenerationView` (an anywidget ES module). Decoding runs on a
background thread (`generate()`, `force()`, `compare()` return at once; `wait()` joins), one run at a
time; Stop ends it after the current token.

The tree: every generated token is a node whose `top` lists the candidates of its step (the
distribution it was drawn from). Forcing a candidate makes (or reuses) that child and decodes on from
it; nodes are never deleted, so earlier branches stay and can be walked back to.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import anywidget
import ipywidgets as W
import traitlets as T

from ._base import STATIC, Panel, es_module
from ._live import resolve_pipeline
from ._render.generation import lens_html, strategies_html, tokens_html
from .attention import AttentionView

ROOT = -1  # the parent of the first generated token


class GenerationView(anywidget.AnyWidget):
    """The prompt, the generated tokens along `path` (coloured by probability) and the decoding tree."""

    _esm = es_module("generate.js")
    _css = (STATIC / "generate.css").read_text(encoding="utf-8")
    prompt_text = T.Unicode("").tag(sync=True)
    nodes = T.List(T.Dict()).tag(sync=True)  # {"id", "parent", "token", "text", "prob", "top": [[id, text, p], ...]}
    path = T.List(T.Int()).tag(sync=True)  # node ids from the first generated token to the current one
    force = T.Dict().tag(sync=True)  # set by the browser: {"parent", "token", "seq"}


class Generate(Panel):
    """Text generation with a decoding tree, strategies side by side and a look inside the model."""

    prompt = T.Unicode("The capital of France is")
    chat = T.Bool(False)  # the prompt as a user message, written with the model's chat template
    do_sample = T.Bool(False)
    temperature = T.Float(1.0)
    top_k = T.Int(50)
    top_p = T.Float(1.0)
    max_new_tokens = T.Int(20)
    repetition_penalty = T.Float(1.0)
    seed = T.Int(0)
    alternatives = T.Int(5)  # candidates shown per step
    text = T.Unicode("")  # the generated text along the current path
    streamed = T.Int(0)  # tokens produced by the current (or last) run
    runs = T.Int(0)  # runs finished (tests and notebooks wait on it)
    strategies = T.Dict()  # strategy name -> its outputs (compare())

    def __init__(self, model: Any = None, *, prompt: str | None = None, tokenizer: Any = None, **settings: Any) -> None:
        self.view = GenerationView()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._prompt_ids: list[int] = []
        self._tree_prompt: tuple[str, bool] | None = None
        self.attention: AttentionView | None = None
        controls = self._controls()
        self.strategies_view = W.HTML()
        self.inside_out = W.Output()
        self.lens_view = W.HTML()
        super().__init__(children=[*controls, self.view, self.strategies_view, self.inside_out, self.lens_view])
        self.add_class("wb-generate-panel")
        for key, value in settings.items():
            if not self.has_trait(key):
                raise TypeError(f"Generate has no setting {key!r}")
            setattr(self, key, value)
        if prompt is not None:
            self.prompt = prompt
        self.view.observe(lambda change: self._act(self._on_force, change["new"]), "force")
        self.pipe = self.guard(resolve_pipeline, "text-generation", model, tokenizer)
        if self.pipe is not None:
            self.show_model(self.pipe)

    def _controls(self) -> list[W.Widget]:
        box = W.Layout(width="auto")
        self.prompt_box = W.Textarea(placeholder="a prompt (or, with chat on, your message)", layout=W.Layout(width="98%"))
        chat = W.Checkbox(description="chat (use the chat template)", indent=False, layout=box)
        sample = W.Checkbox(description="sample", indent=False, layout=box)
        wide = {"description_width": "initial"}  # the whole label, not "temperat..."
        sliders = {
            "temperature": W.FloatSlider(min=0.05, max=2.0, step=0.05, description="temperature", style=wide),
            "top_k": W.IntSlider(min=0, max=200, description="top-k", style=wide),
            "top_p": W.FloatSlider(min=0.05, max=1.0, step=0.05, description="top-p", style=wide),
            "max_new_tokens": W.IntSlider(min=1, max=256, description="new tokens", style=wide),
            "repetition_penalty": W.FloatSlider(min=1.0, max=2.0, step=0.05, description="repetition penalty",
                                                style=wide),
        }
        seed = W.IntText(description="seed", layout=W.Layout(width="160px"))
        for name, widget in [("prompt", self.prompt_box), ("chat", chat), ("do_sample", sample), ("seed", seed),
                             *sliders.items()]:
            W.link((self, name), (widget, "value"))
        self.generate_button = W.Button(description="Generate", icon="play", button_style="primary")
        self.stop_button = W.Button(description="Stop", icon="stop")
        self.compare_button = W.Button(description="Strategies", icon="columns",
                                       tooltip="greedy, sampling (3 samples) and beam search side by side")
        self.inside_button = W.Button(description="Inside the model", icon="eye",
                                      tooltip="the causal attention and the logit lens of prompt + generated text")
        self.generate_button.on_click(lambda _: self._act(self.generate))
        self.stop_button.on_click(lambda _: self.stop())
        self.compare_button.on_click(lambda _: self._act(self.compare))
        self.inside_button.on_click(lambda _: self.guard(self.inside))
        buttons = W.HBox([self.generate_button, self.stop_button, self.compare_button, self.inside_button])
        return [self.prompt_box, W.HBox([chat, sample, seed]), W.HBox(list(sliders.values())[:3]),
                W.HBox(list(sliders.values())[3:]), buttons]

    # -- validation: bad values from code are refused, the panel says why ---------------------------
    @T.validate("temperature")
    def _valid_temperature(self, proposal: dict[str, Any]) -> Any:
        return self.checked(proposal, None if proposal["value"] > 0 else "must be greater than 0.")

    @T.validate("top_p")
    def _valid_top_p(self, proposal: dict[str, Any]) -> Any:
        return self.checked(proposal, None if 0 < proposal["value"] <= 1 else "must be in (0, 1].")

    @T.validate("top_k", "max_new_tokens", "alternatives")
    def _valid_counts(self, proposal: dict[str, Any]) -> Any:
        low = 0 if proposal["trait"].name == "top_k" else 1
        value = proposal["value"]
        return self.checked(proposal, None if value >= low else f"must be a whole number of at least {low}.")

    @T.validate("repetition_penalty")
    def _valid_penalty(self, proposal: dict[str, Any]) -> Any:
        return self.checked(proposal, None if proposal["value"] > 0 else "must be greater than 0.")

    # -- decoding ----------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """The decoding options of the controls, in the pipeline's names."""
        options: dict[str, Any] = dict(do_sample=self.do_sample, repetition_penalty=self.repetition_penalty)
        if self.do_sample:
            options.update(temperature=self.temperature, top_k=self.top_k or None, top_p=self.top_p, seed=self.seed)
        return options

    def _inputs(self) -> Any:
        if not self.prompt.strip():
            raise ValueError("type a prompt first.")
        return [{"role": "user", "content": self.prompt}] if self.chat else self.prompt

    def generate(self) -> None:
        """Decode from the prompt (a new tree when the prompt changed; else a new branch from the root)."""
        self._require_model()
        inputs = self._inputs()
        if self._tree_prompt != (self.prompt, self.chat):
            self._prompt_ids = list(self.pipe.encode(inputs))
            self._tree_prompt = (self.prompt, self.chat)
            with self.view.hold_sync():
                self.view.nodes, self.view.path = [], []
                self.view.prompt_text = self.pipe.tokenizer.decode(self._prompt_ids)
        self._start(self._decode_from, ROOT, self.max_new_tokens)

    def force(self, parent: int, token: int) -> None:
        """Take candidate `token` after node `parent` (ROOT: the first step), then decode on from it; a branch
        that exists already is walked to instead."""
        self._require_model()
        nodes = self.view.nodes
        if parent != ROOT and not any(n["id"] == parent for n in nodes):
            raise ValueError(f"no node {parent} in the tree; generate first.")
        child = next((n for n in nodes if n["parent"] == parent and n["token"] == token), None)
        if child is not None:  # explored before: walk there and follow its latest continuation
            self.view.path = self._path_to(child["id"]) + self._latest_below(child["id"])
            self._refresh()
            return
        siblings = [n for n in nodes if n["parent"] == parent]
        top = siblings[0]["top"] if siblings else []
        prob = next((p for t, _, p in top if t == token), 0.0)
        node = self._add(parent, {"id": token, "text": self.pipe.token_text(token), "prob": prob, "top": top})
        self.view.path = self._path_to(node)
        depth = len(self.view.path)
        self._start(self._decode_from, node, max(1, self.max_new_tokens - depth))

    def stop(self) -> None:
        """End the running decode after the current token."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running decode (if any) is done."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _act(self, fn: Callable[..., Any], *args: Any) -> None:
        """A control's action: a failure shows in the panel (the busy state belongs to the background run)."""
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - a panel never dies silently
            self.show_error(err)

    def _start(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("the model is still generating; press Stop first.")
            self._stop.clear()
            self.busy = True
            self._thread = threading.Thread(target=self._run, args=(fn, *args), name="generate-panel", daemon=True)
            self._thread.start()

    def _run(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - shown in the panel, never lost in a thread
            self.show_error(err)
        else:
            self.clear_error()
        finally:
            self.busy = False
            self.runs += 1

    def _decode_from(self, node: int, new_tokens: int) -> None:
        """Decode `new_tokens` after the path to `node`, adding a node per token as it arrives."""
        prefix = self._prompt_ids + [self._node(i)["token"] for i in self._path_to(node)] if node != ROOT else self._prompt_ids
        self.view.path = self._path_to(node) if node != ROOT else []
        self.streamed = 0
        last = [node]

        def on_step(step: dict[str, Any]) -> None:
            last[0] = self._add(last[0], step)
            self.view.path = [*self.view.path, last[0]]
            self.streamed += 1

        self.pipe.generate_steps(ids=prefix, alternatives=self.alternatives, on_step=on_step,
                                 should_stop=self._stop.is_set, max_new_tokens=new_tokens, **self.options())
        self._refresh()

    # -- the tree ----------------------------------------------------------------------------------
    def _node(self, node_id: int) -> dict[str, Any]:
        return self.view.nodes[node_id]  # ids are list positions: nodes are only ever appended

    def _add(self, parent: int, step: dict[str, Any]) -> int:
        """The child of `parent` for this step's token: the existing one, or a new node."""
        for n in self.view.nodes:
            if n["parent"] == parent and n["token"] == step["id"]:
                return n["id"]
        node = {"id": len(self.view.nodes), "parent": parent, "token": step["id"], "text": step["text"],
                "prob": step["prob"], "top": step["top"]}
        self.view.nodes = [*self.view.nodes, node]
        return node["id"]

    def _path_to(self, node_id: int) -> list[int]:
        path = []
        while node_id != ROOT:
            path.append(node_id)
            node_id = self._node(node_id)["parent"]
        return path[::-1]

    def _latest_below(self, node_id: int) -> list[int]:
        """The most recently made continuation below a node (walking back to a branch shows its text)."""
        path = []
        while True:
            children = [n["id"] for n in self.view.nodes if n["parent"] == node_id]
            if not children:
                return path
            node_id = max(children)
            path.append(node_id)

    def _on_force(self, request: dict[str, Any]) -> None:
        if request:
            self.force(int(request["parent"]), int(request["token"]))

    def _refresh(self) -> None:
        steps = [{"text": n["text"], "prob": n["prob"], "top": n["top"]} for n in map(self._node, self.view.path)]
        self.text = self.pipe.tokenizer.decode([self._node(i)["token"] for i in self.view.path], skip_special_tokens=True)
        self._tokens_html = tokens_html(self.view.prompt_text, steps)
        self._update_static()

    def _update_static(self) -> None:
        self.static_html = (getattr(self, "_tokens_html", "") + self.strategies_view.value + self.lens_view.value)

    # -- strategies and inside the model ------------------------------------------------------------
    def compare(self, samples: int = 3, beams: int = 4) -> None:
        """Greedy, sampling (`samples` draws with the seed) and beam search on the prompt, side by side."""
        self._require_model()
        inputs = self._inputs()
        self._start(self._run_strategies, inputs, samples, beams)

    def _run_strategies(self, inputs: Any, samples: int, beams: int) -> None:
        common = dict(max_new_tokens=self.max_new_tokens, return_full_text=False,
                      repetition_penalty=self.repetition_penalty)
        text = lambda records: [r["generated_text"] for r in records]  # noqa: E731
        sampling = dict(temperature=self.temperature, top_k=self.top_k or None, top_p=self.top_p, seed=self.seed)
        columns = {"greedy": text(self.pipe(inputs, do_sample=False, **common))}
        columns[f"sampling ({samples})"] = text(self.pipe(inputs, do_sample=True, num_return_sequences=samples,
                                                          **sampling, **common))
        columns[f"beam search ({beams} beams)"] = text(self.pipe(inputs, num_beams=beams, num_return_sequences=2,
                                                                 do_sample=False, **common))
        self.strategies = columns
        self.strategies_view.value = strategies_html(columns)
        self._update_static()

    def inside(self) -> AttentionView:
        """The causal attention view and the logit lens of the prompt and the generated text."""
        self._require_model()
        if not self._prompt_ids:
            self._prompt_ids = list(self.pipe.encode(self._inputs()))
        ids = self._prompt_ids + [self._node(i)["token"] for i in self.view.path]
        view = AttentionView(model=self.pipe, record=self.pipe.attention(ids))
        if view.error:
            raise RuntimeError(view.error)
        lens = self.pipe.logit_lens(ids, k=1)
        every = max(1, lens.num_layers // 12)
        self.lens_view.value = lens_html(lens.tokens, lens.top_tokens, lens.top_probs, every=every)
        self.attention = view
        self.inside_out.clear_output()
        with self.inside_out:
            from IPython.display import display

            display(view)
        self._update_static()
        return view

    def _require_model(self) -> None:
        if self.pipe is None:
            raise RuntimeError("no model is loaded (see the error above); create the panel again with model=...")
