"""Renderers for the AudioClassifier panel: audio -> what the canvas draws (waveform envelope, spectrogram
image), a result -> top-k bars, a timeline -> the rows worth drawing, and everything -> the static PNG of a
saved notebook. Pure functions: arrays and dicts in, arrays, HTML or PNG bytes out."""

from __future__ import annotations

import base64
import html
from typing import Any

import numpy as np

from . import figure_png
from .text import bars_html

RATE = 16000
SPEC_MELS = 64  # the panel's display spectrogram (a model's own features may use more)
MAX_COLUMNS = 1600  # time columns sent to the browser: about one per screen pixel


def waveform_envelope(array: np.ndarray, columns: int = MAX_COLUMNS) -> np.ndarray:
    """(columns, 2) min and max of each stretch of samples: the waveform as a screen draws it."""
    n = len(array)
    columns = max(1, min(columns, n))
    edges = np.linspace(0, n, columns + 1).astype(int)
    mins = np.minimum.reduceat(array, edges[:-1])
    maxs = np.maximum.reduceat(array, edges[:-1])
    return np.stack([mins, maxs], axis=1).astype(np.float32)


def spectrogram_image(array: np.ndarray, rate: int = RATE, *, mels: int = SPEC_MELS,
                      columns: int = MAX_COLUMNS) -> tuple[np.ndarray, float]:
    """(mels, frames) uint8 log-mel image (row 0 = lowest band; 10 ms frames pooled to at most `columns`), and the
    seconds it spans. Kaldi filterbanks, as AST's features, so an AST patch grid lines up with it."""
    from workbench.processors.fbank import FRAME, HOP, kaldi_fbank

    clip = array if len(array) >= FRAME else np.pad(array, (0, FRAME - len(array)))
    fbank = kaldi_fbank(clip, sampling_rate=rate, num_mel_bins=mels)  # (T, mels)
    frames = fbank.shape[0]
    if frames > columns:  # mean-pool time so the image stays about screen-sized
        edges = np.linspace(0, frames, columns + 1).astype(int)
        fbank = np.add.reduceat(fbank, edges[:-1], axis=0) / np.diff(edges)[:, None]
    lo, hi = np.percentile(fbank, [5, 99.5]) if fbank.size else (0.0, 1.0)
    image = np.clip((fbank - lo) / max(hi - lo, 1e-6), 0, 1) * 255
    seconds = (FRAME + (frames - 1) * HOP) / rate
    return np.ascontiguousarray(image.T.astype(np.uint8)), float(seconds)


def topk_html(result: list[dict[str, Any]], title: str = "") -> str:
    """[{score, label}] -> label bars (scores past 1, e.g. function_to_apply="none", are scaled to the largest)."""
    head = f'<div class="wb-audio-topk-title"><b>{html.escape(title)}</b></div>' if title else ""
    return f'<div class="wb-audio-topk">{head}{bars_html([(d["label"], d["score"]) for d in result], color="#59a14f")}</div>'


def timeline_rows(labels: list[str], scores: np.ndarray, rows: int) -> tuple[list[str], np.ndarray]:
    """The `rows` labels that score highest anywhere in the timeline, best first, and their (rows, windows) scores."""
    keep = np.argsort(-scores.max(axis=0), kind="stable")[: max(1, rows)]
    return [labels[i] for i in keep], np.ascontiguousarray(scores[:, keep].T, dtype=np.float32)


def summary_png(array: np.ndarray, rate: int, result: list[dict[str, Any]] | None, timeline: dict[str, Any] | None,
                attention: dict[str, Any] | None = None, *, width: float = 9.0,
                spectrogram: tuple[np.ndarray, float] | None = None) -> bytes:
    """Waveform, spectrogram (with the patch attention over it), the timeline heat strip and the top labels.
    `spectrogram`: `spectrogram_image(array, rate)` when the caller has it already (a minute of audio: ~0.3 s)."""
    from matplotlib.figure import Figure

    seconds = len(array) / rate
    image, span = spectrogram if spectrogram is not None else spectrogram_image(array, rate)
    heights = [1.0, 1.6] + ([1.2] if timeline else [])
    fig = Figure(figsize=(width, 1.0 + sum(heights) * 1.1), dpi=80)
    axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    env = waveform_envelope(array, 1200)
    t = np.linspace(0, seconds, len(env))
    axes[0].fill_between(t, env[:, 0], env[:, 1], color="#1f77b4", lw=0)
    axes[0].set_ylabel("amplitude")
    axes[1].imshow(image, origin="lower", aspect="auto", extent=(0, span, 0, image.shape[0]), cmap="magma")
    if attention is not None:
        grid = np.asarray(attention["grid"], dtype=np.float32)
        t0, t1 = attention["span"]
        axes[1].imshow(grid, origin="lower", aspect="auto", extent=(t0, t1, 0, image.shape[0]), cmap="viridis",
                       alpha=0.45)
    axes[1].set_ylabel("mel band")
    if timeline:
        labels, scores = timeline["labels"], np.asarray(timeline["scores"], dtype=np.float32)
        starts, window = np.asarray(timeline["starts"]), timeline["window_s"]
        centers = starts + min(window, seconds) / 2
        half = (centers[1] - centers[0]) / 2 if len(centers) > 1 else seconds / 2
        axes[2].imshow(scores, aspect="auto", cmap="Greens", vmin=0, vmax=max(1e-6, float(scores.max())),
                       extent=(centers[0] - half, centers[-1] + half, len(labels) - 0.5, -0.5), interpolation="nearest")
        axes[2].set_yticks(range(len(labels)), [label[:18] for label in labels], fontsize=7)
    axes[-1].set_xlabel("seconds")
    axes[-1].set_xlim(0, seconds)
    if result:
        top = ", ".join(f"{d['label']} {d['score']:.2f}" for d in result[:5])
        fig.suptitle(top, fontsize=9)
    fig.tight_layout()
    return figure_png(fig)


def static_page(png: bytes, result: list[dict[str, Any]] | None, title: str) -> str:
    """The panel's picture for a saved notebook: the summary PNG and the top labels."""
    bars = topk_html(result) if result else ""
    return (f'<div class="wb-audio-static"><b>{html.escape(title)}</b>'
            f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" style="max-width:100%"/>{bars}</div>')
