"""Images in: paths, URLs, bytes, PIL images, arrays and tensors -> upright RGB -> model tensors.

Two stages, as the reference's PIL image processors:

1. **Reading** (`to_rgb`): any input form becomes one upright (EXIF orientation applied) RGB
   `uint8` array (H, W, 3). Transparent images are composited onto white, grayscale is
   repeated, CMYK converted, 16-bit scaled to 8 bits, float images in [0, 1] quantised as the
   reference does before resizing (`uint8(x * 255)`), channel-first arrays and tensors moved.
2. **Preprocessing** (`ImageProcessor`): resize (PIL, the checkpoint's filter), centre-crop,
   rescale + normalise (one exact lookup table per channel: a uint8 pixel has only 256
   values), padding to the batch's largest image with a pixel mask. Every number comes from
   the checkpoint's `preprocessor_config.json`; the defaults of each processor type (ViT, DETR,
   ...) are one row of `PROCESSOR_TYPES`, so another image family adds a row, not code.

Post-processing for detection heads lives here too (`post_process_object_detection`): DETR's
boxes (centre, size) relative to the image -> corners in each image's original pixels.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

IMAGENET_STANDARD_MEAN = (0.5, 0.5, 0.5)
IMAGENET_STANDARD_STD = (0.5, 0.5, 0.5)
IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# PIL's resampling filters by the integer a preprocessor_config.json stores.
RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}

# The size dicts a config may hold (as the reference): each is one resizing rule.
SIZE_FORMS = ({"height", "width"}, {"shortest_edge"}, {"shortest_edge", "longest_edge"}, {"max_height", "max_width"},
              {"longest_edge"})

ImageInput = Any  # str (path, URL, data URI) | bytes | os.PathLike | PIL.Image | np.ndarray | torch.Tensor


# -- reading ---------------------------------------------------------------------------------------
def _hint() -> str:
    return ("pass a file path, an http(s) URL, bytes of an image file, a PIL image, or an array/tensor "
            "(H, W, 3) or (3, H, W), uint8 0..255 or float 0..1")


def fetch_url(url: str, timeout: float | None = 10.0) -> bytes:
    """The bytes at `url`, through huggingface_hub's HTTP session (its proxies and headers); refused offline."""
    from ..hub import is_offline

    if is_offline():
        raise InputError(f"{url} is a URL, but the hub is offline here (HF_HUB_OFFLINE=1): download the image "
                         "yourself and pass its file path, or unset HF_HUB_OFFLINE while online.")
    from huggingface_hub import get_session

    try:
        response = get_session().get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
    except Exception as err:  # noqa: BLE001  the session's error types differ between hub versions
        raise InputError(f"could not download the image at {url} ({type(err).__name__}: {err}); check the address "
                         "and the connection, or pass a local file path.") from None
    return response.content


def open_image(source: str | os.PathLike | bytes, *, timeout: float | None = 10.0) -> Any:
    """A path, URL, data URI or the bytes of an image file -> a PIL image (not yet decoded)."""
    from PIL import Image, UnidentifiedImageError

    label = "the image bytes"
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        elif isinstance(source, str) and source.startswith(("http://", "https://")):
            label, data = source, fetch_url(source, timeout)
        elif isinstance(source, str) and source.startswith("data:image/"):
            label, data = "the data URI", base64.b64decode(source.split(",", 1)[-1])
        else:
            path = Path(source)
            label = str(path)
            if not path.is_file():
                raise InputError(f"image file {path} does not exist; {_hint()}.")
            return Image.open(path)
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise InputError(f"{label} is not an image file PIL can read (png, jpeg, gif, bmp, tiff, webp, ...).") from None


def _pil_to_rgb(image: Any) -> np.ndarray:
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(image)  # what a camera meant as "up"
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16/32-bit grayscale: scale, do not clip
        return _array_to_rgb(np.asarray(image)[:, :, None], "HWC")
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("RGB"))


