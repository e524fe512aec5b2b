"""The engine cache, on the CPU, with an injected FakeBuilder instead of TensorRT."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from engines.build.cache import CacheResult, check, engine_meta, ensure_engine, read_record, sidecar_for
from engines.build.key import EngineKey
from engines.build.lock import file_lock, lock_path_for
from engines.build.profiles import Profile
from engines.errors import BuildLockTimeout, ModelError
from engines.metadata import InputSpec, ModelMeta, OutputSpec, load_for_model
from segcore.labels import CITYSCAPES

PROFILE = Profile("input", (1, 64, 128, 3), (1, 64, 128, 3), (4, 64, 128, 3))
KEY = EngineKey(
    onnx_sha256="a" * 64,
    tensorrt_version="10.13.0",
    gpu_name="Fake GPU",
    compute_capability="8.7",
    precision="fp16",
    profiles=(PROFILE,),
    flags={"opt_level": 3, "workspace_mb": None, "strongly_typed": False},
)
META = ModelMeta(
    name="tiny",
    class_names=CITYSCAPES.class_names,
    palette=CITYSCAPES.palette,
    input=InputSpec(layout="NHWC", dtype="uint8", color="BGR", height=64, width=128, dynamic_batch=True,
                    normalized_in_graph=True),
    output=OutputSpec(name="classmap", kind="classmap", dtype="uint8"),
)

# One changed value per key field: each must be caught and named.
CHANGED = {
    "onnx_sha256": "b" * 64,
    "tensorrt_version": "11.0.0",
    "gpu_name": "Other GPU",
    "compute_capability": "9.0",
    "precision": "fp32",
    "profiles": (Profile("input", (1, 64, 128, 3), (1, 64, 128, 3), (8, 64, 128, 3)),),
    "flags": {"opt_level": 5, "workspace_mb": None, "strongly_typed": False},
}


class FakeBuilder:
    """Stands in for TensorRT's builder: returns a recognisable plan and counts its calls."""

    def __init__(self, payload: bytes = b"PLAN", delay: float = 0.0) -> None:
        self.payload = payload
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        with self._lock:
            self.calls += 1
            n = self.calls
        time.sleep(self.delay)
        return self.payload + b"#%d" % n


def build(path: Path, key: EngineKey = KEY, builder: FakeBuilder | None = None, **kw: object) -> CacheResult:
    return ensure_engine(path, key, META, builder or FakeBuilder(), **kw)  # type: ignore[arg-type]


def test_first_build_writes_plain_plan_and_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "tiny.fp16.engine"
    builder = FakeBuilder()
    result = build(path, builder=builder)
    assert result.built and builder.calls == 1
    assert path.read_bytes() == b"PLAN#1"  # the plan file is exactly what the builder returned
    record = read_record(path)
    assert record is not None and record.key == KEY and record.plan_bytes == 6
    meta = load_for_model(path)  # the sidecar is an ordinary model sidecar too
    assert meta.class_names == META.class_names and meta.output.kind == "classmap"
    assert yaml.safe_load(sidecar_for(path).read_text())["engine"]["key"]["gpu_name"] == "Fake GPU"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_second_call_reuses(tmp_path: Path) -> None:
    path = tmp_path / "tiny.fp16.engine"
    builder = FakeBuilder()
    build(path, builder=builder)
    again = build(path, builder=builder)
    assert not again.built and again.reason == "up to date" and builder.calls == 1
    assert check(path, KEY).ok


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_key_mismatch_rebuilds_and_names_the_field(tmp_path: Path, field: str, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "tiny.fp16.engine"
    build(path)
    wanted = dataclasses.replace(KEY, **{field: CHANGED[field]})
    status = check(path, wanted)
    assert not status.ok and len(status.differences) == 1
    assert status.differences[0].startswith(field if field != "flags" else "flags.opt_level")

    with pytest.raises(ModelError, match="rebuilding is disabled") as refused:
        build(path, wanted, rebuild=False)
    assert (field if field != "flags" else "flags.opt_level") in str(refused.value)
    assert "\n" not in str(refused.value)

    builder = FakeBuilder(b"NEW")
    with caplog.at_level(logging.INFO, logger="engines.build.cache"):
        result = build(path, wanted, builder)
    assert result.built and builder.calls == 1 and path.read_bytes() == b"NEW#1"
    assert any(field in r.getMessage() and "building" in r.getMessage() for r in caplog.records)
    assert read_record(path).key == wanted  # type: ignore[union-attr]


def test_difference_lines_show_both_values() -> None:
    lines = KEY.differences(dataclasses.replace(KEY, tensorrt_version="11.0.0"))
    assert lines == ["tensorrt_version: engine has \"10.13.0\", this build wants \"11.0.0\""]


@pytest.mark.parametrize("damage", ["truncated", "flipped", "foreign", "no_sidecar", "sidecar_without_engine", "bad_yaml"])
def test_corrupt_or_foreign_plan_is_rebuilt(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "tiny.fp16.engine"
    build(path, builder=FakeBuilder(b"ORIGINAL-PLAN"))
    side = sidecar_for(path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:5])
    elif damage == "flipped":
        path.write_bytes(b"X" + path.read_bytes()[1:])
    elif damage == "foreign":  # another engine copied over this one, same size
        path.write_bytes(b"FOREIGN-PLANS#1")
        assert path.stat().st_size == len(b"ORIGINAL-PLAN#1")
    elif damage == "no_sidecar":
        side.unlink()
    elif damage == "sidecar_without_engine":
        META.save(side)
    else:
        side.write_text("engine: [unclosed\n")
    status = check(path, KEY)
    assert not status.ok
    with pytest.raises(ModelError):
        build(path, rebuild=False)
    builder = FakeBuilder(b"REBUILT")
    result = build(path, builder=builder)
    assert result.built and builder.calls == 1 and path.read_bytes() == b"REBUILT#1"
    assert check(path, KEY).ok


def test_missing_engine_with_rebuild_disabled_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="there is no engine at .*rebuilding is disabled"):
        build(tmp_path / "absent.engine", rebuild=False)


