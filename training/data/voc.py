"""PASCAL VOC 2012 segmentation (21 classes, 255 = the object borders, ignored).

ROOT may be the ``VOC2012`` folder itself, ``VOCdevkit`` or the folder holding ``VOCdevkit``::

    VOC2012/JPEGImages/{id}.jpg
    VOC2012/SegmentationClass/{id}.png          palette-mode PNG: the palette INDEX is the class
    VOC2012/ImageSets/Segmentation/{split}.txt  one id per line (train, val, trainval)

The masks are read with Pillow, which returns palette indices; OpenCV would return the palette's
colours instead (a classic bug: every pixel then "belongs" to class 0 or to garbage classes).
"""

from __future__ import annotations

from pathlib import Path

from segcore.errors import SourceError
from segcore.labels import VOC
from training.data.datasets import (
    Sample,
    SegmentationDataset,
    check_labels,
    colours_to_index,
    read_image,
    read_index_png,
)


def find_voc_root(root: Path) -> Path:
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir() and (candidate / "SegmentationClass").is_dir():
            return candidate
    if not root.is_dir():
        raise SourceError(f"VOC root {root} does not exist or is not a folder")
    raise SourceError(
        f"{root} is not a PASCAL VOC 2012 folder: expected JPEGImages/ and SegmentationClass/ in it, "
        "in VOC2012/ or in VOCdevkit/VOC2012/"
    )


class VOCDataset(SegmentationDataset):
    class_names = VOC.class_names
    palette = VOC.palette

    def __init__(self, root: str | Path, split: str = "val") -> None:
        self.root = find_voc_root(Path(root))
        self.split = split
        self.spec = f"voc:{Path(root)}:{split}"
        list_file = self.root / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not list_file.is_file():
            lists = self.root / "ImageSets" / "Segmentation"
            found = sorted(p.stem for p in lists.glob("*.txt")) if lists.is_dir() else []
            raise SourceError(
                f"VOC split list {list_file} not found; available splits: {', '.join(found) or 'none'}"
            )
        ids = [line.strip().split()[0] for line in list_file.read_text().splitlines() if line.strip()]
        if not ids:
            raise SourceError(f"VOC split list {list_file} is empty")
        self.ids = ids
        missing = [i for i in ids if not (self.root / "SegmentationClass" / f"{i}.png").is_file()]
        if missing:
            raise SourceError(
                f"{len(missing)} id(s) of {list_file.name} have no SegmentationClass/<id>.png, e.g. {missing[0]}"
            )
        missing = [i for i in ids if not (self.root / "JPEGImages" / f"{i}.jpg").is_file()]
        if missing:
            raise SourceError(f"{len(missing)} id(s) of {list_file.name} have no JPEGImages/<id>.jpg, e.g. {missing[0]}")

    def __len__(self) -> int:
        return len(self.ids)

    def files(self) -> list[Path]:
        return [self.root / sub / f"{i}{ext}" for i in self.ids
                for sub, ext in (("JPEGImages", ".jpg"), ("SegmentationClass", ".png"))]

    def load(self, index: int) -> Sample:
        name = self.ids[index]
        image = read_image(self.root / "JPEGImages" / f"{name}.jpg")
        mask_path = self.root / "SegmentationClass" / f"{name}.png"
        labels = read_index_png(mask_path)
        if labels.ndim == 3:  # a colour-converted mask: map the VOC colours back (border colour = ignore)
            labels = colours_to_index(labels, self.palette, {(224, 224, 192): 255}, str(mask_path))
        labels = check_labels(labels, self.num_classes, str(mask_path))
        if labels.shape != image.shape[:2]:
            raise SourceError(f"{mask_path} is {labels.shape[::-1]} but its image is {image.shape[1::-1]}")
        return Sample(image=image, labels=labels, name=name)
