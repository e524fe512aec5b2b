"""A real pipeline with its real HTTP server on 127.0.0.1 (a free port), for the serve tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from pipeline import Pipeline, load_config
from serve import Server

# small paced synthetic streets: real frames, little CPU (the machine is shared)
STREET = "synthetic://street?size=320x180&fps=15&seed={seed}&frames={frames}"


def zone_everywhere(source: str = "street") -> str:
    """A ``zones=`` setting: one zone over the whole picture of ``source`` watching every class, so
    that whatever the model sees there starts an event."""
    from segcore.labels import CITYSCAPES

    return (f"zones={{{source}: [{{name: everywhere, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]], "
            f"classes: [{', '.join(repr(c) for c in CITYSCAPES.class_names)}], enter: 0.01, exit: 0.005, "
            "min_duration_s: 0}]}")


def street(frames: int = 0, seed: int = 1) -> str:
    """An endless (``frames=0``) or finite synthetic street of 320×180 at 15 fps."""
    return STREET.format(seed=seed, frames=frames)


@dataclass
class Served:
    pipeline: Pipeline
    server: Server
    client: httpx.Client

    @property
    def url(self) -> str:
        return self.server.url


@contextmanager
def serving(model: Path, uris: Sequence[str], settings: Sequence[str] = ()) -> Iterator[Served]:
    """A started pipeline over ``uris`` (paced like cameras) with its server; both stopped after."""
    config = load_config(None, [
        f"model.path={model}", "serve.port=0", "source.pace=true", "source.synthetic_cache=null",
        "runtime.infer_workers=1", "model.threads=1", *settings,
    ], values={"source.uris": list(uris)})
    server = Server(config)
    pipeline = Pipeline.from_config(config, sinks=[server.sink])
    try:
        pipeline.start()
        server.start(pipeline)
        with httpx.Client(base_url=server.url.rstrip("/"), timeout=10.0) as client:
            yield Served(pipeline, server, client)
    finally:
        pipeline.stop()
        try:
            pipeline.join(timeout=10.0)
        finally:
            server.close()


@pytest.fixture
def serve_factory(tiny_model: Path) -> Callable[..., Any]:
    def make(uris: Sequence[str] | None = None, settings: Sequence[str] = ()) -> Any:
        return serving(tiny_model, uris or [street()], settings)

    return make


def serve_threads() -> list[str]:
    """The names of the server's threads still alive."""
    return [t.name for t in threading.enumerate() if t.name.startswith(("serve-", "source-"))]


def looks_like_placeholder(image: np.ndarray) -> bool:
    """The placeholder's look: nearly all dark grey (hatching), unlike any street, overlay or mask."""
    pixels = image.reshape(-1, 3).astype(np.int16)
    grey = (pixels.max(axis=1) - pixels.min(axis=1)) < 16
    dark = pixels.max(axis=1) < 72
    return float((grey & dark).mean()) > 0.7
