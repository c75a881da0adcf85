"""What the image pipelines share: input checks, reading images (with the caller's index in errors),
the checkpoint's image processor, and patch/feature-grid token labels for attention records."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..processors.image import ImageProcessor, is_image_input, to_rgb
from .base import Pipeline


def grid_tokens(rows: int, cols: int) -> list[str]:
    """Labels of the cells of a (rows, cols) grid, row by row: "r2c5"."""
    return [f"r{r}c{c}" for r in range(rows) for c in range(cols)]


class ImagePipeline(Pipeline):
    """A pipeline over an image processor and a vision model."""

    image_processor_class: Any = ImageProcessor

    def __init__(self, model: Any, processor: Any = None, *, device: Any = None, batch_size: int = 8) -> None:
        super().__init__(model, processor, device=device, batch_size=batch_size)
        # an image processor alone, or a processor holding one (with a tokenizer, for image-text models)
        self.image_processor = getattr(self.processor, "image_processor", self.processor)
        if not isinstance(self.image_processor, self.image_processor_class):
            raise InputError(f"the {self.task!r} pipeline needs the checkpoint's image processor "
                             "(preprocessor_config.json next to the weights); got a "
                             f"{type(self.processor).__name__}. Pass processor=... or a folder that has one.")

    def _check_type(self, item: Any, index: int) -> None:
        if not is_image_input(item):
            raise InputError(f"the {self.task!r} pipeline expects an image (a file path, an http(s) URL, bytes, a PIL "
                             f"image, a numpy array or a torch tensor) or a list of them; input {index} is a "
                             f"{type(item).__name__}.")

    def _is_single(self, inputs: Any) -> bool:
        return False  # a list or tuple is a batch of images

    @staticmethod
    def inputs_from(inputs: Any, images: Any) -> Any:
        """The reference takes the images as `inputs` or `images=`."""
        if inputs is None and images is None:
            raise InputError("pass an image (or a list of images) as the first argument or images=...")
        if inputs is not None and images is not None:
            raise InputError("pass the images once: as the first argument or as images=, not both.")
        return images if inputs is None else inputs

    def read(self, items: list[Any], timeout: float | None) -> list[np.ndarray]:
        """Each input as upright RGB uint8 (H, W, 3); a failure names the input within the batch."""
        out = []
        for i, item in enumerate(items):
            try:
                out.append(to_rgb(item, timeout=timeout))
            except InputError as err:
                raise InputError(f"{err}" if len(items) == 1 else f"(item {i} of this batch) {err}") from None
        return out

    def same_size_groups(self, images: list[np.ndarray]) -> list[tuple[list[int], np.ndarray, list[tuple[int, int]]]]:
        """Images prepared one by one, grouped by processed size: [(indexes, pixels (B, 3, H, W), original sizes)].
        Images of one size run in one batch; others run in their own, since padding would change what a
        convolutional or windowed backbone sees (the reference runs one image at a time)."""
        prepared = [self.image_processor.prepare(img) for img in images]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (pixels, _) in enumerate(prepared):
            groups.setdefault(pixels.shape, []).append(i)
        return [(rows, np.stack([prepared[i][0] for i in rows]), [prepared[i][1] for i in rows])
                for rows in groups.values()]

    def pixels(self, images: list[np.ndarray]) -> dict[str, Any]:
        """Model inputs for images of one processed size (the processor pads when its type does)."""
        batch = self.image_processor(images, device=self.device)
        return {k: v for k, v in batch.items() if k in self.image_processor.model_input_names}
