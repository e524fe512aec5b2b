"""A generic dataset folder: your own images and masks with a class list.

Layout under ROOT::

    images/<stem>.{jpg,jpeg,png,bmp,webp}
    masks/<stem>.png        one per image, same size
    classes.yaml

``classes.yaml``::

    names: [background, road, car]          # required; index i in a mask is names[i]
    palette: [[0, 0, 0], [128, 64, 128], [0, 0, 142]]   # optional RGB per class (plots, colour masks)
    ignore_colour: [224, 224, 192]          # optional: the colour that means "ignore" in colour masks

A mask is either single-channel (greyscale or palette-mode PNG: the stored value / palette index
is the class, 255 = ignore) or a colour PNG whose RGB colours are looked up in ``palette`` (then
required; a colour that is neither a palette colour nor ``ignore_colour`` is an error).
Images without a mask are an error, not silently skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from segcore.errors import SourceError
from segcore.labels import IGNORE_INDEX, generic_palette
from segcore.media import IMAGE_SUFFIXES
from segcore.strict_yaml import load_yaml, yaml_error
from training.data.datasets import (
    RGB,
    Sample,
    SegmentationDataset,
    check_labels,
    colours_to_index,
    read_image,
    read_index_png,
)


def load_classes(path: Path) -> tuple[tuple[str, ...], tuple[RGB, ...], bool, RGB | None]:
    """(names, palette, palette_given, ignore_colour) from a classes.yaml."""
    if not path.is_file():
        raise SourceError(f"{path} is missing; write one with 'names: [...]' (and optionally 'palette: [[R, G, B], ...]')")
    try:
        data: Any = load_yaml(path.read_text())
    except yaml.YAMLError as exc:  # a key given twice included
        raise SourceError(yaml_error(exc, str(path))) from None
    if isinstance(data, list):
        data = {"names": data}
    if not isinstance(data, dict) or not isinstance(data.get("names"), list) or not data["names"]:
        raise SourceError(f"{path}: expected a mapping with a non-empty list 'names'")
    unknown = sorted(set(data) - {"names", "palette", "ignore_colour"})
    if unknown:
        raise SourceError(f"{path}: unknown key(s) {', '.join(unknown)}; known: names, palette, ignore_colour")
    names = tuple(str(n) for n in data["names"])
    if len(names) > IGNORE_INDEX:
        raise SourceError(f"{path}: {len(names)} classes do not fit uint8 masks with 255 = ignore")
    if len(set(names)) != len(names):
        raise SourceError(f"{path}: class names repeat")
    palette_given = data.get("palette") is not None
    palette = tuple(_rgb(c, path) for c in data["palette"]) if palette_given else generic_palette(len(names))
    if len(palette) != len(names):
        raise SourceError(f"{path}: {len(names)} names but {len(palette)} palette colours")
    ignore = _rgb(data["ignore_colour"], path) if data.get("ignore_colour") is not None else None
    return names, palette, palette_given, ignore


def _rgb(value: Any, path: Path) -> RGB:
    if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in value):
        raise SourceError(f"{path}: palette entry {value!r} is not an [R, G, B] triple of 0..255")
    return (int(value[0]), int(value[1]), int(value[2]))


class FolderDataset(SegmentationDataset):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.spec = f"folder:{self.root}"
        if not self.root.is_dir():
            raise SourceError(f"dataset folder {self.root} does not exist or is not a folder")
        images_dir, masks_dir = self.root / "images", self.root / "masks"
        for folder in (images_dir, masks_dir):
            if not folder.is_dir():
                raise SourceError(f"{self.root} has no {folder.name}/ folder; expected images/, masks/ and classes.yaml")
        self.class_names, self.palette, self._palette_given, self._ignore_colour = load_classes(self.root / "classes.yaml")
        images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not images:
            raise SourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {images_dir}")
        self._items: list[tuple[Path, Path]] = []
        missing = []
        for image in images:
            mask = masks_dir / f"{image.stem}.png"
            if mask.is_file():
                self._items.append((image, mask))
            else:
                missing.append(image.name)
        if missing:
            raise SourceError(f"{len(missing)} image(s) in {images_dir} have no masks/<stem>.png, e.g. {missing[0]}")
        stems = [image.stem for image, _ in self._items]
        if len(set(stems)) != len(stems):
            raise SourceError(f"{images_dir} holds two images with the same stem; masks would be ambiguous")

    def __len__(self) -> int:
        return len(self._items)

    def files(self) -> list[Path]:
        return [p for pair in self._items for p in pair]

    def load(self, index: int) -> Sample:
        image_path, mask_path = self._items[index]
        image = read_image(image_path)
        labels = read_index_png(mask_path)
        if labels.ndim == 3:
            if not self._palette_given:
                raise SourceError(
                    f"{mask_path} is a colour mask but classes.yaml has no palette to map colours to classes"
                )
            extra = {self._ignore_colour: IGNORE_INDEX} if self._ignore_colour else None
            labels = colours_to_index(labels, self.palette, extra, str(mask_path))
        labels = check_labels(labels, self.num_classes, str(mask_path))
        if labels.shape != image.shape[:2]:
            raise SourceError(f"{mask_path} is {labels.shape[::-1]} but its image is {image.shape[1::-1]}")
        return Sample(image=image, labels=labels, name=image_path.stem)