def _channel_axis(a: np.ndarray) -> int | None:
    """Where the channels are in a 3-d array: 0 (C, H, W) or 2 (H, W, C), as the reference decides (first wins)."""
    if a.shape[0] in (1, 3, 4):
        return 0
    if a.shape[2] in (1, 3, 4):
        return 2
    return None


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.integer):
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise InputError(f"integer image values {a.min()}..{a.max()} are out of range; use uint8 (0..255) or "
                             "16-bit (0..65535) pixels.")
        if a.size and a.max() > 255:  # 16-bit: 65535 -> 255
            return np.rint(a.astype(np.float64) / 257.0).astype(np.uint8)
        return a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise InputError("the image holds NaN or infinite values.")
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo >= 0 and hi <= 1:  # a float image in [0, 1]: as the reference does before resizing
            return (a.astype(np.float64) * 255).astype(np.uint8)
        if lo >= 0 and hi <= 255:
            return np.rint(a).astype(np.uint8)
        raise InputError(f"float image values {lo:g}..{hi:g} are neither in 0..1 nor in 0..255; {_hint()}.")
    raise InputError(f"an image array of dtype {a.dtype} cannot be read; {_hint()}.")


def _array_to_rgb(a: np.ndarray, layout: str = "auto") -> np.ndarray:
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise InputError(f"an image array must be (H, W), (H, W, C) or (C, H, W); got shape {tuple(a.shape)}. "
                         "A batch of images is a list of them.")
    axis = _channel_axis(a) if layout == "auto" else 2
    if axis is None:
        raise InputError(f"cannot tell which axis holds the colour channels in an array of shape {tuple(a.shape)}; "
                         "use (H, W, 3) or (3, H, W) (1 or 4 channels work too).")
    a = np.moveaxis(a, axis, -1)  # (H, W, C)
    channels = a.shape[-1]
    if channels == 4:  # composite onto white, as the reference's convert_to_rgb
        if np.issubdtype(a.dtype, np.floating) and a.size and (a.min() < 0 or a.max() > 1):
            raise InputError("a float RGBA image must hold values in 0..1.")
        white = 255 if not np.issubdtype(a.dtype, np.floating) else 1.0
        alpha = a[..., 3:4] / white
        rgb = alpha * a[..., :3] + (1 - alpha) * white
        a = np.round(rgb).astype(a.dtype) if white == 255 else rgb.astype(a.dtype)
    a = _to_uint8(a)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return np.ascontiguousarray(a)


def to_rgb(image: ImageInput, *, timeout: float | None = 10.0) -> np.ndarray:
    """Any supported image input -> an upright RGB uint8 array (H, W, 3)."""
    from PIL import Image

    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        image = open_image(image, timeout=timeout)
    if isinstance(image, Image.Image):
        try:
            return _pil_to_rgb(image)
        except OSError as err:  # truncated or damaged files fail at decode time
            raise InputError(f"the image could not be decoded ({err}); the file may be damaged or truncated.") from None
    if type(image).__module__.startswith("torch"):
        image = image.detach().cpu().numpy()
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image)
    raise InputError(f"cannot read an image from a {type(image).__name__}; {_hint()}.")


def is_image_input(x: Any) -> bool:
    """Whether `x` has one of the forms `to_rgb` reads (not whether it decodes)."""
    if isinstance(x, (str, os.PathLike, bytes, bytearray, np.ndarray)):
        return True
    if type(x).__module__.startswith("torch") and hasattr(x, "shape"):
        return True
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(x, Image.Image)


