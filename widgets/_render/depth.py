"""Pure renderers for depth: the colour map (the browser gets the same table), depth at display size, the static PNG.

Relative depth from Depth Anything is inverse-depth-like (larger = nearer); maps here are normalised to 0..1 over
the image, 1 = nearest, and drawn with matplotlib's "inferno" (near = bright).
"""

from __future__ import annotations

import numpy as np

from . import figure_png

COLORMAP = "inferno"
MAX_SIDE = 640  # depth travels at most this large (float16): enough for hover and a point cloud


def colormap_table(name: str = COLORMAP) -> list[int]:
    """256 RGB entries, flattened (768 ints): the browser colours depth with exactly this table."""
    from matplotlib import colormaps

    rgb = colormaps[name](np.linspace(0, 1, 256))[:, :3]
    return [int(v) for v in np.round(rgb * 255).astype(np.uint8).ravel()]


def normalized(depth: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """(H, W) -> 0..1 over the valid (finite) pixels; invalid ones become NaN."""
    d = np.asarray(depth, dtype=np.float32)
    keep = np.isfinite(d) if valid is None else (np.asarray(valid, dtype=bool) & np.isfinite(d))
    out = np.full(d.shape, np.nan, dtype=np.float32)
    if keep.any():
        lo, hi = float(d[keep].min()), float(d[keep].max())
        out[keep] = (d[keep] - lo) / (hi - lo) if hi > lo else 0.0
    return out


def shrink(depth: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """(H, W) -> at most `max_side` per side by area averaging (NaN where every source pixel is NaN)."""
    h, w = depth.shape
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return depth.astype(np.float32)
    import torch
    import torch.nn.functional as F

    oh, ow = max(1, round(h * scale)), max(1, round(w * scale))
    d = torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))
    known = torch.isfinite(d)
    num = F.adaptive_avg_pool2d(torch.where(known, d, 0.0)[None, None], (oh, ow))[0, 0]
    den = F.adaptive_avg_pool2d(known.float()[None, None], (oh, ow))[0, 0]
    return torch.where(den > 0, num / den.clamp_min(1e-9), torch.full_like(num, float("nan"))).numpy()


def depth_png(rgb: np.ndarray, depth: np.ndarray, *, measured: np.ndarray | None = None, blend: float = 1.0,
              arrangement: str = "side", title: str = "", note: str = "", dpi: int = 80) -> bytes:
    """The photo and its depth (and a measured map, when given): side by side, or the depth blended over the photo."""
    from matplotlib.figure import Figure

    h, w = rgb.shape[:2]
    scale = min(1.0, 360 / max(h, w))
    panels = [("photo", rgb, None)] if arrangement == "side" else []
    panels.append(("predicted depth (bright: near)", depth, None))
    if measured is not None:
        panels.append(("measured disparity", measured, None))
    pw, ph = w * scale / dpi, h * scale / dpi
    fig = Figure(figsize=(pw * len(panels) + 0.1 * (len(panels) - 1), ph + 0.35 + (0.25 if note else 0)), dpi=dpi)
    for i, (label, data, _) in enumerate(panels):
        ax = fig.add_axes((i / len(panels), 0.25 / (ph + 0.6) if note else 0, 1 / len(panels) - 0.01,
                           ph / (ph + 0.35 + (0.25 if note else 0))))
        if data is rgb:
            ax.imshow(rgb)
        else:
            if arrangement == "overlay":
                ax.imshow(rgb)
            ax.imshow(np.ma.masked_invalid(data), cmap=COLORMAP, vmin=0, vmax=1, extent=(0, w, h, 0),
                      alpha=blend if arrangement == "overlay" else 1.0, interpolation="bilinear")
        ax.set_title(label, fontsize=9)
        ax.set_axis_off()
    if title or note:
        fig.text(0.5, 0.01, " · ".join(t for t in (title, note) if t), ha="center", va="bottom", fontsize=9)
    return figure_png(fig)


__all__ = ["COLORMAP", "colormap_table", "depth_png", "normalized", "shrink"]
