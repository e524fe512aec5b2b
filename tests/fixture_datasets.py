"""Tiny datasets written in the real on-disk formats (Cityscapes, PASCAL VOC, a generic folder).

Every image is a "street": sky on top, a building band, road at the bottom, and a car-coloured
box, each filled with its class's palette colour plus noise, so a tiny network can learn it in a
few dozen steps and the labels are known exactly. VOC masks are written as palette-mode PNGs with
Pillow (the palette index is the class), with a 255 border around objects, as in the real set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image

from segcore.labels import CITYSCAPES, VOC


def street(height: int, width: int, classes: Sequence[int], palette: Sequence[tuple[int, int, int]], seed: int,
           ) -> tuple[np.ndarray, np.ndarray]:
    """(BGR image, labels) with bands of classes[0] (top), [1], [2] (bottom) and a box of classes[3]."""
    rng = np.random.default_rng(seed)
    labels = np.empty((height, width), dtype=np.uint8)
    a = int(height * rng.uniform(0.25, 0.4))
    b = int(height * rng.uniform(0.55, 0.7))
    labels[:a], labels[a:b], labels[b:] = classes[0], classes[1], classes[2]
    if len(classes) > 3:
        bw, bh = width // 4, height // 5
        x0 = int(rng.integers(0, width - bw))
        y0 = int(rng.integers(b - bh // 2, height - bh))
        labels[y0 : y0 + bh, x0 : x0 + bw] = classes[3]
    colours = np.asarray(palette, dtype=np.int16)[:, ::-1]  # RGB → BGR
    image = colours[np.minimum(labels, len(palette) - 1)] + rng.integers(-12, 13, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), labels


def write_cityscapes(root: Path, split: str = "val", cities: Sequence[str] = ("aachen", "bonn"), per_city: int = 2,
                     size: tuple[int, int] = (64, 128), raw_ids: bool = False) -> Path:
    """leftImg8bit/{split}/{city}/*_leftImg8bit.png + gtFine/{split}/{city}/*_gtFine_labelTrainIds.png
    (or only *_labelIds.png with ``raw_ids``)."""
    from training.data.cityscapes import LABEL_ID_TO_TRAIN_ID

    train_to_id = {int(t): i for i, t in enumerate(LABEL_ID_TO_TRAIN_ID) if t != 255}
    seed = 0
    for city in cities:
        img_dir = root / "leftImg8bit" / split / city
        gt_dir = root / "gtFine" / split / city
        img_dir.mkdir(parents=True, exist_ok=True)
        gt_dir.mkdir(parents=True, exist_ok=True)
        for k in range(per_city):
            stem = f"{city}_{k:06d}_000019"
            image, labels = street(*size, (10, 2, 0, 13), CITYSCAPES.palette, seed)
            labels[:2] = 255  # an ignored strip, as Cityscapes' ego-vehicle / border
            seed += 1
            cv2.imwrite(str(img_dir / f"{stem}_leftImg8bit.png"), image)
            if raw_ids:
                raw = np.zeros_like(labels)  # 0 = unlabeled → 255
                for train_id, label_id in train_to_id.items():
                    raw[labels == train_id] = label_id
                cv2.imwrite(str(gt_dir / f"{stem}_gtFine_labelIds.png"), raw)
            else:
                cv2.imwrite(str(gt_dir / f"{stem}_gtFine_labelTrainIds.png"), labels)
    return root


def voc_palette_bytes() -> list[int]:
    flat = [v for colour in VOC.palette for v in colour]
    flat += [0, 0, 0] * (256 - len(VOC.palette))
    flat[255 * 3 : 256 * 3] = [224, 224, 192]  # VOC's border colour
    return flat


def write_voc(root: Path, ids: dict[str, Sequence[str]] | None = None, size: tuple[int, int] = (60, 80)) -> Path:
    """VOCdevkit/VOC2012 with JPEGImages, palette-mode SegmentationClass PNGs and split lists."""
    ids = ids or {"train": ["2007_000001", "2007_000002", "2007_000003"], "val": ["2007_000004", "2007_000005"]}
    base = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    seed = 100
    for split, names in ids.items():
        (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
        for name in names:
            image, labels = street(*size, (0, 15, 7, 12), VOC.palette, seed)  # background, person, car, dog
            seed += 1
            box = labels == 12
            border = cv2.dilate(box.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~box
            labels[border] = 255
            cv2.imwrite(str(base / "JPEGImages" / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            mask = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())
            mask.putpalette(voc_palette_bytes())
            mask.save(base / "SegmentationClass" / f"{name}.png")
    return root


FOLDER_CLASSES = ("background", "road", "car")
FOLDER_PALETTE = ((0, 0, 0), (128, 64, 128), (0, 0, 142))


def write_folder(root: Path, count: int = 4, size: tuple[int, int] = (48, 96), colour_masks: bool = False,
                 palette: bool = True, seed: int = 200) -> Path:
    """images/*.png + masks/*.png (single-channel indices, or RGB colours) + classes.yaml."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    classes: dict[str, object] = {"names": list(FOLDER_CLASSES)}
    if palette:
        classes["palette"] = [list(c) for c in FOLDER_PALETTE]
    (root / "classes.yaml").write_text(yaml.safe_dump(classes))
    for k in range(count):
        image, labels = street(*size, (0, 0, 1, 2), FOLDER_PALETTE, seed + k)
        cv2.imwrite(str(root / "images" / f"img{k:03d}.png"), image)
        if colour_masks:
            rgb = np.asarray(FOLDER_PALETTE, dtype=np.uint8)[labels]
            cv2.imwrite(str(root / "masks" / f"img{k:03d}.png"), rgb[..., ::-1])
        else:
            cv2.imwrite(str(root / "masks" / f"img{k:03d}.png"), labels)
    return root
