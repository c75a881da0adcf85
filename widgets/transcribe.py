"""`Transcribe(model=...)`: upload (or record) audio, see it, hear it, read and click its transcript.

Rendering is pure functions (`widgets._render.audio`: `plot_png`, `transcript_html`,
`player_segments`, `wav_bytes`) tested without a kernel; the panel wires controls -> the speech
pipeline -> those renderers. The player is an anywidget (`static/transcribe.js`): an <audio> element fed with WAV bytes sent as a binary
buffer, segments and words that seek and play on click, and the word under the playhead
highlighted. Everything runs offline.
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
from ._render.audio import RATE, player_segments, plot_png, transcript_html, wav_bytes
from ._render.text import png_html

STATIC = Path(__file__).parent / "static"


class TranscriptPlayer(anywidget.AnyWidget):
    _esm = es_module("transcribe.js")  # inlines ./_audio.js (shared with AudioClassifier)
    _css = STATIC / "transcribe.css"
    wav = T.Bytes(b"").tag(sync=True)
    segments = T.List().tag(sync=True)
    position = T.Float(0.0).tag(sync=True)  # last time a click seeked to (seconds)
    seek_request = T.Float(0.0).tag(sync=True)  # Python -> player: seek and play


# -- the panel -------------------------------------------------------------------------------------
def _is_speech_pipeline(model: Any) -> bool:
    if model is None or isinstance(model, (str, os.PathLike)):
        return False  # a name or folder: no need to import the pipeline (and torch) to know
    from workbench.pipelines.base import Pipeline

    return isinstance(model, Pipeline) and model.task == "automatic-speech-recognition"  # Whisper's or CTC's


def _is_ctc(pipe: Any) -> bool:
    from workbench.pipelines.ctc_speech_recognition import CTCSpeechRecognitionPipeline

    return isinstance(pipe, CTCSpeechRecognitionPipeline)


class Transcribe(Panel):
    """Speech to text panel. `model`: a hub id, folder, or a loaded speech pipeline (None: embedded tiny.en);
    Whisper (word times) or a CTC model such as Wav2Vec2 (character times)."""

    def __init__(self, model: Any = None, *, device: Any = None) -> None:
        self._model_arg, self._device = model, device
        self._pipe = model if _is_speech_pipeline(model) else None
        self.upload = W.FileUpload(accept="audio/*,.wav,.flac,.ogg,.mp3", multiple=False, description="Upload audio")
        # compact, sized controls: the timestamp toggle stays on the beam row (it wrapped under it)
        self.beams = W.Dropdown(options=[1, 2, 3, 4, 5], value=1, description="beam size",
                                layout=W.Layout(width="150px"), style={"description_width": "initial"})
        self.timestamps = W.ToggleButtons(options=[("segments", True), ("words", "word")], value="word",
                                          description="timestamps",
                                          style={"description_width": "initial", "button_width": "auto"})  # as wide as its label
        self.run_button = W.Button(description="Transcribe", button_style="primary", disabled=True)
        self.attention_button = W.Button(description="Cross-attention", disabled=True,
                                         tooltip="open the decoder's attention over the audio frames")
        self.attention_out = W.Output()
        self.progress = W.FloatProgress(min=0, max=1, value=0, description="", layout=W.Layout(width="200px"))
        # an <img> with alt text (W.Image has no alt; its tooltip breaks its view): readable by screen readers
        self.plot = W.HTML(layout=W.Layout(max_width="100%"))
        self.plot_png = b""
        self.player = TranscriptPlayer()
        self.text = W.Textarea(layout=W.Layout(width="100%", height="4em"), disabled=True)
        for result in (self.player, self.text):
            result.add_class("wb-result")  # dimmed beside an error (Panel)
        self.note = W.HTML("<i>Upload a wav/flac/ogg/mp3 file, or press ● Record (where the browser allows the microphone).</i>")
        self.array: np.ndarray | None = None
        self.result: Any = None
        self.name = ""
        super().__init__([
            self.note,
            W.HBox([self.upload, self.run_button, self.attention_button, self.progress]),
            W.HBox([self.beams, self.timestamps], layout=W.Layout(flex_flow="row nowrap", align_items="center")),
            self.plot, self.player, self.text, self.attention_out,
        ])
        self.add_class("wb-transcribe-panel")
        self.upload.observe(self._on_upload, names="value")
        self.run_button.on_click(lambda _: self.transcribe())
        self.attention_button.on_click(lambda _: self.show_attention())
        self.player.on_msg(self._on_player_msg)

    # -- model --------------------------------------------------------------------------------
    def pipeline(self) -> Any:
        if self._pipe is None:
            from workbench.pipelines import pipeline

            self._pipe = pipeline("automatic-speech-recognition", model=self._model_arg, device=self._device)
            self.show_model(self._pipe)
        return self._pipe

    # -- input --------------------------------------------------------------------------------
    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if files:
            item = files[0]
            self.load(bytes(item["content"]), name=item.get("name", "upload"))

    def _on_player_msg(self, widget: Any, content: dict, buffers: list) -> None:
        recorded = content.get("kind") == "recorded" and buffers
        if recorded and self.load(bytes(buffers[0]), name="microphone") is not None:
            self.transcribe()

    @guarded
    def load(self, source: Any, *, name: str = "", sampling_rate: int | None = None) -> np.ndarray:
        """A path, bytes, or an array (with `sampling_rate`) -> shown, playable, ready to transcribe."""
        from workbench.errors import InputError
        from workbench.processors.audio import load_audio

        self.result = None
        self.array = None
        self.player.segments = []
        self.run_button.disabled = True
        self.attention_button.disabled = True
        audio = load_audio(source, sampling_rate)
        if float(np.abs(audio.array).max()) < 1e-4:
            raise InputError(f"{name or 'the audio'} is silent (peak amplitude below 1e-4); record or upload speech.")
        self.array, self.name = audio.array, name or (str(source) if isinstance(source, (str, Path)) else "audio")
        png = plot_png(self.array)
        wav = wav_bytes(self.array)
        self.plot_png, self.plot.value = png, png_html(png, "waveform and mel spectrogram")
        self.player.wav = wav
        self.text.value = ""
        self.run_button.disabled = False
        self.attention_button.disabled = False
        self.static_html = transcript_html([], png, self.name)
        return self.array

    # -- run ----------------------------------------------------------------------------------
    @guarded
    def transcribe(self) -> Any:
        from workbench.errors import InputError

        if self.array is None:
            raise InputError("nothing to transcribe yet; upload an audio file or record one first.")
        self.progress.value = 0.05
        self.progress.description = "loading…"  # visible at once: the model may take seconds to load
        self.run_button.disabled = True
        try:
            return self._transcribe()
        finally:
            self.run_button.disabled = self.array is None

    def _transcribe(self) -> Any:
        pipe = self.pipeline()
        duration = len(self.array) / RATE

        def progress(done: float, total: float) -> None:
            self.progress.value = min(1.0, done / max(total, 1e-9))
            self.progress.description = f"{min(done, total):.1f}/{total:.1f} s"

        self.progress.description = "transcribing…"

        if _is_ctc(pipe):  # a CTC model times each character (no beams, no segments of its own): play those
            result = pipe({"array": self.array, "sampling_rate": RATE}, return_details=True, progress=progress)
            segments = player_segments({**result, "words": result["chars"]})
        else:
            result = pipe({"array": self.array, "sampling_rate": RATE}, return_timestamps=self.timestamps.value,
                          generate_kwargs={"num_beams": int(self.beams.value)}, return_details=True, progress=progress)
            segments = player_segments(result)
        self.result = result
        self.player.segments = segments
        self.text.value = result["text"].strip()
        self.progress.value = 1.0
        self.progress.description = f"done ({duration:.1f} s)"
        self.static_html = transcript_html(segments, self.plot_png, f"{self.name} ({duration:.1f} s)")
        return result

    @guarded
    def show_attention(self, layer: int | None = None) -> Any:
        """Open the decoder's cross-attention over the audio frames (first 30 s) in an AttentionView."""
        from workbench.errors import InputError

        from .attention import AttentionView

        if self.array is None:
            raise InputError("nothing loaded yet; upload an audio file or record one first.")
        if _is_ctc(self.pipeline()):
            raise InputError("cross-attention belongs to Whisper's decoder; a CTC model has none (it scores every frame).")
        record = self.pipeline().attention({"array": self.array, "sampling_rate": RATE})
        view = AttentionView(record=record, layer=record.layers[-1] if layer is None else layer, view="matrix")
        if view.error:
            raise InputError(view.error)
        self.attention_out.clear_output()
        with self.attention_out:
            from IPython.display import display

            display(view)
        self.attention = view
        return view

    def play_from(self, seconds: float) -> None:
        """Seek the player and play (the same as clicking a word)."""
        self.player.seek_request = float(seconds)