# -- sizes ---------------------------------------------------------------------------------------
def size_dict(size: Any, *, max_size: int | None = None, default_to_square: bool = True,
              name: str = "size") -> dict[str, int]:
    """A config's `size` in any historical form -> one of SIZE_FORMS (the reference's rules)."""
    if isinstance(size, dict):
        out = {k: int(v) for k, v in size.items() if v is not None}
    elif isinstance(size, int) and default_to_square:
        out = {"height": size, "width": size}
    elif isinstance(size, int):
        out = {"shortest_edge": size, **({"longest_edge": int(max_size)} if max_size else {})}
    elif isinstance(size, (list, tuple)) and len(size) == 2:
        out = {"height": int(size[0]), "width": int(size[1])}
    else:
        raise InputError(f"{name} = {size!r} in preprocessor_config.json is not a size; use e.g. "
                         '{"height": 224, "width": 224} or {"shortest_edge": 800, "longest_edge": 1333}.')
    if set(out) not in SIZE_FORMS or any(v < 1 for v in out.values()):
        raise InputError(f"{name} = {size!r} in preprocessor_config.json is not a size this processor can use; "
                         f"use one of the key sets {[sorted(f) for f in SIZE_FORMS]} with positive values.")
    return out


def aspect_size(height: int, width: int, size: int, max_size: int | None = None) -> tuple[int, int]:
    """Shortest edge -> `size`, longest edge at most `max_size` (the reference's rounding, kept exactly)."""
    raw = None
    if max_size is not None:
        lo, hi = float(min(height, width)), float(max(height, width))
        if hi / lo * size > max_size:
            raw = max_size * lo / hi
            size = int(round(raw))
    if (height <= width and height == size) or (width <= height and width == size):
        return height, width
    if width < height:
        return (int(raw * height / width) if raw is not None else int(size * height / width)), size
    return size, (int(raw * width / height) if raw is not None else int(size * width / height))


def output_size(height: int, width: int, size: dict[str, int]) -> tuple[int, int]:
    """The (height, width) an image of (height, width) is resized to under `size` (one of SIZE_FORMS)."""
    if "shortest_edge" in size and "longest_edge" in size:
        return aspect_size(height, width, size["shortest_edge"], size["longest_edge"])
    if "shortest_edge" in size:  # torchvision's rule: the short side -> size, the long one scaled and truncated
        s = size["shortest_edge"]
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(s * long / short)
        return (new_long, s) if width <= height else (s, new_long)
    if set(size) == {"longest_edge"}:  # SAM: the longest side -> size, rounded half up
        scale = size["longest_edge"] / max(height, width)
        return int(height * scale + 0.5), int(width * scale + 0.5)
    if "max_height" in size:
        scale = min(size["max_height"] / height, size["max_width"] / width)
        return int(height * scale), int(width * scale)
    return size["height"], size["width"]


