"""A component's failure as the pipeline records, logs, reports and raises it.

The first failure wins: it names the component (``infer``, ``source cam``, ``sink video``) and
keeps the exception. ``raise_it`` turns it into what ``start()`` or ``join()`` raise: the user's
own error (a model that cannot be loaded, a camera that cannot be opened) when a component failed
while starting, else a ``PipelineError`` ("infer failed: RuntimeError: ...").

A source that gives up (``SourceFailed``: a camera that never answered, or was lost and ran out of
reconnect attempts) is not such a failure: that source ends, marked failed with its reason, and
the other sources go on. Only when every source has failed does the run fail, with
``every_source_failed``'s error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

from pipeline.errors import PipelineError, SourceFailed
from segcore.errors import SegstreamError
from segcore.redact import redact_text

log = logging.getLogger(__name__)


def every_source_failed(failed: Mapping[str, SourceFailed]) -> SourceFailed:
    """The error of a run whose every source gave up: the one source's own, or all of them on one line."""
    if len(failed) == 1:
        return next(iter(failed.values()))
    reasons = "; ".join(f"{source_id}: {exc}" for source_id, exc in failed.items())
    delivered = any(exc.delivered_frames for exc in failed.values())
    return SourceFailed(f"every source failed ({reasons})", delivered_frames=delivered)


@dataclass(frozen=True)
class Failure:
    component: str
    exc: BaseException
    during_start: bool = False

    @property
    def detail(self) -> str:
        """The exception in one redacted line: ``RuntimeError: GPU fell off the bus``."""
        if isinstance(self.exc, SourceFailed):  # its message is complete and names the source
            return redact_text(str(self.exc))
        return redact_text(describe(self.exc))

    def raise_it(self, verb: str = "failed") -> NoReturn:
        """Raise the user's error for a start-up failure, else ``PipelineError("COMPONENT VERB: ...")``."""
        if isinstance(self.exc, SourceFailed):
            raise self.exc
        if self.during_start and isinstance(self.exc, SegstreamError) and not isinstance(self.exc, PipelineError):
            raise self.exc
        raise PipelineError(f"{self.component} {verb}: {self.detail}") from self.exc


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def quietly(fn: Callable[[], object]) -> None:
    """Call ``fn`` during clean-up, where a further error must not hide the first one."""
    try:
        fn()
    except Exception as exc:
        log.debug("ignored during cleanup: %s", describe(exc))
