"""Segmentation datasets behind one small interface, opened by a spec string.

Every dataset yields ``Sample(image, labels, name)``: ``image`` is an H×W×3 uint8 **BGR** frame
(exactly what a video source delivers), ``labels`` an H×W uint8 map of class indices at the
image's full resolution with 255 = ignore. Resizing, augmentation and normalisation happen later
(``training.data.augment`` for training, ``engines.transforms`` for inference and evaluation).

Spec strings (``open_dataset``)::

    synthetic://street?seed=7&frames=48                  one synthetic stream (48 frames)
    synthetic://street?seeds=100-103&frames=48           several streams: seeds 100, 101, 102, 103
    synthetic://street?seeds=0-59,80&frames=96&every=4&camera=dashcam,fixed&size=1280x720
    cityscapes:ROOT[:split]      leftImg8bit/{split}/{city}/*_leftImg8bit.png + gtFine/... (split: val)
    voc:ROOT[:split]             VOC2012 (JPEGImages, SegmentationClass, ImageSets/Segmentation) (split: val)
    folder:ROOT                  ROOT/images/* + ROOT/masks/<stem>.png + ROOT/classes.yaml

Synthetic multi-stream syntax: ``seeds`` is a comma list of seeds and inclusive ranges
(``1-20``, ``1-4,9,12-13``); ``seed`` is a single seed. ``camera`` may be a comma list: every seed
is rendered with every listed camera (seeds × cameras streams). ``frames`` is each stream's length
and ``every=K`` keeps every K-th frame of it (consecutive frames are nearly identical, so a
training set made of many streams with ``every`` > 1 is more varied per rendered frame). Every
other query key (``size``, ``fps``, ...) is passed through to ``streetsim.SyntheticSpec``. Samples
are ordered stream by stream (seed-major, then camera), then by frame.

Several specs can be combined with ``open_datasets([...])`` as long as they share a label set.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np

from segcore.errors import SourceError
from segcore.files import sha256_text
from segcore.labels import CITYSCAPES, IGNORE_INDEX

RGB = tuple[int, int, int]


@dataclass(frozen=True, eq=False)
class Sample:
    """One image with its labels at full resolution."""

    image: np.ndarray  # H×W×3 uint8 BGR
    labels: np.ndarray  # H×W uint8 class indices, 255 = ignore
    name: str  # stable identifier (file stem, or "seed7/dashcam/000012")


class SegmentationDataset(abc.ABC):
    """A random-access list of samples with a fixed label set.

    Subclasses set ``spec``, ``class_names`` and ``palette`` (RGB) and implement ``__len__`` and
    ``load(index)``; ``__getitem__`` adds bounds checking and negative indices.
    """

    spec: str
    class_names: tuple[str, ...]
    palette: tuple[RGB, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def load(self, index: int) -> Sample:
        """The sample at ``0 <= index < len(self)``."""

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"sample {index} is out of range for {n} samples of {self.spec}")
        return self.load(index)

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self.load(i)

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "samples": len(self), "num_classes": self.num_classes}

    def files(self) -> list[Path]:
        """The files the samples are read from (empty for generated data)."""
        return []

    def fingerprint(self) -> str:
        """Changes whenever the samples may have changed: the spec, the count, and each file's size
        and modification time (the generator version for synthetic data). Keys pre-render caches."""
        parts = [f"{self.spec}|{len(self)}|{self.class_names}"]
        for path in self.files():
            st = path.stat()
            parts.append(f"|{path}|{st.st_size}|{st.st_mtime_ns}")
        return sha256_text("".join(parts))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, {len(self)} samples, {self.num_classes} classes)"


def check_labels(labels: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    """Return ``labels`` as a 2-D uint8 map, or raise if it holds values outside 0..K-1 and 255."""
    if labels.ndim != 2:
        raise SourceError(f"{where}: a label map must be single-channel, got shape {labels.shape}")
    if labels.dtype != np.uint8:
        if labels.size and (labels.min() < 0 or labels.max() > IGNORE_INDEX):
            raise SourceError(f"{where}: label values {labels.min()}..{labels.max()} do not fit 0..255")
        labels = labels.astype(np.uint8)
    if labels.size:
        bad = (labels >= num_classes) & (labels != IGNORE_INDEX)
        if bad.any():
            values = sorted(set(np.unique(labels[bad]).tolist()))[:8]
            raise SourceError(
                f"{where}: label values {values} are outside 0..{num_classes - 1} and not the ignore "
                f"index {IGNORE_INDEX}; the masks do not match this dataset's {num_classes} classes"
            )
    return labels


def read_image(path: Path) -> np.ndarray:
    """Read an image as BGR uint8, ignoring EXIF orientation (masks carry none, so neither may images)."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise SourceError(f"cannot read image {path}: missing, unreadable or not an image")
    return image


