"""Temporal smoothing, one state per source: EMA of class probabilities, or a k-frame majority vote.

Both reset themselves when the map's shape changes (a new resolution after a reconnect), so
frames of different geometry are never mixed.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from pipeline.config import check_allowed


def softmax(logits: np.ndarray, axis: int = 0) -> np.ndarray:
    """Numerically stable softmax (float32) along ``axis`` (the class axis of K×H×W logits)."""
    x = logits.astype(np.float32, copy=True)
    x -= x.max(axis=axis, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=axis, keepdims=True)
    return x


class EmaSmoother:
    """``p_t = alpha · softmax(logits_t) + (1 − alpha) · p_{t−1}``; returns K×H×W probabilities."""

    def __init__(self, alpha: float) -> None:
        check_allowed("postprocess.ema_alpha", alpha)
        self.alpha = float(alpha)
        self._state: np.ndarray | None = None

    def update(self, logits: np.ndarray) -> np.ndarray:
        probs = softmax(logits, axis=0)
        if self._state is None or self._state.shape != probs.shape:
            self._state = probs
        else:
            self._state *= 1.0 - self.alpha
            self._state += self.alpha * probs
        return self._state

    def reset(self) -> None:
        self._state = None


class MajorityVote:
    """Per pixel, the class most frequent over the last ``window`` maps; ties go to the newest."""

    def __init__(self, window: int) -> None:
        check_allowed("postprocess.majority_window", window)
        self.window = int(window)
        self._maps: deque[np.ndarray] = deque(maxlen=self.window)

    def update(self, class_map: np.ndarray) -> np.ndarray:
        if self._maps and self._maps[0].shape != class_map.shape:
            self._maps.clear()
        self._maps.append(class_map)
        maps = list(self._maps)[::-1]  # newest first, so the first best count is the newest class
        if len(maps) == 1:
            return class_map
        best = maps[0].copy()
        best_count = np.zeros(class_map.shape, dtype=np.uint8)
        for candidate in maps:
            count = np.zeros(class_map.shape, dtype=np.uint8)
            for other in maps:
                count += candidate == other
            better = count > best_count
            best[better] = candidate[better]
            best_count = np.maximum(best_count, count)
        return best

    def reset(self) -> None:
        self._maps.clear()
