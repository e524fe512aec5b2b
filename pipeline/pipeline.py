"""The threaded pipeline: sources → preprocess → infer → postprocess → render → sinks.

``Pipeline`` owns every thread: one per source, one per stage (one per engine for the infer stage:
``runtime.infer_workers``, auto: two one-thread ONNX Runtime sessions on a multi-core CPU, which
beat one session on every core: ``docs/benchmarks.md``), one per sink. Its parts:

- ``pipeline.construction``  the model, checked once against the config, and the stages;
- ``pipeline.topology``      the queues between the threads (who feeds whom), live or offline;
- ``pipeline.membership``    the sources joining (at start, and while running) and leaving;
- ``pipeline.loops``         the bodies the threads run (``pipeline.handoff``: how they pass items);
- ``pipeline.threads``       starting and joining the threads, closing the sources once;
- ``pipeline.stats``         ``stats()`` and the HUD line;
- ``pipeline.lifecycle``     the states below and the moves allowed between them;
- ``pipeline.failure``       a component's failure as it is logged, reported and raised.

This module keeps the lifecycle and the failure handling. ``start()`` opens the sources, starts
the stages and waits until the engine is loaded (a model that cannot be loaded fails here, before
any frame is read), opens the sinks and starts reading. ``stop()`` asks it to end (draining what is
queued offline, dropping it live) and returns at once, also while a source read blocks or a camera
is being opened; ``join()`` waits, for the sources' threads too. If any stage or sink fails, or a
source breaks, the whole pipeline stops, sinks are closed (files stay playable) and ``join()``
raises a ``PipelineError`` naming the component. A source that gives up (a camera that never
answers or is lost for good: ``SourceFailed``) ends alone, marked failed; when every source has
failed, ``join()`` raises that error. The library installs no signal handlers and prints nothing.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.config_schema import Config, Visualize
from pipeline.construction import CheckedModel, build_stages, check_model, labels_differ, parts_from_config
from pipeline.errors import SourceFailed
from pipeline.failure import Failure, every_source_failed, quietly
from pipeline.lifecycle import PipelineState
from pipeline.loops import ThreadLoops
from pipeline.membership import Membership
from pipeline.metrics import Metrics
from pipeline.sinks.base import Sink
from pipeline.sinks.null import NullSink
from pipeline.sources.base import Source, SourceInfo
from pipeline.sources.live import LiveSource
from pipeline.stages.render import rendered_size
from pipeline.stats import HudText, run_summary
from pipeline.threads import PipelineThreads, start_thread
from pipeline.topology import SourceSlot, Topology
from segcore.errors import ConfigError

log = logging.getLogger(__name__)

ABANDON_WAIT_S = 10.0  # after a failed start or an exception in the host, the wait for the threads


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
        _checked: CheckedModel | None = None,
    ) -> None:
        config = copy.deepcopy(config) if config is not None else Config()
        if model is not None:
            config = dataclasses.replace(config, model=dataclasses.replace(config.model, path=str(model)))
        self._build(config, sources, sinks, _checked)  # from_config passes the model it has checked already

    def _build(
        self,
        config: Config,
        sources: Source | Sequence[Source],
        sinks: Sink | Sequence[Sink],
        model: CheckedModel | None,
    ) -> None:
        """Set up a new pipeline; ``model`` is checked here unless the caller already did."""
        self.config = config
        self._sources: list[Source] = list(sources) if isinstance(sources, (list, tuple)) else [sources]  # type: ignore[list-item]
        if not self._sources:
            raise ValueError("a Pipeline needs at least one source")
        ids = [s.source_id for s in self._sources]
        if len(set(ids)) != len(ids):
            raise ValueError(f"source ids must be unique, got {ids}")
        sink_list: list[Sink] = list(sinks) if isinstance(sinks, (list, tuple)) else [sinks]  # type: ignore[list-item]

        self._model = model if model is not None else check_model(config)
        self.model_path, self.meta, self.input_size = self._model.path, self._model.meta, self._model.input_size
        self.metrics = Metrics(self.meta.class_names)
        self._topology = Topology(config, sink_list or [NullSink()])
        self._stages = build_stages(config, self._model, HudText(self.metrics, self._topology))

        self._lock = threading.Lock()  # guards the state and the failure
        self._state = PipelineState.NEW
        self._ended = False  # the end is recorded: metrics finished, stuck sources being closed
        self._stopping = threading.Event()
        self._failure: Failure | None = None
        self._failed_sources: dict[str, SourceFailed] = {}  # sources that gave up, in the order they did
        self._opening: set[Source] = set()  # the sources whose open() runs now, during start()
        self._threads = PipelineThreads(self._topology)
        self._loops = ThreadLoops(
            self._topology, self.metrics, config.runtime, self._stopping, self._fail, self._threads.close_source,
            self._source_failed,
        )
        self._members = Membership(self._lock, self._accepts_changes, self._stopping, self._topology, self._threads, self._loops,
                                   self.metrics, self._opening, self._score_only_the_same_classes)
        self._on_status: Callable[[Any], None] | None = None  # from_config's, for sources added by URI

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
        made: list[Pipeline] = []

        def quit_requested() -> None:  # a display window's q / Esc
            if made:
                made[0].stop()

        parts = parts_from_config(config, on_status=on_status, on_quit=quit_requested)
        try:
            pipe = cls(parts.sources, [*parts.outputs, *sinks], config=config, _checked=parts.model)
        except BaseException:
            parts.close_sources()
            raise
        made.append(pipe)
        pipe._on_status = on_status
        return pipe

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Open sources, load the engine, open sinks, then start reading. Raises on any failure."""
        with self._lock:
            if self._state is not PipelineState.NEW:
                raise RuntimeError(f"this Pipeline was already started (state: {self._state})")
            self._move(PipelineState.STARTING)
        try:
            self._members.open_at_start(self._sources)
            if not self._stopping.is_set():
                self._start_stages()
            if not self._stopping.is_set():
                self._open_sinks()
        except BaseException:
            self._abort()
            self._threads.join(timeout=ABANDON_WAIT_S)
            self._threads.close_after_failed_start(self._sources)
            with self._lock:
                self._move(PipelineState.FAILED)
                self._ended = True
            self.metrics.finish()
            raise
        if self._stopping.is_set():  # stop() came while starting: nothing more starts, join() ends it
            self._topology.close_all()
            self._threads.close_after_failed_start(self._sources)
            return
        self.metrics.start()
        self._threads.start(self._topology.sinks, self._loops.sink)
        for source_slot in self._topology.sources:
            source_slot.state = "reading"
        self._threads.start(self._topology.sources, self._loops.source)
        with self._lock:
            if self._state is PipelineState.STARTING:
                self._move(PipelineState.RUNNING)

    def stop(self, drain: bool | None = None) -> None:
        """Ask the pipeline to end; returns at once (``join()`` waits).

        Sources stop reading. ``drain`` (default: True offline, False when any source is live)
        finishes the frames already queued; otherwise they are dropped (and counted). Called from
        another thread while ``start()`` runs, it makes ``start()`` return promptly: a camera being
        opened is closed, and nothing more is started.
        """
        with self._lock:
            if not self._state.active or self._ended:
                if self._state is PipelineState.NEW:
                    self._move(PipelineState.STOPPED)
                    self._ended = True
                return
            self._move(PipelineState.STOPPING)
            self._stopping.set()  # under the lock, so that start() opens no further source
            opening = list(self._opening)
        if drain is None:
            drain = not self.live
        for source in opening:
            if isinstance(source, LiveSource):  # its open() waits for a camera: closing it ends the wait now
                start_thread("source-closer", quietly, source.close)  # close() may wait a moment for its reader
        self._topology.stop_reading(drain)
        if not drain:  # what waits for a model server is dropped too
            self._stages.interrupt_waits()
        self._threads.close_stuck_sources_later()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the pipeline to end; True if it has. Raises PipelineError if a part failed."""
        if self._state is PipelineState.NEW:
            raise RuntimeError("join() before start()")
        if not self._threads.join(timeout):
            return False
        self._finish()
        if self._failure is not None:
            self._failure.raise_it()
        return True

    def run(self) -> dict[str, Any]:
        """Start, wait for the end of every source, and return the summary."""
        self.start()
        try:
            self.join()
        except BaseException:
            self._abandon()
            raise
        return self.stats()

    def __enter__(self) -> Pipeline:
        self.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self._abandon()
            self._finish()
            return
        self.stop()
        self.join()

    # ------------------------------------------------------------------ sources while running

    def add_source(self, source: Source | str, *, source_id: str | None = None) -> str:
        """Open ``source`` (a ``Source``, or a URI made into one with this run's ``source`` settings;
        ``source_id`` names it, else it is named like the sources given at start) and read it from
        now on, while running; its id (``sources[id]``: what it reported). Blocks while it opens. Raises
        ``SourceError`` when it cannot be opened, ``SourceChangeRefused`` when it cannot join now
        (see ``pipeline.membership``); nothing is changed then."""
        if isinstance(source, str):
            source = self._members.source_for(source, source_id, self.config.source, self._on_status)
        self._members.add(source)
        return source.source_id

    def remove_source(self, source_id: str) -> None:
        """Stop reading ``source_id`` and close it (its queued frames are dropped, counted), while
        running; ``UnknownSource`` / ``SourceChangeRefused`` when it cannot leave (the last one)."""
        self._members.remove(source_id)
        self._stages.forget(source_id)

    def _accepts_changes(self) -> bool:
        return self._state is PipelineState.RUNNING and not self._stopping.is_set() and not self._ended

    # ------------------------------------------------------------------ state

    @property
    def live(self) -> bool:
        """True when any source is handled as live (newest frame wins)."""
        return self._topology.live

    @property
    def state(self) -> PipelineState:
        return self._state

    @property
    def running(self) -> bool:
        return self._state.active and not self._ended

    @property
    def sources(self) -> dict[str, SourceInfo]:
        """What every opened source reported (URIs redacted)."""
        return {slot.source.source_id: slot.info for slot in self._topology.sources}

    @property
    def sinks(self) -> list[Sink]:
        """The sinks results go to, in the order given (outputs from the config first)."""
        return [slot.sink for slot in self._topology.sinks]

    def discard_unfinished(self) -> list[Path]:
        """For a process that ends at once, unfinalised: each sink removes the files it could never
        finish (``Sink.discard``); the paths removed. Never waits for a thread."""
        removed: list[Path] = []
        for sink in self.sinks:
            discard = getattr(sink, "discard", None)
            if discard is not None:
                with contextlib.suppress(Exception):  # the process is ending: remove what can be removed
                    removed += discard()
        return removed

    def set_render(self, visualize: Visualize | None = None, alpha: float | None = None) -> None:
        """Change how results are drawn while running (any thread; the next frame uses it).

        ``ConfigError`` for a value outside the schema's, or for a mode that changes the picture's
        size (``side`` is twice as wide, ``none`` draws nothing) while a video file is written.
        """
        render = self._stages.render
        if visualize is not None and self.config.output.video and (
            rendered_size(visualize, 2, 2) != rendered_size(render.visualize, 2, 2)
        ):
            raise ConfigError(
                f"render.visualize {visualize!r} would change the size of the video being written "
                f"({render.visualize!r} now); choose a mode of the same size, or run without -o"
            )
        render.set_view(visualize, alpha)

    @property
    def render_view(self) -> tuple[str, float]:
        """(visualize, alpha) the render stage draws with now."""
        return self._stages.render.visualize, self._stages.render.alpha

    @property
    def batch_size(self) -> int:
        """Frames per engine call actually used (``runtime.batch_size`` capped by the engine)."""
        return self._stages.infer.max_batch

    def expected_frames(self) -> int | None:
        """Frames this run will deliver if nothing is dropped; None when unknown (live, endless)."""
        return self._topology.expected_frames()

    def stats(self) -> dict[str, Any]:
        """A live, JSON-ready snapshot (also the final summary once the run ended)."""
        with self._lock:
            failed_sources = dict(self._failed_sources)
        return run_summary(
            state=self._state, metrics=self.metrics, topology=self._topology, model=self._model,
            infer=self._stages.infer, failure=self._failure, failed_sources=failed_sources,
        )

    # ------------------------------------------------------------------ start-up

    def _score_only_the_same_classes(self, source_id: str, info: SourceInfo) -> None:
        why = labels_differ(info, self._model.meta.class_names)
        if why is not None:
            log.warning("source %s: %s", source_id, why)
            self._stages.skip_scoring(source_id, why)

    def _start_stages(self) -> None:
        stages = self._stages
        self._topology.connect(stages.chain, extra_workers=stages.extra_infers, of=stages.infer)
        self._threads.start(self._topology.stages, self._loops.stage)
        for slot in self._topology.stages:  # wait until every stage (the engine above all) is ready
            while not slot.ready.wait(0.1) and self._failure is None and not self._stopping.is_set():
                pass
            if self._failure is not None:
                self._failure.raise_it("failed to start")

    def _open_sinks(self) -> None:
        for slot in self._topology.sinks:
            slot.sink.open(self.sources)
            slot.opened = True

    # ------------------------------------------------------------------ failure and shutdown

    def _move(self, target: PipelineState) -> bool:
        """Go to ``target`` if the lifecycle allows it from here (the lock held)."""
        if not self._state.can_become(target):
            return False
        self._state = target
        return True

    def _fail(self, component: str, exc: BaseException, during_start: bool = False) -> None:
        failure = Failure(component, exc, during_start)
        with self._lock:
            first = self._failure is None
            if first:
                self._failure = failure
                self._move(PipelineState.FAILED)
        if first:  # join() raises it: logged for debugging only, so that it is reported once
            log.debug("%s failed: %s", component, failure.detail)
        self._abort()

    def _source_failed(self, slot: SourceSlot, exc: SourceFailed) -> None:
        """A source gave up: the run goes on with the others, and fails in ``_finish`` if none is left."""
        with self._lock:
            self._failed_sources[slot.source.source_id] = exc
        log.debug("source %s gave up: %s", slot.source.source_id, exc)

    def _abort(self) -> None:
        """Close and empty every queue so every thread leaves at once; sources close shortly after."""
        self._stopping.set()
        self._topology.close_all()
        self._threads.close_stuck_sources_later()

    def _abandon(self) -> None:
        """Drop what is queued and give the threads a while to end (the host is leaving on an error)."""
        self.stop(drain=False)
        self._threads.join(timeout=ABANDON_WAIT_S)

    def _finish(self) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
            sources = [slot for slot in self._topology.sources if not slot.leaving.is_set()]
            if self._failure is None and sources and all(s.source.source_id in self._failed_sources for s in sources):
                failed = every_source_failed(self._failed_sources)
                component = f"source {sources[0].source.source_id}" if len(sources) == 1 else "sources"
                self._failure = Failure(component, failed)
                self._move(PipelineState.FAILED)
            if self._failure is None:
                self._move(PipelineState.STOPPED if self._state is PipelineState.STOPPING else PipelineState.FINISHED)
        self._stopping.set()
        self.metrics.finish(self.metrics.last_done_at)
        self._threads.close_stuck_sources_later()

