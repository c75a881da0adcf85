"""Automatic speech recognition with Whisper: audio -> text, segments and word times.

One algorithm, the reference's (and the original Whisper's) sequential decoding, batched over
inputs: a clip's log-mel features are computed once (a clip up to 30 s padded to one 30 s
window, a longer one whole); a 30 s slice from `seek` is decoded with timestamp tokens; when its
last complete segment ends before the slice does, `seek` moves to that timestamp and the rest is
decoded again, until the clip (or, for a short clip, its padded 30 s window) is consumed. So no
speech after an early end-of-text is dropped, and no word is cut in half between windows.
Without timestamps a clip up to 30 s is one plain pass, as in the reference.
Chunked mode (`chunk_length_s=...`) runs the same loop inside each overlapping chunk and keeps
each segment in the chunk whose non-overlapping middle holds it.

Word times come from the cross-attention of the checkpoint's alignment heads, aligned to the
audio frames with dynamic time warping (as the reference implementation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..auto import AutoModelForSpeechSeq2Seq
from ..errors import InputError
from ..generation import GenerateOutput, GenerationConfig, generate
from ..inspect import AttentionRecord, attention_record, capture_attention
from ..models.whisper import alignment_heads
from ..models.whisper.decoding import (
    WhisperTokens,
    generation_keys_from_vocab,
    is_silence,
    no_speech_probability,
    token_times,
    word_groups,
)
from ..processors.audio import (
    HOP_LENGTH,
    SAMPLING_RATE,
    AudioInput,
    WhisperFeatureExtractor,
    WhisperProcessor,
    load_audio,
)
from .base import Pipeline

TIME_PER_TOKEN = 0.02  # a timestamp token or an encoder frame: 20 ms
FRAME_S = HOP_LENGTH / SAMPLING_RATE  # a log-mel frame: 10 ms
SILENCE_DBFS = -60.0  # a window quieter than this (RMS, dB below full scale) holds no speech to transcribe
WINDOW_S = 30.0


@dataclass
class Chunk:
    text: str
    timestamp: tuple[float, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "timestamp": (float(self.timestamp[0]),
                                                 None if self.timestamp[1] is None else float(self.timestamp[1]))}


@dataclass
class _Window:
    item: int
    offset: float  # seconds into the item
    audio: np.ndarray
    keep: tuple[float, float]  # chunked mode: the span (absolute seconds) this window is trusted for


class AutomaticSpeechRecognitionPipeline(Pipeline):
    task = "automatic-speech-recognition"
    default_model = "Systran/faster-whisper-tiny.en"
    auto_model = AutoModelForSpeechSeq2Seq

    def __init__(self, model: torch.nn.Module, processor: Any = None, *, device: Any = None, batch_size: int = 8) -> None:
        super().__init__(model, processor, device=device, batch_size=batch_size)
        if not isinstance(self.processor, WhisperProcessor):  # a bare tokenizer was given: features from the config
            self.processor = WhisperProcessor(WhisperFeatureExtractor(model.config.num_mel_bins), self.tokenizer)
        self.feature_extractor = self.processor.feature_extractor
        self.generation_config = self._generation_config()
        self.tokens = WhisperTokens.from_config(self.generation_config, model.config.vocab_size)

    def _generation_config(self) -> GenerationConfig:
        """The checkpoint's generation config; token ids it lacks (CTranslate2 folders) come from the vocabulary."""
        config = GenerationConfig.from_model(self.model)
        missing = {k: v for k, v in generation_keys_from_vocab(self.tokenizer.get_vocab(), self.model.config.vocab_size).items()
                   if config.get(k) in (None, {}, [])}
        if "max_length" not in self.model.generation_defaults:
            missing["max_length"] = self.model.config.max_target_positions  # decode to the end of the window
        return config.updated(**missing)

    def _generate(self, encoder_outputs: torch.Tensor, timestamps: bool, options: dict[str, Any]) -> GenerateOutput:
        """Whisper decoding of a batch of windows through the generic loops (Whisper's rules are the model's hooks)."""
        options = dict(options)
        temperature = options.pop("temperature", 0.0)
        if isinstance(temperature, (list, tuple)):
            options["temperature"] = tuple(float(t) for t in temperature)
        elif temperature and float(temperature) > 0:
            options.update(temperature=float(temperature), do_sample=True)
        options.setdefault("seed", 0)  # sampling (fallback) is reproducible run to run
        return generate(self.model, encoder_outputs=encoder_outputs, generation_config=self.generation_config,
                        return_timestamps=timestamps, return_dict_in_generate=True, **options)

    def _check_item(self, item: Any, index: int) -> None:
        if item is None:
            raise InputError(f"input {index} is None; pass a file path, bytes, or {{'array', 'sampling_rate'}}.")

    # -- public ----------------------------------------------------------------------------
    def __call__(self, inputs: Any, *, batch_size: int | None = None, return_timestamps: bool | str = False,
                 chunk_length_s: float | None = None, stride_length_s: float | Sequence[float] | None = None,
                 generate_kwargs: dict[str, Any] | None = None, language: str | None = None, task: str | None = None,
                 return_details: bool = False, progress: Any = None) -> Any:
        """Transcribe one input or a list, in the reference's format: `{"text"}`, plus `"chunks"` of
        `{"text", "timestamp": (start, end)}` with `return_timestamps` True (segments) or "word".
        `return_details=True` adds `"duration"`, `"segments"` and `"words"` (word times whenever computed).
        Windows the model hears as silence (no-speech probability over `no_speech_threshold`, 0.6, and an
        average log-probability under `logprob_threshold`, -1.0, as the original Whisper) give no text;
        pass `generate_kwargs={"no_speech_threshold": None}` to keep whatever was decoded."""
        if return_timestamps not in (False, True, "word"):
            raise InputError(f"return_timestamps must be False, True or 'word', got {return_timestamps!r}.")
        allowed = {"num_beams", "temperature", "length_penalty", "max_new_tokens", "compression_ratio_threshold",
                   "logprob_threshold", "no_speech_threshold", "language", "task", "streamer"}
        gk = dict(generate_kwargs or {})
        unknown = set(gk) - allowed
        if unknown:
            raise InputError(f"unknown generate_kwargs {sorted(unknown)}; supported: {sorted(allowed)}.")
        gk.setdefault("language", language)
        gk.setdefault("task", task)
        gk.setdefault("no_speech_threshold", 0.6)
        gk.setdefault("logprob_threshold", -1.0)
        return super().__call__(inputs, batch_size=batch_size, return_timestamps=return_timestamps,
                                chunk_length_s=chunk_length_s, stride_length_s=stride_length_s, generate_kwargs=gk,
                                return_details=return_details, progress=progress)

    def _run_batch(self, items: list[Any], *, return_timestamps: bool | str, chunk_length_s: float | None,
                   stride_length_s: Any, generate_kwargs: dict[str, Any], return_details: bool,
                   progress: Any) -> list[dict[str, Any]]:
        audios = [load_audio(x) for x in items]
        windows = [w for i, a in enumerate(audios) for w in self._windows(i, a, chunk_length_s, stride_length_s)]
        decoded = self._transcribe(windows, return_timestamps, chunk_length_s is not None, generate_kwargs, progress)
        by_item: dict[int, list[tuple[Chunk, list[Chunk]]]] = {i: [] for i in range(len(audios))}
        for w, parts in zip(windows, decoded):
            by_item[w.item].extend(p for p in parts if w.keep[0] <= _mid(p[0]) < w.keep[1])
        return [self._result(_tidy(by_item[i], a.duration), a.duration, return_timestamps, return_details)
                for i, a in enumerate(audios)]

    # -- windows ---------------------------------------------------------------------------
    @staticmethod
    def _windows(item: int, audio: AudioInput, chunk_length_s: float | None, stride: Any) -> list[_Window]:
        x = audio.array
        if not chunk_length_s or audio.duration <= (chunk_length_s or WINDOW_S):
            return [_Window(item, 0.0, x, (0.0, float("inf")))]
        if chunk_length_s > WINDOW_S:
            raise InputError(f"chunk_length_s must be at most {WINDOW_S:g} s for Whisper, got {chunk_length_s}.")
        left, right = (stride, stride) if isinstance(stride, (int, float)) else tuple(stride or (chunk_length_s / 6,) * 2)
        step = chunk_length_s - left - right
        if step <= 0:
            raise InputError(f"stride_length_s {left, right} leaves nothing of chunk_length_s={chunk_length_s}; use smaller strides.")
        out, start = [], 0.0
        while True:
            end = min(start + chunk_length_s, audio.duration)
            keep_lo = 0.0 if start == 0 else start + left
            keep_hi = float("inf") if end >= audio.duration else end - right
            out.append(_Window(item, start, x[int(start * SAMPLING_RATE) : int(end * SAMPLING_RATE)], (keep_lo, keep_hi)))
            if end >= audio.duration:
                return out
            start += step

    # -- decoding --------------------------------------------------------------------------
    def _transcribe(self, windows: list[_Window], return_timestamps: bool | str, chunked: bool,
                    generate_kwargs: dict[str, Any], progress: Any) -> list[list[tuple[Chunk, list[Chunk]]]]:
        """Each window -> [(segment, words)] in absolute seconds, by the sequential algorithm (module docstring)."""
        from tqdm.auto import tqdm

        options = _gen_options(generate_kwargs)
        fe = self.feature_extractor
        out: list[list[tuple[Chunk, list[Chunk]]]] = [[] for _ in windows]
        feats, limits = [], []
        for w in windows:  # features once per window; a long one whole, so every slice is normalised alike
            short = len(w.audio) <= fe.n_samples
            f = fe(w.audio, device=self.device)[0] if short else fe.log_mel(_tensor(w.audio, self.device))[0]
            feats.append(f)
            limits.append(fe.nb_max_frames if short else f.shape[-1])
        seek = [0] * len(windows)
        timed = [bool(return_timestamps) or chunked or len(w.audio) > fe.n_samples for w in windows]
        total = sum(len(w.audio) for w in windows) / SAMPLING_RATE
        bar = tqdm(total=round(total, 1), desc="transcribing", unit="s", leave=False, disable=total <= WINDOW_S)
        while True:
            active = [i for i in range(len(windows)) if seek[i] < limits[i]][: self.batch_size]
            if not active:
                break
            for ts in (True, False):  # rows with and without timestamp tokens decode in separate calls
                rows = [i for i in active if timed[i] == ts]
                if rows:
                    self._step(rows, windows, feats, limits, seek, ts, return_timestamps, options, generate_kwargs, out)
            done = sum(min(seek[i] * HOP_LENGTH, len(w.audio)) for i, w in enumerate(windows)) / SAMPLING_RATE
            bar.update(max(0.0, round(done, 1) - bar.n))
            if progress is not None:
                progress(done, total)
        bar.close()
        return out

    def _step(self, rows: list[int], windows: list[_Window], feats: list[torch.Tensor], limits: list[int],
              seek: list[int], timestamps: bool, return_timestamps: bool | str, options: dict[str, Any],
              generate_kwargs: dict[str, Any], out: list[list[tuple[Chunk, list[Chunk]]]]) -> None:
        """Decode a 30 s slice from each row's `seek` and move `seek` on, as the reference does."""
        n = self.feature_extractor.nb_max_frames
        frames = [min(n, limits[i] - seek[i]) for i in rows]
        # The reference pads a slice's features with zeros to 30 s (not the features of silence).
        batch = torch.stack([torch.nn.functional.pad(feats[i][:, seek[i] : seek[i] + n], (0, n - f))
                             for i, f in zip(rows, frames)])
        enc = self.model.encode(batch)
        gen = self._generate(enc, timestamps, options)
        clips = [windows[i].audio[seek[i] * HOP_LENGTH : (seek[i] + f) * HOP_LENGTH] for i, f in zip(rows, frames)]
        silent = self._silent(enc, gen, generate_kwargs, clips)
        for j, (i, f) in enumerate(zip(rows, frames)):
            w = windows[i]
            offset = w.offset + seek[i] * FRAME_S
            toks = [] if silent[j] else gen.generated(j, [self.tokens.eot])
            if timestamps:
                segs, consumed = self._segments(toks, offset, f * FRAME_S)
                advance = round(consumed / FRAME_S) if not silent[j] else f
            else:
                segs = [(Chunk(self._text(toks), (offset, offset + len(clips[j]) / SAMPLING_RATE)), toks)] if toks else []
                advance = f
            words: list[Chunk] = []
            if return_timestamps == "word" and segs:
                prompt = gen.sequences[j, : gen.prompt_length].tolist()
                words = [Chunk(t, (offset + a, offset + b)) for t, a, b in
                         self._word_times(enc[j : j + 1], prompt, gen.generated(j), len(clips[j]) / HOP_LENGTH)]
            out[i].extend(_assign([seg for seg, _ in segs], words))
            seek[i] += advance if advance > 0 else f  # a last timestamp at 0 would never move on

    def _segments(self, toks: list[int], offset: float, window_s: float) -> tuple[list[tuple[Chunk, list[int]]], float]:
        """Timestamp tokens -> segments (absolute times) and how far (s) the window was consumed."""
        ts = self.tokens.timestamp_begin
        is_ts = [t >= ts for t in toks]
        single_ending = len(toks) >= 2 and is_ts[-2:] == [False, True] or (len(toks) == 1 and is_ts[-1])
        consecutive = [i + 1 for i in range(len(toks) - 1) if is_ts[i] and is_ts[i + 1]]
        segs: list[tuple[Chunk, list[int]]] = []
        if consecutive:
            slices = consecutive + ([len(toks)] if single_ending else [])
            last = 0
            for cur in slices:
                part = toks[last:cur]
                text_ids = [t for t in part if t < self.tokens.eot]
                start = offset + (part[0] - ts) * TIME_PER_TOKEN if part[0] >= ts else offset
                end = offset + (part[-1] - ts) * TIME_PER_TOKEN if part[-1] >= ts else offset + window_s
                if text_ids:
                    segs.append((Chunk(self._text(text_ids), (round(start, 2), round(end, 2))), text_ids))
                last = cur
            consumed = window_s if single_ending else (toks[last - 1] - ts) * TIME_PER_TOKEN
        else:
            stamps = [t for t in toks if t >= ts]
            duration = (stamps[-1] - ts) * TIME_PER_TOKEN if stamps and stamps[-1] != ts else window_s
            text_ids = [t for t in toks if t < self.tokens.eot]
            if text_ids:
                segs.append((Chunk(self._text(text_ids), (round(offset, 2), round(offset + duration, 2))), text_ids))
            consumed = window_s
        return segs, consumed

    def _silent(self, encoder_outputs: torch.Tensor, gen: GenerateOutput, options: dict[str, Any],
                audios: list[np.ndarray]) -> list[bool]:
        """Which windows are silence: quieter than SILENCE_DBFS (Whisper confidently "hears" words in digital
        silence, e.g. " you"), or, as the reference, a no-speech probability over `no_speech_threshold` with an
        average log-probability under `logprob_threshold`. `no_speech_threshold=None` keeps every window."""
        if options.get("no_speech_threshold") is None:
            return [False] * encoder_outputs.shape[0]
        probs = no_speech_probability(self.model, encoder_outputs, self.tokens).tolist()
        avg = (gen.sum_logprobs / gen.lengths.clamp(min=1)).tolist()
        quiet = [loudness_dbfs(a) < SILENCE_DBFS for a in audios]
        return [q or is_silence(p, a, options) for q, p, a in zip(quiet, probs, avg)]

    # -- attention ---------------------------------------------------------------------------
    def attention(self, inputs: Any, *, layers: Sequence[int] | None = None) -> AttentionRecord:
        """The decoder's cross-attention over the audio frames of the first 30 s window, as an
        `AttentionRecord` (kind "cross": transcript tokens x 20 ms frames) for `widgets.AttentionView`.
        Frames past the end of the audio (padding) are cut, so a row sums to slightly under 1."""
        audio = load_audio(inputs)
        window = audio.array[: self.feature_extractor.n_samples]
        with torch.inference_mode():
            enc = self.model.encode(self.feature_extractor(window, device=self.device))
            gen = self._generate(enc, False, {})
        ids = gen.sequences[0, : gen.prompt_length].tolist() + [t for t in gen.generated(0) if t < self.tokens.eot]
        frames = max(1, min(enc.shape[1], int(np.ceil(len(window) / HOP_LENGTH / 2))))
        query = [t.replace("\u0120", " ") for t in self.tokenizer.convert_ids_to_tokens(ids)]
        keys = [f"{i * TIME_PER_TOKEN:.2f}s" for i in range(frames)]
        inputs = {"decoder_input_ids": torch.tensor([ids], device=self.device), "encoder_outputs": enc}
        return attention_record(self.model, inputs, query_tokens=query, key_tokens=keys, kind="cross", layers=layers,
                                keys=slice(0, frames))

    # -- words -----------------------------------------------------------------------------
    def _word_times(self, enc: torch.Tensor, prompt: list[int], generated: list[int],
                    n_frames: float) -> list[tuple[str, float, float]]:
        """(word, start, end) seconds within the window, as the reference times words: the decoder re-reads the
        prompt and what it generated (timestamp tokens included); each token's time is where DTW puts the
        alignment heads' cross-attention row that predicts the next token; a word runs from its first token's
        start to its last token's end."""
        eot = self.tokens.eot
        if not any(t < eot for t in generated):
            return []
        heads = alignment_heads(self.model)
        ids = torch.tensor([prompt + generated[:-1]], device=enc.device)  # the last token is never read back
        with capture_attention(self.model, "cross", layers=sorted({int(layer) for layer, _ in heads})) as found:
            self.model(None, ids, encoder_outputs=enc)
        maps = {layer: probs[0] for layer, probs in found}  # layer -> (H, rows, S)
        rows = torch.stack([maps[int(layer)][int(h), len(prompt) :] for layer, h in heads])  # (A, generated - 1, S)
        width = getattr(self.model.config, "median_filter_width", 7)
        times = token_times(rows, int(np.ceil(n_frames)), width) if rows.shape[1] else []
        times = times + times[-1:] if times else [0.0] * len(generated)  # the last token takes its predecessor's time
        text = [k for k, t in enumerate(generated) if t < eot]
        words = word_groups([generated[k] for k in text], self.tokenizer.decode)
        out = []
        for word, idx in words:
            first, last = text[idx[0]], text[idx[-1]]
            start = times[first - 1] if first > 0 else 0.0
            out.append((word, round(float(start), 2), round(float(times[last]), 2)))
        return out

    # -- results ---------------------------------------------------------------------------
    def _text(self, ids: list[int]) -> str:
        return self.tokenizer.decode([t for t in ids if t < self.tokens.eot])

    @staticmethod
    def _result(parts: list[tuple[Chunk, list[Chunk]]], duration: float, return_timestamps: bool | str,
                details: bool) -> dict[str, Any]:
        """Plain data in the reference's format (`text`, `chunks`), plus the details when asked for."""
        segments = [seg for seg, _ in parts]
        words = [w for _, ws in parts for w in ws]
        out: dict[str, Any] = {"text": "".join(s.text for s in segments)}
        if return_timestamps:
            out["chunks"] = [c.to_dict() for c in (words if return_timestamps == "word" else segments)]
        if details:
            out.update(duration=duration, segments=[c.to_dict() for c in segments], words=[c.to_dict() for c in words])
        return out


