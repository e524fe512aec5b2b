"""The threaded pipeline: sources → preprocess → infer → postprocess → render → sinks.

``Pipeline`` owns every thread: one per source, one per stage, one per sink. Bounded queues join
them. Each source has its own capture queue; a fair round-robin reader feeds preprocess, so a
dead, slow or finished source never stalls the others. The infer stage batches frames across
sources up to ``runtime.batch_size`` with a bounded wait. ``runtime.infer_workers`` runs several
infer threads, each with its own engine (auto: two one-thread ONNX Runtime sessions on a
multi-core CPU, which beat one session on every core: ``docs/benchmarks.md``); they take frames
in turn and a reorder step hands the results on in the order taken, so files stay in order.

Live sources (``info.is_live``, ``source.mode: live``, or ``source.pace: true``) get a capture
queue of one frame that drops the oldest: the newest frame wins and latency stays bounded. The
queues after it block, with small capacity, and preprocess takes a frame only while fewer than
max(3, engines × batch + 1) frames are on their way to the sinks, so no stage sits on a stale frame
while the engine is busy: a saturated pipeline keeps its frames waiting in the capture queue,
where they are replaced by newer ones (at 60 fps on 2 cores this halved the e2e p99). Offline
sources block everywhere: every frame, in order, nothing dropped.

Lifecycle: ``start()`` opens the sources, starts the stages and waits until the engine is loaded
(a model that cannot be loaded fails here, before any frame is read), opens the sinks and starts
reading. ``stop()`` asks it to end (draining what is queued offline, dropping it live) and returns
at once, also while a source read blocks; ``join()`` waits. If any source, stage or sink fails,
the whole pipeline stops, sinks are closed (files stay playable) and ``join()`` raises a
``PipelineError`` naming the component. The library installs no signal handlers and prints
nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engines.errors import ModelError
from engines.metadata import load_for_model
from engines.registry import check_model_file
from engines.weights import default_model_path
from pipeline.config_schema import Config
from pipeline.contracts import check_contracts, infer_workers
from pipeline.errors import PipelineError
from pipeline.frame import Frame, SegResult
from pipeline.metrics import Metrics
from pipeline.queues import BoundedQueue, DropPolicy, QueueClosed, RoundRobin
from pipeline.redact import redact_text, redact_uri
from pipeline.sinks.base import Sink
from pipeline.sinks.null import NullSink
from pipeline.sources.base import Source, SourceInfo
from pipeline.stage import Packet, Stage
from pipeline.stages.infer import InferStage
from pipeline.stages.postprocess import PostprocessStage
from pipeline.stages.preprocess import PreprocessStage
from pipeline.stages.render import RenderStage
from pipeline.workers import (
    Credits,
    Delivery,
    SinkSlot,
    SourceSlot,
    StageSlot,
    WorkerGroup,
    name_sinks,
    take_batch,
)
from segcore.errors import SegstreamError

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCE_CLOSE_GRACE_S = 0.5  # on stop, a source thread gets this long to leave read() by itself
HUD_REFRESH_S = 0.5


# --------------------------------------------------------------------------- the model file
# (checks against the model and the infer worker count: pipeline.contracts)


def resolve_model_path(path: str | Path | None) -> Path:
    """The model file to run: ``path``, or the bundled default when None. Raises ModelError."""
    if path is None or str(path) == "":
        bundled = default_model_path()
        if not bundled.is_file():
            raise ModelError(
                f"the bundled default model {bundled} is missing; pass --model PATH (model.path in a config) "
                "or restore the file from the repository"
            )
        return bundled
    candidate = Path(path).expanduser()
    if not candidate.exists() and not candidate.is_absolute() and (PROJECT_ROOT / candidate).exists():
        candidate = PROJECT_ROOT / candidate  # configs name bundled files relative to the project
    check_model_file(candidate)
    return candidate


# --------------------------------------------------------------------------- the pipeline


class Pipeline:
    """Frames from ``sources`` → segmentation → ``sinks``, each part on its own thread.

    ``model`` (a path) overrides ``config.model.path``; ``config`` supplies every other setting
    (defaults: ``Config()``). Without sinks, results are discarded (the metrics still count).

    >>> source, latest = PushSource("cam"), LatestSink()              # doctest: +SKIP
    >>> with Pipeline([source], [latest], model="m.onnx") as pipe:   # doctest: +SKIP
    ...     source.push(bgr, pts=host_timestamp)
    ...     result = latest.wait(1.0)
    """

    def __init__(
        self,
        sources: Source | Sequence[Source],
        sinks: Sink | Sequence[Sink] = (),
        *,
        model: str | Path | None = None,
        config: Config | None = None,
    ) -> None:
        self.config = copy.deepcopy(config) if config is not None else Config()
        if model is not None:
            self.config = dataclasses.replace(self.config, model=dataclasses.replace(self.config.model, path=str(model)))
        self._sources: list[Source] = list(sources) if isinstance(sources, (list, tuple)) else [sources]  # type: ignore[list-item]
        if not self._sources:
            raise ValueError("a Pipeline needs at least one source")
        ids = [s.source_id for s in self._sources]
        if len(set(ids)) != len(ids):
            raise ValueError(f"source ids must be unique, got {ids}")
        sink_list: list[Sink] = list(sinks) if isinstance(sinks, (list, tuple)) else [sinks]  # type: ignore[list-item]
        self._sink_slots = name_sinks(sink_list or [NullSink()])

        self.model_path = resolve_model_path(self.config.model.path)
        self.meta = load_for_model(self.model_path)
        self.input_size = check_contracts(self.config, self.meta, self.model_path)
        self.metrics = Metrics(self.meta.class_names)

        cfg = self.config
        workers = infer_workers(cfg, self.model_path)
        threads = cfg.model.threads or None
        if workers > 1 and threads is None:  # share the cores between the workers' sessions
            threads = max(1, (os.cpu_count() or 1) // workers)
        infers = [
            InferStage(
                self.model_path,
                backend=cfg.model.backend,
                device=cfg.model.device,
                threads=threads,
                options=dict(cfg.model.options),
                batch_size=cfg.runtime.batch_size,
            )
            for _ in range(workers)
        ]
        self._infer = infers[0]
        self._extra_infers: list[Stage] = list(infers[1:])  # more workers of the infer stage
        self._stages: list[Stage] = [
            PreprocessStage(self.meta.input, self.input_size, cfg.preprocess.resize),  # type: ignore[arg-type]
            self._infer,
            PostprocessStage(
                self.meta.output,
                self.meta.num_classes,
                upsample=cfg.postprocess.upsample,
                smoothing=cfg.postprocess.smoothing,
                ema_alpha=cfg.postprocess.ema_alpha,
                majority_window=cfg.postprocess.majority_window,
            ),
            RenderStage(
                self.meta.class_names,
                self.meta.palette,
                visualize=cfg.render.visualize,
                alpha=cfg.render.alpha,
                legend=cfg.render.legend,
                hud=self._hud_text if cfg.render.hud else None,
            ),
        ]
        self._lock = threading.Lock()
        self._state = "new"
        self._stopping = threading.Event()
        self._error: tuple[str, BaseException, bool] | None = None
        self._source_slots: list[SourceSlot] = []
        self._stage_slots: list[StageSlot] = []
        self._queues: list[BoundedQueue[Any]] = []
        self._finished = False
        self._hud_cache: tuple[float, str] = (0.0, "")
        self._closers: list[threading.Thread] = []
        self._credits: Credits | None = None

    # ------------------------------------------------------------------ construction from config

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        sinks: Sequence[Sink] = (),
        on_status: Callable[[Any], None] | None = None,
    ) -> Pipeline:
        """Sources from ``config.source.uris``, sinks from ``config.output`` (plus ``sinks``).

        The model and the config are checked first, then every source URI, then the outputs;
        each raises its user error (ModelError, ConfigError, SourceError, OutputError).
        ``on_status`` receives every state change of a live source (a
        ``pipeline.sources.reconnect.SourceStatus``: connected, stalled, reconnecting, failed),
        on the source's own thread: keep it short and never block in it.
        """
        from pipeline.sinks import build_sinks
        from pipeline.sources import open_source, source_ids_for

        model_path = resolve_model_path(config.model.path)  # model errors before touching sources
        meta = load_for_model(model_path)
        check_contracts(config, meta, model_path)
        uris = list(config.source.uris)
        built: list[Source] = []
        made: list[Pipeline] = []

        def quit_requested() -> None:  # a display window's q / Esc
            if made:
                made[0].stop()

        try:
            for uri, source_id in zip(uris, source_ids_for(uris), strict=True):
                built.append(open_source(uri, source_id=source_id, config=config.source, on_status=on_status))
            outputs = build_sinks(
                config.output,
                inputs=uris,
                class_names=meta.class_names,
                multi_source=len(uris) > 1,
                on_quit=quit_requested,
            )
            made.append(cls(built, [*outputs, *sinks], config=config))
            return made[0]
        except BaseException:
            for source in built:
                _quietly(source.close)
            raise

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Open sources, load the engine, open sinks, then start reading. Raises on any failure."""
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"this Pipeline was already started (state: {self._state})")
            self._state = "starting"
        try:
            self._open_sources()
            self._start_stages()
            self._open_sinks()
        except BaseException:
            self._abort()
            self._join_threads(timeout=10.0)
            self._close_all_sources()
            with self._lock:
                self._state = "failed"
                self._finished = True
            self.metrics.finish()
            raise
        self.metrics.start()
        for slot in self._sink_slots:
            slot.thread = _thread(f"sink:{slot.name}", self._sink_loop, slot)
        for source_slot in self._source_slots:
            source_slot.state = "reading"
            source_slot.thread = _thread(f"source:{source_slot.source.source_id}", self._source_loop, source_slot)
        with self._lock:
            if self._state == "starting":
                self._state = "running"

    def stop(self, drain: bool | None = None) -> None:
        """Ask the pipeline to end; returns at once (``join()`` waits).

        Sources stop reading. ``drain`` (default: True offline, False when any source is live)
        finishes the frames already queued; otherwise they are dropped (and counted).
        """
        with self._lock:
            if self._state in ("new", "stopped", "finished", "failed") or self._finished:
                if self._state == "new":
                    self._state = "stopped"
                    self._finished = True
                return
            if self._state in ("starting", "running"):
                self._state = "stopping"
        if drain is None:
            drain = not self.live
        self._stopping.set()
        for slot in self._source_slots:
            slot.queue.close()
            if not drain:
                slot.queue.clear()
        if not drain:
            if self._credits is not None:
                self._credits.close()
            for queue in self._queues:
                queue.clear()
        self._close_stuck_sources_later()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the pipeline to end; True if it has. Raises PipelineError if a part failed."""
        if self._state == "new":
            raise RuntimeError("join() before start()")
        if not self._join_threads(timeout):
            return False
        self._finish()
        self._raise_error()
        return True

    def run(self) -> dict[str, Any]:
        """Start, wait for the end of every source, and return the summary."""
        self.start()
        try:
            self.join()
        except BaseException:
            self.stop(drain=False)
            self._join_threads(timeout=10.0)
            raise
        return self.stats()

    def __enter__(self) -> Pipeline:
        self.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.stop(drain=False)
            self._join_threads(timeout=10.0)
            self._finish()
            return
        self.stop()
        self.join()

    # ------------------------------------------------------------------ state

    @property
    def live(self) -> bool:
        """True when any source is handled as live (newest frame wins)."""
        return any(slot.live for slot in self._source_slots)

    @property
    def state(self) -> str:
        return self._state

    @property
    def running(self) -> bool:
        return self._state in ("starting", "running", "stopping") and not self._finished

    @property
    def sources(self) -> dict[str, SourceInfo]:
        """What every opened source reported (URIs redacted)."""
        return {slot.source.source_id: slot.info for slot in self._source_slots}

    @property
    def batch_size(self) -> int:
        """Frames per engine call actually used (``runtime.batch_size`` capped by the engine)."""
        return self._infer.max_batch

    def expected_frames(self) -> int | None:
        """Frames this run will deliver if nothing is dropped; None when unknown (live, endless)."""
        total = 0
        limit = self.config.runtime.max_frames
        for slot in self._source_slots:
            count = slot.info.frame_count
            if slot.info.is_live or count is None:
                if not limit:
                    return None
                count = limit
            total += min(count, limit) if limit else count
        return total

    def stats(self) -> dict[str, Any]:
        """A live, JSON-ready snapshot (also the final summary once the run ended)."""
        snap = self.metrics.snapshot()
        queues = {q.name: q.stats() for q in self._queues}
        per_source = snap.pop("sources")
        sources: dict[str, Any] = {}
        for slot in self._source_slots:
            source_id = slot.source.source_id
            try:
                own = dict(slot.source.stats())
            except Exception as exc:  # a broken stats() must not break observation
                own = {"stats_error": redact_text(str(exc))}
            section: dict[str, Any] = {
                "uri": redact_uri(slot.info.uri),
                "live": slot.live,
                "state": own.pop("state", slot.state),
                "frames_read": slot.frames_read,
                "dropped": queues[slot.queue.name]["dropped"],
            }
            section.update(per_source.get(source_id, {"frames": 0}))
            own.pop("frames", None)
            section.update(own)
            sources[source_id] = section
        summary: dict[str, Any] = {
            "state": self._state,
            "frames": snap.pop("frames"),
            "fps": snap.pop("fps"),
            "dropped": sum(int(q["dropped"]) for q in queues.values()),
        }
        summary.update(snap)
        summary["queues"] = queues
        summary["sources"] = sources
        summary["model"] = {
            "path": str(self.model_path),
            "name": self.meta.name,
            "backend": self._infer.engine_backend or self.config.model.backend,
            "device": self._infer.engine_device or self.config.model.device,
            "input": f"{self.input_size[0]}x{self.input_size[1]}",
            "batch": self._infer.max_batch,
        }
        summary["live"] = self.live
        if self._error is not None:
            component, error, _ = self._error
            summary["error"] = f"{component}: {redact_text(_describe(error))}"
        return summary

    # ------------------------------------------------------------------ start-up

    def _open_sources(self) -> None:
        cfg = self.config
        queue_size = cfg.runtime.queue_size
        for source in self._sources:
            info = source.open()
            live_source = bool(info.is_live)
            live = cfg.source.mode == "live" or (cfg.source.mode == "auto" and (live_source or cfg.source.pace))
            pace = None  # a recording replayed at its own fps, like a camera
            if not live_source and cfg.source.pace:
                pace = 1.0 / (info.fps if info.fps and info.fps > 0 else 30.0)
            queue: BoundedQueue[Frame] = (
                BoundedQueue(1, DropPolicy.DROP_OLDEST, name=f"capture:{source.source_id}")
                if live
                else BoundedQueue(queue_size, DropPolicy.BLOCK, name=f"capture:{source.source_id}")
            )
            self._source_slots.append(SourceSlot(source, info, live, queue, pace))
            self._queues.append(queue)
            self.metrics.add_source(source.source_id)

    def _start_stages(self) -> None:
        batch = max(1, self.config.runtime.batch_size)
        # live: small queues so back-pressure reaches the capture queues (which drop the oldest)
        capacity = max(1, batch) if self.live else max(self.config.runtime.queue_size, batch)
        upstream: Any = RoundRobin([slot.queue for slot in self._source_slots], name="mux")
        if self.live:  # every engine busy plus one frame ready (at least 3: in the engine, ready, downstream)
            self._credits = Credits(max(3, batch * (1 + len(self._extra_infers)) + 1))
        for index, stage in enumerate(self._stages):
            last = index == len(self._stages) - 1
            outputs: list[BoundedQueue[Any]] = []
            if not last:
                queue: BoundedQueue[Any] = BoundedQueue(capacity, DropPolicy.BLOCK, name=self._stages[index + 1].name)
                outputs.append(queue)
                self._queues.append(queue)
            slot = StageSlot(stage, upstream, outputs, last=last, credits=self._credits if index == 0 else None)
            self._stage_slots.append(slot)
            if stage is self._infer and self._extra_infers:
                slot.group, slot.worker = WorkerGroup(1 + len(self._extra_infers)), 1
                for worker, extra in enumerate(self._extra_infers, 2):
                    self._stage_slots.append(
                        StageSlot(extra, upstream, outputs, last=last, group=slot.group, worker=worker))
            upstream = outputs[0] if outputs else None
        sink_capacity = max(1, batch) if self.live else self.config.runtime.queue_size
        for sink_slot in self._sink_slots:
            sink_slot.queue = BoundedQueue(sink_capacity, DropPolicy.BLOCK, name=f"sink:{sink_slot.name}")
            self._queues.append(sink_slot.queue)
            self._stage_slots[-1].outputs.append(sink_slot.queue)  # shared by every worker of the last stage
        for slot in self._stage_slots:
            slot.thread = _thread(slot.thread_name, self._stage_loop, slot)
        for slot in self._stage_slots:  # wait until every stage (the engine above all) is ready
            while not slot.ready.wait(0.1):
                if self._error is not None:
                    break
            if self._error is not None:
                break
        if self._error is not None:
            component, exc, during_start = self._error
            if during_start and isinstance(exc, SegstreamError) and not isinstance(exc, PipelineError):
                raise exc
            raise PipelineError(f"{component} failed to start: {redact_text(_describe(exc))}") from exc

    def _open_sinks(self) -> None:
        for slot in self._sink_slots:
            slot.sink.open(self.sources)
            slot.opened = True

    # ------------------------------------------------------------------ the threads

    def _source_loop(self, slot: SourceSlot) -> None:
        source = slot.source
        limit = self.config.runtime.max_frames
        record_reads = not slot.info.is_live  # a live read mostly waits for the camera
        started: float | None = None
        slot_state = "finished"
        try:
            while not self._stopping.is_set():
                if limit and slot.frames_read >= limit:
                    break
                if slot.pace_interval is not None:
                    if started is None:
                        started = time.monotonic()
                    delay = started + slot.frames_read * slot.pace_interval - time.monotonic()
                    if delay > 0 and self._stopping.wait(delay):
                        break
                t0 = time.perf_counter()
                frame = source.read()
                if frame is None:
                    break
                if record_reads:
                    self.metrics.record_stage("read", (time.perf_counter() - t0) * 1000.0)
                slot.frames_read += 1
                slot.queue.put(frame)
        except QueueClosed:
            pass
        except BaseException as exc:
            if not self._stopping.is_set():
                slot_state = "failed"
                self._fail(f"source {source.source_id}", exc)
        finally:
            if slot_state != "failed" and self._stopping.is_set():
                slot_state = "stopped"
            slot.state = slot_state
            slot.queue.close()
            self._close_source(slot)

    def _stage_loop(self, slot: StageSlot) -> None:
        stage = slot.stage
        try:
            stage.start()
        except BaseException as exc:
            self._fail(stage.name, exc, during_start=True)
            slot.ready.set()
            _quietly(stage.stop)
            for queue in slot.outputs:
                queue.close()
            return
        slot.ready.set()
        batch = int(getattr(stage, "max_batch", 1)) if hasattr(stage, "process_batch") else 1
        timeout_s = self.config.runtime.batch_timeout_ms / 1000.0
        group = slot.group
        ticket = 0
        try:
            while True:
                try:
                    if slot.credits is not None:
                        slot.credits.acquire()
                    if group is None:
                        items = take_batch(slot.input, batch, timeout_s)
                    else:
                        items, ticket = group.take(slot.input, batch, timeout_s)
                except QueueClosed:
                    break
                t0 = time.perf_counter()
                outputs = stage.process_batch(items) if batch > 1 else [stage.process(items[0])]  # type: ignore[attr-defined]
                ms = (time.perf_counter() - t0) * 1000.0
                for out in outputs:
                    out.timings_ms[stage.name] = ms
                    self.metrics.record_stage(stage.name, ms)
                    if isinstance(out, Packet) and out.confusion is not None:
                        self.metrics.add_confusion(out.frame.source_id, out.confusion)
                        out.confusion = None
                if group is None:
                    for out in outputs:
                        self._hand_on(slot, out)
                else:
                    group.emit(ticket, outputs, lambda out: self._hand_on(slot, out))
        except QueueClosed:
            pass  # the pipeline was aborted while this stage was handing on an item
        except BaseException as exc:
            self._fail(stage.name, exc)
        finally:
            try:
                stage.stop()
            except BaseException as exc:
                self._fail(stage.name, exc)
            if group is None or group.leave():
                for queue in slot.outputs:
                    queue.close()

    def _hand_on(self, slot: StageSlot, out: Any) -> None:
        if slot.last:
            self._deliver(slot, out)
        else:
            slot.outputs[0].put(out)

    def _deliver(self, slot: StageSlot, result: SegResult) -> None:
        result.timings_ms["e2e"] = (time.monotonic() - result.frame.capture_time) * 1000.0
        delivery = Delivery(result, len(slot.outputs))
        for queue in slot.outputs:
            queue.put(delivery)

    def _sink_loop(self, slot: SinkSlot) -> None:
        queue = slot.queue
        if queue is None:
            return
        timing = f"sink:{slot.name}"
        try:
            while True:
                try:
                    delivery = queue.get()
                except QueueClosed:
                    break
                t0 = time.perf_counter()
                slot.sink.write(delivery.result)
                now = time.monotonic()
                self.metrics.record_stage(timing, (time.perf_counter() - t0) * 1000.0)
                if delivery.done():
                    if self._credits is not None:
                        self._credits.release()
                    frame = delivery.result.frame
                    self.metrics.frame_done(frame.source_id, (now - frame.capture_time) * 1000.0, now)
        except BaseException as exc:
            self._fail(f"sink {slot.name}", exc)
        finally:
            try:
                slot.sink.close()
            except BaseException as exc:
                self._fail(f"sink {slot.name}", exc)

    # ------------------------------------------------------------------ failure and shutdown

    def _fail(self, component: str, exc: BaseException, during_start: bool = False) -> None:
        with self._lock:
            first = self._error is None
            if first:
                self._error = (component, exc, during_start)
                if self._state not in ("new",):
                    self._state = "failed"
        if first:
            log.error("%s failed: %s", component, redact_text(_describe(exc)))
        self._abort()

    def _abort(self) -> None:
        """Close and empty every queue so every thread leaves at once; sources close shortly after."""
        self._stopping.set()
        if self._credits is not None:
            self._credits.close()
        for queue in self._queues:
            queue.close()
            queue.clear()
        self._close_stuck_sources_later()

    def _close_stuck_sources_later(self) -> None:
        """Give each source thread a moment to leave read() by itself, then close its source.

        Closing a capture while its thread decodes can crash some decoders, so it is done only for
        a thread that stays blocked (a frozen network stream); this never delays the caller.
        """

        def close_stuck() -> None:
            deadline = time.monotonic() + SOURCE_CLOSE_GRACE_S
            for slot in self._source_slots:
                if slot.thread is not None:
                    slot.thread.join(max(0.0, deadline - time.monotonic()))
                if slot.thread is None or slot.thread.is_alive():
                    self._close_source(slot)

        if self._source_slots:
            self._closers.append(_thread("source-closer", close_stuck))

    def _close_source(self, slot: SourceSlot) -> None:
        with self._lock:
            if slot.closing:
                return
            slot.closing = True
        try:
            slot.source.close()
        except Exception as exc:
            log.warning("closing source %s: %s", slot.source.source_id, redact_text(_describe(exc)))

    def _close_all_sources(self) -> None:
        for slot in self._source_slots:
            self._close_source(slot)
        opened = {slot.source.source_id for slot in self._source_slots}
        for source in self._sources:
            if source.source_id not in opened:
                _quietly(source.close)
        for sink_slot in self._sink_slots:
            if sink_slot.opened and sink_slot.thread is None:
                _quietly(sink_slot.sink.close)

    def _join_threads(self, timeout: float | None) -> bool:
        """Wait for the stage and sink threads; then, briefly, for stuck sources to be closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        threads = [s.thread for s in self._stage_slots] + [s.thread for s in self._sink_slots]
        for thread in threads:
            if thread is None:
                continue
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
        closing_deadline = time.monotonic() + SOURCE_CLOSE_GRACE_S + 1.0  # a close() that hangs is not waited for
        if deadline is not None:
            closing_deadline = min(closing_deadline, deadline)
        for closer in list(self._closers):
            closer.join(max(0.0, closing_deadline - time.monotonic()))
        return True

    def _finish(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
            if self._error is None:
                self._state = "stopped" if self._stopping.is_set() else "finished"
        self._stopping.set()
        self.metrics.finish(self.metrics.last_done_at)
        self._close_stuck_sources_later()

    def _raise_error(self) -> None:
        if self._error is None:
            return
        component, exc, during_start = self._error
        if during_start and isinstance(exc, SegstreamError) and not isinstance(exc, PipelineError):
            raise exc
        raise PipelineError(f"{component} failed: {redact_text(_describe(exc))}") from exc

    # ------------------------------------------------------------------ HUD

    def _hud_text(self, source_id: str) -> str:
        now = time.monotonic()
        cached_at, text = self._hud_cache
        if now - cached_at < HUD_REFRESH_S and text:
            return text
        fps, p50 = self.metrics.hud_values(now)
        dropped = sum(slot.queue.dropped for slot in self._source_slots)
        latency = f"{p50:.0f} ms" if p50 is not None else "-"
        text = f"{fps:.1f} fps  latency {latency}  dropped {dropped}"
        self._hud_cache = (now, text)
        return text


# --------------------------------------------------------------------------- helpers


def _thread(name: str, target: Any, *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=f"segstream-{name}", daemon=True)
    thread.start()
    return thread

def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _quietly(fn: Any) -> None:
    try:
        fn()
    except Exception as exc:
        log.debug("ignored during cleanup: %s", _describe(exc))


def summary_keys() -> Mapping[str, str]:
    """The keys of ``Pipeline.stats()`` and what they hold (documentation for JSON readers)."""
    return {
        "frames": "results written by every sink",
        "fps": "frames per second of the whole run",
        "dropped": "frames dropped by queue policies (live capture queues) or discarded at stop",
        "stage_latency_ms": "stage → {p50, p95, p99} in ms (read, preprocess, infer, postprocess, render, sink:NAME)",
        "e2e_latency_ms": "{p50, p95, p99} from capture to the last sink's write",
        "miou": "streamed mean IoU against the frames' labels (only when the source has labels)",
        "queues": "queue → policy, capacity, depth, max_depth, puts, dropped",
        "sources": "source id → uri, live, state, frames, frames_read, dropped, fps, latency, the source's own counters",
    }
