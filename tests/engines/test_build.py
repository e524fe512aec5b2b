"""engines.build on the CPU: profile and precision planning, parser errors, timing cache, CLI.

TensorRT itself is replaced by tests/fake_tensorrt.FakeTensorRT; nothing here runs TensorRT.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import pytest

from engines.build import BuildOptions, build_engine, read_record
from engines.build.cache import check, sidecar_for
from engines.build.calibration import calibration_batch
from engines.build.cli import main
from engines.build.onnx_file import OnnxInput, onnx_sha256, read_onnx_input
from engines.build.precision import plan_precision
from engines.build.profiles import plan_profile
from engines.errors import EngineUnavailableError, ModelError
from engines.metadata import ModelMeta, load_for_model
from segcore.errors import UserInputError
from tests.fake_tensorrt import FakeTensorRT
from tests.fake_tensorrt import fake_gpu_identity as identity
from tests.tiny_models import make_tiny_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A fresh copy of the uint8 NHWC → class-map model (dynamic batch, 64×128)."""
    return make_tiny_model(tmp_path, name="tiny")


def _dynamic_size(path: Path) -> Path:
    """Rewrite the model's height and width as named dynamic dimensions (H, W) in and out."""
    m = onnx.load(str(path))
    for value in (m.graph.input[0], m.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        h_axis, w_axis = (1, 2) if len(dims) == 4 and dims[3].dim_value == 3 else (len(dims) - 2, len(dims) - 1)
        dims[h_axis].dim_param, dims[w_axis].dim_param = "H", "W"
    onnx.save(m, str(path))
    return path


def _run(path: Path, fake: FakeTensorRT, **kw: Any) -> Any:
    opts = kw.pop("opts", BuildOptions(use_timing_cache=False))
    return build_engine(path, opts, tensorrt_module=fake, identity=identity, **kw)


# --- profiles -----------------------------------------------------------------------------------


def test_profile_from_dynamic_batch_onnx(model: Path) -> None:
    onnx_in = read_onnx_input(model)
    assert onnx_in == OnnxInput("input", (None, 64, 128, 3), "uint8")
    meta = load_for_model(model)
    p = plan_profile(onnx_in, meta, BuildOptions())
    assert (p.min, p.opt, p.max) == ((1, 64, 128, 3), (1, 64, 128, 3), (4, 64, 128, 3))
    p = plan_profile(onnx_in, meta, BuildOptions(opt_batch=2, max_batch=8))
    assert (p.min[0], p.opt[0], p.max[0]) == (1, 2, 8)


def test_fixed_dimensions_cannot_be_widened(model: Path, tmp_path: Path) -> None:
    meta = load_for_model(model)
    with pytest.raises(UserInputError, match="fixed height of 64, so --min/--opt/--max-size cannot ask for 128"):
        plan_profile(read_onnx_input(model), meta, BuildOptions(max_size=(128, 256)))
    with pytest.raises(UserInputError, match="fixed width of 128, so --min/--opt/--max-size cannot ask for 256"):
        plan_profile(read_onnx_input(model), meta, BuildOptions(max_size=(64, 256)))
    static = make_tiny_model(tmp_path / "static", name="static", dynamic_batch=False)
    with pytest.raises(UserInputError, match="fixed batch of 1.*--min/--opt/--max-batch"):
        plan_profile(read_onnx_input(static), load_for_model(static), BuildOptions(max_batch=4))


def test_profile_of_dynamic_size_onnx(tmp_path: Path) -> None:
    path = _dynamic_size(make_tiny_model(tmp_path, name="dyn", uint8_input=False, argmax=False))
    onnx_in, meta = read_onnx_input(path), load_for_model(path)
    assert onnx_in.dims == (None, 3, None, None)
    fixed = plan_profile(onnx_in, meta, BuildOptions())  # defaults to the sidecar's size: a fixed-size engine
    assert fixed.min[2:] == fixed.opt[2:] == fixed.max[2:] == (64, 128) and fixed.min[1] == 3
    wide = plan_profile(onnx_in, meta, BuildOptions(min_size=(32, 64), max_size=(128, 256)))
    assert (wide.min, wide.opt, wide.max) == ((1, 3, 32, 64), (1, 3, 64, 128), (4, 3, 128, 256))
    with pytest.raises(UserInputError, match="min <= opt <= max"):
        plan_profile(onnx_in, meta, BuildOptions(max_size=(32, 64)))


def test_wrong_layout_in_sidecar_is_caught(model: Path) -> None:
    meta = load_for_model(model)
    nchw = ModelMeta.from_dict({**meta.to_dict(), "input": {**meta.to_dict()["input"], "layout": "NCHW"}})
    with pytest.raises(ModelError, match="channels"):
        plan_profile(read_onnx_input(model), nchw, BuildOptions())


# --- precision ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("precision", "source", "weak", "expected"),
    [
        ("fp32", "fp32", True, (False, False, None)),
        ("fp16", "fp32", True, (False, True, None)),  # TensorRT 10: the FP16 flag
        ("fp16", "fp16", True, (True, False, None)),  # fp16 ONNX: strongly typed on 10 too
        ("fp32", "fp32", False, (True, False, None)),  # TensorRT 11: always strongly typed
        ("fp16", "fp32", False, (True, False, "autocast-fp16")),
        ("fp16", "fp16", False, (True, False, None)),
        ("int8", "fp32", True, (True, False, "modelopt-int8")),
        ("int8", "fp32", False, (True, False, "modelopt-int8")),
    ],
)
def test_precision_plan(precision: str, source: str, weak: bool, expected: tuple[Any, ...]) -> None:
    plan = plan_precision(precision, source, weak_typing=weak)
    assert (plan.strongly_typed, plan.fp16_flag, plan.convert) == expected


