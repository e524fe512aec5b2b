"""Errors of the streaming runtime. The whole tree is drawn in ``segcore.errors``."""

from __future__ import annotations

from segcore.errors import SegstreamError

__all__ = ["PipelineError"]


class PipelineError(SegstreamError, RuntimeError):
    """A stage, source or sink failed while the pipeline was running (the CLI exits 1)."""
