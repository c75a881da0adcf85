"""`AudioClassifier(model=...)`: what a sound is, and *when*: top labels for the clip, a timeline of every
label on sliding windows, and (AST) where in the spectrogram the model looked.

Upload, record or pick a sample; the panel shows the waveform and a log-mel spectrogram, runs the
audio-classification pipeline on the whole clip (top-k bars) and on windows of `window_s` seconds every
`hop_s` seconds (the timeline: a label-by-time heat strip under the spectrogram, on the same time axis).
Clicking anywhere on the drawing plays from there; hovering a timeline column shows that window's best
labels; the attention overlay's opacity is a browser-side slider. For an Audio Spectrogram Transformer
the patch attention of [CLS] and the distillation token (mean over heads, layer `layer`) is drawn over
the spectrogram of the window it heard.

Rendering is pure (`widgets._render.audio_classification`); the drawing is an anywidget ES module
(`static/audio_classifier.js`) fed with one binary trait per array.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as W
import numpy as np
import traitlets as T

from ._base import Panel, es_module, guarded
from ._render.audio import wav_bytes
from ._render.audio_classification import (
    RATE,
    spectrogram_image,
    static_page,
    summary_png,
    timeline_rows,
    topk_html,
    waveform_envelope,
)
from ._serialize import WireArray
from .audio_samples import samples

FUNCTIONS = ("", "softmax", "sigmoid", "none")  # "" = the model's default (as the pipeline)
MAX_ROWS = 12  # timeline rows drawn (the labels that score highest anywhere)
WHOLE_CLIP_S = 12.0  # longer clips take their top labels from the timeline's windows


class AudioTimelineView(anywidget.AnyWidget):
    """The canvas: waveform, spectrogram (+ patch attention), timeline heat strip, playhead; plays on click."""

    _esm = es_module("audio_classifier.js")
    _css = Path(__file__).parent / "static" / "audio_classifier.css"
    wav = T.Bytes(b"").tag(sync=True)
    waveform = WireArray("float32")  # (columns, 2) min/max
    spectrogram = WireArray("uint8")  # (mels, columns)
    timeline = WireArray("float32")  # (rows, windows) scores
    attention = WireArray("float32")  # (frequency patches, time patches), or None
    meta = T.Dict().tag(sync=True)  # duration, spec_seconds, labels, starts, window_s, attention_span, ...
    opacity = T.Float(0.5).tag(sync=True)  # the attention overlay (browser-side)
    position = T.Float(-1.0).tag(sync=True)  # browser -> Python: the last time clicked (seconds)
    seek_request = T.Float(-1.0).tag(sync=True)  # Python -> browser: seek and play


def _is_classification_pipeline(model: Any) -> bool:
    if model is None or isinstance(model, (str, os.PathLike)):
        return False
    from workbench.pipelines.base import Pipeline

    return isinstance(model, Pipeline) and model.task == "audio-classification"


class AudioClassifier(Panel):
    """Audio classification panel. `model`: a hub id, a folder, or an audio-classification pipeline
    (None: superb/wav2vec2-base-superb-ks, a keyword spotter)."""

    window_s = T.Float(1.0).tag(sync=True)
    hop_s = T.Float(0.5).tag(sync=True)
    top_k = T.Int(5).tag(sync=True)
    function_to_apply = T.Unicode("").tag(sync=True)
    layer = T.Int(-1).tag(sync=True)  # AST attention layer; -1 = the last

    def __init__(self, model: Any = None, *, window_s: float | None = None, hop_s: float | None = None, top_k: int = 5,
                 function_to_apply: str | None = None, device: Any = None, precision: str = "auto") -> None:
        """`window_s` / `hop_s`: the timeline's windows (None: 1 s every 0.5 s for a keyword spotter; 5 s every 2.5 s
        for AST, whose every window costs a full 10 s spectrogram).

        `precision`: the timeline's arithmetic. "auto" (the default) runs it in bfloat16 on a CPU that computes bf16
        natively (AMX or AVX-512 BF16; ~2-3x faster than float32 for wav2vec2-base), float32 elsewhere; "float32" is
        exact; "bfloat16" forces the fast path. The fast timeline's scores stay within 0.02 of float32's (the pipeline's
        FAST_TOLERANCE; the best label is the same wherever float32's leads by more than that). The clip's top labels
        are always float32: a short clip's from one pass over it; a long clip's from its leading labels' best
        windows, run again in float32."""
        from workbench.pipelines.audio_classification import PRECISIONS

        if precision not in PRECISIONS:
            from workbench.errors import InputError

            raise InputError(f"precision={precision!r}; use one of {', '.join(map(repr, PRECISIONS))}.")
        self._model_arg, self._device, self.precision = model, device, precision
        self._window_given = (window_s, hop_s)
        window_s, hop_s = window_s or 1.0, hop_s or (window_s or 1.0) / 2
        self.pipe = model if _is_classification_pipeline(model) else None
        self.array: np.ndarray | None = None
        self._spectrogram: tuple[np.ndarray, float] | None = None  # the display spectrogram of `array`
        self.name = ""
        self.result: list[dict[str, Any]] | None = None
        self.timeline_result: Any = None
        self.attention_record: Any = None
        self._samples = samples()
        self.upload = W.FileUpload(accept="audio/*,.wav,.flac,.ogg,.mp3", multiple=False, description="Upload audio")
        self.sample = W.Dropdown(options=["(pick a sample)", *self._samples], value="(pick a sample)",
                                 description="sample", layout=W.Layout(width="330px"))
        # the sliders span what the traits accept, so a value set from code never gets clamped behind its back
        self.window_slider = W.FloatSlider(value=window_s, min=0.1, max=30.0, step=0.05, description="window (s)",
                                           continuous_update=False)
        self.hop_slider = W.FloatSlider(value=hop_s, min=0.02, max=30.0, step=0.02, description="hop (s)",
                                        continuous_update=False)
        self.top_k_box = W.BoundedIntText(value=top_k, min=1, max=1000, description="top k", layout=W.Layout(width="150px"))
        self.function_box = W.Dropdown(options=[("model default", ""), ("softmax", "softmax"), ("sigmoid", "sigmoid"),
                                                ("none", "none")], value="", description="scores")
        self.layer_box = W.Dropdown(options=[("last", -1)], value=-1, description="attention layer",
                                    layout=W.Layout(display="none"))
        self.opacity = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="overlay",
                                     layout=W.Layout(display="none"))
        self.progress = W.FloatProgress(min=0, max=1, value=0, layout=W.Layout(width="160px"))
        self.view = AudioTimelineView()
        self.bars = W.HTML()
        self.note = W.HTML("<i>Upload a clip, pick a sample, or press ● Record. Click the drawing to play from there; "
                           "hover the timeline to see each window's best labels.</i>")
        super().__init__([
            self.note,
            W.HBox([self.upload, self.sample, self.progress]),
            W.HBox([self.window_slider, self.hop_slider]),
            W.HBox([self.top_k_box, self.function_box, self.layer_box, self.opacity]),
            self.view, self.bars,
        ])
        self.add_class("wb-audio-classifier-panel")
        W.jslink((self.opacity, "value"), (self.view, "opacity"))  # drawing only: no kernel round trip
        for trait, control in (("window_s", self.window_slider), ("hop_s", self.hop_slider), ("top_k", self.top_k_box),
                               ("function_to_apply", self.function_box), ("layer", self.layer_box)):
            T.link((self, trait), (control, "value"))
        self.window_s, self.hop_s, self.top_k = float(window_s), float(hop_s), int(top_k)
        self.function_to_apply = function_to_apply or ""
        self.observe(lambda _: self.guard(self._refresh, timeline=True), names=["window_s", "hop_s"])
        self.observe(lambda _: self.guard(self._refresh, topk=True, timeline=True), names=["function_to_apply"])
        self.observe(lambda _: self.guard(self._refresh, topk=True), names=["top_k"])
        self.observe(lambda _: self.guard(self._refresh, attention=True), names=["layer"])
        self.observe(self._mark_stale, names=["error"])
        self.upload.observe(self._on_upload, names="value")
        self.sample.observe(self._on_sample, names="value")
        self.view.on_msg(self._on_view_msg)
        if self.pipe is not None:
            self._model_ready()

    # -- validation: bad values set from code are refused before anything sees them ----------------------
    @T.validate("window_s")
    def _valid_window(self, proposal: dict[str, Any]) -> Any:
        v = proposal["value"]
        return self.checked(proposal, None if 0.1 <= v <= 30 else "must be between 0.1 and 30 seconds.")

    @T.validate("hop_s")
    def _valid_hop(self, proposal: dict[str, Any]) -> Any:
        v = proposal["value"]
        return self.checked(proposal, None if 0.02 <= v <= 30 else "must be between 0.02 and 30 seconds.")

    @T.validate("top_k")
    def _valid_top_k(self, proposal: dict[str, Any]) -> Any:
        return self.checked(proposal, None if proposal["value"] >= 1 else "must be a whole number of at least 1.")

    @T.validate("function_to_apply")
    def _valid_function(self, proposal: dict[str, Any]) -> Any:
        ok = proposal["value"] in FUNCTIONS
        return self.checked(proposal, None if ok else "must be one of 'softmax', 'sigmoid', 'none' (or '' for the default).")

    @T.validate("layer")
    def _valid_layer(self, proposal: dict[str, Any]) -> Any:
        value, n = proposal["value"], self._num_layers()
        if value != -1 and self.pipe is not None and not self._is_ast():
            return self.checked(proposal, "the patch attention is drawn for Audio Spectrogram Transformer models only.")
        ok = value == -1 or (0 <= value < n if n else value >= 0)
        return self.checked(proposal, None if ok else f"must be -1 (the last) or a layer from 0 to {n - 1}.")

    # -- model --------------------------------------------------------------------------------------------
    def pipeline(self) -> Any:
        if self.pipe is None:
            from workbench.pipelines import pipeline

            self.pipe = pipeline("audio-classification", model=self._model_arg, device=self._device)
            self._model_ready()
        return self.pipe

    def _model_ready(self) -> None:
        self.show_model(self.pipe)
        n = self._num_layers()
        if self._is_ast() and self._window_given[0] is None:
            self.window_s = 5.0
        if self._is_ast() and self._window_given[1] is None:
            self.hop_s = self.window_s / 2
        if self._is_ast():
            self.layer_box.options = [("last", -1), *((str(i), i) for i in range(n))]
            self.layer_box.layout.display = self.opacity.layout.display = ""

    def _num_layers(self) -> int:
        config = getattr(getattr(self.pipe, "model", None), "config", None)
        return int(getattr(config, "num_hidden_layers", 0) or 0)

    def _is_ast(self) -> bool:
        config = getattr(getattr(self.pipe, "model", None), "config", None)
        return getattr(config, "model_type", "") == "audio-spectrogram-transformer"

    # -- input --------------------------------------------------------------------------------------------
    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if files:
            self.load(bytes(files[0]["content"]), name=files[0].get("name", "upload"))

    def _on_sample(self, change: dict[str, Any]) -> None:
        make = self._samples.get(change["new"])
        if make is not None:
            self.guard(lambda: self._load(make(), name=change["new"], sampling_rate=RATE))

    def _on_view_msg(self, widget: Any, content: dict[str, Any], buffers: list) -> None:
        if content.get("kind") == "recorded" and buffers:
            self.load(bytes(buffers[0]), name="microphone")

    @guarded
    def load(self, source: Any, *, name: str = "", sampling_rate: int | None = None) -> np.ndarray:
        """A path, bytes, or an array (with `sampling_rate`) -> shown, playable, classified."""
        return self._load(source, name=name, sampling_rate=sampling_rate)

    def _load(self, source: Any, *, name: str = "", sampling_rate: int | None = None) -> np.ndarray:
        from workbench.errors import InputError
        from workbench.processors.audio import load_audio

        if source is None:
            raise InputError("no audio to load.")
        audio = load_audio(source, sampling_rate)
        self.array = audio.array
        self.name = name or (str(source) if isinstance(source, (str, Path)) else "audio")
        self.result = self.timeline_result = self.attention_record = None
        image, span = self._spectrogram = spectrogram_image(self.array)
        with self.view.hold_sync():
            self.view.wav = wav_bytes(self.array)
            self.view.waveform = waveform_envelope(self.array)
            self.view.spectrogram = image
            self.view.timeline = None
            self.view.attention = None
            self.view.meta = {"duration": len(self.array) / RATE, "spec_seconds": span, "name": self.name}
        self._classify()
        return self.array

    # -- running ------------------------------------------------------------------------------------------
    @guarded
    def classify(self) -> list[dict[str, Any]]:
        """The clip's top labels, its timeline and (AST) its patch attention."""
        return self._classify()

    def _classify(self) -> list[dict[str, Any]]:
        from workbench.errors import InputError

        if self.array is None:
            raise InputError("nothing to classify yet; upload a clip, pick a sample or record one.")
        self.pipeline()
        self._run_timeline()
        self._run_topk()
        self._run_attention()
        self._publish()
        return self.result

    def _function(self) -> str | None:
        return self.function_to_apply or None

    def _run_topk(self) -> None:
        """The pipeline on the whole clip; past WHOLE_CLIP_S, each label's best window score instead (a keyword
        spotter hears one word per second, and one pass over a long clip costs more than the whole timeline)."""
        seconds = len(self.array) / RATE
        if seconds <= WHOLE_CLIP_S or self.timeline_result is None:
            self.result = self.pipe({"array": self.array, "sampling_rate": RATE}, top_k=self.top_k,
                                    function_to_apply=self._function())
            title = f"{self.name}: the whole clip ({seconds:.1f} s)"
        else:
            line = self.timeline_result
            best = self._exact_best(line)
            order = np.argsort(-best, kind="stable")[: self.top_k]
            self.result = [{"score": float(best[i]), "label": line.labels[i]} for i in order]
            title = f"{self.name} ({seconds:.1f} s): each label's best score in any {line.window_s:g} s window"
        self.bars.value = topk_html(self.result, title)

    def _exact_best(self, line: Any) -> np.ndarray:
        """Each shown label's best window score, in float32 even when the timeline ran in bfloat16: the windows
        where the top_k leading labels peak run again exactly, and a label's score is its best over those. A label
        left out has a fast score at most the k-th's, so its exact score can pass the k-th's only by twice the fast
        timeline's tolerance: the set shown can differ from float32's only among labels that close."""
        best = line.scores.max(axis=0)
        if line.precision == "float32":
            return best
        import torch
        leaders = np.argsort(-best, kind="stable")[: self.top_k]
        rows = sorted({int(line.scores[:, label].argmax()) for label in leaders})
        audio = {"array": self.array, "sampling_rate": RATE}
        windows = self.pipe.windows(audio, [float(line.starts[r]) for r in rows], line.window_s)
        logits = torch.stack(self.pipe.logits(windows))
        exact = self.pipe.scores(logits, line.function).numpy().astype(np.float32).max(axis=0)
        out = np.full_like(best, -np.inf)
        out[leaders] = exact[leaders]
        return out

    def _run_timeline(self) -> None:
        self.progress.value = 0.0

        def progress(done: int, total: int) -> None:
            self.progress.value = done / max(total, 1)

        line = self.pipe.timeline({"array": self.array, "sampling_rate": RATE}, window_s=self.window_s, hop_s=self.hop_s,
                                  function_to_apply=self._function(), progress=progress, precision=self.precision)
        self.timeline_result = line
        labels, rows = timeline_rows(line.labels, line.scores, min(MAX_ROWS, len(line.labels)))
        with self.view.hold_sync():
            self.view.timeline = rows
            self.view.meta = {**self.view.meta, "labels": labels, "starts": [float(s) for s in line.starts],
                              "window_s": line.window_s, "hop_s": line.hop_s, "function": line.function,
                              "precision": line.precision,
                              # colours span the scores drawn (an untrained model's are all near 1 / labels)
                              "vmin": float(rows.min()) if line.function == "none" else 0.0,
                              "vmax": float(rows.max())}
        self.progress.value = 1.0

    def _run_attention(self) -> None:
        """AST only: [CLS] and distillation-token attention to the patches, mean over heads, as a grid."""
        if not self._is_ast():
            return
        n = self._num_layers()
        layer = n - 1 if self.layer < 0 else self.layer
        window = self.pipe.feature_extractor.window_seconds
        clip = self.array[: int(window * RATE)]
        record = self.pipe.attention({"array": clip, "sampling_rate": RATE}, layers=[layer])
        self.attention_record = record
        rows, cols = record.grid
        extra = record.attentions.shape[-1] - rows * cols
        probs = record.attentions[0, :, :extra, extra:].mean(axis=(0, 1))  # (patches,) from [CLS] and [DIST]
        grid = probs.reshape(rows, cols)
        covered = min(window, len(self.array) / RATE)
        with self.view.hold_sync():
            self.view.attention = grid / max(float(grid.max()), 1e-12)
            self.view.meta = {**self.view.meta, "attention_span": [0.0, window], "attention_layer": layer,
                              "attention_covered": covered}

    def _publish(self) -> None:
        line = self.timeline_result
        timeline = None if line is None else {"labels": self.view.meta.get("labels", []), "scores": self.view.timeline,
                                              "starts": line.starts, "window_s": line.window_s}
        attention = None
        if self.view.attention is not None:
            attention = {"grid": self.view.attention, "span": self.view.meta["attention_span"]}
        array, result, name, spectrogram = self.array, self.result, self.name, self._spectrogram
        # drawn when the panel is displayed (matplotlib: 0.1-0.6 s), not on the way to the live view
        self.defer_static(lambda: static_page(summary_png(array, RATE, result, timeline, attention,
                                                          spectrogram=spectrogram), result, name))

    def _refresh(self, *, topk: bool = False, timeline: bool = False, attention: bool = False) -> None:
        """A setting changed: recompute what depends on it (nothing before a clip is loaded)."""
        if self.array is None or self.pipe is None:
            return
        if timeline:
            self._run_timeline()
        if topk or (timeline and len(self.array) / RATE > WHOLE_CLIP_S):  # long clips: the top labels come from the timeline
            self._run_topk()
        if attention:
            self._run_attention()
        self._publish()

    def _mark_stale(self, change: dict[str, Any]) -> None:
        """An error leaves the last drawing in place, dimmed: it no longer answers the current settings."""
        self.view.meta = {**self.view.meta, "stale": bool(change["new"])}
        (self.bars.add_class if change["new"] else self.bars.remove_class)("wb-audio-stale")

    def play_from(self, seconds: float) -> None:
        """Seek the player and play (the same as clicking the drawing)."""
        self.view.seek_request = float(seconds)
