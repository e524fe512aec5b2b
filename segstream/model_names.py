"""``--model torchvision:NAME`` (or ``model.path`` in a config, or ``--set``): the model ``segstream
fetch`` put in the cache, found by name with no network access. The command reads the cache folder
from its environment (``$SEGSTREAM_MODEL_CACHE``, ``$XDG_CACHE_HOME``, ``~/.cache``); the library
takes only file paths."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from engines.zoo import cached_model, default_cache_dir, is_named_model
from pipeline.config_schema import Config


def resolve_named_model(config: Config, environ: Mapping[str, str]) -> Config:
    """``config`` with a ``torchvision:NAME`` model path replaced by its cached file; ``ModelError``
    (one line that says to run ``segstream fetch torchvision:NAME``) when it is not cached."""
    if not is_named_model(config.model.path):
        return config
    path = cached_model(default_cache_dir(environ), str(config.model.path))
    return replace(config, model=replace(config.model, path=str(path)))
