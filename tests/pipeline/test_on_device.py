"""The device path (pipeline/stages/on_device.py) run on the CPU device against the host path.

The same torch code runs on CUDA (tests/engines/test_gpu.py, tools/gpu_check.py); here it must
give the host path's pictures (within one grey level) for every render mode, and the same class
maps, fractions and mIoU through a whole pipeline.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.metadata import load_for_model
from engines.models.onnx_weights import network_from_onnx, write_checkpoint
from engines.transforms import fit_geometry, restore_class_map
from engines.weights import default_model_path
from pipeline import Pipeline
from pipeline.config_schema import VISUALIZE_MODES, Config
from pipeline.sinks.callback import CallbackSink
from pipeline.sources import open_source
from pipeline.stages.on_device import DevicePostprocessStage, DeviceRenderStage, device_for
from pipeline.stages.render import RenderStage
from segcore.errors import ConfigError
from segcore.labels import CITYSCAPES
from streetsim import StreetScene, SyntheticSpec

torch = pytest.importorskip("torch")


def config(**sections: dict[str, Any]) -> Config:
    defaults = Config()
    return replace(defaults, **{name: replace(getattr(defaults, name), **values) for name, values in sections.items()})


@pytest.fixture(scope="module")
def street() -> tuple[np.ndarray, np.ndarray]:
    image, labels = StreetScene(SyntheticSpec.from_uri("synthetic://street?seed=5&frames=10&size=640x360")).render(3)
    return image, np.where(labels == 255, 0, labels).astype(np.uint8)


@pytest.fixture(scope="module")
def street_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    onnx_path = default_model_path()
    meta = load_for_model(onnx_path)
    return write_checkpoint(network_from_onnx(onnx_path, meta), meta, tmp_path_factory.mktemp("m") / "street.pt")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("mode", VISUALIZE_MODES)
@pytest.mark.parametrize("alpha", [0.5, 0.3])
def test_every_render_mode_matches_the_host_render(
    street: tuple[np.ndarray, np.ndarray], mode: str, alpha: float, device: str
) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    image, class_map = street
    fractions = np.bincount(class_map.ravel(), minlength=19).astype(np.float32) / class_map.size
    kw: dict[str, Any] = {"visualize": mode, "alpha": alpha, "hud": lambda _source: "41.0 fps  e2e 12 ms"}
    host = RenderStage(CITYSCAPES.class_names, CITYSCAPES.palette, **kw)
    stage = DeviceRenderStage(CITYSCAPES.class_names, CITYSCAPES.palette, device, **kw)
    host.start()
    stage.start()
    expected = host.render(image, class_map, fractions)
    got = stage.render_on_device(torch.from_numpy(image).to(device), torch.from_numpy(class_map).to(device), fractions)
    if mode == "none":
        assert expected is None and got is None
        return
    assert got is not None and expected is not None and got.shape == expected.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert (got != expected).mean() < 0.01  # rounding at most, not a different blend
    assert len(np.unique(class_map)) >= 5 and expected[:40].std() > 0  # a real scene with legend and HUD drawn


def test_postprocess_gives_the_host_class_map_and_fractions(street: tuple[np.ndarray, np.ndarray]) -> None:
    _, full = street
    geometry = fit_geometry(360, 640, 256, 512, "letterbox")
    small = np.random.default_rng(0).integers(0, 19, (256, 512), dtype=np.uint8)
    stage = DevicePostprocessStage(load_for_model(default_model_path()).output, 19)
    got = stage.class_map(torch.from_numpy(small)[None], geometry).numpy()
    assert np.array_equal(got, restore_class_map(small, geometry))


def test_the_path_is_chosen_automatically_only_for_torch_on_cuda(street_pt: Path) -> None:
    onnx_path = default_model_path()
    assert device_for(config(model={"device": "cpu"}), street_pt) is None  # auto: the CPU keeps the host path
    assert device_for(config(model={"device": "cpu"}, render={"device_path": "always"}), street_pt) == "cpu"
    assert device_for(config(render={"device_path": "never"}), street_pt) is None
    assert device_for(config(), onnx_path) is None
    with pytest.raises(ConfigError, match="needs the torch backend"):
        device_for(config(render={"device_path": "always"}), onnx_path)
    with pytest.raises(ConfigError, match="smooth"):
        device_for(config(render={"device_path": "always"}, postprocess={"smoothing": "majority"}), street_pt)


def _run(model: Path, device_path: str, resize: str) -> tuple[list[Any], dict[str, Any]]:
    """Two synthetic streams batched together; the results in order, and the summary."""
    results: list[Any] = []
    cfg = config(model={"device": "cpu"}, render={"device_path": device_path, "hud": False},
                 preprocess={"resize": resize}, runtime={"batch_size": 2})
    uri = "synthetic://street?seed=8&frames=4&size=640x360"
    sources = [open_source(uri, source_id=name, config=cfg.source) for name in ("a", "b")]
    pipe = Pipeline(sources, [CallbackSink(results.append)], model=model, config=cfg)
    summary = pipe.run()
    assert summary["model"]["device_path"] == (device_path == "always")
    return sorted(results, key=lambda r: (r.frame.source_id, r.frame.index)), summary


@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
def test_a_whole_pipeline_on_the_device_path_agrees_with_the_host_path(street_pt: Path, resize: str) -> None:
    device, device_summary = _run(street_pt, "always", resize)
    host, host_summary = _run(street_pt, "never", resize)
    assert len(device) == len(host) == 8
    for ours, theirs in zip(device, host, strict=True):
        agree = ours.class_map == theirs.class_map
        assert agree.mean() >= 0.995  # resize differs from OpenCV by at most one grey level
        assert ours.rendered is not None and theirs.rendered is not None
        diff = np.abs(ours.rendered.astype(int) - theirs.rendered.astype(int)).max(axis=-1)
        assert diff[agree].max() <= 1 or (diff[agree] > 1).mean() < 0.002  # the legend may list one class less
        np.testing.assert_allclose(ours.fractions, theirs.fractions, atol=0.005)
    assert device_summary["miou"] == pytest.approx(host_summary["miou"], abs=0.01) and host_summary["miou"] > 0.3


@pytest.mark.gpu
def test_on_cuda_auto_takes_the_device_path_and_agrees_with_onnxruntime(street_pt: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    cuda = config(model={"device": "cuda"}, render={"hud": False})
    assert device_for(cuda, street_pt) == "cuda"
    results: list[Any] = []
    uri = "synthetic://street?seed=8&frames=4&size=640x360"
    pipe = Pipeline([open_source(uri, source_id="a", config=cuda.source)], [CallbackSink(results.append)],
                    model=street_pt, config=cuda)
    assert pipe.run()["model"]["device_path"]
    host, _ = _run(default_model_path(), "never", "stretch")  # ONNX Runtime on the CPU, the host path
    host_a = [r for r in host if r.frame.source_id == "a"]
    assert len(results) == len(host_a) == 4
    for ours, theirs in zip(results, host_a, strict=True):
        assert (ours.class_map == theirs.class_map).mean() >= 0.995  # fp16 on the GPU included
        assert ours.rendered is not None and ours.rendered.shape == theirs.rendered.shape
