"""TensorRT's timing cache, kept between builds so later builds skip most kernel timing.

By default there is one file per TensorRT version and compute capability beside the engine,
shared by every engine built in that folder. After a build it is merged, under a lock, with what
concurrent builders saved meanwhile, then written atomically.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from engines.build.lock import file_lock, lock_path_for
from segcore.files import write_atomic

if TYPE_CHECKING:
    import tensorrt as trt

LOG = logging.getLogger("engines.build")


def default_timing_cache(engine_path: Path, trt_version: str, compute_capability: str) -> Path:
    """Beside the engine, one per TensorRT version and GPU class (every engine built there shares it)."""
    capability = compute_capability.replace(".", "").replace("+", "plus")
    return engine_path.with_name(f"tensorrt-timing-{trt_version}-sm{capability}.cache")


def load_timing_cache(config: trt.IBuilderConfig, path: Path | None) -> trt.ITimingCache | None:
    """Attach the cache at ``path`` (or a new one) to ``config``; None when builds go without one."""
    if path is None:
        return None
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, False):
        LOG.warning("timing cache %s does not fit this TensorRT/GPU; starting an empty one", path)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    else:
        LOG.info("timing cache %s: %s", path, f"{len(data)} bytes loaded" if data else "new")
    return cache


def save_timing_cache(config: trt.IBuilderConfig, cache: trt.ITimingCache, path: Path) -> None:
    """Merge what is on disk now (another builder may have saved) into ours, then write it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path_for(path), timeout=600):
        if path.is_file():
            on_disk = config.create_timing_cache(path.read_bytes())
            cache.combine(on_disk, False)
        write_atomic(path, bytes(cache.serialize()))