def _tensor(audio: np.ndarray, device: Any) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None].to(device)


def _tidy(parts: list[tuple[Chunk, list[Chunk]]], duration: float) -> list[tuple[Chunk, list[Chunk]]]:
    """Segment and word times in order, inside the clip, and never overlapping: decoding windows and chunks
    each time their own segments, so neighbours can disagree by a few frames."""
    def clamp(chunks: list[Chunk], floor: float) -> float:
        for c in chunks:
            start = min(max(c.timestamp[0], floor), duration)
            end = c.timestamp[1]
            end = duration if end is None else min(max(end, start), duration)
            c.timestamp = (round(start, 2), round(end, 2))
            floor = c.timestamp[1]
        return floor

    parts = sorted(parts, key=lambda p: p[0].timestamp[0])
    clamp([seg for seg, _ in parts], 0.0)
    clamp([w for _, ws in parts for w in ws], 0.0)
    return parts


def _assign(segments: list[Chunk], words: list[Chunk]) -> list[tuple[Chunk, list[Chunk]]]:
    """Each word goes to exactly one segment: the one holding its midpoint, else the nearest."""
    out: list[tuple[Chunk, list[Chunk]]] = [(s, []) for s in segments]
    for w in words:
        if not out:
            break
        m = _mid(w)
        best = min(range(len(segments)), key=lambda i: 0.0 if segments[i].timestamp[0] <= m <= (segments[i].timestamp[1] or 1e9)
                   else min(abs(m - segments[i].timestamp[0]), abs(m - (segments[i].timestamp[1] or 1e9))))
        out[best][1].append(w)
    return out


def _mid(chunk: Chunk) -> float:
    s, e = chunk.timestamp
    return s if e is None else (s + e) / 2


def loudness_dbfs(audio: np.ndarray) -> float:
    """RMS level in dB below full scale (0 dBFS = a full-scale square wave; digital silence is -inf)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return 20 * np.log10(rms) if rms > 0 else float("-inf")


def _gen_options(gk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in gk.items() if v is not None or k in ("language", "task")}
