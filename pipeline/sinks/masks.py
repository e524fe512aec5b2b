"""Mask sink (``--masks DIR``): one lossless PNG class map per frame, ``{source}_{index:06d}.png``.

Pixel values are class ids (uint8, single channel), readable with ``cv2.imread(p, cv2.IMREAD_UNCHANGED)``
or PIL; the index is the frame's own index in its source. PNG compression level 1: class maps are
flat, so even the fastest level shrinks them well. A PNG that cannot be written whole (a full disk)
is removed, so the folder holds only complete masks; a folder this sink created and left empty is
removed at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.frame import SegResult
from pipeline.sinks.failures import write_failure
from pipeline.sinks.naming import check_not_input, make_folder, remove_empty_folders
from pipeline.sources.base import SourceInfo
from segcore.errors import OutputError

PNG_COMPRESSION = 1


class MaskSink:
    name = "masks"

    def __init__(self, directory: str | Path, *, inputs: Iterable[str] = ()) -> None:
        self.directory = Path(directory)
        check_not_input(self.directory, inputs, "masks folder")
        self._written = 0
        self._created: list[Path] = []

    def path_for(self, source_id: str, index: int) -> Path:
        return self.directory / f"{source_id}_{index:06d}.png"

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        if self.directory.exists() and not self.directory.is_dir():
            raise OutputError(f"masks folder {self.directory} is a file; give a folder path")
        self._created = make_folder(self.directory, "masks folder", self.directory)

    def write(self, result: SegResult) -> None:
        import cv2

        path = self.path_for(result.frame.source_id, result.frame.index)
        encoded, data = cv2.imencode(".png", result.class_map, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
        if not encoded:
            raise OutputError(f"cannot encode mask {path} as PNG")
        try:
            with open(path, "wb") as fh:
                fh.write(data.tobytes())
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()  # never leave a truncated PNG
            raise OutputError(
                f"cannot write mask {path}: {write_failure(exc)}; the folder holds the {self._written} masks before it"
            ) from exc
        self._written += 1

    def close(self) -> None:
        if not self._written:
            remove_empty_folders(self._created)

    def outputs(self) -> list[dict[str, Any]]:
        """The folder written, if any mask is in it, with the masks it holds."""
        if not self._written:
            return []
        return [{"kind": "masks", "path": str(self.directory), "frames": self._written}]

    def stats(self) -> dict[str, int]:
        return {"frames": self._written}
