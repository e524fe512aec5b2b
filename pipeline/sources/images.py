"""Still images as a source: one image, a folder of images, or a glob (``frames/*.png``).

Files are taken in natural order (``f2.png`` before ``f10.png``; plain sorted order for zero-padded
names), a folder non-recursively, a glob as written (``**`` recurses). Images may differ in size:
each frame keeps its own. Colour, grey and 16-bit images all arrive as 8-bit BGR. A file that cannot
be decoded is skipped and counted (``corrupt_frames``). Images have no timeline: ``pts`` is None and
``fps`` unknown, so ``pace`` does not apply; ``loop`` repeats the set (one image looped is an
endless stream, handy for benchmarks).
"""

from __future__ import annotations

import glob
import logging
import re
import threading
import time
from pathlib import Path

import numpy as np

from pipeline.config_schema import SourceConfig
from pipeline.frame import Frame
from pipeline.sources.base import SourceInfo
from segcore.errors import SourceError
from segcore.media import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

GLOB_CHARS = frozenset("*?[")


def natural_key(path: Path) -> list[object]:
    """Sort key that orders digit runs by value: ``f2`` < ``f10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


def list_images(spec: str) -> list[Path]:
    """The image files ``spec`` names (a file, a folder or a glob), in natural order."""
    path = Path(spec)
    if path.is_dir():
        candidates = [p for p in path.iterdir() if p.is_file()]
    elif path.is_file():
        return [path]
    elif GLOB_CHARS & set(spec):
        candidates = [Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file()]
    else:
        return []
    return sorted((p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)


def read_image(path: Path) -> np.ndarray | None:
    """An 8-bit BGR image, or None if it cannot be decoded (works for non-ASCII paths everywhere)."""
    import cv2

    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return image if image is not None and image.ndim == 3 else None


class ImageSource:
    def __init__(self, spec: str | Path, *, source_id: str, config: SourceConfig | None = None) -> None:
        self.spec = str(spec)
        self.source_id = source_id
        self._loop = bool(config and config.loop)
        self._paths: list[Path] = []
        self._position = 0  # next path to read
        self._index = 0
        self._corrupt = 0
        self._first: np.ndarray | None = None
        self._info: SourceInfo | None = None
        self._lock = threading.Lock()
        self._closed = False

    def open(self) -> SourceInfo:
        if self._info is not None:
            return self._info
        self._paths = list_images(self.spec)
        if not self._paths:
            raise SourceError(
                f"no images found at {self.spec} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}); "
                "check the folder or pattern"
            )
        self._first = self._next_image()
        if self._first is None:
            raise SourceError(
                f"none of the {len(self._paths)} images at {self.spec} can be decoded; check the files"
            )
        self._info = SourceInfo(
            uri=self.spec,
            width=int(self._first.shape[1]),
            height=int(self._first.shape[0]),
            fps=None,
            frame_count=None if self._loop else len(self._paths),
            is_live=False,
            codec="image",
        )
        return self._info

    @property
    def info(self) -> SourceInfo:
        if self._info is None:
            raise RuntimeError("ImageSource.info is known only after open()")
        return self._info

    def _next_image(self) -> np.ndarray | None:
        """The next decodable image (restarting the list when looping), or None at the end."""
        for _ in range(len(self._paths)):  # a whole pass without a decodable image ends even a loop
            if self._position == len(self._paths):
                if not self._loop:
                    return None
                self._position = 0
            path = self._paths[self._position]
            self._position += 1
            image = read_image(path)
            if image is not None:
                return image
            self._corrupt += 1
            log.warning("%s: cannot decode %s, skipped", self.source_id, path)
        return None

    def read(self) -> Frame | None:
        with self._lock:
            if self._closed or self._info is None:
                return None
            image = self._first if self._first is not None else self._next_image()
            self._first = None
            if image is None:
                return None
            frame = Frame(
                image=image,
                source_id=self.source_id,
                index=self._index,
                pts=None,
                capture_time=time.monotonic(),
            )
            self._index += 1
            return frame

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def stats(self) -> dict[str, int | float | str]:
        return {"frames": self._index, "corrupt_frames": self._corrupt}
