"""Render: the class map as a picture. ``overlay`` blends class colours over the frame, ``mask``
shows the colours alone, ``side`` puts frame and colours side by side (twice the frame's width),
``none`` renders nothing.

Fast on purpose: colouring a 720p class map by NumPy fancy indexing costs ~13 ms; here the
palette is packed into one uint32 per class, ``np.take`` gathers it and OpenCV drops the padding
byte (~1.2 ms), and the blend is ``cv2.addWeighted`` (~0.5 ms). The legend of classes present
is drawn once per set of classes and cached; the HUD is a line of text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from pipeline.config import check_allowed
from pipeline.config_schema import Visualize
from pipeline.frame import SegResult
from pipeline.stage import Packet

LEGEND_MIN_FRACTION = 0.001  # classes covering less of the frame are left out of the legend
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def rendered_size(mode: Visualize, width: int, height: int) -> tuple[int, int] | None:
    """(width, height) of what ``mode`` renders for a frame of ``width``×``height``; None for none."""
    if mode == "none":
        return None
    return (2 * width, height) if mode == "side" else (width, height)


class Colorizer:
    """Class map (H×W uint8) → BGR image, from an RGB palette (ids without a colour are black)."""

    def __init__(self, palette_rgb: Sequence[Sequence[int]]) -> None:
        table = np.zeros((256, 4), dtype=np.uint8)
        colours = np.asarray(palette_rgb, dtype=np.uint8).reshape(-1, 3)[:256]
        table[: len(colours), :3] = colours[:, ::-1]  # RGB → BGR, fourth byte is padding
        self.bgr = table[:, :3].copy()
        self._packed = table.view(np.uint32).ravel()

    def __call__(self, class_map: np.ndarray) -> np.ndarray:
        packed = np.take(self._packed, class_map)
        bgra = packed.view(np.uint8).reshape(*class_map.shape, 4)
        return cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR)


def blend(image: np.ndarray, colours: np.ndarray, alpha: float) -> np.ndarray:
    return cv2.addWeighted(image, 1.0 - alpha, colours, alpha, 0.0)


def compose(image: np.ndarray, colours: np.ndarray, mode: Visualize, alpha: float) -> np.ndarray | None:
    """The picture for ``mode`` from the frame and its colourised class map (a new array)."""
    if mode == "overlay":
        return blend(image, colours, alpha)
    if mode == "mask":
        return colours
    if mode == "side":
        return cv2.hconcat([image, colours])
    check_allowed("render.visualize", mode)  # "none", or a mistake
    return None


class Legend:
    """Draws a box listing the classes present (colour swatch + name); patches are cached."""

    def __init__(self, class_names: Sequence[str], colours_bgr: np.ndarray, cache_size: int = 64) -> None:
        self.class_names = list(class_names)
        self.colours = colours_bgr
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[tuple[int, ...], int], np.ndarray] = OrderedDict()

    def patch(self, classes: tuple[int, ...], frame_height: int) -> np.ndarray:
        key = (classes, frame_height)
        patch = self._cache.get(key)
        if patch is not None:
            self._cache.move_to_end(key)
            return patch
        scale = max(0.35, min(1.0, frame_height / 1200))
        row = max(12, round(30 * scale))
        swatch = row - 4
        thickness = 1 if scale < 0.7 else 2
        widths = [cv2.getTextSize(self.class_names[c], _FONT, scale, thickness)[0][0] for c in classes]
        width = swatch + 12 + (max(widths) if widths else 0)
        rows = max(1, min(len(classes), (frame_height - 8) // row))
        patch = np.full((rows * row + 6, width + 6, 3), 24, dtype=np.uint8)
        for i, c in enumerate(classes[:rows]):
            y = 3 + i * row
            colour = tuple(int(v) for v in self.colours[c])
            cv2.rectangle(patch, (3, y + 2), (3 + swatch, y + 2 + swatch), colour, thickness=-1)
            cv2.putText(patch, self.class_names[c], (swatch + 9, y + row - 6), _FONT, scale, (255, 255, 255),
                        thickness, cv2.LINE_AA)
        self._cache[key] = patch
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return patch

    def draw(self, canvas: np.ndarray, fractions: np.ndarray, frame_height: int) -> None:
        """Draw the legend into the top-right corner of ``canvas`` (in place)."""
        classes = tuple(int(c) for c in np.flatnonzero(fractions >= LEGEND_MIN_FRACTION) if c < len(self.class_names))
        if not classes:
            return
        patch = self.patch(classes, frame_height)
        h = min(patch.shape[0], canvas.shape[0])
        w = min(patch.shape[1], canvas.shape[1])
        canvas[:h, canvas.shape[1] - w :] = patch[:h, :w]


def draw_text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    """White text on a dark box, legible on any background (in place); ``origin`` is the top-left."""
    thickness = 1 if scale < 0.7 else 2
    (width, height), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    x, y = origin
    pad = max(3, round(6 * scale))
    x1, y1 = min(canvas.shape[1], x + width + 2 * pad), min(canvas.shape[0], y + height + baseline + 2 * pad)
    canvas[y:y1, x:x1] = 24
    cv2.putText(canvas, text, (x + pad, y + pad + height), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


class RenderStage:
    """Packet → SegResult, with the picture in ``rendered`` (None for ``visualize: none``).

    ``hud`` is a callable returning the HUD line (fps, latency, drops); the pipeline passes one
    that reads its metrics at most a few times a second.
    """

    name = "render"

    def __init__(
        self,
        class_names: Sequence[str],
        palette_rgb: Sequence[Sequence[int]],
        *,
        visualize: Visualize = "overlay",
        alpha: float = 0.5,
        legend: bool = True,
        hud: Callable[[str], str] | None = None,
    ) -> None:
        check_allowed("render.visualize", visualize)
        check_allowed("render.alpha", alpha)
        self._view: tuple[Visualize, float] = (visualize, float(alpha))  # swapped whole: one read per frame
        self.colorize = Colorizer(palette_rgb)
        self.legend = Legend(class_names, self.colorize.bgr) if legend else None
        self.hud = hud

    @property
    def visualize(self) -> Visualize:
        return self._view[0]

    @property
    def alpha(self) -> float:
        return self._view[1]

    def set_view(self, visualize: Visualize | None = None, alpha: float | None = None) -> None:
        """Change the mode and opacity while running, from any thread; the next frame uses them.

        Both are checked first (``ConfigError``); the pair is replaced in one assignment, so a
        frame never sees the new mode with the old opacity.
        """
        mode, opacity = self._view
        if visualize is not None:
            check_allowed("render.visualize", visualize)
            mode = visualize
        if alpha is not None:
            check_allowed("render.alpha", alpha)
            opacity = float(alpha)
        self._view = (mode, opacity)

    def start(self) -> None:
        # the first text OpenCV draws costs tens of milliseconds (font set-up): pay it here
        canvas = np.zeros((64, 256, 3), dtype=np.uint8)
        draw_text(canvas, "0.0 fps", (0, 0), 0.5)
        if self.legend is not None:
            self.legend.patch((0,), 360)

    def render(self, image: np.ndarray, class_map: np.ndarray, fractions: np.ndarray, source_id: str = "") -> np.ndarray | None:
        visualize, alpha = self._view
        if visualize == "none":
            return None
        canvas = compose(image, self.colorize(class_map), visualize, alpha)
        if canvas is None:
            return None
        height = image.shape[0]
        if self.legend is not None:
            self.legend.draw(canvas, fractions, height)
        if self.hud is not None:
            text = self.hud(source_id)
            if text:
                draw_text(canvas, text, (0, 0), max(0.4, min(1.0, height / 1200)))
        return canvas

    def process(self, packet: Packet) -> SegResult:
        if packet.class_map is None or packet.fractions is None:
            raise RuntimeError("render got a packet without a class map")
        rendered = self.render(packet.frame.image, packet.class_map, packet.fractions, packet.frame.source_id)
        return SegResult(
            frame=packet.frame,
            class_map=packet.class_map,
            fractions=packet.fractions,
            timings_ms=packet.timings_ms,
            rendered=rendered,
        )

    def stop(self) -> None:
        pass
