"""Models known by name: torchvision's official segmentation checkpoints, and the cache that holds
them once ``segstream fetch`` has downloaded, checked and exported them.

``torchvision:lraspp_mobilenet_v3_large`` names torchvision's file
``lraspp_mobilenet_v3_large-d234d4ea.pth``; the 8 hex digits in the name are the start of the file's
SHA-256 (torchvision's own convention, which its hub loader checks). ``segstream fetch NAME``
downloads it (only then), checks that hash, exports it with ``engines.models.export`` (uint8 BGR in,
argmax in the graph, the VOC sidecar) and publishes it in the cache as one folder::

    CACHE/torchvision/lraspp_mobilenet_v3_large/lraspp_mobilenet_v3_large.onnx   (+ .yaml)

Nothing here downloads, imports torch or reads the environment: the command decides the cache
folder (``default_cache_dir`` is given the environment by the command) and passes it in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engines.errors import ModelError

__all__ = [
    "CACHE_ENV", "DEFAULT_BASE_URL", "SCHEME", "TORCHVISION", "NamedCheckpoint", "cache_folder", "cached_model",
    "default_cache_dir", "is_named_model", "lookup", "sha256_prefix_of",
]

SCHEME = "torchvision:"
DEFAULT_BASE_URL = "https://download.pytorch.org/models/"
CACHE_ENV = "SEGSTREAM_MODEL_CACHE"  # read by the commands only
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth$")


@dataclass(frozen=True)
class NamedCheckpoint:
    """One of torchvision's segmentation checkpoints: its builder name and file."""

    name: str  # torchvision's builder, also segstream's architecture name
    file: str  # torchvision's file name: NAME-<start of its SHA-256>.pth
    classes: int
    what: str

    @property
    def spec(self) -> str:
        return f"{SCHEME}{self.name}"


TORCHVISION: dict[str, NamedCheckpoint] = {
    entry.name: entry
    for entry in (
        NamedCheckpoint("lraspp_mobilenet_v3_large", "lraspp_mobilenet_v3_large-d234d4ea.pth", 21,
                        "LR-ASPP MobileNetV3-Large, 21 VOC classes, 3.2 M parameters"),
        NamedCheckpoint("deeplabv3_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large-fc3c493d.pth", 21,
                        "DeepLabv3 MobileNetV3-Large, 21 VOC classes, 11.0 M parameters (with its aux head)"),
    )
}


def is_named_model(text: str | os.PathLike[str] | None) -> bool:
    """Whether ``text`` names a model by ``torchvision:NAME`` rather than by a file path."""
    return isinstance(text, str) and text.startswith(SCHEME)


def lookup(text: str) -> NamedCheckpoint:
    """The checkpoint ``torchvision:NAME`` (or a bare NAME) names; ``ModelError`` listing the names if none."""
    name = text.removeprefix(SCHEME).strip()
    entry = TORCHVISION.get(name)
    if entry is None:
        known = ", ".join(f"{SCHEME}{n}" for n in TORCHVISION)
        raise ModelError(f"{text!r} is not a model segstream can fetch; the names are: {known}")
    return entry


def sha256_prefix_of(file_name: str) -> str:
    """The hex digits torchvision's file name ``NAME-<hex>.pth`` carries: the start of its SHA-256."""
    match = _HASH_IN_NAME.search(file_name)
    if match is None:
        raise ModelError(
            f"checkpoint file name {file_name!r} carries no hash: torchvision names its files NAME-<8 hex digits of "
            "their SHA-256>.pth, which is what is checked; give such a name"
        )
    return match.group(1)


def cache_folder(cache_dir: str | Path, entry: NamedCheckpoint) -> Path:
    """The folder the cache keeps ``entry``'s exported model and sidecar in."""
    return Path(cache_dir).expanduser() / "torchvision" / entry.name


def cached_model(cache_dir: str | Path, text: str) -> Path:
    """The cached ONNX file of ``torchvision:NAME``; ``ModelError`` saying to fetch it when it is not cached."""
    entry = lookup(text)
    path = cache_folder(cache_dir, entry) / f"{entry.name}.onnx"
    if not (path.is_file() and path.with_suffix(".yaml").is_file()):
        raise ModelError(
            f"{entry.spec} is not in the model cache {Path(cache_dir).expanduser()}; download it once with "
            f"`segstream fetch {entry.spec}` (nothing is downloaded unless you ask), then run again"
        )
    return path


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """Where the commands keep fetched models: ``$SEGSTREAM_MODEL_CACHE``, else
    ``$XDG_CACHE_HOME/segstream/models``, else ``~/.cache/segstream/models``. ``environ`` is the
    environment the command was started with (library code reads none)."""
    chosen = environ.get(CACHE_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    xdg = environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative value is ignored
        return Path(xdg) / "segstream" / "models"
    home = environ.get("HOME", "").strip()
    return (Path(home) if home else Path.home()) / ".cache" / "segstream" / "models"
