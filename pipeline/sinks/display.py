"""Display sink (``--show``): a window per source with ``cv2.imshow``, run on the sink's own thread.

Pressing ``q`` or Esc in a window calls ``on_quit`` (the CLI stops the pipeline with it).

``open()`` refuses cleanly where no window can appear: an OpenCV build without GUI support (the
``opencv-python-headless`` wheel this project installs) or, on Linux, no display server. That check
reads ``DISPLAY``/``WAYLAND_DISPLAY`` from ``os.environ``: the one place segstream reads the
environment, because whether a window can open is a fact of the session, not a setting.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Mapping

from pipeline.frame import SegResult
from pipeline.sources.base import SourceInfo
from segcore.errors import OutputError

QUIT_KEYS = (ord("q"), 27)  # q, Esc


def display_problem() -> str | None:
    """Why no window can be shown here, or None if one can."""
    import cv2

    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if gui is None or gui.group(1).upper() == "NONE":
        return (
            "this OpenCV build has no GUI support (opencv-python-headless); to show windows run "
            "`pip uninstall -y opencv-python-headless && pip install opencv-python`, or write a video "
            "with -o out.mp4 instead"
        )
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return (
            "there is no display (DISPLAY is not set: an SSH session or a container?); use `ssh -X`, "
            "or write a video with -o out.mp4 instead"
        )
    return None


class DisplaySink:
    name = "display"

    def __init__(self, *, title: str = "segstream", on_quit: Callable[[], None] | None = None) -> None:
        self.title = title
        self.on_quit = on_quit
        self._windows: set[str] = set()
        self._closed = False

    def open(self, sources: Mapping[str, SourceInfo]) -> None:
        problem = display_problem()
        if problem:
            raise OutputError(f"cannot show video: {problem}")

    def write(self, result: SegResult) -> None:
        import cv2

        if self._closed:
            return
        window = f"{self.title}: {result.frame.source_id}"
        if window not in self._windows:
            cv2.namedWindow(window, cv2.WINDOW_NORMAL)
            self._windows.add(window)
        cv2.imshow(window, result.rendered if result.rendered is not None else result.frame.image)
        if (cv2.waitKey(1) & 0xFF) in QUIT_KEYS and self.on_quit is not None:
            self.on_quit()

    def close(self) -> None:
        import cv2

        if self._closed:
            return
        self._closed = True
        for window in self._windows:
            with contextlib.suppress(cv2.error):  # already closed by the user
                cv2.destroyWindow(window)
        self._windows.clear()
