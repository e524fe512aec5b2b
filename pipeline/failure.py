"""A component's failure as the pipeline records, logs, reports and raises it.

The first failure wins: it names the component (``infer``, ``source cam``, ``sink video``) and
keeps the exception. ``raise_it`` turns it into what ``start()`` or ``join()`` raise: the user's
own error (a model that cannot be loaded, a camera that cannot be opened) when a component failed
while starting, else a ``PipelineError`` ("infer failed: RuntimeError: ...").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from pipeline.errors import PipelineError
from segcore.errors import SegstreamError
from segcore.redact import redact_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    component: str
    exc: BaseException
    during_start: bool = False

    @property
    def detail(self) -> str:
        """The exception in one redacted line: ``RuntimeError: GPU fell off the bus``."""
        return redact_text(describe(self.exc))

    def raise_it(self, verb: str = "failed") -> NoReturn:
        """Raise the user's error for a start-up failure, else ``PipelineError("COMPONENT VERB: ...")``."""
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
