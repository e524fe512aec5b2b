"""What counts as an image file, for every package that lists images (sources, datasets,
calibration sets): the formats OpenCV's ``imread`` decodes in the wheels segstream installs."""

from __future__ import annotations

__all__ = ["IMAGE_SUFFIXES", "is_image"]

from pathlib import Path

IMAGE_SUFFIXES = frozenset({".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"})


def is_image(path: str | Path) -> bool:
    """True for a file name with an image suffix (any case)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
