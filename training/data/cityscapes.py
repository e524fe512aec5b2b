"""Cityscapes (fine annotations) with the 19 train IDs.

Layout under ROOT::

    leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png
    gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelTrainIds.png

``*_labelTrainIds.png`` is made by cityscapesScripts' ``createTrainIdLabelImgs``. Where it is
missing but the raw ``*_gtFine_labelIds.png`` is there, the raw IDs are mapped to train IDs with
the official table (``LABEL_ID_TO_TRAIN_ID``), so that step is optional. Everything not among the
19 evaluated classes is 255 (ignore).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segcore.errors import SourceError
from segcore.labels import CITYSCAPES, IGNORE_INDEX
from training.data.datasets import Sample, SegmentationDataset, check_labels, read_image

IMAGE_SUFFIX = "_leftImg8bit.png"
TRAIN_ID_SUFFIX = "_gtFine_labelTrainIds.png"
LABEL_ID_SUFFIX = "_gtFine_labelIds.png"

# cityscapesScripts/helpers/labels.py: label id → train id (ids 0..33; license plate -1 → 255).
_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
              26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
LABEL_ID_TO_TRAIN_ID = np.full(256, IGNORE_INDEX, dtype=np.uint8)
for _id, _train in _TRAIN_IDS.items():
    LABEL_ID_TO_TRAIN_ID[_id] = _train


class CityscapesDataset(SegmentationDataset):
    class_names = CITYSCAPES.class_names
    palette = CITYSCAPES.palette

    def __init__(self, root: str | Path, split: str = "val") -> None:
        self.root = Path(root)
        self.split = split
        self.spec = f"cityscapes:{self.root}:{split}"
        images_dir = self.root / "leftImg8bit"
        labels_dir = self.root / "gtFine"
        if not self.root.is_dir():
            raise SourceError(f"Cityscapes root {self.root} does not exist or is not a folder")
        for folder in (images_dir, labels_dir):
            if not folder.is_dir():
                raise SourceError(
                    f"{self.root} is not a Cityscapes root: {folder.name}/ is missing (expected "
                    "leftImg8bit/{split}/{city}/*_leftImg8bit.png and gtFine/{split}/{city}/*_gtFine_labelTrainIds.png)"
                )
        split_dir = images_dir / split
        if not split_dir.is_dir():
            found = sorted(p.name for p in images_dir.iterdir() if p.is_dir())
            raise SourceError(
                f"Cityscapes split {split!r} not found under {images_dir}; available: {', '.join(found) or 'none'}"
            )
        images = sorted(split_dir.glob(f"*/*{IMAGE_SUFFIX}"))
        if not images:
            raise SourceError(f"no *{IMAGE_SUFFIX} images under {split_dir}/{{city}}/")
        self._items: list[tuple[Path, Path, bool]] = []
        missing: list[str] = []
        for image in images:
            stem = image.name[: -len(IMAGE_SUFFIX)]
            city_labels = labels_dir / split / image.parent.name
            train_ids = city_labels / f"{stem}{TRAIN_ID_SUFFIX}"
            label_ids = city_labels / f"{stem}{LABEL_ID_SUFFIX}"
            if train_ids.is_file():
                self._items.append((image, train_ids, False))
            elif label_ids.is_file():
                self._items.append((image, label_ids, True))
            else:
                missing.append(str(train_ids.relative_to(self.root)))
        if missing:
            raise SourceError(
                f"{len(missing)} Cityscapes image(s) have no labels, e.g. {missing[0]}; run cityscapesScripts' "
                "createTrainIdLabelImgs or download gtFine for this split"
            )

    def __len__(self) -> int:
        return len(self._items)

    def files(self) -> list[Path]:
        return [p for image, label, _ in self._items for p in (image, label)]

    def load(self, index: int) -> Sample:
        import cv2

        image_path, label_path, raw_ids = self._items[index]
        image = read_image(image_path)
        labels = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        if labels is None:
            raise SourceError(f"cannot read Cityscapes labels {label_path}")
        if labels.ndim == 3:
            raise SourceError(
                f"{label_path} is a colour image; Cityscapes labels must be single-channel "
                "*_labelTrainIds.png (or *_labelIds.png), not *_color.png"
            )
        if raw_ids:
            labels = LABEL_ID_TO_TRAIN_ID[labels.astype(np.uint8)]
        labels = check_labels(labels, self.num_classes, str(label_path))
        if labels.shape != image.shape[:2]:
            raise SourceError(f"{label_path} is {labels.shape[::-1]} but its image is {image.shape[1::-1]}")
        return Sample(image=image, labels=labels, name=image_path.name[: -len(IMAGE_SUFFIX)])
