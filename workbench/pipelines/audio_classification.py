"""audio-classification: labels and scores for a clip (Wav2Vec2 keyword spotting, AST sound events).

Reference output format: each input gives a list of `{"score", "label"}`, best first, `top_k` of them
(None, the default, or more than the model has: all labels; the reference 5.x returns all labels
unless a call passes top_k). `function_to_apply` is "softmax",
"sigmoid" or "none"; by default sigmoid for a multi-label model (`problem_type`), none for regression,
softmax otherwise, as the reference.

Beyond the reference: `timeline(audio, window_s=..., hop_s=...)` runs the model on sliding windows so
one sees *when* each label occurs (by default in bfloat16 where the CPU computes it natively: see
`timeline`), and `attention(audio)` records the model's attention (AST: patches
on the frequency x time grid of its spectrogram) for the inspection views.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..auto import AutoModelForAudioClassification
from ..errors import InputError
from ..inspect import AttentionRecord, attention_record
from .audio_common import AudioPipeline

FUNCTIONS = ("softmax", "sigmoid", "none")
PRECISIONS = ("auto", "float32", "bfloat16")
# The fast (bfloat16) timeline's agreement with the float32 one, checked by tests/pipelines/test_audio_timeline_speed.py
# and measured by benchmarks/bench_audio.py: every score within FAST_TOLERANCE, and the same best label in every
# window whose float32 best leads the runner-up by more than that (closer calls may swap).
FAST_TOLERANCE = 0.02


def bf16_native() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AMX tiles or AVX-512 BF16), where oneDNN runs it ~3x
    faster than float32; elsewhere bfloat16 is emulated and no faster, so the timeline stays float32."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    try:
        return any(bool(probe()) for probe in probes if probe is not None)
    except RuntimeError:
        return False


@dataclass
class Timeline:
    """Scores of every label on sliding windows: `scores[w, l]` for the window starting at `starts[w]` seconds."""

    labels: list[str]
    starts: np.ndarray  # (W,) seconds
    window_s: float
    hop_s: float
    duration: float
    scores: np.ndarray  # (W, L) float32
    function: str = "softmax"
    precision: str = "float32"  # the model's arithmetic: "float32" (exact) or "bfloat16" (fast)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def centers(self) -> np.ndarray:
        return self.starts + min(self.window_s, self.duration) / 2

    def top_labels(self, k: int) -> list[int]:
        """The k labels that reach the highest score anywhere on the timeline (the rows worth drawing)."""
        return [int(i) for i in np.argsort(-self.scores.max(axis=0), kind="stable")[:k]]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serialisable)."""
        return {"labels": list(self.labels), "starts": [float(s) for s in self.starts], "window_s": self.window_s,
                "hop_s": self.hop_s, "duration": self.duration, "function_to_apply": self.function,
                "precision": self.precision,
                "scores": self.scores.tolist()}


def window_starts(duration: float, window_s: float, hop_s: float) -> np.ndarray:
    """Starts (s) of windows every `hop_s` that cover the clip; the last one ends at the clip's end, so every
    window has the same length (none is padded). A clip shorter than one window is one window."""
    if duration <= window_s:
        return np.zeros(1)
    last = duration - window_s
    starts = np.arange(0.0, last + 1e-9, hop_s)
    if last - starts[-1] > 1e-6:
        starts = np.append(starts, last)
    return starts