# -- the processor --------------------------------------------------------------------------------
# Each processor type's defaults (the reference's class attributes); a checkpoint's config overrides them.
# `default_to_square`: how an int `size` in an old config is read (a square, or the shortest edge).
PROCESSOR_TYPES: dict[str, dict[str, Any]] = {
    "ViTImageProcessor": dict(size={"height": 224, "width": 224}, resample=2, image_mean=IMAGENET_STANDARD_MEAN,
                              image_std=IMAGENET_STANDARD_STD),
    "DeiTImageProcessor": dict(size={"height": 256, "width": 256}, resample=3, do_center_crop=True,
                               crop_size={"height": 224, "width": 224}, image_mean=IMAGENET_STANDARD_MEAN,
                               image_std=IMAGENET_STANDARD_STD),
    "CLIPImageProcessor": dict(size={"shortest_edge": 224}, default_to_square=False, resample=3, do_center_crop=True,
                               crop_size={"height": 224, "width": 224}, image_mean=OPENAI_CLIP_MEAN,
                               image_std=OPENAI_CLIP_STD),
    "SiglipImageProcessor": dict(size={"height": 224, "width": 224}, default_to_square=False, resample=3,
                                 image_mean=IMAGENET_STANDARD_MEAN, image_std=IMAGENET_STANDARD_STD),
    # OWLv2: pads to a square and resizes with its own blur + zoom (`processors.owlv2.Owlv2ImageProcessor`)
    "Owlv2ImageProcessor": dict(size={"height": 960, "width": 960}, resample=2, image_mean=OPENAI_CLIP_MEAN,
                                image_std=OPENAI_CLIP_STD, do_pad=True),
    "SamImageProcessor": dict(size={"longest_edge": 1024}, resample=2, image_mean=IMAGENET_DEFAULT_MEAN,
                              image_std=IMAGENET_DEFAULT_STD, do_pad=True, pad_size={"height": 1024, "width": 1024}),
    "DetrImageProcessor": dict(size={"shortest_edge": 800, "longest_edge": 1333}, default_to_square=False,
                               max_size=1333, resample=2, image_mean=IMAGENET_DEFAULT_MEAN,
                               image_std=IMAGENET_DEFAULT_STD, do_pad=True),
    "SegformerImageProcessor": dict(size={"height": 512, "width": 512}, resample=2, image_mean=IMAGENET_DEFAULT_MEAN,
                                    image_std=IMAGENET_DEFAULT_STD),
    # DPT / Depth Anything: `keep_aspect_ratio` + `ensure_multiple_of` pick the size; `do_pad` centre-pads to size_divisor
    "DPTImageProcessor": dict(size={"height": 384, "width": 384}, resample=3, image_mean=IMAGENET_STANDARD_MEAN,
                              image_std=IMAGENET_STANDARD_STD),
    # Mask2Former: the resized size is rounded up to size_divisor, then the batch is padded (with a pixel mask)
    "Mask2FormerImageProcessor": dict(size={"shortest_edge": 800, "longest_edge": 1333}, default_to_square=False,
                                      resample=2, image_mean=IMAGENET_DEFAULT_MEAN, image_std=IMAGENET_DEFAULT_STD,
                                      do_pad=True, size_divisor=32),
    # OneFormer: the shortest/longest edge rule, the batch padded (with a pixel mask); no size divisor
    "OneFormerImageProcessor": dict(size={"shortest_edge": 800, "longest_edge": 1333}, default_to_square=False,
                                    resample=2, image_mean=IMAGENET_DEFAULT_MEAN, image_std=IMAGENET_DEFAULT_STD,
                                    do_pad=True),
}
# Types whose `size_divisor` rounds the resized size up (the others centre-pad to it when do_pad).
DIVISOR_RESIZES = {"Mask2FormerImageProcessor"}
# Older configs name a "feature extractor" of the same family.
ALIASES = {"ViTFeatureExtractor": "ViTImageProcessor", "DeiTFeatureExtractor": "DeiTImageProcessor",
           "CLIPFeatureExtractor": "CLIPImageProcessor", "DetrFeatureExtractor": "DetrImageProcessor",
           "SegformerFeatureExtractor": "SegformerImageProcessor", "DPTFeatureExtractor": "DPTImageProcessor"}


