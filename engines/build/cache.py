"""A safe cache for built TensorRT engines: keyed, verified, written atomically under a file lock.

On disk an engine is two files side by side::

    model.fp16.engine   the plain TensorRT plan, byte for byte what the builder returned
                        (trtexec --loadEngine and Triton's tensorrt_plan load it as it is)
    model.fp16.yaml     the model sidecar (engines.metadata.ModelMeta, the ONNX's, adjusted to the
                        engine's profile) plus an ``engine:`` section: the cache key, the plan's
                        sha256 and size, and how and when it was built

so ``open_engine("model.fp16.engine")`` finds its metadata like every other model, and nothing is
ever written into the plan itself. The sidecar of an engine must not be the ONNX's own sidecar:
build ``model.onnx`` to ``model.fp16.engine`` (the default), not to ``model.engine``.

The key (``EngineKey``, in ``key.py``) holds everything that makes a plan valid or not: the
ONNX's sha256, the TensorRT version, the GPU's name and compute capability, the precision, the
optimisation profile shapes and the build flags. An engine is reused only when the recorded key
equals the wanted one *and* the plan's sha256 equals the recorded one (a truncated, corrupt or
foreign plan is caught). Otherwise it is rebuilt with a log line naming each field that differs,
or, with rebuilding disabled, refused with a ModelError that names them.

Concurrent builders (threads or processes) serialise on ``model.fp16.engine.lock`` (``lock.py``):
the first builds, the others wait, re-check and reuse its result. Plan and sidecar are each
written to a temporary file in the same directory and renamed over the old one, so a reader sees
the old pair or the new pair, and a mixed pair fails the sha256 check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engines.build.key import EngineKey
from engines.build.lock import file_lock, lock_path_for
from engines.build.profiles import Profile, image_axes
from engines.errors import ModelError
from engines.metadata import ModelMeta, _plain
from segcore.files import sha256_file, write_atomic

FORMAT = "segstream-engine/1"
LOG = logging.getLogger("engines.build.cache")
LOCK_TIMEOUT = 3600.0  # seconds a builder waits for a concurrent build of the same engine


@dataclass(frozen=True)
class EngineRecord:
    """The ``engine:`` section of an engine's sidecar."""

    key: EngineKey
    plan_sha256: str
    plan_bytes: int
    build: Mapping[str, Any] = field(default_factory=dict)  # when, where, how long, from which ONNX

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "key": self.key.to_dict(),
            "plan_sha256": self.plan_sha256,
            "plan_bytes": self.plan_bytes,
            "build": _plain(dict(self.build)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str) -> EngineRecord:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ModelError(f"{where}: the engine section is not {FORMAT!r}")
        try:
            return cls(
                key=EngineKey.from_dict(data["key"]),
                plan_sha256=str(data["plan_sha256"]),
                plan_bytes=int(data["plan_bytes"]),
                build=dict(data.get("build") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"{where}: the engine section is damaged ({exc!r}); rebuild the engine"
            ) from None


@dataclass(frozen=True)
class CacheStatus:
    ok: bool
    reason: str
    differences: tuple[str, ...] = ()


@dataclass(frozen=True)
class CacheResult:
    path: Path
    built: bool
    reason: str  # why it was built, or why it was reused


def sidecar_for(engine_path: str | Path) -> Path:
    return Path(engine_path).with_suffix(".yaml")


def read_record(engine_path: str | Path) -> EngineRecord | None:
    """The engine section of ``engine_path``'s sidecar; None when there is no sidecar or section."""
    side = sidecar_for(engine_path)
    try:
        data = yaml.safe_load(side.read_text())
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"cannot read engine sidecar {side}: {exc}") from None
    if not isinstance(data, Mapping) or "engine" not in data:
        return None
    return EngineRecord.from_dict(data["engine"], where=str(side))


def write_sidecar(engine_path: str | Path, meta: ModelMeta, record: EngineRecord) -> Path:
    side = sidecar_for(engine_path)
    data = {**meta.to_dict(), "engine": record.to_dict()}
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    write_atomic(side, text.encode())
    return side


