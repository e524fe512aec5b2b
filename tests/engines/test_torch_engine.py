"""TorchEngine on the CPU, and the torch pre/postprocessing checked against engines.transforms.

The torch_gpu functions are device-agnostic; here they run on CPU tensors and must agree with the
NumPy/OpenCV path. The same checks on a GPU are in test_gpu.py (marked ``gpu``).
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from engines import transforms  # noqa: E402
from engines.backends import torch_gpu as tg  # noqa: E402
from engines.backends.torch import TorchEngine  # noqa: E402
from engines.errors import EngineError, EngineUnavailableError, ModelError  # noqa: E402
from engines.metadata import InputSpec, ModelMeta, OutputSpec  # noqa: E402
from engines.registry import open_engine  # noqa: E402
from segcore.errors import UserInputError  # noqa: E402
from segcore.labels import CITYSCAPES  # noqa: E402

H, W = 64, 128
U8_SPEC = InputSpec(layout="NHWC", dtype="uint8", color="BGR", height=H, width=W, dynamic_batch=True,
                    normalized_in_graph=True)
FLOAT_SPEC = InputSpec(layout="NCHW", dtype="float32", color="RGB", height=H, width=W, dynamic_batch=True)
CLASSMAP = OutputSpec(name="classmap", kind="classmap", dtype="uint8")
LOGITS = OutputSpec(name="logits", kind="logits", dtype="float32")


def meta_for(spec: InputSpec, output: OutputSpec) -> ModelMeta:
    return ModelMeta("tiny", CITYSCAPES.class_names, CITYSCAPES.palette, input=spec, output=output)


class TinyNet(nn.Module):
    """N×3×H×W normalised RGB → N×19×H×W logits: a 1×1 convolution and a 3×3 one."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 8, 1)
        self.b = nn.Conv2d(8, 19, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, H, W, 3), dtype=np.uint8)


# --- TorchEngine --------------------------------------------------------------------------------


def test_uint8_frames_to_class_map_match_host_preprocessing() -> None:
    net = TinyNet().eval()
    engine = TorchEngine("tiny.pt", meta_for(U8_SPEC, CLASSMAP), model=net)
    assert (engine.backend, engine.device, engine.max_batch) == ("torch", "cpu", 64)
    batch = frames(2)
    out = engine.infer(batch)
    assert out.dtype == np.uint8 and out.shape == (2, H, W)
    host = transforms.to_input(list(batch), FLOAT_SPEC)  # the float path done on the host
    with torch.no_grad():
        expected = net(torch.from_numpy(host)).argmax(1).numpy()
    assert (out == expected).mean() > 0.999


