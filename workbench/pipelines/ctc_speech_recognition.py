"""Automatic speech recognition with CTC models (Wav2Vec2ForCTC): audio -> characters, words and their times.

`pipeline("automatic-speech-recognition", model=<a CTC checkpoint>)` builds this pipeline (the task's
Whisper pipeline is the other one; the checkpoint's model type picks, see `handles`). As the reference:
the model scores every 20 ms frame, the best character per frame is kept (greedy CTC), and the CTC
tokenizer collapses runs, drops blanks and turns `|` into spaces. `return_timestamps="char"` or
`"word"` adds `chunks` of `{"text", "timestamp": (start, end)}` seconds.

Long audio: `chunk_length_s` cuts it into chunks that overlap by `stride_length_s` (default a sixth of a
chunk on each side); each chunk is normalised and scored on its own, the frames of its overlaps are
dropped, and the rest are joined before decoding, so words at chunk edges are heard with context.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..auto import AutoModelForCTC
from ..errors import InputError
from ..processors.wav2vec2 import Wav2Vec2CTCTokenizer, word_offsets
from .audio_common import AudioPipeline

CTC_MODEL_TYPES = ("wav2vec2",)
TIMESTAMPS = (None, False, "char", "word")
LINE_GAP_S = 0.6  # details: a pause this long starts a new line of the transcript
LINE_WORDS = 12  # details: at most this many words per line


def handles(model: Any, revision: str | None = None) -> bool:
    """Whether `model` (a hub id, a folder or a loaded model) is a CTC checkpoint this pipeline runs."""
    config = getattr(model, "config", None)
    if config is not None:
        return getattr(config, "model_type", None) in CTC_MODEL_TYPES
    if not isinstance(model, (str, os.PathLike)):
        return False
    from ..config import read_config_dict
    from ..errors import WorkbenchError
    from ..hub import resolve_model_folder

    try:
        data = read_config_dict(resolve_model_folder(model, revision=revision))
    except WorkbenchError:  # not found or unreadable here: the Whisper pipeline reports it in its own words
        return False
    return data.get("model_type") in CTC_MODEL_TYPES


class CTCSpeechRecognitionPipeline(AudioPipeline):
    task = "automatic-speech-recognition"
    default_model = "facebook/wav2vec2-base-960h"
    auto_model = AutoModelForCTC

    def __init__(self, model: torch.nn.Module, processor: Any = None, *, device: Any = None, batch_size: int = 8) -> None:
        super().__init__(model, processor, device=device, batch_size=batch_size)
        if not hasattr(model, "lm_head"):
            raise InputError(f"speech recognition needs a CTC head (Wav2Vec2ForCTC); this is a {type(model).__name__}. "
                             "For a keyword spotter use pipeline('audio-classification', model=...).")
        if not isinstance(self.tokenizer, Wav2Vec2CTCTokenizer):
            raise InputError("a CTC speech model needs its character vocabulary (vocab.json next to the weights, or "
                             "processor=workbench.processors.Wav2Vec2Processor(...)); none was found.")

    @property
    def samples_per_frame(self) -> int:
        return int(self.model.config.inputs_to_logits_ratio)

    def __call__(self, inputs: Any, *, return_timestamps: str | bool | None = None, chunk_length_s: float | None = None,
                 stride_length_s: float | Sequence[float] | None = None, batch_size: int | None = None,
                 generate_kwargs: dict[str, Any] | None = None, return_details: bool = False,
                 progress: Callable[[float, float], None] | None = None) -> Any:
        """Transcribe one clip or a list: `{"text"}`, plus `"chunks"` with `return_timestamps` "char" or "word".
        `return_details=True` adds `"duration"`, `"segments"` (lines), `"words"` and `"chars"` (each with times)."""
        if return_timestamps not in TIMESTAMPS:
            raise InputError("CTC models give character or word times: set return_timestamps='char' or 'word' "
                             f"(got {return_timestamps!r}).")
        if generate_kwargs:
            raise InputError(f"generate_kwargs {sorted(generate_kwargs)} do not apply: a CTC model scores every frame in one "
                             "pass and is decoded greedily, with no generation loop.")
        if chunk_length_s is not None and not (isinstance(chunk_length_s, (int, float)) and chunk_length_s >= 0):
            raise InputError(f"chunk_length_s must be a number of seconds (0: no chunking), got {chunk_length_s!r}.")
        return super().__call__(inputs, batch_size=batch_size, return_timestamps=return_timestamps or None,
                                chunk_length_s=chunk_length_s, stride_length_s=stride_length_s,
                                return_details=return_details, progress=progress)

    # -- chunks -------------------------------------------------------------------------------------------------
    def chunks(self, audio: np.ndarray, chunk_length_s: float | None,
               stride_length_s: float | Sequence[float] | None) -> list[tuple[np.ndarray, tuple[int, int, int]]]:
        """(chunk samples, (chunk length, left stride, right stride)) as the reference cuts them, in samples
        rounded to whole frames; no chunking: the whole clip with no strides."""
        if not chunk_length_s:
            return [(audio, (len(audio), 0, 0))]
        stride = chunk_length_s / 6 if stride_length_s is None else stride_length_s
        left_s, right_s = (stride, stride) if isinstance(stride, (int, float)) else tuple(stride)
        align, rate = self.samples_per_frame, self.sampling_rate
        size, left, right = (int(round(s * rate / align) * align) for s in (chunk_length_s, left_s, right_s))
        if size - left - right <= 0:
            raise InputError(f"chunk_length_s={chunk_length_s} must be longer than its two strides ({left_s} + {right_s} s).")
        out = []
        for start in range(0, len(audio), size - left - right):
            chunk = audio[start : start + size]
            last = start + size >= len(audio)
            stride_left, stride_right = (0 if start == 0 else left), (0 if last else right)
            # a tail shorter than the convolutions' reach has no frame of its own (the reference would fail on it)
            if len(chunk) > stride_left and len(chunk) >= self.model.wav2vec2.min_samples():
                out.append((chunk, (len(chunk), stride_left, stride_right)))
            if last:
                break
        return out

    # -- running ------------------------------------------------------------------------------------------------
    def _run_batch(self, items: list[Any], *, return_timestamps: str | None, chunk_length_s: float | None,
                   stride_length_s: Any, return_details: bool, progress: Any) -> list[dict[str, Any]]:
        audios = [self.load(x) for x in items]
        pieces: list[tuple[int, np.ndarray, tuple[int, int, int]]] = []
        for item, audio in enumerate(audios):
            if len(audio) < self.model.wav2vec2.min_samples():
                raise InputError(f"the audio is {len(audio) / self.sampling_rate * 1000:.0f} ms long; this model needs at "
                                 f"least {self.model.wav2vec2.min_samples() / self.sampling_rate * 1000:.0f} ms.")
            pieces += [(item, chunk, stride) for chunk, stride in self.chunks(audio, chunk_length_s, stride_length_s)]
        total = sum(len(a) for a in audios) / self.sampling_rate
        finished = 0

        def done(n: int) -> None:
            nonlocal finished
            finished += n
            if progress is not None:
                progress(total * finished / max(1, len(pieces)), total)

        logits = self.logits([chunk for _, chunk, _ in pieces], done=done)
        frames: list[list[np.ndarray]] = [[] for _ in audios]
        for (item, _, (n, left, right)), row in zip(pieces, logits):
            ids = row.argmax(-1).numpy()
            count = int(round(n / self.samples_per_frame))  # the reference's frame count for n samples
            keep_left, keep_right = int(round(left / n * count)), int(round(right / n * count))
            frames[item].append(ids[keep_left : count - keep_right])
        return [self._result(np.concatenate(f), len(a) / self.sampling_rate, return_timestamps, return_details)
                for f, a in zip(frames, audios)]

    def _result(self, ids: np.ndarray, duration: float, timestamps: str | None, details: bool) -> dict[str, Any]:
        decoded = self.tokenizer.decode(ids, output_char_offsets=True)
        seconds = self.samples_per_frame / self.sampling_rate

        def timed(text: str, start: int, end: int) -> dict[str, Any]:
            return {"text": text, "timestamp": (start * seconds, end * seconds)}

        chars = [timed(c["char"], c["start_offset"], c["end_offset"]) for c in decoded["char_offsets"]]
        words = [timed(w["word"], w["start_offset"], w["end_offset"])
                 for w in word_offsets(decoded["char_offsets"], self.tokenizer.replace_word_delimiter_char)]
        out: dict[str, Any] = {"text": decoded["text"]}
        if timestamps:
            out["chunks"] = chars if timestamps == "char" else words
        if details:
            segments, kept = lines(chars, words, self.tokenizer.replace_word_delimiter_char)
            out.update(duration=duration, segments=segments, words=words, chars=kept)
        return out


def lines(chars: list[dict[str, Any]], words: list[dict[str, Any]], space: str = " ") -> tuple[list[dict], list[dict]]:
    """Words grouped into lines (a new line after a pause of LINE_GAP_S or LINE_WORDS words), and the characters
    of those lines (the spaces between lines dropped, so every character lies inside its line's span)."""
    by_word: list[list[dict[str, Any]]] = []
    for c in chars:  # characters of each word, with the spaces before the next word
        if c["text"] != space:
            if not by_word or by_word[-1][-1]["text"] == space:
                by_word.append([])
            by_word[-1].append(c)
        elif by_word:
            by_word[-1].append(c)
    groups: list[list[int]] = []
    for i, w in enumerate(words):
        if not groups or len(groups[-1]) >= LINE_WORDS or w["timestamp"][0] - words[i - 1]["timestamp"][1] > LINE_GAP_S:
            groups.append([])
        groups[-1].append(i)
    segments, kept = [], []
    for group in groups:
        members = [c for i in group for c in by_word[i]]
        while members and members[-1]["text"] == space:
            members.pop()
        kept += members
        segments.append({"text": " ".join(words[i]["text"] for i in group),
                         "timestamp": (words[group[0]]["timestamp"][0], words[group[-1]]["timestamp"][1])})
    return segments, kept
