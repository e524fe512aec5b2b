"""The configuration schema: one frozen dataclass per YAML section. Defaults here are the built-in defaults.

This is the one owner of every choice and range: a choice is a ``Literal`` type (its values
exported below for the components and the CLI), a range is field metadata (``limits``). Every
number has a range that no legitimate use exceeds (configs/default.yaml writes each one down), so
that a typo such as ``runtime.infer_workers=1000`` is refused before anything starts instead of
loading engines until memory runs out. The lists that are engines concepts come from their
owners: resize modes from ``engines.transforms``, backend names from ``engines.registry``.
``pipeline.config`` loads YAML into these (``segcore.typed_yaml`` checks the types, choices and
ranges); components receive the section they need, never the whole tree. The objects are frozen:
make a changed copy with ``dataclasses.replace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from engines.registry import BACKENDS
from engines.transforms import ResizeMode
from segcore.typed_values import choices, limits

MIN_SIDE, MAX_SIDE = 16, 8192  # a frame or model input side, in pixels (streetsim's range too)
MAX_WAIT_S = 3600.0  # the longest wait any setting may ask for

DEFAULT_SOURCE = "synthetic://street?seed=2026&frames=300&size=1280x720&fps=30&camera=dashcam"

SourceMode = Literal["auto", "live", "offline"]
Decoder = Literal["auto", "pyav", "opencv"]
RtspTransport = Literal["tcp", "udp"]
Upsample = Literal["nearest", "bilinear"]
Smoothing = Literal["none", "ema", "majority"]
Visualize = Literal["overlay", "mask", "side", "none"]
DevicePath = Literal["auto", "always", "never"]
Codec = Literal["auto", "h264", "mp4v"]
VideoPreset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"]  # libx264's
ZoneUnits = Literal["normalized", "pixels"]

BACKEND_CHOICES: tuple[str, ...] = ("auto", *BACKENDS)
DECODERS: tuple[str, ...] = get_args(Decoder)
RTSP_TRANSPORTS: tuple[str, ...] = get_args(RtspTransport)
UPSAMPLE_MODES: tuple[str, ...] = get_args(Upsample)
SMOOTHING_MODES: tuple[str, ...] = get_args(Smoothing)
VISUALIZE_MODES: tuple[str, ...] = get_args(Visualize)
CODECS: tuple[str, ...] = get_args(Codec)
VIDEO_PRESETS: tuple[str, ...] = get_args(VideoPreset)
ZONE_UNITS: tuple[str, ...] = get_args(ZoneUnits)


@dataclass(frozen=True)
class ModelInputConfig:
    """What the model's input expects beyond what its graph says (over its sidecar's ``input``)."""

    # per channel R, G, B, in the units of scale (null: the sidecar's, else ImageNet's in 0..1 units)
    mean: list[float] | None = field(default=None, metadata=limits(low=-255.0, high=255.0))
    std: list[float] | None = field(default=None, metadata=limits(above=0.0, high=255.0))
    scale: Literal[1, 255] | None = None  # units of mean/std (and of a float graph's raw pixels): 1 = 0..1, 255 = 0..255
    color: Literal["RGB", "BGR"] | None = None  # channel order the model takes
    normalized_in_graph: bool | None = None  # the graph normalises itself (a float one takes pixels in scale units)


@dataclass(frozen=True)
class ModelConfig:
    path: str | None = None  # None: the bundled default model (engines/weights/)
    # auto (by file suffix) | a name in engines.registry.BACKENDS
    backend: str = field(default="auto", metadata=choices(BACKEND_CHOICES))
    device: str = "auto"  # auto (the GPU when the backend can use one here) | cpu | cuda | cuda:N (engines.devices)
    # intra-op threads for CPU engines; 0 = the backend's default; more than the cores only oversubscribe them
    threads: int = field(default=0, metadata=limits(low=0, per_core=4))
    # expected class count; a model that differs is refused
    num_classes: int | None = field(default=None, metadata=limits(low=1, high=255))
    # backend-specific extras, checked against the backend's entry in engines.registry.BACKENDS
    options: dict[str, object] = field(default_factory=dict)
    output: str | None = None  # the graph output to read when it has several (null: by name, e.g. out, logits)
    labels: str | None = None  # text file of class names, one per line (over the sidecar's class_names)
    colors: str | None = None  # text file of class colours, one "R G B" per line (over the sidecar's palette)
    input: ModelInputConfig = field(default_factory=ModelInputConfig)


@dataclass(frozen=True)
class ReconnectConfig:
    enabled: bool = True
    # waits between attempts: up to an hour (a longer silence looks like a hang, not a retry)
    initial_backoff_s: float = field(default=0.5, metadata=limits(low=0.0, high=MAX_WAIT_S))
    max_backoff_s: float = field(default=10.0, metadata=limits(low=0.0, high=MAX_WAIT_S))
    jitter: float = field(default=0.25, metadata=limits(low=0.0, high=1.0))  # ± fraction of each backoff
    max_attempts: int = field(default=0, metadata=limits(low=0, high=1_000_000))  # 0 = unlimited
    # a read with no frame for this long counts as a disconnect (an hour: slow time-lapse cameras)
    stall_timeout_s: float = field(default=5.0, metadata=limits(above=0.0, high=MAX_WAIT_S))
    # connecting: 10 minutes is far beyond any reachable camera; an unreachable one should fail
    open_timeout_s: float = field(default=5.0, metadata=limits(above=0.0, high=600.0))


@dataclass(frozen=True)
class SourceConfig:
    uris: list[str] = field(default_factory=lambda: [DEFAULT_SOURCE])
    mode: SourceMode = "auto"  # auto (files offline, cameras/network live) | live | offline
    pace: bool = False  # replay files and synthetic streams at their native fps, like a live camera
    loop: bool = False  # restart files at the end
    decoder: Decoder = "auto"  # files
    # PyAV decoder threads for files; 0 = FFmpeg's choice (frame threads)
    decode_threads: int = field(default=1, metadata=limits(low=0, high=64))
    rtsp_transport: RtspTransport = "tcp"
    # folder for the drawn frames of finite synthetic streams (streetsim.frame_cache); null = draw every time
    synthetic_cache: str | None = "out/cache/synthetic"
    reconnect: ReconnectConfig = field(default_factory=ReconnectConfig)


@dataclass(frozen=True)
class PreprocessConfig:
    resize: ResizeMode = "stretch"
    # [height, width]; None = the model's own size; each side within what a frame can have (16..8192)
    size: list[int] | None = field(default=None, metadata=limits(low=MIN_SIDE, high=MAX_SIDE))


@dataclass(frozen=True)
class PostprocessConfig:
    upsample: Upsample = "nearest"  # nearest (class map) | bilinear (logits; needs a logits model)
    smoothing: Smoothing = "none"
    ema_alpha: float = field(default=0.5, metadata=limits(above=0.0, high=1.0))  # weight of the newest frame
    majority_window: int = field(default=3, metadata=limits(low=1, high=64))  # frames in the majority vote


@dataclass(frozen=True)
class RenderConfig:
    visualize: Visualize = "overlay"
    alpha: float = field(default=0.5, metadata=limits(low=0.0, high=1.0))  # overlay opacity of the class colours
    legend: bool = True
    hud: bool = True
    # auto: frames stay on the GPU from upload to picture when the engine is PyTorch on CUDA
    # (pipeline/stages/on_device.py) | always: that path on the torch engine's device, CPU too | never: host path
    device_path: DevicePath = "auto"


@dataclass(frozen=True)
class OutputConfig:
    video: str | None = None  # path; with several sources it may use {source} and {index}
    codec: Codec = "auto"  # auto: H.264 via PyAV, else mp4v
    video_preset: VideoPreset = "ultrafast"  # libx264 speed/size trade-off
    show: bool = False
    masks: str | None = None  # directory of PNG class maps
    jsonl: str | None = None  # per-frame records
    json: str | None = None  # run summary


@dataclass(frozen=True)
class RuntimeConfig:
    # capacity of the queues between stages; each slot holds a decoded frame (6 MB at 1080p): 256 is 8 s at 30 fps
    queue_size: int = field(default=4, metadata=limits(low=1, high=256))
    # frames per engine call (several sources): 256 cameras in one call is beyond any GPU's sweet spot
    batch_size: int = field(default=1, metadata=limits(low=1, high=256))
    # longest wait to fill a batch; a second is already far beyond real time
    batch_timeout_ms: float = field(default=5.0, metadata=limits(low=0.0, high=1000.0))
    # inference threads, each with its own engine; 0 = auto (2 for ONNX Runtime on a CPU with 2+ cores, else 1);
    # at most 4 per CPU core: every worker holds a whole engine in memory, and more only wait for the cores
    infer_workers: int = field(default=0, metadata=limits(low=0, per_core=4))
    # stop after this many frames per source; 0 = all (10^12 frames: 500 years at 60 fps)
    max_frames: int = field(default=0, metadata=limits(low=0, high=10**12))


@dataclass(frozen=True)
class ServeConfig:
    """The HTTP server (``--serve HOST:PORT``, package ``serve``): off while ``port`` is null."""

    host: str = "127.0.0.1"  # the address to listen on; 0.0.0.0 opens it to the network
    port: int | None = field(default=None, metadata=limits(low=0, high=65535))  # null: no server; 0: a free port
    token: str | None = None  # when set, every request but /healthz needs "Authorization: Bearer TOKEN" (or ?token=)
    # the largest image body POST /v1/segment accepts (64 MiB holds an uncompressed 4K frame twice)
    max_upload_bytes: int = field(default=16 * 1024 * 1024, metadata=limits(low=1024, high=64 * 1024 * 1024))
    jpeg_quality: int = field(default=80, metadata=limits(low=10, high=100))  # of the MJPEG streams and snapshots
    # JPEGs encoded per second and stream at most (one encode per new frame, shared by every viewer)
    stream_fps: float = field(default=15.0, metadata=limits(above=0.0, high=120.0))
    # a source without a new frame for this long shows a placeholder (its state, the time since its last frame)
    placeholder_after_s: float = field(default=1.0, metadata=limits(above=0.0, high=60.0))
    max_viewers: int = field(default=100, metadata=limits(low=1, high=10_000))  # MJPEG connections at once, all streams
    # POST /v1/segment: requests run one at a time per worker (each its own engine); more waiting get 503
    segment_workers: int = field(default=1, metadata=limits(low=1, high=16))
    segment_queue: int = field(default=16, metadata=limits(low=1, high=1024))


@dataclass(frozen=True)
class ZoneConfig:
    """One zone of one source (``zones: {source id: [zone, ...]}``); checked by ``pipeline.events.zones``."""

    name: str = ""  # required: the zone's name in events and MQTT topics
    # required: [[x, y], ...], at least 3 points; in units of the frame (normalized: 0..1) or pixels
    polygon: list[list[float]] = field(default_factory=list)
    units: ZoneUnits = "normalized"
    classes: list[str] = field(default_factory=list)  # required: class names of the model
    enter: float = field(default=0.5, metadata=limits(above=0.0, high=1.0))  # covered fraction that starts an event
    exit: float = field(default=0.3, metadata=limits(above=0.0, high=1.0))  # fraction below which it ends; <= enter
    # the fraction must stay >= enter this long before ``start`` (and < exit this long before ``end``)
    min_duration_s: float = field(default=0.0, metadata=limits(low=0.0, high=MAX_WAIT_S))
    # while an event lasts: an ``update`` at most this often; 0 = on every frame
    update_interval_s: float = field(default=1.0, metadata=limits(low=0.0, high=MAX_WAIT_S))


@dataclass(frozen=True)
class EventsConfig:
    mqtt: str | None = None  # mqtt://host[:port][/prefix]; topics PREFIX/SOURCE/ZONE/CLASS (prefix: segstream)
    webhook: str | None = None  # http(s):// URL each event is POSTed to as JSON
    # events waiting per publisher; when full the newest is dropped and counted (the pipeline never waits)
    queue_size: int = field(default=1000, metadata=limits(low=1, high=1_000_000))
    timeout_s: float = field(default=5.0, metadata=limits(above=0.0, high=600.0))  # connect / request timeout
    retries: int = field(default=3, metadata=limits(low=0, high=100))  # webhook: tries after the first failed one


@dataclass(frozen=True)
class RestreamConfig:
    url: str | None = None  # rtsp://HOST:PORT/PATH to serve the annotated stream on (several sources: PATH/SOURCE)
    bitrate_kbps: int = field(default=4000, metadata=limits(low=100, high=100_000))  # x264's target per stream
    # frames between keyframes: a new viewer waits at most this long for a picture
    keyframe_interval: int = field(default=30, metadata=limits(low=1, high=1000))


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    zones: dict[str, list[ZoneConfig]] = field(default_factory=dict)  # source id → its zones
    events: EventsConfig = field(default_factory=EventsConfig)
    restream: RestreamConfig = field(default_factory=RestreamConfig)