def test_fp32_engine_from_fp16_onnx_is_refused() -> None:
    with pytest.raises(UserInputError, match="ONNX is fp16"):
        plan_precision("fp32", "fp16", weak_typing=True)


def test_tensorrt10_fp16_sets_the_flag(model: Path) -> None:
    fake = FakeTensorRT(version="10.3.0")
    result = _run(model, fake, opts=BuildOptions(precision="fp16", use_timing_cache=False))
    assert result.built and result.path == model.with_name("tiny.fp16.engine")
    (b,) = fake.builds
    assert b["config"].flags == {"FP16"} and b["network_flags"] == 0
    record = read_record(result.path)
    assert record is not None and record.key.flags["fp16_flag"] is True and record.key.tensorrt_version == "10.3.0"
    assert load_for_model(result.path).precision == "fp16"


def test_tensorrt11_builds_strongly_typed(model: Path) -> None:
    fake = FakeTensorRT(version="11.1.0", weak_typing=False)
    _run(model, fake)
    (b,) = fake.builds
    assert b["network_flags"] == 1 << 1 and b["config"].flags == set()


def test_tensorrt11_fp16_from_fp32_onnx_says_what_to_do(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "modelopt", None)  # not installed
    fake = FakeTensorRT(version="11.1.0", weak_typing=False)
    with pytest.raises(EngineUnavailableError, match="fp16 must come from the ONNX: export the model in fp16, or pip install 'nvidia-modelopt"):
        _run(model, fake, opts=BuildOptions(precision="fp16", use_timing_cache=False))
    assert not fake.builds


def test_tensorrt11_fp16_through_autocast(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def convert_to_mixed_precision(**kw: Any) -> onnx.ModelProto:
        calls.append(kw)
        return onnx.load(kw["onnx_path"])

    _fake_modelopt(monkeypatch, autocast=types.SimpleNamespace(convert_to_mixed_precision=convert_to_mixed_precision))
    fake = FakeTensorRT(version="11.1.0", weak_typing=False)
    _run(model, fake, opts=BuildOptions(precision="fp16", use_timing_cache=False))
    assert calls[0]["low_precision_type"] == "fp16" and calls[0]["keep_io_types"] is True
    assert fake.builds[0]["source"].endswith("autocast_fp16.onnx")


# --- int8 ---------------------------------------------------------------------------------------


def _fake_modelopt(monkeypatch: pytest.MonkeyPatch, **submodules: Any) -> None:
    monkeypatch.setitem(sys.modules, "modelopt", types.ModuleType("modelopt"))
    monkeypatch.setitem(sys.modules, "modelopt.onnx", types.ModuleType("modelopt.onnx"))
    for name, module in submodules.items():
        monkeypatch.setitem(sys.modules, f"modelopt.onnx.{name}", module)


def _frames(folder: Path, n: int = 3) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:03d}.png"), rng.integers(0, 256, (90, 160, 3), dtype=np.uint8))
    return folder


