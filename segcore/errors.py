"""The base of every error segstream raises on purpose, and the user-input errors every package
shares. Each package owns the rest of its errors (``engines.errors``, ``pipeline.errors``). The
whole tree, with the owner of each error::

    SegstreamError                                      segcore.errors
     ├── UserInputError (ValueError)                    segcore.errors    the CLI exits 2, one line
     │    ├── ConfigError                               segcore.errors    YAML that cannot be read, unknown key, wrong type or value
     │    ├── SourceError                               segcore.errors    a video, camera, image set or dataset that cannot be opened
     │    ├── OutputError                               segcore.errors    an output path that cannot be used
     │    ├── SourceChangeRefused                       pipeline.errors   a source cannot join or leave the running pipeline now
     │    │    └── UnknownSource (LookupError)          pipeline.errors   no source of the running pipeline has that id
     │    └── ModelError                                engines.errors    a model file or sidecar that is missing or inconsistent
     ├── EngineError (RuntimeError)                     engines.errors    an engine failed: the CLI exits 1
     │    ├── EngineUnavailableError                    engines.errors    a backend or device not installed here: exit 2
     │    ├── EngineInterrupted                         engines.errors    a wait for a model server ended by the run's stop
     │    ├── CudaError                                 engines.errors    a CUDA runtime call failed
     │    ├── ParityError                               engines.errors    an exported graph disagrees with PyTorch
     │    └── BuildLockTimeout (TimeoutError)           engines.errors    another process holds an engine build too long
     └── PipelineError (RuntimeError)                   pipeline.errors   a stage, source or sink failed while running: exit 1
          └── SourceFailed                              pipeline.errors   a source gave up (the others go on): exit 2 if it never
                                                                          delivered a frame (the address is the user's to fix), else 1

Every message says what went wrong, where, and what to do, on one line. One mistake raises one
error type wherever it is detected: a bad synthetic URI is a ``SourceError`` whether the pipeline,
the trainer or the evaluator reads it.
"""

from __future__ import annotations

__all__ = ["ConfigError", "OutputError", "SegstreamError", "SourceError", "UserInputError"]


class SegstreamError(Exception):
    """Base of every error segstream raises on purpose."""

    exit_code = 1  # what a command exits with when this error ends it (``segcore.exits``)


class UserInputError(SegstreamError, ValueError):
    """The user's input (arguments, config, files) is wrong."""

    exit_code = 2


class ConfigError(UserInputError):
    """A configuration file or override is invalid."""


class SourceError(UserInputError):
    """A source (video, camera, images, dataset) cannot be opened or is not what it claims to be."""


class OutputError(UserInputError):
    """An output path cannot be used."""
