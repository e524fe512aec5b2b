"""Mask sink (``--masks DIR``): one lossless PNG class map per frame, ``{source}_{index:06d}.png``.

Pixel values are class ids (uint8, single channel), readable with ``cv2.imread(p, cv2.IMREAD_UNCHANGED)``
or PIL; the index is the frame's own index in its source. PNG compression level 1: class maps are
flat, so even the fastest level shrinks them well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from pipeline.frame import SegResult
from pipeline.sinks.naming import check_not_input
from pipeline.sources.base import SourceInfo
from segcore.errors import OutputError

PNG_COMPRESSION = 1


class MaskSink:
    name = "masks"

    def __init__(self, directory: str | Path, *, inputs: Iterable[str] = ()) -> None:
        self.directory = Path(directory)
        check_not_input(self.directory, inputs, "masks folder")
        self._written = 0

    def path_for(self, source_id: str, index: int) -> Path:
        return self.directory / f"{source_id}_{index:06d}.png"

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise OutputError(f"masks folder {self.directory} is a file; give a folder path") from None
        except OSError as exc:
            raise OutputError(f"cannot create the masks folder {self.directory}: {exc.strerror}") from None

    def write(self, result: SegResult) -> None:
        import cv2

        path = self.path_for(result.frame.source_id, result.frame.index)
        if not cv2.imwrite(str(path), result.class_map, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]):
            raise OutputError(f"cannot write mask {path} (disk full or folder removed?)")
        self._written += 1

    def close(self) -> None:
        pass

    def stats(self) -> dict[str, int]:
        return {"frames": self._written}
