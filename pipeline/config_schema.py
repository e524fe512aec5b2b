"""The configuration schema: one dataclass per YAML section. Defaults here are the built-in defaults.

``pipeline.config`` loads YAML into these (validation, nearest-key hints, ``--set`` overrides);
components receive the section they need, never the whole tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_SOURCE = "synthetic://street?seed=2026&frames=300&size=1280x720&fps=30&camera=dashcam"


@dataclass
class ModelConfig:
    path: str | None = None  # None: the bundled default model (engines/weights/)
    backend: str = "auto"  # auto (by file suffix) | onnxruntime | torch | tensorrt
    device: str = "auto"  # auto (the GPU when the backend can use one here) | cpu | cuda | cuda:N
    threads: int = 0  # intra-op threads for CPU engines; 0 = the backend's default
    num_classes: int | None = None  # expected class count; a model that differs is refused
    options: dict[str, object] = field(default_factory=dict)  # backend-specific extras


@dataclass
class ReconnectConfig:
    enabled: bool = True
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 10.0
    jitter: float = 0.25  # ± fraction of each backoff
    max_attempts: int = 0  # 0 = unlimited
    stall_timeout_s: float = 5.0  # a read with no frame for this long counts as a disconnect
    open_timeout_s: float = 5.0


@dataclass
class SourceConfig:
    uris: list[str] = field(default_factory=lambda: [DEFAULT_SOURCE])
    mode: str = "auto"  # auto (files offline, cameras/network live) | live | offline
    pace: bool = False  # replay files and synthetic streams at their native fps, like a live camera
    loop: bool = False  # restart files at the end
    decoder: str = "auto"  # auto | pyav | opencv (files)
    decode_threads: int = 1  # PyAV decoder threads for files; 0 = FFmpeg's choice (frame threads)
    rtsp_transport: str = "tcp"  # tcp | udp
    reconnect: ReconnectConfig = field(default_factory=ReconnectConfig)


@dataclass
class PreprocessConfig:
    resize: str = "stretch"  # stretch | letterbox
    size: list[int] | None = None  # [height, width]; None = the model's own size


@dataclass
class PostprocessConfig:
    upsample: str = "nearest"  # nearest (class map) | bilinear (logits; needs a logits model)
    smoothing: str = "none"  # none | ema | majority
    ema_alpha: float = 0.5  # weight of the newest frame's probabilities
    majority_window: int = 3  # frames in the majority vote


@dataclass
class RenderConfig:
    visualize: str = "overlay"  # overlay | mask | side | none
    alpha: float = 0.5  # overlay opacity of the class colours
    legend: bool = True
    hud: bool = True


@dataclass
class OutputConfig:
    video: str | None = None  # path; with several sources it may use {source} and {index}
    codec: str = "auto"  # auto (H.264 via PyAV, else mp4v) | h264 | mp4v
    video_preset: str = "ultrafast"  # libx264 speed/size trade-off: ultrafast ... slow
    show: bool = False
    masks: str | None = None  # directory of PNG class maps
    jsonl: str | None = None  # per-frame records
    json: str | None = None  # run summary


@dataclass
class RuntimeConfig:
    queue_size: int = 4  # capacity of the queues between stages
    batch_size: int = 1  # frames per engine call (several sources)
    batch_timeout_ms: float = 5.0  # longest wait to fill a batch
    infer_workers: int = 0  # inference threads, each with its own engine; 0 = auto (2 for ONNX Runtime on a CPU with 2+ cores, else 1)
    max_frames: int = 0  # stop after this many frames per source; 0 = all


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
