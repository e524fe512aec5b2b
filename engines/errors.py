"""Errors raised on purpose by segstream. The tree::

    SegstreamError
     ├── UserInputError (ValueError)     bad input from the user: the CLI exits 2, one line, no traceback
     │    ├── ConfigError                YAML that cannot be read, unknown key, wrong type or value
     │    ├── SourceError                a source that cannot be opened: missing, empty, not a video, bad URI
     │    ├── ModelError                 a model file or sidecar that is missing, unreadable or inconsistent
     │    └── OutputError                an output path that cannot be used (e.g. equal to an input)
     ├── EngineUnavailableError (RuntimeError)   a backend or device that is not installed here
     │                                           (TensorRT, CUDA); the CLI exits 2 and says what to install
     └── PipelineError (RuntimeError)    a stage, source or sink failed while running: the CLI exits 1

Every message says what went wrong, where, and what to do, on one line.
"""

from __future__ import annotations


class SegstreamError(Exception):
    """Base of every error segstream raises on purpose."""


class UserInputError(SegstreamError, ValueError):
    """The user's input (arguments, config, files) is wrong."""


class ConfigError(UserInputError):
    """A configuration file or override is invalid."""


class SourceError(UserInputError):
    """A source cannot be opened or is not what it claims to be."""


class ModelError(UserInputError):
    """A model file or its sidecar metadata is missing, unreadable or inconsistent."""


class OutputError(UserInputError):
    """An output path cannot be used."""


class EngineUnavailableError(SegstreamError, RuntimeError):
    """The requested backend or device is not available on this machine."""


class PipelineError(SegstreamError, RuntimeError):
    """A component failed while the pipeline was running."""