class AudioClassificationPipeline(AudioPipeline):
    task = "audio-classification"
    default_model = "superb/wav2vec2-base-superb-ks"
    auto_model = AutoModelForAudioClassification

    def default_function(self) -> str:
        problem = getattr(self.model.config, "problem_type", None)
        return {"regression": "none", "multi_label_classification": "sigmoid"}.get(problem, "softmax")

    def _function(self, function_to_apply: str | None) -> str:
        function = self.default_function() if function_to_apply is None else str(function_to_apply).lower()
        if function not in FUNCTIONS:
            raise InputError(f"function_to_apply={function_to_apply!r}; use one of {', '.join(FUNCTIONS)}.")
        return function

    def labels(self) -> list[str]:
        id2label = self.model.config.id2label
        return [id2label.get(i, f"LABEL_{i}") for i in range(self.model.config.num_labels)]

    def scores(self, logits: torch.Tensor, function: str) -> torch.Tensor:
        if function == "softmax":
            return logits.softmax(-1)
        return logits.sigmoid() if function == "sigmoid" else logits

    # -- the reference's call ------------------------------------------------------------------------------
    def __call__(self, inputs: Any, *, top_k: int | None = None, function_to_apply: str | None = None,
                 batch_size: int | None = None) -> Any:
        """One clip (or a list): `[{"score", "label"}, ...]` best first (a list of such lists for a list)."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise InputError(f"top_k must be a positive whole number or None (all labels), got {top_k!r}.")
        n = self.model.config.num_labels
        return super().__call__(inputs, batch_size=batch_size, top_k=n if top_k is None else min(top_k, n),
                                function=self._function(function_to_apply))

    def _run_batch(self, items: list[Any], *, top_k: int, function: str) -> list[Any]:
        labels = self.labels()
        out = []
        for logits in self.logits([self.load(x) for x in items]):
            scores, ids = self.scores(logits, function).topk(top_k)
            out.append([{"score": float(s), "label": labels[i]} for s, i in zip(scores.tolist(), ids.tolist())])
        return out

    # -- beyond the reference ---------------------------------------------------------------------------------
    def timeline(self, inputs: Any, *, window_s: float = 1.0, hop_s: float = 0.5, function_to_apply: str | None = None,
                 batch_size: int | None = None, progress: Callable[[int, int], None] | None = None,
                 precision: str = "auto") -> Timeline:
        """The model on windows of `window_s` seconds every `hop_s` seconds: scores (windows x labels).
        `progress(done, total)` is called as windows finish (a tqdm bar shows it too).

        `precision`: "float32" runs the model as it is (exact: each row equals the pipeline on that window);
        "bfloat16" runs a bfloat16 copy of it through oneDNN (~2-3x faster on a CPU with AMX or AVX-512 BF16;
        scores within FAST_TOLERANCE = 0.02 of float32's, the same best label wherever float32's leads by more);
        "auto" (the default) is bfloat16 on such a CPU and float32 elsewhere (and on GPUs)."""
        for name, value in (("window_s", window_s), ("hop_s", hop_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InputError(f"{name} must be a positive number of seconds, got {value!r}.")
        if precision not in PRECISIONS:
            raise InputError(f"precision={precision!r}; use one of {', '.join(map(repr, PRECISIONS))}.")
        function = self._function(function_to_apply)
        self._check_type(inputs, 0)
        if precision == "auto":
            precision = "bfloat16" if self.device.type == "cpu" and bf16_native() else "float32"
        model = self.model if precision == "float32" else self._bfloat16_model()
        audio = self.load(inputs)
        duration = len(audio) / self.sampling_rate
        starts = window_starts(duration, float(window_s), float(hop_s))
        windows = self._cut(audio, starts, window_s)
        from tqdm.auto import tqdm

        # a caller with its own progress display (a panel) gets no second bar
        bar = tqdm(total=len(windows), desc="timeline", unit="window", leave=False,
                   disable=progress is not None or len(windows) < 8)
        finished = 0

        def done(n: int) -> None:
            nonlocal finished
            finished += n
            bar.update(n)
            if progress is not None:
                progress(finished, len(windows))

        try:
            logits = torch.stack(self.logits(windows, batch_size=batch_size or 16, done=done, model=model))
        finally:
            bar.close()
        scores = self.scores(logits, function).numpy().astype(np.float32)
        return Timeline(self.labels(), starts, float(window_s), float(hop_s), duration, scores, function, precision)

    def windows(self, inputs: Any, starts: Any, window_s: float) -> list[np.ndarray]:
        """The samples of the windows starting at `starts` seconds, as `timeline` cuts them (to rerun some exactly)."""
        return self._cut(self.load(inputs), starts, window_s)

    def _cut(self, audio: np.ndarray, starts: Any, window_s: float) -> list[np.ndarray]:
        rate = self.sampling_rate
        width = min(len(audio), int(round(window_s * rate)))
        return [audio[int(round(s * rate)) : int(round(s * rate)) + width] for s in starts]

    def _bfloat16_model(self) -> torch.nn.Module:
        """A bfloat16 copy of the model (~190 MB for wav2vec2-base), made for each timeline: a fraction of a second
        beside the timeline's seconds, and never stale (a copy kept between calls would miss a notebook's in-place
        `weight.data` edits, which move no version counter). The float32 model is left as it is."""
        with torch.no_grad():
            return copy.deepcopy(self.model).to(torch.bfloat16).eval()

    def attention(self, inputs: Any, *, layers: list[int] | None = None) -> AttentionRecord:
        """The self-attention of one clip as an `AttentionRecord`: for AST kind "patches" on its (frequency x time)
        patch grid after [CLS] and the distillation token; for Wav2Vec2 kind "self" over its 20 ms frames.
        Only the last layer by default: all layers of AudioSet AST (1214 tokens) would take ~850 MB."""
        self._check_type(inputs, 0)
        model = self.model
        layer_list = [model.config.num_hidden_layers - 1] if layers is None else list(layers)
        model_inputs = self.feature_extractor([self.load(inputs)], device=self.device)
        if model.config.model_type == "audio-spectrogram-transformer":
            from ..models.audio_spectrogram_transformer import NUM_EXTRA_TOKENS, patch_grid

            rows, cols = patch_grid(model.config)
            tokens = ["[CLS]", "[DIST]"][:NUM_EXTRA_TOKENS] + [f"f{r}t{c}" for r in range(rows) for c in range(cols)]
            return attention_record(model, model_inputs, query_tokens=tokens, kind="patches", layers=layer_list,
                                    grid=(rows, cols))
        from ..models.wav2vec2 import output_lengths

        ratio = model.config.inputs_to_logits_ratio / self.sampling_rate
        n = int(output_lengths(model.config, torch.tensor(model_inputs["input_values"].shape[1])))
        tokens = [f"{i * ratio:.2f}s" for i in range(n)]
        return attention_record(model, model_inputs, query_tokens=tokens, kind="self", layers=layer_list)
