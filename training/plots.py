"""Evaluation plots (matplotlib, drawn off-screen; nothing here touches the global backend).

* ``per_class_iou.png``    horizontal bars, one per class, coloured with the class palette
* ``confusion_matrix.png`` row-normalised (each ground-truth class sums to 1)
* ``examples.png``         image / ground truth / prediction rows; palette colours are RGB, frames BGR

Each function builds a ``matplotlib.figure.Figure`` on an Agg canvas inside the call, so importing
this module (or the evaluator) never selects a backend or opens a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segcore.accuracy import ConfusionMatrix
from segcore.errors import OutputError

RGB = tuple[int, int, int]
IGNORE_COLOUR = (0, 0, 0)


def colourise(labels: np.ndarray, palette: Sequence[RGB]) -> np.ndarray:
    """H×W class map → H×W×3 **RGB** uint8 image; 255 (ignore) and unknown values are black."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: len(palette)] = np.asarray(palette, dtype=np.uint8)
    table[255] = IGNORE_COLOUR
    return table[labels]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    try:
        fig.savefig(path, bbox_inches="tight")
    except OSError as exc:
        raise OutputError(f"cannot write plot {path}: {exc.strerror or exc}") from None
    return path


def plot_per_class_iou(matrix: ConfusionMatrix, class_names: Sequence[str], palette: Sequence[RGB], path: Path) -> Path:
    ious = matrix.iou()
    n = len(class_names)
    fig = _figure(7.0, 0.3 * n + 1.2)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(n)
    values = np.nan_to_num(ious, nan=0.0)
    colours = [tuple(c / 255 for c in palette[i]) for i in range(n)]
    ax.barh(y, values, color=colours, edgecolor="black", linewidth=0.5)
    for i, v in enumerate(ious):
        if np.isnan(v):
            ax.text(0.01, i, "absent", va="center", fontsize=8, color="grey")
        elif v > 0.85:
            ax.text(v - 0.01, i, f"{v:.3f}", va="center", ha="right", fontsize=8, color="white")
        else:
            ax.text(v + 0.01, i, f"{v:.3f}", va="center", fontsize=8)
    ax.set_yticks(y, labels=list(class_names), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    miou = matrix.miou()
    ax.set_xlabel("IoU")
    ax.set_title(f"per-class IoU (mIoU {miou:.3f})" if not np.isnan(miou) else "per-class IoU")
    return _save(fig, path)


def plot_confusion(matrix: ConfusionMatrix, class_names: Sequence[str], path: Path) -> Path:
    n = len(class_names)
    side = max(5.0, 0.4 * n + 2)
    fig = _figure(side + 1, side)
    ax = fig.add_subplot(1, 1, 1)
    normalized = matrix.normalized()
    image = ax.imshow(normalized, cmap="Blues", vmin=0.0, vmax=1.0)
    if n <= 40:
        for (r, c), v in np.ndenumerate(normalized):
            if v >= 0.005:
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white" if v > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(n)
    ax.set_xticks(ticks, labels=list(class_names), rotation=90, fontsize=7)
    ax.set_yticks(ticks, labels=list(class_names), fontsize=7)
    ax.set_xlabel("prediction")
    ax.set_ylabel("ground truth")
    ax.set_title("confusion matrix (rows normalised)")
    return _save(fig, path)


def plot_examples(examples: Sequence[Any], palette: Sequence[RGB], path: Path) -> Path:
    """Rows of (image, ground truth, prediction); ``examples`` have ``image`` (BGR), ``labels``, ``prediction``."""
    rows = max(1, len(examples))
    h, w = (examples[0].labels.shape if examples else (1, 2))
    panel = 4.0
    fig = _figure(3 * panel, rows * panel * h / w + 0.4)
    for r, ex in enumerate(examples):
        panels = (ex.image[..., ::-1], colourise(ex.labels, palette), colourise(ex.prediction, palette))
        for c, (picture, title) in enumerate(zip(panels, ("image", "ground truth", "prediction"), strict=True)):
            ax = fig.add_subplot(rows, 3, r * 3 + c + 1)
            ax.imshow(picture, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(f"{title}: {ex.name}" if c == 0 else title, fontsize=8)
    return _save(fig, path)


def write_plots(
    directory: str | Path,
    matrix: ConfusionMatrix,
    class_names: Sequence[str],
    palette: Sequence[RGB],
    examples: Sequence[Any] = (),
) -> list[Path]:
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create plot folder {directory}: {exc.strerror or exc}") from None
    paths = [
        plot_per_class_iou(matrix, class_names, palette, directory / "per_class_iou.png"),
        plot_confusion(matrix, class_names, directory / "confusion_matrix.png"),
    ]
    if examples:
        paths.append(plot_examples(examples, palette, directory / "examples.png"))
    return paths