@dataclass
class ImageProcessor:
    """Resize, centre-crop, rescale, normalise and pad images as a checkpoint's `preprocessor_config.json` says.

    `processor(images)` takes one image or a list (any form `to_rgb` reads) and returns
    `{"pixel_values": (B, 3, H, W) float32, "pixel_mask": (B, H, W) int64 (when padding)}` as torch tensors.
    """

    image_processor_type: str = "ViTImageProcessor"
    do_resize: bool = True
    size: dict[str, int] = field(default_factory=lambda: {"height": 224, "width": 224})
    resample: int = 2
    do_center_crop: bool = False
    crop_size: dict[str, int] | None = None
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    image_mean: tuple[float, ...] = IMAGENET_STANDARD_MEAN
    image_std: tuple[float, ...] = IMAGENET_STANDARD_STD
    do_pad: bool = False
    pad_size: dict[str, int] | None = None
    keep_aspect_ratio: bool = False  # DPT: scale both sides by the factor closer to 1
    ensure_multiple_of: int = 1  # DPT: each side rounded to a multiple of this
    size_divisor: int | None = None  # DPT: centre-pad to a multiple (with do_pad); Mask2Former: round the size up
    extra: dict[str, Any] = field(default_factory=dict)  # other keys of the config, kept for saving

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> "ImageProcessor":
        kind = config.get("image_processor_type") or config.get("feature_extractor_type") or "ViTImageProcessor"
        kind = ALIASES.get(kind, kind)
        if kind not in PROCESSOR_TYPES:
            raise InputError(f"image processor type {kind!r} is not supported here; supported: "
                             f"{', '.join(sorted(PROCESSOR_TYPES))}.")
        values = {**PROCESSOR_TYPES[kind], **{k: v for k, v in config.items() if v is not None}}
        square = values.pop("default_to_square", True)
        max_size = values.pop("max_size", None)
        if config.get("size") is None:
            max_size = None  # the type's default size already says it
        if "pad_and_return_pixel_mask" in values:  # DETR's old name for do_pad
            values.setdefault("do_pad", values.pop("pad_and_return_pixel_mask"))
        names = {f.name for f in fields(cls)} - {"extra", "image_processor_type"}
        known = {k: values.pop(k) for k in list(values) if k in names}
        known["size"] = size_dict(known.get("size", PROCESSOR_TYPES[kind]["size"]), max_size=max_size,
                                  default_to_square=square)
        if known.get("crop_size") is not None:
            known["crop_size"] = size_dict(known["crop_size"], name="crop_size")
        if known.get("pad_size") is not None:
            known["pad_size"] = size_dict(known["pad_size"], name="pad_size")
        for key in ("image_mean", "image_std"):
            if key in known:
                v = known[key]
                known[key] = tuple(float(x) for x in (v if isinstance(v, (list, tuple)) else [v] * 3))
        if known.get("resample") is not None and int(known["resample"]) not in RESAMPLE_NAMES:
            raise InputError(f"resample = {known['resample']!r} in preprocessor_config.json is not a PIL filter "
                             f"({RESAMPLE_NAMES}).")
        values.pop("feature_extractor_type", None)
        values.pop("image_processor_type", None)
        return cls(image_processor_type=kind, extra=values, **known)

    @property
    def pads_batch(self) -> bool:
        """Whether images are padded to the batch's largest at the bottom/right with a pixel mask (DETR, Mask2Former);
        DPT's do_pad centre-pads each image instead."""
        return self.do_pad and self.image_processor_type != "DPTImageProcessor"

    @property
    def model_input_names(self) -> tuple[str, ...]:
        return ("pixel_values", "pixel_mask") if self.pads_batch else ("pixel_values",)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out["image_mean"], out["image_std"] = list(self.image_mean), list(self.image_std)
        return {**self.extra, **out}

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Write `preprocessor_config.json` (the reference reads it back as the same processor)."""
        import json

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "preprocessor_config.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    # -- steps ---------------------------------------------------------------------------------
    def target_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) an image of this size is resized to, by this processor type's rule."""
        if self.keep_aspect_ratio or self.ensure_multiple_of > 1:
            if set(self.size) != {"height", "width"}:
                raise InputError(f"keep_aspect_ratio / ensure_multiple_of need a size with height and width; got {self.size}.")
            return multiple_size(height, width, self.size["height"], self.size["width"], self.keep_aspect_ratio,
                                 self.ensure_multiple_of)
        oh, ow = output_size(height, width, self.size)
        if self.size_divisor and self.image_processor_type in DIVISOR_RESIZES:
            d = self.size_divisor
            oh, ow = -(-oh // d) * d, -(-ow // d) * d
        return oh, ow

    def resize(self, rgb: np.ndarray) -> np.ndarray:
        from PIL import Image

        h, w = rgb.shape[:2]
        oh, ow = self.target_size(h, w)
        if (oh, ow) == (h, w):
            return rgb  # PIL returns a copy at the same size
        return np.asarray(Image.fromarray(rgb).resize((ow, oh), resample=int(self.resample)))

    def center_crop(self, rgb: np.ndarray) -> np.ndarray:
        """Crop the middle (pad with zeros when the image is smaller), as the reference's numpy crop."""
        ch, cw = self.crop_size["height"], self.crop_size["width"]
        h, w = rgb.shape[:2]
        top, left = (h - ch) // 2, (w - cw) // 2
        if top >= 0 and left >= 0:
            return rgb[top: top + ch, left: left + cw]
        nh, nw = max(ch, h), max(cw, w)
        canvas = np.zeros((nh, nw, 3), dtype=rgb.dtype)
        tp, lp = -(-(nh - h) // 2), -(-(nw - w) // 2)
        canvas[tp: tp + h, lp: lp + w] = rgb
        top, left = top + tp, left + lp
        return canvas[max(0, top): min(nh, top + ch), max(0, left): min(nw, left + cw)]

    def lookup_table(self) -> np.ndarray:
        """(3, 256) float32: each uint8 value of each channel after rescale and normalise, computed with the
        reference's arithmetic (float64 rescale cast to float32, then float32 (x - mean) / std)."""
        table = getattr(self, "_lut", None)
        if table is not None:
            return table
        v = np.arange(256, dtype=np.float64)
        x = (v * self.rescale_factor).astype(np.float32) if self.do_rescale else v.astype(np.float32)
        rows = np.stack([x] * 3)
        if self.do_normalize:
            mean = np.asarray(self.image_mean, dtype=np.float32)[:, None]
            std = np.asarray(self.image_std, dtype=np.float32)[:, None]
            rows = (rows - mean) / std
        self._lut = np.ascontiguousarray(rows, dtype=np.float32)
        return self._lut

    def prepare(self, image: ImageInput) -> tuple[np.ndarray, tuple[int, int]]:
        """One image -> its (3, H, W) float32 pixel values and its original (height, width)."""
        rgb = image if _is_rgb_u8(image) else to_rgb(image)
        original = rgb.shape[:2]
        if self.do_resize:
            rgb = self.resize(rgb)
        if self.do_center_crop and self.crop_size:
            rgb = self.center_crop(rgb)
        lut = self.lookup_table()
        chw = np.empty((3, *rgb.shape[:2]), dtype=np.float32)
        for c in range(3):
            np.take(lut[c], rgb[..., c], out=chw[c])
        if self.do_pad and self.size_divisor and not self.pads_batch:
            chw = center_pad(chw, self.size_divisor)
        return chw, (int(original[0]), int(original[1]))

    def __call__(self, images: ImageInput | Sequence[ImageInput], *, return_tensors: str | None = "pt",
                 device: Any = None) -> dict[str, Any]:
        batch = list(images) if isinstance(images, (list, tuple)) else [images]
        if not batch:
            raise InputError("no images given; pass one image or a list of them.")
        prepared = [self.prepare(x) for x in batch]
        pixels = [p for p, _ in prepared]
        out: dict[str, Any] = {"original_sizes": [s for _, s in prepared]}
        if self.pads_batch:
            pixels, masks = pad_batch(pixels, self.pad_size)
            out["pixel_mask"] = masks
        elif len({p.shape for p in pixels}) > 1:
            raise InputError(f"the images came out in different sizes {sorted({p.shape[1:] for p in pixels})} and this "
                             "processor does not pad; resize them to one size first.")
        out["pixel_values"] = np.stack(pixels)
        if return_tensors == "pt":
            import torch

            for key in ("pixel_values", "pixel_mask"):
                if key in out:
                    out[key] = torch.from_numpy(out[key]) if device is None else torch.from_numpy(out[key]).to(device)
        return out


def _is_rgb_u8(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 3 and x.shape[2] == 3 and x.shape[0] > 4


def multiple_size(height: int, width: int, out_h: int, out_w: int, keep_aspect_ratio: bool, multiple: int) -> tuple[int, int]:
    """DPT's rule: scale toward (out_h, out_w) (with `keep_aspect_ratio`, both sides by the factor closer to 1), then
    round each side to a multiple of `multiple` (Python's round, as the reference)."""
    scale_h, scale_w = out_h / height, out_w / width
    if keep_aspect_ratio:
        if abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h

    def to_multiple(v: float) -> int:
        return max(multiple, int(round(v / multiple) * multiple))  # never 0 for a sliver of an image

    return to_multiple(scale_h * height), to_multiple(scale_w * width)


def center_pad(chw: np.ndarray, divisor: int) -> np.ndarray:
    """(C, h, w) zero-padded on both sides of each axis to multiples of `divisor` (the extra pixel at the end)."""
    _, h, w = chw.shape
    nh, nw = -(-h // divisor) * divisor, -(-w // divisor) * divisor
    if (nh, nw) == (h, w):
        return chw
    out = np.zeros((chw.shape[0], nh, nw), dtype=chw.dtype)
    top, left = (nh - h) // 2, (nw - w) // 2
    out[:, top: top + h, left: left + w] = chw
    return out


def pad_batch(pixels: list[np.ndarray], pad_size: dict[str, int] | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Pad (3, h, w) images at the bottom/right with zeros to one size; the mask (B, H, W) int64 marks real pixels."""
    if pad_size is not None:
        height, width = pad_size["height"], pad_size["width"]
    else:
        height, width = max(p.shape[1] for p in pixels), max(p.shape[2] for p in pixels)
    masks = np.zeros((len(pixels), height, width), dtype=np.int64)
    out = []
    for i, p in enumerate(pixels):
        h, w = p.shape[1:]
        if h > height or w > width:
            raise InputError(f"an image of {h}x{w} does not fit pad_size {height}x{width}.")
        masks[i, :h, :w] = 1
        if (h, w) != (height, width):
            padded = np.zeros((p.shape[0], height, width), dtype=p.dtype)
            padded[:, :h, :w] = p
            p = padded
        out.append(p)
    return out, masks


# -- post-processing --------------------------------------------------------------------------------
def center_to_corners(boxes: Any) -> Any:
    """(..., 4) boxes (centre x, centre y, width, height) -> (x0, y0, x1, y1); torch tensors."""
    import torch

    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def box_iou(a: Any, b: Any) -> Any:
    """(N, 4) x (M, 4) corner boxes -> (N, M) intersection over union; torch tensors."""
    import torch

    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = torch.max(a[:, None, :2], b[:, :2])
    bottom_right = torch.min(a[:, None, 2:], b[:, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b - inter)


def post_process_object_detection(logits: Any, pred_boxes: Any, *, threshold: float = 0.5,
                                  target_sizes: Sequence[tuple[int, int]] | None = None,
                                  top_k: int | None = None) -> list[dict[str, Any]]:
    """DETR-style outputs -> per image {"scores", "labels", "boxes", "queries"} (torch), as the reference.

    `logits` (B, Q, C + 1) end with the "no object" class, which is dropped; each query keeps its best class.
    `pred_boxes` (B, Q, 4) are (cx, cy, w, h) relative to the image; with `target_sizes` [(height, width)]
    they become corners in those pixels. Queries scoring over `threshold` are kept, in query order, or the
    `top_k` best by score when given. `queries` are the kept queries' indices.
    """
    import torch

    probs = torch.softmax(logits.float(), -1)
    scores, labels = probs[..., :-1].max(-1)  # (B, Q)
    boxes = center_to_corners(pred_boxes.float())
    if target_sizes is not None:
        if len(target_sizes) != len(logits):
            raise InputError(f"{len(target_sizes)} target sizes for {len(logits)} images.")
        hw = torch.tensor([[float(h), float(w)] for h, w in target_sizes], dtype=boxes.dtype, device=boxes.device)
        scale = torch.stack([hw[:, 1], hw[:, 0], hw[:, 1], hw[:, 0]], dim=1)  # (B, 4)
        boxes = boxes * scale[:, None, :]
    results = []
    for s, lab, b in zip(scores, labels, boxes):
        keep = (s > threshold).nonzero().squeeze(1)
        if top_k is not None and len(keep) > top_k:
            keep = keep[s[keep].topk(top_k).indices.sort().values]
        results.append({"scores": s[keep], "labels": lab[keep], "boxes": b[keep], "queries": keep})
    return results


__all__ = [
    "ALIASES", "PROCESSOR_TYPES", "ImageProcessor", "box_iou", "center_to_corners", "fetch_url", "is_image_input", "open_image",
    "output_size", "pad_batch", "post_process_object_detection", "size_dict", "to_rgb",
]
