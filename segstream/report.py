"""What the run shows while it runs and when it ends: source states, a progress bar, the summary.

At the end: the summary table, one ``wrote`` line per file that exists (its real name, and the
frames, masks or records it holds: a file that failed and was removed is not claimed), and the
``--json`` summary, which lists the same files under ``outputs``. A failure is not repeated in the
table: the command's one ``error:`` line follows it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.config_schema import Config
from pipeline.pipeline import Pipeline
from segcore.errors import OutputError
from segcore.files import write_json
from segcore.redact import redact_text, redact_uri


class _Progress:
    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.server = _ServerWatch()

    def update(self, pipeline: Pipeline) -> None:
        if self.bar is not None:
            total = pipeline.expected_frames()  # grows when a source is added while running, shrinks when one is removed
            if total and total != self.bar.total:
                self.bar.total = total
                self.bar.refresh()
            done = pipeline.metrics.frames
            if done > self.bar.n:
                self.bar.update(done - self.bar.n)
        self.server.update(pipeline)


class _ServerWatch:
    """One stderr line when a served model's server (``triton://``) stops answering, one when it
    answers again (checked once a second from the summary's ``model.server``)."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self.checked = 0.0
        self.waiting_since: float | None = None

    def update(self, pipeline: Pipeline) -> None:
        now = time.monotonic()
        if now - self.checked < self.every_s:
            return
        self.checked = now
        model = pipeline.stats()["model"]
        server = model.get("server")
        if server is None:
            return
        from tqdm import tqdm

        stamp = time.strftime("%H:%M:%S")
        waiting = server["state"] != "answering"
        if waiting and self.waiting_since is None:
            self.waiting_since = now
            tqdm.write(f"[{stamp}] model server {model['path']}: not answering; files wait for it, live sources drop "
                       "frames meanwhile (counted in dropped)", file=sys.stderr)
        elif not waiting and self.waiting_since is not None:
            tqdm.write(f"[{stamp}] model server {model['path']}: answering again after "
                       f"{now - self.waiting_since:.0f} s (outages so far: {server['outages']})", file=sys.stderr)
            self.waiting_since = None


def print_status(status: Any) -> None:
    """One stderr line per state change of a live source (called on the source's thread)."""
    from tqdm import tqdm

    stamp = time.strftime("%H:%M:%S")
    reason = f" ({redact_text(status.reason)})" if status.reason else ""
    tqdm.write(f"[{stamp}] {status.source_id}: {status.previous.value} -> {status.state.value}{reason}", file=sys.stderr)


@contextmanager
def progress_bar(pipeline: Pipeline) -> Iterator[_Progress]:
    """A tqdm bar on stderr when the number of frames is known (files), else nothing."""
    total = pipeline.expected_frames()
    bar = None
    if total:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True, leave=False, disable=None)
    progress = _Progress(bar)
    try:
        yield progress
    finally:
        if bar is not None:
            progress.update(pipeline)
            bar.close()


COUNTED = {"video": "frames", "masks": "masks", "jsonl": "records"}


def report(pipeline: Pipeline, config: Config) -> dict[str, Any]:
    """Print the summary table and the files written, write ``--json``; return the summary.

    A summary that cannot be written raises its ``OutputError`` when the run itself went well;
    after a failed run (whose error the command reports) it is said on one stderr line instead.
    """
    summary = pipeline.stats()
    summary["config"] = _config_for_report(config)
    written = files_written(pipeline)
    for sink in pipeline.sinks:  # zone events: how many, and what each publisher delivered
        if getattr(sink, "name", None) == "zones" and callable(getattr(sink, "stats", None)):
            summary["events"] = sink.stats()
    summary["outputs"] = written + ([{"kind": "summary", "path": config.output.json}] if config.output.json else [])
    print(format_summary(summary))
    if "events" in summary:
        print(_events_line(summary["events"]))
    for item in written:
        print(f"wrote {item['kind']}: {item['path']} ({item['frames']} {COUNTED.get(item['kind'], 'frames')})")
    if config.output.json:
        try:
            write_json(summary, config.output.json, what="summary")
        except OutputError as exc:
            if not summary.get("error"):
                raise
            sys.stderr.write(f"summary not written: {exc}\n")
        else:
            print(f"wrote summary: {config.output.json}")
    return summary