def read_index_png(path: Path) -> np.ndarray:
    """Read a label PNG as its stored values: the palette INDEX for palette-mode PNGs, the grey value
    for greyscale ones, an H×W×3 RGB array for colour ones. (OpenCV would expand a palette PNG to
    its colours, which is why Pillow reads masks.)"""
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.mode in ("P", "L", "I", "I;16", "I;16B", "I;16L"):
                return np.array(img)
            if img.mode == "1":
                return np.array(img).astype(np.uint8)
            return np.array(img.convert("RGB"))
    except FileNotFoundError:
        raise SourceError(f"label file {path} does not exist") from None
    except OSError as exc:
        raise SourceError(f"cannot read label file {path}: {exc}") from None


def colours_to_index(
    rgb: np.ndarray, palette: Sequence[RGB], extra: dict[RGB, int] | None = None, where: str = "mask"
) -> np.ndarray:
    """Map an H×W×3 RGB colour mask to class indices (``extra``: more colours, e.g. one for ignore);
    a colour that is in neither raises."""
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    table = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(palette)}
    table.update({(r << 16) | (g << 8) | b: v for (r, g, b), v in (extra or {}).items()})
    uniques, inverse = np.unique(codes, return_inverse=True)
    values = np.empty(len(uniques), dtype=np.uint8)
    for k, code in enumerate(uniques.tolist()):
        if code not in table:
            colour = ((code >> 16) & 255, (code >> 8) & 255, code & 255)
            raise SourceError(f"{where}: colour {colour} is not in the palette; fix the mask or the palette")
        values[k] = table[code]
    return values[inverse].reshape(codes.shape)


# --------------------------------------------------------------------------------------- synthetic


MAX_SEEDS = 100_000  # streams in one dataset spec: far beyond any training set here, and a list that fits in memory


def parse_seeds(text: str) -> list[int]:
    """``"1-4,9,12-13"`` → ``[1, 2, 3, 4, 9, 12, 13]`` (inclusive ranges, order kept, no repeats)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a, b = (int(lo), int(hi)) if sep else (int(part), int(part))
        except ValueError:
            raise SourceError(
                f"cannot read seeds {text!r}: use integers and inclusive ranges, e.g. seeds=1-20 or seeds=1-4,9"
            ) from None
        if b < a:
            raise SourceError(f"seed range {part!r} runs backwards; write it as {b}-{a}")
        if len(seeds) + (b - a + 1) > MAX_SEEDS:
            raise SourceError(f"seeds={text!r} names more than {MAX_SEEDS:,} seeds; split the dataset into smaller specs")
        seeds.extend(range(a, b + 1))
    if not seeds:
        raise SourceError(f"seeds={text!r} names no seed")
    if len(set(seeds)) != len(seeds):
        raise SourceError(f"seeds={text!r} repeats a seed")
    return seeds


class SyntheticDataset(SegmentationDataset):
    """Frames of one or more synthetic street streams (Cityscapes train IDs), rendered on demand."""

    class_names = CITYSCAPES.class_names
    palette = CITYSCAPES.palette

    def __init__(self, uri: str) -> None:
        self.spec = uri
        parts = urlsplit(uri)
        if parts.scheme != "synthetic":
            raise SourceError(f"{uri!r} is not a synthetic:// URI")
        query = parse_qsl(parts.query, keep_blank_values=True)
        keys = [k for k, _ in query]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise SourceError(f"{uri}: query key(s) {', '.join(dupes)} given twice")
        params = dict(query)
        if "seed" in params and "seeds" in params:
            raise SourceError(f"{uri}: give either seed= (one stream) or seeds= (several), not both")
        self.seeds = parse_seeds(params.pop("seeds", params.pop("seed", "0")))
        cameras = params.pop("camera", "")
        self.cameras: list[str | None] = [c.strip() for c in cameras.split(",") if c.strip()] or [None]
        try:
            self.every = int(params.pop("every", "1"))
        except ValueError:
            raise SourceError(f"{uri}: every= must be a positive integer") from None
        if self.every < 1:
            raise SourceError(f"{uri}: every= must be a positive integer, not {self.every}")
        self._base = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self._extra = params
        self._streams = [(seed, cam) for seed in self.seeds for cam in self.cameras]
        first = self._spec_for(self._streams[0])  # validates size/fps/frames through the generator
        if first.frames is None:
            raise SourceError(f"{uri}: a dataset needs a finite frames=N (each stream's length), not an endless stream")
        self.frames = int(first.frames)
        self.per_stream = len(range(0, self.frames, self.every))
        self._scene_key: tuple[int, str | None] | None = None
        self._scene: Any = None

    def _uri_for(self, stream: tuple[int, str | None]) -> str:
        seed, cam = stream
        query = {"seed": str(seed), **self._extra}
        if cam is not None:
            query["camera"] = cam
        return f"{self._base}?{urlencode(query)}"

    def _spec_for(self, stream: tuple[int, str | None]) -> Any:
        from streetsim import SyntheticSpec

        try:
            return SyntheticSpec.from_uri(self._uri_for(stream))
        except SourceError:
            raise
        except ValueError as exc:
            raise SourceError(f"{self.spec}: {exc}") from None

    def __getstate__(self) -> dict[str, Any]:  # loader workers get no rendered scene to pickle
        state = self.__dict__.copy()
        state["_scene_key"] = state["_scene"] = None
        return state

    def __len__(self) -> int:
        return len(self._streams) * self.per_stream

    @property
    def num_streams(self) -> int:
        """How many videos (seeds × cameras) the spec holds."""
        return len(self._streams)

    def locate(self, index: int) -> tuple[int, str | None, int]:
        """(seed, camera, frame index) of sample ``index``."""
        stream, k = divmod(index, self.per_stream)
        seed, cam = self._streams[stream]
        return seed, cam, k * self.every

    def load(self, index: int) -> Sample:
        from streetsim import StreetScene

        seed, cam, frame = self.locate(index)
        if self._scene_key != (seed, cam):
            self._scene = StreetScene(self._spec_for((seed, cam)))
            self._scene_key = (seed, cam)
        image, labels = self._scene.render(frame)
        return Sample(image=image, labels=labels, name=f"seed{seed}/{cam or 'default'}/{frame:06d}")

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(seeds=len(self.seeds), cameras=[c or "default" for c in self.cameras], every=self.every)
        return info

    def fingerprint(self) -> str:
        import streetsim

        return f"{super().fingerprint()}-generator{streetsim.GENERATOR_VERSION}"


# ------------------------------------------------------------------------------------- combining


class ConcatDataset(SegmentationDataset):
    """Several datasets with the same class names, one after another."""

    def __init__(self, parts: Sequence[SegmentationDataset]) -> None:
        if not parts:
            raise SourceError("no dataset given")
        first = parts[0]
        for other in parts[1:]:
            if other.class_names != first.class_names:
                raise SourceError(
                    f"cannot combine {first.spec} ({first.num_classes} classes) with {other.spec} "
                    f"({other.num_classes} classes): their class names differ"
                )
        self.parts = list(parts)
        self.spec = " + ".join(p.spec for p in parts)
        self.class_names = first.class_names
        self.palette = first.palette
        self._offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def load(self, index: int) -> Sample:
        part = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return self.parts[part].load(index - int(self._offsets[part]))

    def fingerprint(self) -> str:
        return "+".join(p.fingerprint() for p in self.parts)


class Subset(SegmentationDataset):
    """A fixed selection of another dataset's samples."""

    def __init__(self, base: SegmentationDataset, indices: Sequence[int]) -> None:
        self.base = base
        self.indices = [int(i) for i in indices]
        self.spec = base.spec
        self.class_names = base.class_names
        self.palette = base.palette

    def __len__(self) -> int:
        return len(self.indices)

    def load(self, index: int) -> Sample:
        return self.base[self.indices[index]]

    def fingerprint(self) -> str:
        return f"{self.base.fingerprint()}@{sha256_text(str(self.indices))[:12]}"