def test_float_input_returns_logits() -> None:
    net = TinyNet().eval()
    engine = TorchEngine("tiny.pt", meta_for(FLOAT_SPEC, LOGITS), model=net)
    x = np.random.default_rng(1).standard_normal((3, 3, H, W)).astype(np.float32)
    out = engine.infer(x)
    assert out.dtype == np.float32 and out.shape == (3, 19, H, W)
    with torch.no_grad():
        np.testing.assert_allclose(out, net(torch.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-5)


def test_wrong_batches_are_refused() -> None:
    engine = TorchEngine("tiny.pt", meta_for(U8_SPEC, CLASSMAP), model=TinyNet(), max_batch=2)
    with pytest.raises(ModelError, match="takes uint8 input"):
        engine.infer(frames(1).astype(np.float32))
    with pytest.raises(ModelError, match="NHWC 3-channel"):
        engine.infer(np.zeros((1, 3, H, W), np.uint8))
    with pytest.raises(ModelError, match="1 to 2"):
        engine.infer(frames(3))


def test_options_that_need_cuda() -> None:
    meta = meta_for(U8_SPEC, CLASSMAP)
    with pytest.raises(UserInputError, match="half precision needs device cuda"):
        TorchEngine("tiny.pt", meta, model=TinyNet(), half=True)
    with pytest.raises(UserInputError, match="cuda_graph needs device cuda"):
        TorchEngine("tiny.pt", meta, model=TinyNet(), cuda_graph=True)
    if not torch.cuda.is_available():
        with pytest.raises(EngineUnavailableError, match="sees no CUDA GPU.*device: cpu"):
            TorchEngine("tiny.pt", meta, model=TinyNet(), device="cuda")


def test_unsupported_sidecar_io_is_refused() -> None:
    rgb_u8 = dataclasses.replace(U8_SPEC, color="RGB")
    with pytest.raises(ModelError, match="BGR order"):
        TorchEngine("tiny.pt", meta_for(rgb_u8, CLASSMAP), model=TinyNet())


def test_thread_ownership_warmup_and_close() -> None:
    engine = TorchEngine("tiny.pt", meta_for(U8_SPEC, CLASSMAP), model=TinyNet())
    engine.warmup(2)
    errors: list[BaseException] = []
    t = threading.Thread(target=lambda: errors.append(pytest.raises(EngineError, engine.infer, frames(1)).value))
    t.start()
    t.join()
    assert "belongs to the thread" in str(errors[0])
    engine.close()
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.infer(frames(1))


def test_infer_tensor_stays_a_tensor() -> None:
    engine = TorchEngine("tiny.pt", meta_for(U8_SPEC, CLASSMAP), model=TinyNet())
    batch = frames(1)
    out = engine.infer_tensor(torch.from_numpy(batch))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.uint8
    assert np.array_equal(out.numpy(), engine.infer(batch))


def _checkpoint(tmp_path: Path, meta: ModelMeta, *, num_classes: int = 19) -> Path:
    from engines.models import create_model

    kwargs = {"num_classes": num_classes, "depth": 2, "base_channels": 4}
    torch.manual_seed(0)
    net = create_model("unet", **kwargs)
    path = tmp_path / "unet_tiny.pt"
    torch.save({"model": net.state_dict(), "architecture": {"name": "unet", "kwargs": kwargs}}, path)
    meta.save(path.with_suffix(".yaml"))
    return path


def test_pt_checkpoint_through_the_registry(tmp_path: Path) -> None:
    pytest.importorskip("engines.checkpoints")
    from engines.models.deploy import DeployModel

    meta = meta_for(U8_SPEC, CLASSMAP)
    path = _checkpoint(tmp_path, meta)
    engine = open_engine(path)
    assert isinstance(engine, TorchEngine)
    batch = frames(2)
    out = engine.infer(batch)
    net = engine._module.net  # the checkpoint's network inside the DeployModel wrapper
    expected = DeployModel(net, uint8_input=True, layout="NHWC", argmax=True).eval()(torch.from_numpy(batch))
    assert out.shape == (2, H, W) and np.array_equal(out, expected.numpy())


def test_bad_checkpoints_are_model_errors(tmp_path: Path) -> None:
    pytest.importorskip("engines.checkpoints")
    meta = meta_for(U8_SPEC, CLASSMAP)
    wrong = _checkpoint(tmp_path, meta, num_classes=5)
    with pytest.raises(ModelError, match="predicts 5 classes but its sidecar lists 19"):
        open_engine(wrong)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    meta.save(garbage.with_suffix(".yaml"))
    with pytest.raises(ModelError, match="cannot load checkpoint"):
        open_engine(garbage)
    unsafe = tmp_path / "unsafe.pt"  # a whole pickled module: weights_only=True refuses it
    torch.save({"model": TinyNet(), "architecture": {"name": "unet", "kwargs": {}}}, unsafe)
    meta.save(unsafe.with_suffix(".yaml"))
    with pytest.raises(ModelError, match="weights_only=True"):
        open_engine(unsafe)


@pytest.mark.slow
def test_torch_compile_option() -> None:
    engine = TorchEngine("tiny.pt", meta_for(U8_SPEC, CLASSMAP), model=TinyNet(), compile=True)
    eager = TorchEngine("tiny.pt", meta_for(U8_SPEC, CLASSMAP), model=TinyNet())
    batch = frames(1)
    assert (engine.infer(batch) == eager.infer(batch)).mean() > 0.999


# --- torch_gpu on CPU tensors vs engines.transforms ---------------------------------------------


def natural(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random picture: like a frame, unlike white noise."""
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return cv2.GaussianBlur(img, (7, 7), 2)


SIZES = [
    ((720, 1280), (512, 1024)),  # shrink, non-integer ratio: exact area
    ((128, 256), (64, 128)),  # shrink by 2
    ((100, 150), (64, 128)),
    ((64, 128), (128, 256)),  # enlarge: bilinear
    ((1280, 720), (512, 1024)),  # portrait into landscape: OpenCV's two-tap area
]


@pytest.mark.parametrize(("src", "dst"), SIZES)
def test_resize_matches_opencv_within_one_level(src: tuple[int, int], dst: tuple[int, int]) -> None:
    img = natural(*src)
    expected = transforms.resize_image(img, dst[1], dst[0])
    got = tg.resize_image(torch.from_numpy(img)[None], *dst)[0].numpy()
    diff = np.abs(expected.astype(int) - got.astype(int))
    assert diff.max() <= 1
    if dst[0] < src[0] and dst[1] < src[1]:
        assert diff.max() == 0  # area averaging is computed exactly


@pytest.mark.parametrize("mode", ["stretch", "letterbox"])
def test_fit_matches_transforms(mode: str) -> None:
    img = natural(90, 200, seed=3)
    expected, geometry = transforms.fit(img, H, W, mode)  # type: ignore[arg-type]
    got, got_geometry = tg.fit(torch.from_numpy(img)[None], H, W, mode)  # type: ignore[arg-type]
    assert got_geometry == geometry
    assert np.abs(got[0].numpy().astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize(
    "spec",
    [
        U8_SPEC,
        dataclasses.replace(U8_SPEC, layout="NCHW"),
        dataclasses.replace(U8_SPEC, color="RGB"),
        FLOAT_SPEC,
        dataclasses.replace(FLOAT_SPEC, dtype="float16"),
        dataclasses.replace(FLOAT_SPEC, layout="NHWC", color="BGR", mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3)),
    ],
    ids=["u8-nhwc-bgr", "u8-nchw", "u8-rgb", "f32-nchw-rgb", "f16", "f32-nhwc-bgr"],
)
def test_to_input_matches_transforms(spec: InputSpec) -> None:
    batch = frames(2, seed=4)
    expected = transforms.to_input(list(batch), spec)
    got = tg.to_input(torch.from_numpy(batch), spec).numpy()
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if spec.dtype == "uint8":
        assert np.array_equal(got, expected)
    else:
        np.testing.assert_allclose(got.astype(np.float32), expected.astype(np.float32), rtol=1e-3, atol=1e-3)


def test_class_maps_and_restore_match_transforms() -> None:
    logits = np.random.default_rng(5).standard_normal((2, 19, H, W)).astype(np.float32)
    maps = tg.to_class_maps(torch.from_numpy(logits), LOGITS)
    assert np.array_equal(maps.numpy(), transforms.to_class_maps(logits, LOGITS))
    _, geometry = transforms.fit(natural(300, 400), H, W, "letterbox")
    restored = tg.restore_class_map(maps, geometry).numpy()
    for i in range(2):
        assert np.array_equal(restored[i], transforms.restore_class_map(maps[i].numpy(), geometry))
    smooth = cv2.GaussianBlur(logits[0].transpose(1, 2, 0), (9, 9), 3).transpose(2, 0, 1)[None]
    up = tg.restore_logits(torch.from_numpy(np.ascontiguousarray(smooth)), geometry)[0].numpy()
    assert (up == transforms.restore_logits(smooth[0], geometry)).mean() > 0.999


def test_colorize_and_overlay_match_the_host_render() -> None:
    class_map = np.random.default_rng(6).integers(0, 21, (1, H, W), dtype=np.uint8)  # 19, 20: no colour
    image = frames(1, seed=7)
    table = tg.palette_table(CITYSCAPES.palette, "cpu")
    colours = tg.colorize(torch.from_numpy(class_map), table)[0].numpy()
    lut = np.zeros((256, 3), np.uint8)
    lut[:19] = np.asarray(CITYSCAPES.palette, np.uint8)[:, ::-1]
    assert np.array_equal(colours, lut[class_map[0]])
    blended = tg.overlay(torch.from_numpy(image), torch.from_numpy(class_map), table, alpha=0.4)[0].numpy()
    expected = cv2.addWeighted(image[0], 0.6, lut[class_map[0]], 0.4, 0.0)
    assert np.abs(blended.astype(int) - expected.astype(int)).max() <= 1


def test_upload_download_round_trip() -> None:
    batch = frames(2)
    up = tg.upload(list(batch), "cpu")
    assert up.shape == (2, H, W, 3) and np.array_equal(tg.download(up), batch)
    assert tg.upload(batch[0], "cpu").shape == (1, H, W, 3)
