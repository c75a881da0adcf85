"""depth-estimation: relative depth per pixel, in the reference's format.

One image gives `{"predicted_depth": torch.Tensor (H, W) at the image's size (bicubic from the model's output),
"depth": PIL.Image (mode "L", the depth normalised to 0..255)}`, a list one dict per image. Depth Anything's
relative depth is inverse-depth-like: larger values are nearer. Images of one processed size share a batch.

`.attention(image)` records the backbone's patch self-attention (kind "patches", [CLS] then the grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..auto import AutoModelForDepthEstimation
from ..inspect import AttentionRecord, attention_record
from ..processors.segmentation import depth_to_size
from .image_common import ImagePipeline, grid_tokens


def depth_image(depth: np.ndarray) -> Any:
    """(H, W) depth -> a PIL "L" image, min..max stretched to 0..255 (truncated, as the reference)."""
    from PIL import Image

    d = depth.astype(np.float32)  # float32 arithmetic, as the reference: the same 0..255 values
    span = d.max() - d.min()
    norm = (d - d.min()) / span if span > 0 else np.zeros_like(d)
    return Image.fromarray((norm * 255).astype(np.uint8))


class DepthEstimationPipeline(ImagePipeline):
    task = "depth-estimation"
    default_model = "depth-anything/Depth-Anything-V2-Small-hf"
    auto_model = AutoModelForDepthEstimation

    def __call__(self, inputs: Any = None, *, images: Any = None, timeout: float | None = None,
                 batch_size: int | None = None) -> Any:
        return super().__call__(self.inputs_from(inputs, images), batch_size=batch_size, timeout=timeout)

    def depths(self, items: list[Any], timeout: float | None) -> list[Any]:
        """Each image's predicted depth (torch, (H, W) at the image's size)."""
        import torch

        found: list[Any] = [None] * len(items)
        for rows, pixels, sizes in self.same_size_groups(self.read(items, timeout)):
            predicted = self.model(pixel_values=torch.from_numpy(pixels).to(self.device)).predicted_depth
            for i, depth, size in zip(rows, predicted, sizes):
                found[i] = depth_to_size(depth, size).cpu()
        return found

    def _run_batch(self, items: list[Any], *, timeout: float | None) -> list[Any]:
        return [{"predicted_depth": d, "depth": depth_image(d.numpy())} for d in self.depths(items, timeout)]

    def attention(self, image: Any, *, layers: Sequence[int] | None = None, timeout: float | None = None) -> AttentionRecord:
        """The backbone's patch self-attention on `image`: kind "patches", tokens [CLS] then the grid row by row."""
        self._check_type(image, 0)
        inputs = self.pixels(self.read([image], timeout))
        rows, cols = self.model.grid(inputs["pixel_values"])
        return attention_record(self.model, inputs, query_tokens=["[CLS]"] + grid_tokens(rows, cols), kind="patches",
                                layers=layers, grid=(rows, cols))
