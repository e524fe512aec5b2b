"""Seeded random choices the generators share: a weighted pick and a colour jitter."""

from __future__ import annotations

import numpy as np


def jitter_colour(rng: np.random.Generator, c, amount: float):
    d = rng.uniform(-amount, amount, 3).tolist()
    return tuple(min(max(float(v) + e, 0.0), 255.0) for v, e in zip(c, d, strict=True))


def pick(rng: np.random.Generator, options, p=None):
    if p is None:
        return options[int(rng.integers(len(options)))]
    k = int(np.searchsorted(np.cumsum(p), rng.random() * sum(p), side="right"))
    return options[min(k, len(options) - 1)]
