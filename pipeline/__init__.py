"""segstream streaming runtime: sources → preprocess → infer → postprocess → render → sinks.

The public API is what ``__all__`` lists; everything else may change. Importing ``pipeline``
imports no torch or TensorRT (engines load their backends when a model is opened).
"""

from engines.errors import EngineUnavailableError, ModelError
from pipeline.config import load_config
from pipeline.config_schema import Config
from pipeline.errors import PipelineError, SourceChangeRefused, UnknownSource
from pipeline.frame import Frame, SegResult
from pipeline.pipeline import Pipeline
from pipeline.queues import BoundedQueue, DropPolicy, QueueClosed
from pipeline.segmenter import Segmentation, Segmenter
from pipeline.sinks.base import Sink
from pipeline.sinks.callback import CallbackSink
from pipeline.sinks.latest import LatestSink
from pipeline.sinks.null import NullSink
from pipeline.sources.base import Source, SourceInfo
from pipeline.sources.push import PushSource
from pipeline.sources.synthetic import SyntheticSource
from segcore.errors import ConfigError, OutputError, SegstreamError, SourceError, UserInputError
from segcore.redact import redact_uri

__all__ = [
    "BoundedQueue",
    "CallbackSink",
    "Config",
    "ConfigError",
    "DropPolicy",
    "EngineUnavailableError",
    "Frame",
    "LatestSink",
    "ModelError",
    "NullSink",
    "OutputError",
    "Pipeline",
    "PipelineError",
    "PushSource",
    "QueueClosed",
    "SegResult",
    "Segmentation",
    "Segmenter",
    "SegstreamError",
    "Sink",
    "Source",
    "SourceChangeRefused",
    "SourceError",
    "SourceInfo",
    "SyntheticSource",
    "UnknownSource",
    "UserInputError",
    "load_config",
    "redact_uri",
]
