"""Pure renderers for the image panels: pictures for the browser, heat maps, and the static PNGs saved notebooks show."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import figure_png

MAX_SIDE = 1024  # the browser gets the photo at most this large (boxes stay in original pixels)
PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#800000",
           "#469990", "#000075", "#808000", "#bfef45", "#fabed4", "#dcbeff", "#ffd8b1"]
MODEL_COLORS = ["#ff7f0e", "#1f77b4", "#2ca02c", "#d62728"]  # comparing models: one colour each


def jpeg_bytes(rgb: np.ndarray, max_side: int = MAX_SIDE, quality: int = 90) -> bytes:
    """The photo as JPEG (a picture, so a picture format: a tenth of the raw bytes), shrunk to `max_side`."""
    from PIL import Image

    img = Image.fromarray(rgb)
    scale = max_side / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def photo_img_html(png: bytes, alt: str, *, max_side: int = 800, quality: int = 85) -> str:
    """A saved notebook's picture of a photo (with its drawn overlay): a JPEG data-URL <img>, at most `max_side`
    pixels. A photo as PNG is 300-600 KB; as JPEG it stays well under the 200 KB a saved output may take."""
    import base64

    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    data = base64.b64encode(jpeg_bytes(rgb, max_side=max_side, quality=quality)).decode("ascii")
    return f'<img alt="{alt}" src="data:image/jpeg;base64,{data}" style="max-width:100%"/>'


def label_color(label_id: int) -> str:
    return PALETTE[int(label_id) % len(PALETTE)]


def visible(scores: np.ndarray, label_ids: np.ndarray, threshold: float, classes: Sequence[int] | None) -> np.ndarray:
    """Rows drawn: score at least `threshold` and, when `classes` is given, one of those label ids."""
    keep = scores >= threshold
    if classes:
        keep &= np.isin(label_ids, list(classes))
    return keep


def resample_maps(maps: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(N, h, w) -> (N, rows, cols) bilinear (two models' heat maps on one grid)."""
    if tuple(maps.shape[1:]) == tuple(grid):
        return maps
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[:, None]
    return F.interpolate(t, size=tuple(grid), mode="bilinear", align_corners=False)[:, 0].numpy()


def photo_axes(rgb: np.ndarray, max_side: int, dpi: int = 80) -> tuple[Any, Any]:
    """A Figure (Agg, no pyplot) showing the photo edge to edge, at most `max_side` pixels, and its axes to draw on."""
    from matplotlib.figure import Figure

    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    fig = Figure(figsize=(w * scale / dpi, h * scale / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(rgb)
    ax.set_axis_off()
    return fig, ax


def detections_png(rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray, label_ids: np.ndarray, labels: Sequence[str],
                   *, models: np.ndarray | None = None, model_names: Sequence[str] = (), threshold: float = 0.5,
                   classes: Sequence[int] | None = None, dpi: int = 80) -> bytes:
    """The photo with the boxes over `threshold` (and of `classes`), labelled "label score"."""
    from matplotlib.patches import Rectangle

    fig, ax = photo_axes(rgb, 800, dpi)
    compare = models is not None and len(model_names) > 1
    for i in np.flatnonzero(visible(scores, label_ids, threshold, classes)):
        x0, y0, x1, y1 = (float(v) for v in boxes[i])
        color = MODEL_COLORS[int(models[i]) % len(MODEL_COLORS)] if compare else label_color(label_ids[i])
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=2))
        text = f"{labels[int(label_ids[i])]} {scores[i]:.2f}" + (f" ({model_names[int(models[i])]})" if compare else "")
        ax.text(x0, y0, text, color="white", fontsize=9, va="bottom", bbox={"facecolor": color, "pad": 1, "lw": 0})
    return figure_png(fig)


def top_k_rows(result: Sequence[dict[str, Any]]) -> list[tuple[str, float]]:
    return [(str(r["label"]), float(r["score"])) for r in result]


def cls_attention_maps(attentions: np.ndarray, rollout: np.ndarray | None, grid: tuple[int, int],
                       extra_tokens: int = 1) -> np.ndarray:
    """What [CLS] looks at, on the patch grid: (L, H + 2, rows, cols) = each head, the mean over heads, then the
    rollout through that layer (zeros when not given). `attentions` (L, H, T, T), `rollout` (L, T, T)."""
    rows, cols = grid
    L, H = attentions.shape[:2]
    cls = attentions[:, :, 0, extra_tokens: extra_tokens + rows * cols].reshape(L, H, rows, cols)
    mean = cls.mean(axis=1, keepdims=True)
    roll = (rollout[:, 0, extra_tokens: extra_tokens + rows * cols].reshape(L, 1, rows, cols) if rollout is not None
            else np.zeros_like(mean))
    return np.concatenate([cls, mean, roll], axis=1).astype(np.float32)


def overlay_png(rgb: np.ndarray, heat: np.ndarray, *, alpha: float = 0.5, title: str = "", dpi: int = 80) -> bytes:
    """The photo with a heat map (normalised to its maximum) stretched over it."""
    from matplotlib.figure import Figure

    h, w = rgb.shape[:2]
    scale = min(1.0, 480 / max(h, w))
    fig = Figure(figsize=(w * scale / dpi, h * scale / dpi + (0.3 if title else 0)), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1 if not title else 1 - 0.3 * dpi / (h * scale + 0.3 * dpi)))
    ax.imshow(rgb)
    m = heat / max(float(heat.max()), 1e-9)
    ax.imshow(m, cmap="inferno", alpha=alpha, extent=(0, w, h, 0), interpolation="bilinear")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return figure_png(fig)


# -- SegmentAnything: masks over the photo ----------------------------------------------------------------------
MASK_SIDE = 512  # masks travel at most this large (the browser stretches them over the photo)
SAM_TINTS = np.array([[255, 40, 160], [40, 200, 255], [255, 200, 0], [120, 255, 80], [170, 90, 255], [255, 120, 40]])


def display_size(height: int, width: int, side: int = MASK_SIDE) -> tuple[int, int]:
    scale = min(1.0, side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def label_map(masks: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """(h, w) uint8: 0 nowhere, k for the k-th mask (best first; a better mask is drawn over a worse one)."""
    import torch
    import torch.nn.functional as F

    out = np.zeros(size, dtype=np.uint8)
    for k in range(min(len(masks), 255), 0, -1):
        m = torch.from_numpy(np.ascontiguousarray(masks[k - 1], dtype=np.float32))[None, None]
        out[F.interpolate(m, size, mode="bilinear", align_corners=False)[0, 0].numpy() > 0.5] = k
    return out


def overlay_jpeg(rgb: np.ndarray, layers: np.ndarray) -> bytes:
    """The photo with a label map (0 = none) tinted over it, for saved notebooks (JPEG: a photo)."""
    from PIL import Image

    h, w = layers.shape
    img = np.asarray(Image.fromarray(rgb).resize((w, h), Image.BILINEAR)).astype(np.float32)
    on = layers > 0
    img[on] = 0.45 * img[on] + 0.55 * SAM_TINTS[(layers[on].astype(int) - 1) % len(SAM_TINTS)]
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()