def test_force_rebuilds_an_up_to_date_engine(tmp_path: Path) -> None:
    path = tmp_path / "tiny.fp16.engine"
    build(path)
    builder = FakeBuilder(b"FORCED")
    assert build(path, builder=builder, force=True).built and builder.calls == 1


def test_failed_build_leaves_the_old_engine_and_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "tiny.fp16.engine"
    build(path, builder=FakeBuilder(b"GOOD"))

    def broken() -> bytes:
        raise RuntimeError("builder crashed")

    with pytest.raises(RuntimeError):
        ensure_engine(path, dataclasses.replace(KEY, precision="fp32"), META, broken)
    assert path.read_bytes() == b"GOOD#1" and check(path, KEY).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, sidecar_for(path).name, lock_path_for(path).name])


def test_threads_build_once_and_the_others_reuse(tmp_path: Path) -> None:
    path = tmp_path / "tiny.fp16.engine"
    builder = FakeBuilder(delay=0.3)
    results: list[CacheResult] = []
    threads = [threading.Thread(target=lambda: results.append(build(path, builder=builder))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert builder.calls == 1
    assert sorted(r.built for r in results) == [False, False, False, True]
    assert {r.reason for r in results if not r.built} <= {"built by another process while waiting", "up to date"}
    assert check(path, KEY).ok


def _process_build(path: str, log: str, ready: Any) -> None:
    class LoggingBuilder(FakeBuilder):
        def __call__(self) -> bytes:
            with open(log, "a") as fh:
                fh.write("built\n")
            time.sleep(1.0)
            return b"FROM-PROCESS"

    ready.wait(10)
    result = ensure_engine(Path(path), KEY, META, LoggingBuilder())
    with open(log, "a") as fh:
        fh.write(f"result built={result.built}\n")


def test_two_processes_build_once_and_the_other_reuses(tmp_path: Path) -> None:
    path, log = tmp_path / "tiny.fp16.engine", tmp_path / "log.txt"
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    procs = [ctx.Process(target=_process_build, args=(str(path), str(log), ready)) for _ in range(2)]
    for p in procs:
        p.start()
    ready.set()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    lines = log.read_text().splitlines()
    assert lines.count("built") == 1
    assert sorted(line for line in lines if line.startswith("result")) == ["result built=False", "result built=True"]
    assert path.read_bytes() == b"FROM-PROCESS" and check(path, KEY).ok


def test_lock_timeout_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "tiny.fp16.engine"
    with file_lock(lock_path_for(path)), pytest.raises(BuildLockTimeout, match=r"pid \d+"):
        build(path, lock_timeout=0.2)


def test_engine_meta_follows_the_profile() -> None:
    meta = engine_meta(META, Profile("input", (1, 32, 64, 3), (2, 64, 128, 3), (4, 128, 256, 3)), precision="fp16")
    assert (meta.input.height, meta.input.width) == (64, 128)
    assert meta.input.dynamic_batch and meta.input.dynamic_size and meta.precision == "fp16"
    fixed = engine_meta(META, Profile("input", (1, 64, 128, 3), (1, 64, 128, 3), (1, 64, 128, 3)), precision="int8")
    assert not fixed.input.dynamic_batch and not fixed.input.dynamic_size and fixed.precision == "fp32"


def test_profile_rejects_inverted_ranges() -> None:
    with pytest.raises(ValueError, match="min <= opt <= max"):
        Profile("input", (2, 64, 128, 3), (1, 64, 128, 3), (4, 64, 128, 3))
