"""What a ``Pipeline`` is built from: its model, checked once against the config, and its stages.

``check_model`` resolves the model file (the bundled default when none is named), describes it
(its graph, sidecar and the ``model.*`` settings: ``engines.describe``) and checks the config against it (``pipeline.contracts``). ``Pipeline.from_config`` calls
it before opening any source, so a bad model fails before a camera is touched, and hands the
result to the pipeline it builds: the sidecar is read and the contracts checked once per pipeline.
``parts_from_config`` does that, then makes the config's sources, checks every output path
(``pipeline.sinks.plan``: against the inputs, each other, and the folders' writability) and builds
the outputs (with the zone sink first when the config has zones: ``pipeline.sinks.events``; the
RTSP restream last: ``pipeline.sinks.restream``).
``build_stages`` makes the stages the config asks for: preprocess, one infer stage per inference
worker (each opens its own engine), postprocess and render.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.describe import ModelSettings, describe_model
from engines.errors import ModelError
from engines.metadata import ModelMeta
from engines.registry import check_model_file, model_meta
from engines.triton.address import is_model_uri, parse_uri
from engines.triton.health import ServerHealth
from engines.weights import default_model_path
from engines.zoo import is_named_model
from pipeline.config_schema import Config
from pipeline.contracts import check_contracts, infer_workers
from pipeline.failure import quietly
from pipeline.sinks.base import Sink
from pipeline.sources.base import Source, SourceInfo
from pipeline.stage import Stage
from pipeline.stages.infer import InferStage
from pipeline.stages.postprocess import PostprocessStage
from pipeline.stages.preprocess import PreprocessStage
from pipeline.stages.render import RenderStage
from segcore.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def resolve_model_path(path: str | Path | None) -> Path | str:
    """The model file to run: ``path``, or the bundled default when None. Raises ModelError.
    A ``triton://`` address (a served model) is returned as it is, a ``str``."""
    if is_model_uri(path):
        parse_uri(str(path))  # a malformed address is a ModelError now, before anything starts
        return str(path)
    if path is None or str(path) == "":
        bundled = default_model_path()
        if not bundled.is_file():
            raise ModelError(
                f"the bundled default model {bundled} is missing; pass --model PATH (model.path in a config) "
                "or restore the file from the repository"
            )
        return bundled
    if is_named_model(path):
        raise ModelError(f"{path} is a name the segstream command looks up in its model cache; in Python pass the "
                         "cached file: engines.zoo.cached_model(cache_dir, name)")
    candidate = Path(path).expanduser()
    if not candidate.exists() and not candidate.is_absolute() and (PROJECT_ROOT / candidate).exists():
        candidate = PROJECT_ROOT / candidate  # configs name bundled files relative to the project
    check_model_file(candidate)
    return candidate


@dataclass(frozen=True)
class CheckedModel:
    """A model file, its sidecar, and the input size the config feeds it (checked against the sidecar)."""

    path: Path | str  # a str only for a served model (triton://...)
    meta: ModelMeta
    input_size: tuple[int, int]  # (height, width)


def check_model(config: Config) -> CheckedModel:
    """Resolve ``config.model.path``, read the sidecar, check the config against it.

    Raises ModelError (no such model, unreadable sidecar) or ConfigError (a config the model cannot serve).
    """
    path = resolve_model_path(config.model.path)
    if is_model_uri(path):
        given = [name for name, value in dataclasses.asdict(model_settings(config)).items() if value is not None]
        if given:  # the server's sidecar describes what it serves: a local setting would be ignored
            raise ConfigError(f"model.{given[0]} does not apply to a served model ({path}): the server's sidecar "
                              "describes it; set it in the sidecar of the model repository (segstream triton-repo)")
        meta = model_meta(path, config.model.options)
    else:
        meta = describe_model(path, model_settings(config))
    return CheckedModel(path, meta, check_contracts(config, meta, path))


def model_settings(config: Config) -> ModelSettings:
    """What the config says about the model beside its sidecar (``model.output``, ``model.labels``, ...)."""
    model, inp = config.model, config.model.input
    return ModelSettings(
        output=model.output, labels=model.labels, colors=model.colors,
        mean=tuple(inp.mean) if inp.mean is not None else None, std=tuple(inp.std) if inp.std is not None else None,
        scale=inp.scale, color=inp.color, normalized_in_graph=inp.normalized_in_graph,
    )


@dataclass(frozen=True)
class ConfigParts:
    """What a config names: the checked model, a source per ``source.uris`` (not yet opened), the outputs."""

    model: CheckedModel
    sources: list[Source]
    outputs: list[Sink]

    def close_sources(self) -> None:
        close_sources(self.sources)