def print_serving(pipeline: Pipeline) -> None:
    """One line per stream the run serves (``--restream``): where a player opens it."""
    for sink in pipeline.sinks:
        urls = getattr(sink, "urls", None)
        if callable(urls):
            for source_id, url in urls().items():
                print(f"serving {source_id}: {url}", flush=True)


def _events_line(events: dict[str, Any]) -> str:
    """"zone events: 3 (mqtt: 3 sent, 0 dropped, 0 failed, 0 undelivered)"."""
    parts = [f"{name}: {s.get('sent', 0)} sent, {s.get('dropped', 0)} dropped, {s.get('failed', 0)} failed, "
             f"{s.get('undelivered', 0)} undelivered" + (f" ({s['last_error']})" if s.get("last_error") else "")
             for name, s in events.items() if isinstance(s, dict)]
    return f"zone events: {events.get('events', 0)}" + (f" ({'; '.join(parts)})" if parts else "")


def files_written(pipeline: Pipeline) -> list[dict[str, Any]]:
    """The files the pipeline's sinks wrote and that exist: ``{"kind", "path", "frames", ...}`` each."""
    written: list[dict[str, Any]] = []
    for sink in pipeline.sinks:
        outputs = getattr(sink, "outputs", None)
        if callable(outputs):
            written += outputs()
    return written


def format_summary(s: dict[str, Any]) -> str:
    """The end-of-run table: frames, fps, latency per stage and end to end, drops, accuracy."""
    sources = s.get("sources", {})
    model = s.get("model", {})
    mode = "live" if s.get("live") else "offline"
    lines = [
        f"segstream: {s['frames']} frames from {len(sources)} source{'s' if len(sources) != 1 else ''} in "
        f"{s.get('elapsed_s') or 0:.1f} s: {s['fps']:.1f} fps ({mode}; model {model.get('name')} "
        f"{model.get('input')} on {model.get('device')}, batch {model.get('batch')})",
        "",
        f"  {'latency (ms)':<22}{'p50':>9}{'p95':>9}{'p99':>9}",
    ]
    stages = s.get("stage_latency_ms", {})
    order = ["read", "preprocess", "infer", "postprocess", "render"]
    names = [n for n in order if n in stages] + sorted(n for n in stages if n not in order)
    rows = [(n, stages[n]) for n in names] + [("end to end", s.get("e2e_latency_ms", {}))]
    for name, values in rows:
        lines.append(f"  {name:<22}" + "".join(f"{_ms(values.get(q)):>9}" for q in ("p50", "p95", "p99")))
    lines += ["", f"  {'queue':<22}{'policy':>12}{'capacity':>10}{'max depth':>11}{'dropped':>9}"]
    for name, q in s.get("queues", {}).items():
        lines.append(f"  {name:<22}{q['policy']:>12}{q['capacity']:>10}{q['max_depth']:>11}{q['dropped']:>9}")
    lines.append("")
    failed = s.get("failed_sources") or {}
    for source_id, src in sources.items():
        extra = "".join(
            f", {key} {src[key]}" for key in ("disconnects", "reconnects", "corrupt_frames") if src.get(key)
        )
        miou = f", mIoU {src['miou']:.4f}" if src.get("miou") is not None else ""
        lines.append(
            f"  source {source_id} ({redact_uri(str(src.get('uri', '')))}): {src.get('frames', 0)} frames, "
            f"{src.get('fps', 0):.1f} fps, dropped {src.get('dropped', 0)}, {src.get('state')}{extra}{miou}"
        )
        if source_id in failed:
            lines.append(f"    gave up: {failed[source_id]}")
    if s.get("miou") is not None:
        lines.append(f"  streamed mIoU {s['miou']:.4f} over {s.get('labelled_frames', 0)} labelled frames")
    if s.get("error"):
        lines.append("  the run failed: see the error below")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _config_for_report(config: Config) -> dict[str, Any]:
    from pipeline.config import to_dict

    data = to_dict(config)
    data["source"]["uris"] = [redact_uri(u) for u in config.source.uris]
    return data
