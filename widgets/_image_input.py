"""Where an image panel's picture comes from: the offline gallery, an upload, or a path / URL typed in.

`ImageSource` is a row of stock controls that calls `on_image(rgb, name)` with an upright RGB uint8 array
(read by `workbench.processors.image.to_rgb`, so every input form the pipelines take works here too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np

from workbench.processors.image import to_rgb

from ._gallery import available, sample_path


class ImageSource(W.VBox):
    """Gallery buttons, an upload button and a path/URL box; `load(x)` takes any image input from code."""

    def __init__(self, on_image: Callable[[np.ndarray, str], Any], report: Callable[[Callable[..., Any]], Any]) -> None:
        self._on_image, self._report = on_image, report
        names = available()
        self.gallery = W.ToggleButtons(options=names, value=None, description="sample",
                                       style={"button_width": "auto"}, tooltips=[f"{n} (ships offline)" for n in names])
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="Upload")
        self.location = W.Text(placeholder="a file path or an http(s) URL", layout=W.Layout(width="360px"))
        self.load_button = W.Button(description="Load", icon="folder-open")
        super().__init__([self.gallery, W.HBox([self.upload, self.location, self.load_button])])
        self.add_class("wb-image-source")
        self.gallery.observe(lambda c: c["new"] and self._report(lambda: self.load_sample(c["new"])), names="value")
        self.upload.observe(self._on_upload, names="value")
        self.load_button.on_click(lambda _: self._report(lambda: self.load(self.location.value.strip())))
        self.location.on_submit(lambda _: self._report(lambda: self.load(self.location.value.strip())))

    def load_sample(self, name: str) -> Any:
        return self.load(str(sample_path(name)), name=name)

    def load(self, image: Any, name: str = "") -> Any:
        if isinstance(image, str) and not image:
            raise ValueError("type a file path or an http(s) URL first.")
        rgb = to_rgb(image)
        label = name or (image if isinstance(image, str) else type(image).__name__)
        return self._on_image(rgb, label)

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if files:
            item = files[0]
            self._report(lambda: self.load(bytes(item["content"]), name=item.get("name", "upload")))
