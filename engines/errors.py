"""Errors of the engines: a model that cannot be used, and an engine that fails.

The whole tree is drawn in ``segcore.errors``.
"""

from __future__ import annotations

from segcore.errors import SegstreamError, UserInputError

__all__ = ["BuildLockTimeout", "CudaError", "EngineError", "EngineInterrupted", "EngineUnavailableError", "ModelError",
           "ParityError"]


class ModelError(UserInputError):
    """A model file or its sidecar metadata is missing, unreadable or inconsistent."""


class EngineError(SegstreamError, RuntimeError):
    """An engine failed while it was being built, loaded or run."""


class EngineUnavailableError(EngineError):
    """The requested backend or device is not available on this machine (the CLI exits 2)."""

    exit_code = 2  # the user asked for what this machine lacks: their choice to change


class EngineInterrupted(EngineError):
    """A wait inside an engine (for a server that does not answer) was ended because the run is stopping."""


class CudaError(EngineError):
    """A CUDA runtime call failed (the message names the call and CUDA's own error name)."""


class ParityError(EngineError):
    """An exported graph disagrees with the PyTorch model beyond the tolerance."""


class BuildLockTimeout(EngineError, TimeoutError):
    """Another process has held the build lock of the same engine for longer than allowed."""