def check(engine_path: str | Path, key: EngineKey) -> CacheStatus:
    """Whether the engine at ``engine_path`` can be used as the plan for ``key``, and why not."""
    engine_path = Path(engine_path)
    if not engine_path.is_file():
        return CacheStatus(False, f"there is no engine at {engine_path}")
    try:
        record = read_record(engine_path)
    except ModelError as exc:
        return CacheStatus(False, str(exc))
    if record is None:
        return CacheStatus(
            False, f"{engine_path} has no engine sidecar ({sidecar_for(engine_path).name} with an 'engine:' "
            "section), so what it was built for is unknown"
        )
    differences = record.key.differences(key)
    if differences:
        return CacheStatus(False, "; ".join(differences), tuple(differences))
    size = engine_path.stat().st_size
    if size != record.plan_bytes or sha256_file(engine_path) != record.plan_sha256:
        return CacheStatus(
            False, f"{engine_path} is not the plan its sidecar describes ({size} bytes, sha256 differs from "
            f"the recorded {record.plan_sha256[:12]}…): corrupt, truncated or replaced"
        )
    return CacheStatus(True, "up to date")


def ensure_engine(
    engine_path: str | Path,
    key: EngineKey,
    meta: ModelMeta,
    build: Callable[[], bytes],
    *,
    rebuild: bool = True,
    force: bool = False,
    lock_timeout: float | None = LOCK_TIMEOUT,
    build_info: Mapping[str, Any] | None = None,
    log: logging.Logger = LOG,
) -> CacheResult:
    """Return a valid engine for ``key`` at ``engine_path``, building it with ``build()`` if needed.

    ``build`` returns the serialised plan; it runs at most once per call, under the lock.
    ``rebuild=False`` refuses (ModelError naming what differs) instead of building.
    ``force=True`` rebuilds even an up-to-date engine (used when TensorRT cannot deserialise it).
    """
    engine_path = Path(engine_path)
    status = CacheStatus(False, "a rebuild was forced") if force else check(engine_path, key)
    if status.ok:
        return CacheResult(engine_path, False, status.reason)
    if not rebuild:
        raise ModelError(
            f"engine {engine_path} cannot be used: {status.reason}; rebuilding is disabled, so build it with "
            "'python -m engines.build' (without --no-rebuild) or point at a matching engine"
        )

    def waiting(holder: str) -> None:
        log.info("waiting for the build of %s by %s", engine_path, holder)

    engine_path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path_for(engine_path), timeout=lock_timeout, on_wait=waiting):
        if not force:  # another builder may have finished while we waited
            status = check(engine_path, key)
            if status.ok:
                log.info("reusing %s, built by another process while this one waited", engine_path)
                return CacheResult(engine_path, False, "built by another process while waiting")
        log.warning("building %s: %s", engine_path, status.reason)
        started = time.monotonic()
        plan = bytes(build())
        if not plan:
            raise ModelError(f"the build of {engine_path} returned an empty plan")
        seconds = time.monotonic() - started
        record = EngineRecord(
            key=key,
            plan_sha256=hashlib.sha256(plan).hexdigest(),
            plan_bytes=len(plan),
            build={
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "host": socket.gethostname(),
                "seconds": round(seconds, 3),
                "reason": status.reason,
                **(build_info or {}),
            },
        )
        # Plan first, sidecar second: between the two renames the old sidecar's sha256 no longer
        # matches, so a concurrent reader sees "stale", never a wrong plan.
        write_atomic(engine_path, plan)
        write_sidecar(engine_path, meta, record)
    log.info("built %s in %.1f s (%d bytes)", engine_path, seconds, len(plan))
    return CacheResult(engine_path, True, status.reason)


def engine_meta(meta: ModelMeta, profile: Profile, *, precision: str) -> ModelMeta:
    """The ONNX's metadata, adjusted to what the engine accepts (its profile and precision)."""
    h_axis, w_axis, _ = image_axes(meta.input.layout)
    inp = dataclasses.replace(
        meta.input,
        height=profile.opt[h_axis],
        width=profile.opt[w_axis],
        dynamic_batch=profile.min[0] != profile.max[0],
        dynamic_size=(profile.min[h_axis], profile.min[w_axis]) != (profile.max[h_axis], profile.max[w_axis]),
    )
    return dataclasses.replace(meta, input=inp, precision="fp16" if precision == "fp16" else meta.precision)
