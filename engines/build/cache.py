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

The key (``EngineKey``) holds everything that makes a plan valid or not: the ONNX's sha256, the
TensorRT version, the GPU's name and compute capability, the precision, the optimisation profile
shapes and the build flags. An engine is reused only when the recorded key equals the wanted one
*and* the plan's sha256 equals the recorded one (a truncated, corrupt or foreign plan is caught).
Otherwise it is rebuilt with a log line naming each field that differs, or, with rebuilding
disabled, refused with a ModelError that names them.

Concurrent builders (threads or processes) serialise on ``model.fp16.engine.lock`` with
``fcntl.flock``: the first builds, the others wait, re-check and reuse its result. The lock file is
left in place on purpose (deleting it would let two builders hold "the" lock at once); the kernel
drops the lock when its holder dies, so a crashed build never leaves a stale lock. Plan and sidecar
are each written to a temporary file in the same directory and renamed over the old one, so a
reader sees the old pair or the new pair, and a mixed pair fails the sha256 check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from engines.errors import BuildLockTimeout, ModelError
from engines.metadata import ModelMeta, _plain
from segcore.files import sha256_file, write_atomic

FORMAT = "segstream-engine/1"
LOG = logging.getLogger("engines.build.cache")
KEY_FIELDS = (
    "onnx_sha256",
    "tensorrt_version",
    "gpu_name",
    "compute_capability",
    "precision",
    "profiles",
    "flags",
)



@dataclass(frozen=True)
class Profile:
    """One input's optimisation profile: the smallest, the tuned-for and the largest shape."""

    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def __post_init__(self) -> None:
        if not len(self.min) == len(self.opt) == len(self.max):
            raise ValueError(f"profile {self.name!r}: min/opt/max have different ranks")
        for lo, mid, hi in zip(self.min, self.opt, self.max, strict=True):
            if not 0 < lo <= mid <= hi:
                raise ValueError(
                    f"profile {self.name!r}: need 0 < min <= opt <= max in every dimension, got "
                    f"min {self.min}, opt {self.opt}, max {self.max}"
                )

    @property
    def is_static(self) -> bool:
        return self.min == self.max

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        return cls(
            name=str(data["name"]),
            min=tuple(int(v) for v in data["min"]),
            opt=tuple(int(v) for v in data["opt"]),
            max=tuple(int(v) for v in data["max"]),
        )


@dataclass(frozen=True)
class EngineKey:
    """Everything a plan depends on. Two keys are equal exactly when one plan serves both."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    profiles: tuple[Profile, ...]
    flags: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "onnx_sha256": self.onnx_sha256,
            "tensorrt_version": self.tensorrt_version,
            "gpu_name": self.gpu_name,
            "compute_capability": self.compute_capability,
            "precision": self.precision,
            "profiles": [p.to_dict() for p in self.profiles],
            "flags": _plain(dict(sorted(self.flags.items()))),
        }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineKey:
        return cls(
            onnx_sha256=str(data["onnx_sha256"]),
            tensorrt_version=str(data["tensorrt_version"]),
            gpu_name=str(data["gpu_name"]),
            compute_capability=str(data["compute_capability"]),
            precision=str(data["precision"]),
            profiles=tuple(Profile.from_dict(p) for p in data["profiles"]),
            flags=dict(data.get("flags") or {}),
        )

    def differences(self, wanted: EngineKey) -> list[str]:
        """One line per differing field: ``field: engine has X, this build wants Y``."""
        mine, theirs = self.to_dict(), wanted.to_dict()
        lines = []
        for name in KEY_FIELDS:
            if name == "flags":
                for flag in sorted(set(mine["flags"]) | set(theirs["flags"])):
                    a, b = mine["flags"].get(flag, "(absent)"), theirs["flags"].get(flag, "(absent)")
                    if a != b:
                        lines.append(f"flags.{flag}: engine has {_short(a)}, this build wants {_short(b)}")
            elif mine[name] != theirs[name]:
                lines.append(f"{name}: engine has {_short(mine[name])}, this build wants {_short(theirs[name])}")
        return lines


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
            raise ModelError(f"{where}: the engine section is damaged ({exc!r}); rebuild the engine") from None


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


def lock_path_for(engine_path: str | Path) -> Path:
    path = Path(engine_path)
    return path.with_name(path.name + ".lock")



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



@contextlib.contextmanager
def file_lock(
    path: str | Path,
    *,
    timeout: float | None = None,
    poll: float = 0.05,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the ``with`` block.

    Threads of one process exclude each other too: each call opens its own file description.
    ``on_wait`` is called once, with what the holder wrote into the file, if we have to wait.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fh: IO[str] = open(path, "a+")  # noqa: SIM115 - closed in finally
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    waited = True
                    if on_wait is not None:
                        fh.seek(0)
                        on_wait(fh.read().strip() or "another builder")
                if deadline is not None and time.monotonic() >= deadline:
                    raise BuildLockTimeout(
                        f"gave up after {timeout:.0f} s waiting for {path} (held by {_holder(fh)}); "
                        "let that build finish, or raise the lock timeout"
                    ) from None
                time.sleep(poll)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    finally:
        fh.close()


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
    lock_timeout: float | None = 3600.0,
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
    layout = meta.input.layout
    h_axis, w_axis = (1, 2) if layout == "NHWC" else (2, 3)
    inp = dataclasses.replace(
        meta.input,
        height=profile.opt[h_axis],
        width=profile.opt[w_axis],
        dynamic_batch=profile.min[0] != profile.max[0],
        dynamic_size=(profile.min[h_axis], profile.min[w_axis]) != (profile.max[h_axis], profile.max[w_axis]),
    )
    return dataclasses.replace(meta, input=inp, precision="fp16" if precision == "fp16" else meta.precision)


def _holder(fh: IO[str]) -> str:
    fh.seek(0)
    return fh.read().strip() or "another builder"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."
