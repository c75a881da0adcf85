"""Pure renderers for segmentation: colours, the label map at display size, the legend, the static PNG.

A segmentation result here is a label map of segment indexes (-1: no segment) and a list of segments, each with a
`label_id`, `label`, `score` (None for a per-pixel classifier) and `area` (fraction of the image). Colours belong to
classes (one hue per label id, golden-angle spaced so 150 classes stay apart); the k-th segment of a class is a
lighter or darker shade, so instances of one class can be told apart. The browser gets these colours from here,
so the live panel and the saved PNG agree.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import figure_png

MAX_SIDE = 1024  # the label map travels at most this large (the photo too: widgets._render.vision.MAX_SIDE)


def class_color(label_id: int) -> tuple[float, float, float]:
    """A distinct, saturated colour per class id (RGB 0..1)."""
    hue = (int(label_id) * 0.6180339887) % 1.0
    return colorsys.hsv_to_rgb(hue, 0.72, 0.95)


def segment_colors(segments: Sequence[dict[str, Any]]) -> list[str]:
    """'#rrggbb' per segment: its class's colour, shaded by its rank among the segments of that class."""
    seen: dict[int, int] = {}
    out = []
    for s in segments:
        k = seen.get(int(s["label_id"]), 0)
        seen[int(s["label_id"])] = k + 1
        r, g, b = class_color(s["label_id"])
        h, light, sat = colorsys.rgb_to_hls(r, g, b)
        shade = 0.0 if k == 0 else (0.14 * ((k + 1) // 2)) * (1 if k % 2 else -1)
        r, g, b = colorsys.hls_to_rgb(h, min(0.85, max(0.2, light + shade)), sat)
        out.append("#%02x%02x%02x" % (round(r * 255), round(g * 255), round(b * 255)))
    return out


def display_size(height: int, width: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def shrink_nearest(labels: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """(H, W) integer map -> at most `max_side` per side, nearest neighbour (labels must not blend)."""
    h, w = labels.shape
    oh, ow = display_size(h, w, max_side)
    if (oh, ow) == (h, w):
        return labels
    rows = np.minimum(((np.arange(oh) + 0.5) * h / oh).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(ow) + 0.5) * w / ow).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


def shrink_soft(maps: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """(N, h, w) soft masks in 0..1 -> uint8 0..255, at most `max_side` per side (bilinear)."""
    n, h, w = maps.shape
    oh, ow = display_size(h, w, max_side)
    x = np.clip(np.asarray(maps, dtype=np.float32), 0.0, 1.0)
    if (oh, ow) != (h, w):
        import torch
        import torch.nn.functional as F

        x = F.interpolate(torch.from_numpy(np.ascontiguousarray(x))[None], size=(oh, ow), mode="bilinear",
                          align_corners=False)[0].numpy()
    return np.round(x * 255).astype(np.uint8)


def legend(segments: Sequence[dict[str, Any]], colors: Sequence[str]) -> list[dict[str, Any]]:
    """One row per class present: {"label_id", "label", "color" (its first segment's), "count", "area"},
    largest area first."""
    rows: dict[int, dict[str, Any]] = {}
    for s, c in zip(segments, colors):
        row = rows.setdefault(int(s["label_id"]), {"label_id": int(s["label_id"]), "label": str(s["label"]), "color": c,
                                                   "count": 0, "area": 0.0})
        row["count"] += 1
        row["area"] += float(s.get("area") or 0.0)
    return sorted(rows.values(), key=lambda r: (-r["area"], r["label_id"]))


def visible_segments(segments: Sequence[dict[str, Any]], hidden: Sequence[int] = (), isolated: int = -1) -> np.ndarray:
    """(S,) bool: segments drawn (class not hidden; only `isolated` when it is >= 0)."""
    keep = np.array([int(s["label_id"]) not in set(hidden) for s in segments], dtype=bool)
    if isolated >= 0:
        keep &= np.arange(len(segments)) == isolated
    return keep


def overlay_rgba(index_map: np.ndarray, colors: Sequence[str], visible: np.ndarray, opacity: float) -> np.ndarray:
    """(h, w) segment indexes -> (h, w, 4) float RGBA: each visible segment in its colour at `opacity`."""
    lut = np.zeros((len(colors) + 1, 4), dtype=np.float32)  # row 0: no segment
    for i, c in enumerate(colors):
        if visible[i]:
            lut[i + 1] = [int(c[1:3], 16) / 255, int(c[3:5], 16) / 255, int(c[5:7], 16) / 255, opacity]
    return lut[np.asarray(index_map, dtype=np.int64) + 1]


def segments_png(rgb: np.ndarray, index_map: np.ndarray, segments: Sequence[dict[str, Any]], colors: Sequence[str], *,
                 hidden: Sequence[int] = (), isolated: int = -1, opacity: float = 0.6, title: str = "",
                 dpi: int = 80) -> bytes:
    """The photo with the visible segments over it and a legend of their classes (area %)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    h, w = rgb.shape[:2]
    scale = min(1.0, 640 / max(h, w))
    shown = visible_segments(segments, hidden, isolated)
    rows = [r for r in legend([s for s, k in zip(segments, shown) if k], [c for c, k in zip(colors, shown) if k])]
    legend_w = 2.6 if rows else 0.0
    fig = Figure(figsize=(w * scale / dpi + legend_w, h * scale / dpi + (0.3 if title else 0)), dpi=dpi)
    ax = fig.add_axes((0, 0, (w * scale / dpi) / (w * scale / dpi + legend_w), 1 if not title else 0.94))
    ax.imshow(rgb)
    if len(segments):
        ax.imshow(overlay_rgba(index_map, colors, shown, opacity), extent=(0, w, h, 0), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    if rows:
        handles = [Patch(facecolor=r["color"], edgecolor="none",
                         label=f"{r['label']} {100 * r['area']:.1f}%" + (f" ({r['count']})" if r["count"] > 1 else ""))
                   for r in rows[:24]]
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1 - legend_w / (w * scale / dpi + legend_w), 0.5),
                   fontsize=8, frameon=False)
    return figure_png(fig)


def soft_overlay_rgba(soft: np.ndarray, colors: Sequence[str], visible: np.ndarray, opacity: float,
                      threshold: float = 0.0) -> np.ndarray:
    """(N, h, w) heat maps in 0..1 -> (h, w, 4) float RGBA, as the browser draws them: at each pixel the strongest
    visible map in its colour, as opaque as its value (times `opacity`); values below `threshold` not drawn."""
    n, h, w = soft.shape
    maps = np.where(visible[:, None, None], np.asarray(soft, dtype=np.float32), -1.0)
    best = maps.argmax(0) if n else np.zeros((h, w), dtype=np.int64)
    value = np.take_along_axis(maps, best[None], 0)[0] if n else np.full((h, w), -1.0, dtype=np.float32)
    rgb = np.array([[int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)] for c in colors] or [[0, 0, 0]],
                   dtype=np.float32) / 255
    out = np.zeros((h, w, 4), dtype=np.float32)
    out[..., :3] = rgb[np.minimum(best, len(rgb) - 1)]
    out[..., 3] = np.where((value >= threshold) & (value > 0), np.clip(value, 0, 1) * opacity, 0.0)
    return out


def soft_png(rgb: np.ndarray, soft: np.ndarray, labels: Sequence[str], colors: Sequence[str], *,
             hidden: Sequence[int] = (), isolated: int = -1, opacity: float = 0.6, threshold: float = 0.0,
             title: str = "", dpi: int = 80) -> bytes:
    """The photo with heat maps over it (one per prompt, the strongest visible one at each pixel) and a legend of
    the prompts: each one's highest value and the share of the photo at or above `threshold`."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    h, w = rgb.shape[:2]
    scale = min(1.0, 640 / max(h, w))
    visible = np.array([k not in set(hidden) and isolated in (-1, k) for k in range(len(labels))], dtype=bool)
    small = shrink_soft(np.asarray(soft, dtype=np.float32), max_side=640).astype(np.float32) / 255
    legend_w = 2.6 if len(labels) else 0.0
    fig = Figure(figsize=(w * scale / dpi + legend_w, h * scale / dpi + (0.3 if title else 0)), dpi=dpi)
    ax = fig.add_axes((0, 0, (w * scale / dpi) / (w * scale / dpi + legend_w), 1 if not title else 0.94))
    ax.imshow(rgb)
    ax.imshow(soft_overlay_rgba(small, colors, visible, opacity, threshold), extent=(0, w, h, 0),
              interpolation="bilinear")
    ax.set_axis_off()
    if title:
        ax.set_title(f"{title} · threshold {threshold:.2f}" if threshold else title, fontsize=9)
    handles = [Patch(facecolor=c, edgecolor="none", alpha=1.0 if shown else 0.25,
                     label=f"{label}  max {float(m.max()):.2f} · {100 * float((m >= threshold).mean()):.1f}%")
               for label, c, m, shown in zip(labels, colors, soft, visible)]
    if handles:
        fig.legend(handles=handles[:24], loc="center left",
                   bbox_to_anchor=(1 - legend_w / (w * scale / dpi + legend_w), 0.5), fontsize=8, frameon=False)
    return figure_png(fig)


__all__ = ["class_color", "display_size", "legend", "overlay_rgba", "segment_colors", "segments_png", "shrink_nearest",
           "shrink_soft", "soft_overlay_rgba", "soft_png", "visible_segments"]
