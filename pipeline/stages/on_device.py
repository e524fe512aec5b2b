"""The device path: frames stay on the engine's device from upload to the rendered picture.

When the engine is PyTorch on CUDA, the host path (OpenCV resize, host class maps, OpenCV
colourise and blend) makes the CPU the bottleneck: about 10 ms of CPU per 720p frame against a
few milliseconds of GPU. Here the four stages keep their names and threads but hand device
tensors to each other:

    preprocess   upload the decoded frame once (the only host→device copy), resize and
                 normalise on the device (``engines.backends.torch_gpu``)
    infer        one ``Engine.infer_tensor`` call per batch (frames of several sources batched)
    postprocess  argmax (logits models), crop + nearest back to the frame size, class fractions
                 by a device histogram; the class map stays on the device
    render       colourise by a device lookup table, blend as ``cv2.addWeighted`` rounds it,
                 paste the legend (drawn once per set of classes by the host ``Legend`` and kept
                 on the device), then download the picture; the HUD line is drawn on the host

Coming back per frame: the rendered uint8 picture (none for ``visualize: none``), the uint8 class
map (every ``SegResult`` carries one: masks, callbacks, the streamed mIoU) and K fractions.

``render.device_path``: ``auto`` takes this path when the backend is PyTorch and its device is CUDA;
``always`` takes it on whatever device the torch engine runs (the CPU too, which is how the tests
compare it with the host path); ``never`` never does. Temporal smoothing stays on the host path.
The code is device-agnostic torch, imported only when the path is chosen.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import ModelError
from engines.metadata import InputSpec, OutputSpec
from engines.registry import backend_for, resolve_device
from engines.transforms import Geometry, ResizeMode, resize_mask
from pipeline.config_schema import Config, Visualize
from pipeline.frame import Frame, SegResult
from pipeline.stage import Packet
from pipeline.stages.infer import InferStage
from pipeline.stages.render import LEGEND_MIN_FRACTION, RenderStage, draw_text
from segcore.accuracy import confusion_matrix
from segcore.errors import ConfigError

DEVICE_BACKENDS = ("torch",)  # engines with infer_tensor: device tensor in, device tensor out


def device_for(config: Config, model_path: Path | str) -> str | None:
    """The torch device the device path runs on for ``config``, or None for the host path.

    ``ConfigError`` when ``render.device_path: always`` asks for what cannot be done.
    """
    choice = config.render.device_path
    if choice == "never":
        return None
    try:
        backend = backend_for(model_path, config.model.backend)
    except ModelError:
        backend = "unknown"
    smoothing = config.postprocess.smoothing
    if choice == "always":
        if backend not in DEVICE_BACKENDS:
            raise ConfigError(
                f"render.device_path: always needs the torch backend (a .pt model or model.backend: torch); "
                f"{Path(str(model_path)).name} runs on {backend}; use render.device_path: auto or never"
            )
        if smoothing != "none":
            raise ConfigError(
                f"render.device_path: always does not smooth over time (postprocess.smoothing is {smoothing}); "
                "use postprocess.smoothing: none or render.device_path: never"
            )
        return resolve_device("torch", config.model.device)
    if backend not in DEVICE_BACKENDS or smoothing != "none":
        return None
    device = resolve_device("torch", config.model.device)
    return device if device.startswith("cuda") else None


@dataclass(eq=False)
class DevicePacket(Packet):
    """A Packet whose frame, model input, engine output and class map are device tensors."""

    image_on_device: Any = None  # 1×H×W×3 uint8: the uploaded frame
    class_map_on_device: Any = None  # H×W uint8 at the frame's size


class DevicePreprocessStage:
    name = "preprocess"

    def __init__(self, spec: InputSpec, size: tuple[int, int], resize: ResizeMode, device: str) -> None:
        self.spec, self.size, self.resize, self.device = spec, size, resize, device

    def start(self) -> None:
        pass

    def process(self, frame: Frame) -> DevicePacket:
        from engines.backends import torch_gpu as tg

        image = tg.upload(frame.image, self.device)
        fitted, geometry = tg.fit(image, self.size[0], self.size[1], self.resize)
        tensor: Any = tg.to_input(fitted, self.spec)  # a device tensor where the host path has an ndarray
        return DevicePacket(frame=frame, geometry=geometry, tensor=tensor, image_on_device=image)

    def stop(self) -> None:
        pass


class DeviceInferStage(InferStage):
    """``InferStage`` whose engine takes and returns device tensors (``infer_tensor``)."""

    on_device = True

    def start(self) -> None:
        super().start()
        if not hasattr(self.engine, "infer_tensor"):
            raise ConfigError(f"the {self.engine_backend} engine cannot keep frames on the device; "
                              "use render.device_path: never")

    def process_batch(self, packets: list[Packet]) -> list[Packet]:
        import torch

        if self.engine is None:
            raise RuntimeError("DeviceInferStage.start() was not called")
        tensors = [p.tensor for p in packets]
        if any(t is None for t in tensors):
            raise RuntimeError("infer got a packet that was not preprocessed")
        batch = tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=0)  # type: ignore[arg-type]
        output = self.engine.infer_tensor(batch)  # type: ignore[attr-defined]
        if output.shape[0] != len(packets):
            raise RuntimeError(f"the engine returned {output.shape[0]} results for a batch of {len(packets)}")
        for index, packet in enumerate(packets):
            packet.output = output[index : index + 1]
            packet.tensor = None
        return packets


def device_fractions(class_map: Any, num_classes: int) -> np.ndarray:
    """``engines.transforms.class_fractions`` by a device histogram: K float32 (ids ≥ K not counted)."""
    import torch

    counts = torch.bincount(class_map.reshape(-1).long(), minlength=num_classes)[:num_classes]
    host = counts.cpu().numpy().astype(np.float64)
    total = host.sum()
    return (host / total).astype(np.float32) if total else host.astype(np.float32)


class DevicePostprocessStage:
    name = "postprocess"

    def __init__(self, spec: OutputSpec, num_classes: int, upsample: str = "nearest") -> None:
        self.spec, self.num_classes, self.upsample = spec, num_classes, upsample
        self.label_mismatch: dict[str, str] = {}  # source id → why its labels cannot be scored

    def start(self) -> None:
        pass

    def skip_scoring(self, source_id: str, why: str) -> None:
        """Compute no accuracy for ``source_id`` (its labels are of another label set: ``why``)."""
        self.label_mismatch[source_id] = why

    def class_map(self, output: Any, geometry: Geometry) -> Any:
        from engines.backends import torch_gpu as tg

        if self.spec.kind == "logits" and self.upsample == "bilinear":
            return tg.restore_logits(output, geometry)[0]
        return tg.restore_class_map(tg.to_class_maps(output, self.spec), geometry)[0]

    def process(self, packet: DevicePacket) -> DevicePacket:
        if packet.output is None or packet.geometry is None:
            raise RuntimeError("postprocess got a packet without engine output")
        class_map = self.class_map(packet.output, packet.geometry)
        packet.output = None
        packet.class_map_on_device = class_map
        packet.fractions = device_fractions(class_map, self.num_classes)
        frame = packet.frame
        if frame.labels is not None and frame.source_id not in self.label_mismatch:
            packet.class_map = class_map.cpu().numpy()  # labelled frames are scored on the host
            labels = frame.labels
            if labels.shape != packet.class_map.shape:
                labels = resize_mask(labels, packet.class_map.shape[1], packet.class_map.shape[0])
            try:
                packet.confusion = confusion_matrix(packet.class_map, labels, self.num_classes)
            except ValueError as exc:  # labels from another label set: no accuracy, but no crash
                self.label_mismatch[frame.source_id] = str(exc)
        return packet

    def stop(self) -> None:
        pass


class DeviceRenderStage(RenderStage):
    """``RenderStage``'s pictures, composed on the device; downloads the picture and the class map."""

    def __init__(self, class_names: Sequence[str], palette_rgb: Sequence[Sequence[int]], device: str, *,
                 visualize: Visualize = "overlay", alpha: float = 0.5, legend: bool = True,
                 hud: Callable[[str], str] | None = None, legend_cache: int = 64) -> None:
        super().__init__(class_names, palette_rgb, visualize=visualize, alpha=alpha, legend=legend, hud=hud)
        self.device = device
        self._table: Any = None
        self._patches: OrderedDict[tuple[tuple[int, ...], int], Any] = OrderedDict()
        self._legend_cache = legend_cache

    def start(self) -> None:
        import torch

        super().start()
        self._table = torch.from_numpy(self.colorize.bgr.copy()).to(self.device)

    def compose(self, image: Any, class_map: Any) -> Any:
        """The picture for the mode from the device frame (H×W×3) and class map (H×W): a device tensor."""
        import torch

        colours = self._table[class_map.long()]
        if self.visualize == "mask":
            return colours
        if self.visualize == "side":
            return torch.cat([image, colours], dim=1)
        # cv2.addWeighted: float32 a·(1 − alpha) + b·alpha, rounded half to even, saturated
        blended = image.to(torch.float32) * (1.0 - self.alpha) + colours.to(torch.float32) * self.alpha
        return torch.round(blended).clamp_(0, 255).to(torch.uint8)

    def _legend_patch(self, fractions: np.ndarray, height: int) -> Any:
        assert self.legend is not None
        classes = tuple(int(c) for c in np.flatnonzero(fractions >= LEGEND_MIN_FRACTION)
                        if c < len(self.legend.class_names))
        if not classes:
            return None
        key = (classes, height)
        patch = self._patches.get(key)
        if patch is None:
            import torch

            patch = self._patches[key] = torch.from_numpy(self.legend.patch(classes, height)).to(self.device)
            if len(self._patches) > self._legend_cache:
                self._patches.popitem(last=False)
        self._patches.move_to_end(key)
        return patch

    def render_on_device(self, image: Any, class_map: Any, fractions: np.ndarray, source_id: str = "") -> np.ndarray | None:
        if self.visualize == "none":
            return None
        canvas = self.compose(image, class_map)
        height = int(image.shape[0])
        if self.legend is not None:
            patch = self._legend_patch(fractions, height)
            if patch is not None:
                h, w = min(patch.shape[0], canvas.shape[0]), min(patch.shape[1], canvas.shape[1])
                canvas[:h, canvas.shape[1] - w :] = patch[:h, :w]
        picture: np.ndarray = canvas.cpu().numpy()
        if self.hud is not None:
            text = self.hud(source_id)
            if text:
                draw_text(picture, text, (0, 0), max(0.4, min(1.0, height / 1200)))
        return picture

    def process(self, packet: DevicePacket) -> SegResult:  # type: ignore[override]
        if packet.class_map_on_device is None or packet.fractions is None:
            raise RuntimeError("render got a packet without a class map")
        frame = packet.frame
        rendered = self.render_on_device(packet.image_on_device[0], packet.class_map_on_device,
                                         packet.fractions, frame.source_id)
        class_map = packet.class_map if packet.class_map is not None else packet.class_map_on_device.cpu().numpy()
        packet.image_on_device = packet.class_map_on_device = None
        return SegResult(frame=frame, class_map=class_map, fractions=packet.fractions,
                         timings_ms=packet.timings_ms, rendered=rendered)
