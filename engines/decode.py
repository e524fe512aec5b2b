"""One frame's engine output, whatever its convention, as class scores or class ids.

Models return their result in several conventions (``OutputSpec``): logits or probabilities with
the class axis first (K×h×w) or last (h×w×K), one channel for a binary model, or class ids of any
integer dtype (h×w or 1×h×w). The host reads every one of them through two functions:

* ``scores_of``: K×h×w float32 scores whose argmax is the class and whose softmax is the class
  probability — logits as they are, probabilities as their logarithm, a binary channel ``x`` as
  ``[0, x]`` (logits: foreground where ``x > 0``) or ``[log(1 − p), log p]`` (probabilities:
  foreground where ``p > 0.5``). Bilinear upsampling and EMA smoothing work on these.
* ``class_ids``: an h×w uint8 class map; class ids outside 0..255 (or below 0) are refused, never
  wrapped into another class.
"""

from __future__ import annotations

import numpy as np

from engines.errors import EngineError
from engines.metadata import OutputSpec

EPS = 1e-7  # probabilities of exactly 0 or 1 stay finite in log space (float32)


def scores_of(output: np.ndarray, spec: OutputSpec) -> np.ndarray:
    """One frame's logits or probabilities (K×h×w, h×w×K with layout NHWC) → K×h×w float32 scores."""
    if spec.kind == "classmap":
        raise ValueError("a class map has no scores")
    if output.ndim != 3:
        raise EngineError(f"output {spec.name!r} has shape {output.shape} per frame; expected 3 axes (scores)")
    data = output.transpose(2, 0, 1) if spec.layout == "NHWC" else output
    data = data.astype(np.float32, copy=False)
    if data.shape[0] == 1:  # binary: one channel for the foreground
        x = data[0]
        if spec.kind == "logits":
            return np.stack([np.zeros_like(x), x])
        p = np.clip(x, EPS, 1.0 - EPS)
        return np.stack([np.log1p(-p), np.log(p)])
    if spec.kind == "probabilities":
        return np.log(np.maximum(data, EPS))
    return data


def class_ids(output: np.ndarray, spec: OutputSpec, num_classes: int = 256) -> np.ndarray:
    """One frame's engine output → h×w uint8 class map (argmax of the scores, or the graph's own ids).

    The graph's own ids are refused when one is outside 0..255 (not a class map) or, for a model
    that lists ``num_classes`` classes, ``num_classes`` or more (it would be drawn as another class).
    """
    if spec.kind != "classmap":
        return np.argmax(scores_of(output, spec), axis=0).astype(np.uint8)
    ids = output[0] if output.ndim == 3 and output.shape[0] == 1 else output
    if ids.ndim == 3 and ids.shape[-1] == 1:
        ids = ids[..., 0]
    if ids.ndim != 2:
        raise EngineError(f"output {spec.name!r} has shape {output.shape} per frame; expected a class map h×w")
    if ids.dtype == np.uint8:
        if ids.size and num_classes < 256:
            _check_listed(int(ids.max()), num_classes, spec.name)
        return ids
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high > 255:
        raise EngineError(
            f"output {spec.name!r} holds class id {low if low < 0 else high}, outside 0..255; "
            "this is not a class map (set output.kind: logits if it holds scores)"
        )
    _check_listed(high, num_classes, spec.name)
    return ids.astype(np.uint8)


def _check_listed(high: int, num_classes: int, name: str) -> None:
    """Raise when ``high``, a class map's largest id, is not in the model's class list."""
    if high >= num_classes:
        raise EngineError(
            f"output {name!r} holds class id {high} but the model lists {num_classes} classes (0..{num_classes - 1}); "
            "give the full class list (model.labels, or class_names in the sidecar)"
        )