def spread_indices(total: int, num: int | None) -> list[int]:
    """``num`` indices spread evenly over ``range(total)`` (all of them when num is None/0/≥ total).

    Evaluating "N images" of a multi-seed set this way covers every stream, not just the first."""
    if not num or num >= total:
        return list(range(total))
    return sorted({int(round(x)) for x in np.linspace(0, total - 1, num)})


# ----------------------------------------------------------------------------------------- specs

SCHEMES = ("synthetic://", "cityscapes:", "voc:", "folder:")


def _root_and_split(rest: str, default_split: str | None) -> tuple[Path, str | None]:
    """``ROOT[:split]``: a trailing ``:name`` without a slash is the split."""
    root, sep, split = rest.rpartition(":")
    if sep and split and "/" not in split and "\\" not in split and root:
        return Path(root).expanduser(), split
    return Path(rest).expanduser(), default_split


def open_dataset(spec: str) -> SegmentationDataset:
    """Open a dataset from its spec string (see the module docstring); SourceError if it cannot be."""
    spec = str(spec).strip()
    if spec.startswith("synthetic://"):
        return SyntheticDataset(spec)
    scheme, sep, rest = spec.partition(":")
    if sep and rest:
        if scheme == "cityscapes":
            from training.data.cityscapes import CityscapesDataset

            root, split = _root_and_split(rest, "val")
            return CityscapesDataset(root, split or "val")
        if scheme == "voc":
            from training.data.voc import VOCDataset

            root, split = _root_and_split(rest, "val")
            return VOCDataset(root, split or "val")
        if scheme == "folder":
            from training.data.folder import FolderDataset

            return FolderDataset(Path(rest).expanduser())
    raise SourceError(
        f"unknown dataset spec {spec!r}; use synthetic://street?seeds=1-4&frames=48, cityscapes:ROOT[:split], "
        "voc:ROOT[:split] or folder:ROOT"
    )


def open_datasets(specs: str | Sequence[str]) -> SegmentationDataset:
    """One spec, or a list of specs concatenated (they must share class names)."""
    if isinstance(specs, str):
        return open_dataset(specs)
    parts = [open_dataset(s) for s in specs]
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)
