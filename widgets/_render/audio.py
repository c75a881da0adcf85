"""Renderers for the Transcribe panel: audio -> WAV bytes and a waveform/spectrogram PNG,
an ASR result -> player segments and the static HTML of a saved notebook."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

from . import figure_png

RATE = 16000


def wav_bytes(array: np.ndarray, rate: int = RATE) -> bytes:
    """16-bit PCM WAV of a mono float signal (what the <audio> element plays)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(array, -1, 1), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def plot_png(array: np.ndarray, rate: int = RATE, *, width: float = 9.0) -> bytes:
    """Waveform over a log-mel spectrogram, as PNG bytes."""
    from matplotlib.figure import Figure

    from workbench.processors.audio import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor()
    seconds = len(array) / rate
    clip = array[: fe.n_samples]
    if clip.size <= fe.n_fft:  # the STFT needs more than one window of samples: pad very short clips
        clip = np.pad(clip, (0, fe.n_fft + 1 - clip.size))
    mel = fe.log_mel(_torch_1d(clip))[0].numpy()[:, : max(1, int(min(seconds, 30) * 100))]
    fig = Figure(figsize=(width, 3.2), dpi=80)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    t = np.arange(len(array)) / rate
    step = max(1, len(array) // 4000)
    ax1.plot(t[::step], array[::step], lw=0.6, color="#1f77b4")
    ax1.set_ylabel("amplitude")
    ax2.imshow(mel, origin="lower", aspect="auto", extent=(0, min(seconds, 30), 0, mel.shape[0]), cmap="magma")
    ax2.set_ylabel("mel bin")
    ax2.set_xlabel("seconds" + (" (spectrogram: first 30 s)" if seconds > 30 else ""))
    fig.tight_layout()
    return figure_png(fig)


def _torch_1d(array: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None]


def player_segments(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A speech result with details -> [{"text", "start", "end", "words": [{"text", "start", "end"}]}] for the player."""
    def timed(chunk: dict[str, Any], end_default: float) -> dict[str, Any]:
        start, end = chunk["timestamp"]
        return {"text": chunk["text"], "start": float(start), "end": float(end if end is not None else end_default)}

    duration = float(result.get("duration", 0.0))
    words = [timed(w, duration) for w in result.get("words", [])]
    out = []
    for seg in result.get("segments", []):
        line = timed(seg, duration)
        line["words"] = [w for w in words if line["start"] - 1e-6 <= (w["start"] + w["end"]) / 2 <= line["end"] + 1e-6]
        out.append(line)
    placed = {(w["start"], w["text"]) for s in out for w in s["words"]}
    rest = [w for w in words if (w["start"], w["text"]) not in placed]
    if rest:  # words that fell between segments: keep them visible in their own line
        out.append({"text": "".join(w["text"] for w in rest), "start": rest[0]["start"], "end": rest[-1]["end"],
                    "words": rest})
    # Shown one under another, the lines must not overlap in time ("[0.00–3.72]" then "[3.58–3.88]"): a line
    # starts no earlier than the one before it ends (the model's own timestamps stay in the result).
    out.sort(key=lambda s: s["start"])
    for before, line in zip(out, out[1:]):
        line["start"] = max(line["start"], before["end"])
        line["end"] = max(line["end"], line["start"])
    return out


def transcript_html(segments: list[dict[str, Any]], png: bytes | None = None, title: str = "") -> str:
    """Self-contained HTML of the result (the static view of a saved notebook)."""
    parts = [f"<div class='wb-transcribe-static'><b>{html.escape(title)}</b>"]
    if png:
        parts.append(f"<img alt='waveform and mel spectrogram' src='data:image/png;base64,{base64.b64encode(png).decode()}' style='max-width:100%'/>")
    for s in segments:
        parts.append(f"<div><span style='color:#666;font-family:monospace'>[{s['start']:.2f}–{s['end']:.2f}]</span> "
                     f"{html.escape(s['text'])}</div>")
    parts.append("</div>")
    return "".join(parts)
