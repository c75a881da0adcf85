"""Sample photos for vision tests: the offline gallery's files (scikit-image / matplotlib data)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from widgets._gallery import sample_path


def photo_path(name: str) -> Path:
    return sample_path(name)


def photo(name: str) -> Image.Image:
    """A sample photo as an RGB PIL image (decoded, so tests do not share open file handles)."""
    with Image.open(sample_path(name)) as img:
        return img.convert("RGB")
