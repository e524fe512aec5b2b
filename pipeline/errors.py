"""Errors of the streaming runtime. The whole tree is drawn in ``segcore.errors``."""

from __future__ import annotations

from segcore.errors import SegstreamError, UserInputError

__all__ = ["PipelineError", "SourceChangeRefused", "SourceFailed", "UnknownSource"]


class PipelineError(SegstreamError, RuntimeError):
    """A stage, source or sink failed while the pipeline was running (the CLI exits 1)."""


class SourceFailed(PipelineError):
    """A source gave up: this source is over (the others go on). The message names the source.

    ``exit_code`` says whose fault it is: 2 when the source never delivered a frame (the address,
    credentials or camera given cannot be used: the user's to fix, exactly as when ``open()``
    fails), 1 when it delivered frames and was then lost for good (a runtime failure).
    """

    def __init__(self, message: str, *, delivered_frames: bool) -> None:
        super().__init__(message)
        self.delivered_frames = delivered_frames
        self.exit_code = 1 if delivered_frames else 2


class SourceChangeRefused(UserInputError):
    """A source cannot be added to or removed from the running pipeline now (the message says why
    and what to do); nothing was changed."""


class UnknownSource(SourceChangeRefused, LookupError):
    """No source of the running pipeline has that id."""
