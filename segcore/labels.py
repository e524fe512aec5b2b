"""Class tables: names and RGB palettes of the label sets this project speaks.

``CITYSCAPES`` uses the 19 Cityscapes *train IDs* (the order of ``*_labelTrainIds.png``);
``VOC`` the 21 PASCAL VOC 2012 classes of torchvision's official segmentation weights.
Label value 255 means "ignore" everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE_INDEX = 255


@dataclass(frozen=True)
class LabelSet:
    name: str
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]  # RGB, one per class

    def __post_init__(self) -> None:
        if len(self.class_names) != len(self.palette):
            raise ValueError(f"{self.name}: {len(self.class_names)} names but {len(self.palette)} colours")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def index(self, class_name: str) -> int:
        return self.class_names.index(class_name)


CITYSCAPES = LabelSet(
    name="cityscapes",
    class_names=(
        "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
        "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
        "motorcycle", "bicycle",
    ),
    palette=(
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
        (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
        (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
        (0, 80, 100), (0, 0, 230), (119, 11, 32),
    ),
)


def _voc_palette(n: int) -> tuple[tuple[int, int, int], ...]:
    """The PASCAL VOC colour map: bits of the class index spread over R, G and B."""
    colours = []
    for index in range(n):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours.append((r, g, b))
    return tuple(colours)


VOC = LabelSet(
    name="voc",
    class_names=(
        "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
        "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
        "sheep", "sofa", "train", "tvmonitor",
    ),
    palette=_voc_palette(21),
)

LABEL_SETS = {label_set.name: label_set for label_set in (CITYSCAPES, VOC)}


def generic_palette(num_classes: int) -> tuple[tuple[int, int, int], ...]:
    """A distinct, deterministic palette for label sets that ship none."""
    return _voc_palette(num_classes)