def parts_from_config(
    config: Config, *, on_status: Callable[[Any], None] | None, on_quit: Callable[[], None]
) -> ConfigParts:
    """Check the model, then make the source for every URI, then check and build the outputs.

    Each step raises its user error (ModelError, ConfigError, SourceError, OutputError); the
    sources made before a later step failed are closed. ``on_status`` receives every state change
    of a live source; ``on_quit`` is called when a display window asks to quit.
    """
    from pipeline.sinks import build_sinks
    from pipeline.sinks.events import build_event_sink
    from pipeline.sinks.plan import check_outputs
    from pipeline.sources import open_source, source_ids_for

    model = check_model(config)  # model errors before touching sources
    uris = list(config.source.uris)
    source_ids = source_ids_for(uris)
    sources: list[Source] = []
    try:
        for uri, source_id in zip(uris, source_ids, strict=True):
            sources.append(open_source(uri, source_id=source_id, config=config.source, on_status=on_status))
        check_outputs(config.output, inputs=uris, source_ids=source_ids)  # before any frame is read
        zones = build_event_sink(config.zones, config.events, source_ids=source_ids, class_names=model.meta.class_names)
        outputs = build_sinks(
            config.output,
            inputs=uris,
            class_names=model.meta.class_names,
            multi_source=len(uris) > 1,
            on_quit=on_quit,
            events=zones.hub if zones is not None else None,
        )
        if zones is not None:  # first: a JSONL sink closing after it waits for its last event
            outputs = [zones, *outputs]
        restream = config.restream
        if restream.url:
            from pipeline.sinks.restream import RestreamSink

            outputs.append(RestreamSink(restream.url, bitrate_kbps=restream.bitrate_kbps,
                                        keyframe_interval=restream.keyframe_interval, multi_source=len(uris) > 1,
                                        visualize=config.render.visualize))
    except BaseException:
        close_sources(sources)
        raise
    return ConfigParts(model, sources, list(outputs))


def close_sources(sources: Sequence[Source]) -> None:
    for source in sources:
        quietly(source.close)


@dataclass(frozen=True)
class Stages:
    chain: list[Stage]  # preprocess, infer, postprocess, render: the order frames take
    infer: InferStage  # the chain's infer stage; its engine tells what ran (backend, device, batch)
    extra_infers: list[InferStage]  # further workers of the infer stage, each with its own engine

    @property
    def render(self) -> RenderStage:
        stage = self.chain[-1]
        if not isinstance(stage, RenderStage):
            raise TypeError(f"the last stage is {type(stage).__name__}, not RenderStage")
        return stage

    def skip_scoring(self, source_id: str, why: str) -> None:
        """Tell the stages that score results against labels to compute no accuracy for ``source_id``."""
        for stage in self.chain:
            skip = getattr(stage, "skip_scoring", None)  # the postprocess stages (host or device)
            if skip is not None:
                skip(source_id, why)

    def forget(self, source_id: str) -> None:
        """``source_id`` left the run: the stages drop what they keep for it."""
        for stage in self.chain:
            forget = getattr(stage, "forget", None)
            if forget is not None:
                forget(source_id)

    def interrupt_waits(self) -> None:
        """End the infer workers' waits for a model server that does not answer (a stop that drops)."""
        for infer in (self.infer, *self.extra_infers):
            infer.interrupt()


def labels_differ(info: SourceInfo, class_names: Sequence[str]) -> str | None:
    """Why a source whose labels name other classes than the model's cannot be scored (its ids
    mean other things: a VOC model on the Cityscapes street gave a streamed mIoU of 0.0001); None
    when it can."""
    names, model_names = info.label_names, tuple(class_names)
    if names is None or tuple(names) == model_names:
        return None
    return (f"its labels are {len(names)} classes ({', '.join(names[:3])}, ...), the model's "
            f"{len(model_names)} ({', '.join(model_names[:3])}, ...): no accuracy is computed for it")


def build_stages(config: Config, model: CheckedModel, hud: Callable[[str], str] | None) -> Stages:
    """The stages for ``config`` on ``model``; ``hud`` gives the text drawn on each frame (None: no HUD)."""
    workers = infer_workers(config, model.path)
    threads = config.model.threads or None
    if workers > 1 and threads is None:  # share the cores between the workers' sessions
        threads = max(1, (os.cpu_count() or 1) // workers)
    options = dict(config.model.options)
    if is_model_uri(model.path):  # the workers count their server's outages together
        options["health"] = ServerHealth()
    infers = [
        InferStage(
            model.path,
            backend=config.model.backend,
            device=config.model.device,
            threads=threads,
            options=options,
            batch_size=config.runtime.batch_size,
            meta=model.meta,
        )
        for _ in range(workers)
    ]
    meta, post, render = model.meta, config.postprocess, config.render
    from pipeline.stages.on_device import device_for

    device = device_for(config, model.path)
    if device is not None:  # frames stay on the engine's device (pipeline/stages/on_device.py)
        return _device_stages(config, model, hud, device, workers, threads)
    chain: list[Stage] = [
        PreprocessStage(meta.input, model.input_size, config.preprocess.resize),  # type: ignore[arg-type]
        infers[0],
        PostprocessStage(meta.output, meta.num_classes, upsample=post.upsample, smoothing=post.smoothing,
                         ema_alpha=post.ema_alpha, majority_window=post.majority_window),
        RenderStage(meta.class_names, meta.palette, visualize=render.visualize, alpha=render.alpha,
                    legend=render.legend, hud=hud if render.hud else None),
    ]
    return Stages(chain, infers[0], infers[1:])


def _device_stages(config: Config, model: CheckedModel, hud: Callable[[str], str] | None, device: str,
                   workers: int, threads: int | None) -> Stages:
    from pipeline.stages import on_device as od

    meta, render = model.meta, config.render
    infers: list[InferStage] = [
        od.DeviceInferStage(model.path, backend=config.model.backend, device=device, threads=threads,
                            options=dict(config.model.options), batch_size=config.runtime.batch_size)
        for _ in range(workers)
    ]
    chain: list[Stage] = [
        od.DevicePreprocessStage(meta.input, model.input_size, config.preprocess.resize, device),  # type: ignore[arg-type]
        infers[0],
        od.DevicePostprocessStage(meta.output, meta.num_classes, config.postprocess.upsample),
        od.DeviceRenderStage(meta.class_names, meta.palette, device, visualize=render.visualize, alpha=render.alpha,
                             legend=render.legend, hud=hud if render.hud else None),
    ]
    return Stages(chain, infers[0], infers[1:])