def test_calibration_frames_go_through_the_transforms(model: Path, tmp_path: Path) -> None:
    meta = load_for_model(model)
    profile = plan_profile(read_onnx_input(model), meta, BuildOptions())
    batch = calibration_batch(str(_frames(tmp_path / "calib")), meta, profile, frames=2)
    assert batch.shape == (2, 64, 128, 3) and batch.dtype == np.uint8
    np.save(tmp_path / "ready.npy", batch)
    assert np.array_equal(calibration_batch(str(tmp_path / "ready.npy"), meta, profile, 2), batch)
    with pytest.raises(UserInputError, match="no such file"):
        calibration_batch(str(tmp_path / "absent"), meta, profile, 2)


def test_int8_needs_calibration_and_modelopt(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTensorRT()
    with pytest.raises(UserInputError, match="needs --calib"):
        _run(model, fake, opts=BuildOptions(precision="int8"))
    monkeypatch.setitem(sys.modules, "modelopt", None)
    with pytest.raises(EngineUnavailableError, match="ModelOpt .Q/DQ., which is not installed; pip install"):
        _run(model, fake, opts=BuildOptions(precision="int8", calib=str(_frames(tmp_path / "calib")), use_timing_cache=False))


def test_int8_quantises_then_builds_strongly_typed(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def quantize(**kw: Any) -> None:
        seen.update(kw)
        shutil.copy(kw["onnx_path"], kw["output_path"])  # a real one inserts Q/DQ nodes

    _fake_modelopt(monkeypatch, quantization=types.SimpleNamespace(quantize=quantize))
    fake = FakeTensorRT()
    calib = str(_frames(tmp_path / "calib", n=4))
    result = _run(model, fake, opts=BuildOptions(precision="int8", calib=calib, calib_frames=4, use_timing_cache=False))
    assert result.path.name == "tiny.int8.engine"
    assert seen["quantize_mode"] == "int8" and seen["calibration_data"].shape == (4, 64, 128, 3)
    (b,) = fake.builds
    assert b["source"].endswith("int8_qdq.onnx") and b["network_flags"] == 1 << 1 and b["config"].flags == set()
    record = read_record(result.path)
    assert record is not None and record.key.flags["calib"] == calib and record.key.precision == "int8"


# --- parser, builder, cache ----------------------------------------------------------------------


def test_every_parser_error_is_reported_with_node_names(model: Path) -> None:
    m = onnx.load(str(model))
    for i, node in enumerate(m.graph.node):
        node.name = f"{node.op_type.lower()}_{i}"
    onnx.save(m, str(model))
    fake = FakeTensorRT(unsupported_ops=("ArgMax", "Conv"))
    with pytest.raises(ModelError) as info:
        _run(model, fake)
    text = str(info.value)
    assert "2 error(s)" in text and "node 'conv_3' (Conv)" in text and "node 'argmax_4' (ArgMax)" in text
    assert "\n" not in text
    assert not model.with_name("tiny.fp32.engine").exists()


def test_no_gpu_and_failed_build_are_clear(model: Path) -> None:
    fake = FakeTensorRT()
    fake.no_gpu = True
    with pytest.raises(EngineUnavailableError, match="needs an NVIDIA GPU"):
        _run(model, fake)
    fake.no_gpu, fake.fail_build = False, True
    with pytest.raises(ModelError, match="could not build"):
        _run(model, fake)


def test_cache_reuses_and_rebuilds_on_changed_flags(model: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTensorRT()
    first = _run(model, fake)
    assert first.built and check(first.path, read_record(first.path).key).ok  # type: ignore[union-attr]
    again = _run(model, fake)
    assert not again.built and len(fake.builds) == 1
    with caplog.at_level("WARNING"):
        third = _run(model, fake, opts=BuildOptions(opt_level=5, use_timing_cache=False))
    assert third.built and len(fake.builds) == 2
    assert "flags.opt_level: engine has null, this build wants 5" in caplog.text
    assert fake.builds[1]["config"].builder_optimization_level == 5
    newer = FakeTensorRT(version="10.14.0")
    with pytest.raises(ModelError, match="tensorrt_version"):
        _run(model, newer, rebuild=False)


def test_hardware_compatible_engines_are_keyed_by_gpu_class(model: Path) -> None:
    fake = FakeTensorRT()
    result = _run(model, fake, opts=BuildOptions(hardware_compat="ampere+", use_timing_cache=False))
    assert fake.builds[0]["config"].hardware_compatibility_level == "AMPERE_PLUS"
    key = read_record(result.path).key  # type: ignore[union-attr]
    assert (key.gpu_name, key.compute_capability) == ("any Ampere or newer GPU", "8.0+")
    other_gpu = build_engine(model, BuildOptions(hardware_compat="ampere+", use_timing_cache=False),
                             tensorrt_module=fake, identity=lambda i: ("Other GPU", "9.0"))
    assert not other_gpu.built  # the same plan serves another Ampere-or-newer GPU


def test_engine_sidecar_must_not_be_the_onnx_sidecar(model: Path) -> None:
    with pytest.raises(UserInputError, match="share the sidecar tiny.yaml"):
        _run(model, FakeTensorRT(), out=model.with_suffix(".engine"))


def test_timing_cache_persists_and_grows(model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "timing.cache"
    fake = FakeTensorRT()
    _run(model, fake, opts=BuildOptions(timing_cache=cache))
    assert cache.read_bytes() == b"fake-timing-cache:1"
    _run(model, fake, opts=BuildOptions(timing_cache=cache), force=True)
    assert cache.read_bytes() == b"fake-timing-cache:2"  # loaded, extended, merged, saved
    _run(model, fake, opts=BuildOptions(), force=True)
    assert (model.parent / "tensorrt-timing-10.13.0-sm87.cache").read_bytes() == b"fake-timing-cache:1"


def test_external_weights_are_part_of_the_hash(tmp_path: Path) -> None:
    path = make_tiny_model(tmp_path, name="ext", uint8_input=False, argmax=False)
    m = onnx.load(str(path))
    onnx.save_model(m, str(path), save_as_external_data=True, location="ext.onnx.data", size_threshold=0)
    before = onnx_sha256(path)
    data = tmp_path / "ext.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[0] ^= 0xFF
    data.write_bytes(bytes(raw))
    assert onnx_sha256(path) != before


# --- the package ----------------------------------------------------------------------------------


def test_public_api_is_sorted_and_importable() -> None:
    import engines.build

    assert engines.build.__all__ == sorted(set(engines.build.__all__))
    for name in engines.build.__all__:
        assert getattr(engines.build, name) is not None


def test_importing_the_builder_imports_no_tensorrt_or_torch() -> None:
    modules = sorted(p.stem for p in (ROOT / "engines" / "build").glob("*.py") if p.stem != "__main__")
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module('engines.build.' + name)\n"
        "bad = sorted(m for m in ('torch', 'tensorrt', 'modelopt') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_builds_with_a_fake(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeTensorRT()
    argv = [str(model), "--precision", "fp16", "--max-batch", "2", "--no-timing-cache"]
    assert main(argv, tensorrt_module=fake, identity=identity) == 0
    out = capsys.readouterr().out
    assert "tiny.fp16.engine (built: there is no engine" in out
    assert main(argv, tensorrt_module=fake, identity=identity) == 0
    assert capsys.readouterr().out.strip().endswith("(up to date)")
    record = read_record(model.with_name("tiny.fp16.engine"))
    assert record is not None and record.key.profiles[0].max == (2, 64, 128, 3)
    assert sidecar_for(model.with_name("tiny.fp16.engine")).is_file()


def test_cli_no_rebuild_refuses(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(model), "--no-rebuild"], tensorrt_module=FakeTensorRT(), identity=identity) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: engine") and "rebuilding is disabled" in err and "\n" not in err


def test_cli_without_tensorrt_exits_2_with_one_line(model: Path) -> None:
    """The real thing on this machine: TensorRT is not installed (tensorrt-stubs at most)."""
    try:
        import tensorrt

        if hasattr(tensorrt, "Builder"):
            pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    done = subprocess.run(
        [sys.executable, "-m", "engines.build", str(model)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: TensorRT is not installed") and "pip install" in lines[0]


@pytest.mark.slow
def test_tensorrt_code_type_checks_against_tensorrt_stubs() -> None:
    """mypy --strict against tensorrt-stubs (repaired copy, see tests/tensorrt_stubs.py): ~20 s cold."""
    pytest.importorskip("mypy")
    from tests import tensorrt_stubs

    if tensorrt_stubs.installed_stubs() is None:
        pytest.skip("tensorrt-stubs is not installed")
    done = tensorrt_stubs.run_mypy()
    assert done.returncode == 0, done.stdout + done.stderr
