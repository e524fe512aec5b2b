"""Sources chosen by URI; each source module is imported only when its kind is used.

==============================================  ======================================
URI                                             source
==============================================  ======================================
``clip.mp4`` (mkv avi mov webm ts m4v mpg ...)  ``FileSource`` (``file.py``)
``0``, ``/dev/video0``, ``v4l2:///dev/video0``  ``WebcamSource`` (``webcam.py``)
``rtsp://`` ``rtsps://`` ``http(s)://``         ``NetworkSource`` (``network.py``)
``rtmp://``
``photo.jpg`` (png bmp webp tif), a folder,     ``ImageSource`` (``images.py``)
a glob ``frames/*.png``
``synthetic://street?seed=7&...``               ``SyntheticSource`` (``synthetic.py``)
==============================================  ======================================

``push://`` is not opened by URI: create ``pipeline.sources.push.PushSource`` in code. ``file://``
URIs are plain paths. A local file with another suffix is tried as a video.

``open_source`` builds the source and checks what is cheap to check (the scheme, that a file
exists and is not empty, that a folder or glob holds images); the caller then calls
``source.open()``, which decodes and raises ``SourceError`` for a file that is not a video.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pipeline.config_schema import SourceConfig
from pipeline.sources.base import Source, SourceInfo
from pipeline.sources.images import GLOB_CHARS, list_images
from segcore.errors import SourceError
from segcore.media import IMAGE_SUFFIXES
from segcore.redact import redact_uri

__all__ = ["Source", "SourceInfo", "open_source", "source_id_for", "source_ids_for"]

KINDS: dict[str, str] = {  # kind → "module:Class", imported when used
    "file": "pipeline.sources.file:FileSource",
    "images": "pipeline.sources.images:ImageSource",
    "webcam": "pipeline.sources.webcam:WebcamSource",
    "network": "pipeline.sources.network:NetworkSource",
    "synthetic": "pipeline.sources.synthetic:SyntheticSource",
}
SCHEMES: dict[str, str] = {
    "rtsp": "network",
    "rtsps": "network",
    "http": "network",
    "https": "network",
    "rtmp": "network",
    "rtmps": "network",
    "v4l2": "webcam",
    "synthetic": "synthetic",
}
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".mkv", ".avi", ".mov", ".webm", ".ts", ".m4v", ".mpg", ".mpeg", ".m2ts", ".mts", ".flv", ".wmv"}
)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_WEBCAM_DEVICE = re.compile(r"^/dev/video(\d+)$")
_V4L_PATH = re.compile(r"^/dev/v4l/by-(id|path)/[^/]+$")  # udev's stable camera names
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

SUPPORTED = (
    "a video file, an image, a folder or glob of images, a camera index (0) or /dev/videoN, "
    "/dev/v4l/by-id/..., v4l2://, rtsp://, rtsps://, http(s)://, rtmp(s):// or synthetic://"
)


def _kind_class(kind: str) -> Callable[..., Any]:
    module_name, _, class_name = KINDS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise SourceError(f"{kind} sources are not available in this installation ({exc})") from None
    cls: Callable[..., Any] = getattr(module, class_name)
    return cls


def classify(uri: str) -> tuple[str, str]:
    """(kind, target) for ``uri``: which source opens it, and the path or URI it is given.

    Raises ``SourceError`` for push://, an unknown scheme, a missing or empty file, and a folder or
    glob without images.
    """
    text = uri.strip()
    if not text:
        raise SourceError(f"empty source; give {SUPPORTED}")
    match = _SCHEME.match(text)
    if match:
        scheme = match.group(1).lower()
        if scheme == "file":
            text = unquote(urlsplit(text).path)  # file:///data/clip.mp4 → /data/clip.mp4
        elif scheme == "push":
            raise SourceError(
                f"{redact_uri(text)}: push sources are created in code (pipeline.sources.push.PushSource), "
                "not opened by URI"
            )
        elif scheme in SCHEMES:
            _check_url(text, SCHEMES[scheme])
            return SCHEMES[scheme], text
        else:
            raise SourceError(f"unknown source scheme {scheme}:// in {redact_uri(text)}; give {SUPPORTED}")
    if text.isdigit() or _WEBCAM_DEVICE.match(text) or _V4L_PATH.match(text):
        return "webcam", text
    path = Path(text).expanduser()
    if path.is_dir():
        _require_images(text, path, "folder")
        return "images", str(path)
    if path.is_file():
        if path.stat().st_size == 0:
            raise SourceError(f"source file {path} is empty (0 bytes); check the file")
        return ("images" if path.suffix.lower() in IMAGE_SUFFIXES else "file"), str(path)
    if GLOB_CHARS & set(text):
        _require_images(text, path, "pattern")
        return "images", str(path)
    suffix = path.suffix.lower()
    kind = "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else "source"
    raise SourceError(
        f"{kind} {redact_uri(text)} does not exist; check the path (sources can be {SUPPORTED})"
    )


def _check_url(text: str, kind: str) -> None:
    """``SourceError`` for a URL Python cannot even split (unbalanced IPv6 brackets); the host and
    port of a network URL are checked by the network source (``check_network_uri``)."""
    try:
        urlsplit(text)
    except ValueError as exc:
        form = ("synthetic://street?seed=7&frames=300 (see docs/synthetic-data.md)" if kind == "synthetic" else
                "SCHEME://HOST:PORT/PATH, with an IPv6 host in brackets: rtsp://[::1]:8554/path")
        raise SourceError(f"malformed URL {redact_uri(text)}: {exc}; write it as {form}") from None


def _require_images(text: str, path: Path, what: str) -> None:
    if not list_images(str(path)):
        raise SourceError(
            f"{what} {text} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
            "check the path, or give a video file"
        )


def open_source(
    uri: str,
    *,
    source_id: str,
    config: SourceConfig | None = None,
    on_status: Callable[..., None] | None = None,
) -> Source:
    """The source for ``uri``, not yet opened: call ``open()`` on it (see the module docstring)."""
    config = config or SourceConfig()
    kind, target = classify(uri)
    cls = _kind_class(kind)
    if kind in ("network", "webcam"):
        source: Source = cls(target, source_id=source_id, config=config, on_status=on_status)
    else:
        source = cls(target, source_id=source_id, config=config)
    return source


def _base_id(uri: str, index: int) -> str:
    text = uri.strip()
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else ""
    if scheme == "file":
        text, scheme = unquote(urlsplit(text).path), ""
    if scheme == "v4l2":
        text, scheme = urlsplit(text).path or text[len("v4l2://") :], ""
    if text.isdigit():
        return f"cam{int(text)}"
    device = _WEBCAM_DEVICE.match(text)
    if device:
        return f"cam{device.group(1)}"
    if scheme:
        try:
            parts = urlsplit(text)
        except ValueError:  # malformed: ``classify`` says so when the source is opened
            parts = urlsplit("")
        # synthetic://street?... → street; otherwise the host name only, never the user-info part
        name = parts.netloc if scheme == "synthetic" else parts.hostname or ""
    else:
        path = Path(text)
        if GLOB_CHARS & set(text):  # frames/*.png → frames
            path = next((p for p in path.parents if not GLOB_CHARS & set(str(p))), Path("."))
            name = path.name or path.resolve().name
        else:
            name = path.stem if path.suffix else path.name
    return _UNSAFE.sub("_", name).strip("._-")[:40] or f"src{index}"


def source_id_for(uri: str, index: int, taken: Iterable[str] = ()) -> str:
    """A short, filesystem-safe id for ``uri``: the file stem, ``cam0``, the host name.

    Never contains credentials (only the host name of a URL is used). ``index`` (the source's
    position) names sources with nothing better (``src3``) and makes a clash with ``taken`` unique.
    """
    base = _base_id(uri, index)
    taken = set(taken)
    candidate, n = base, index
    while candidate in taken:
        candidate = f"{base}_{n}"
        n += 1
    return candidate


def source_ids_for(uris: Sequence[str]) -> list[str]:
    """Unique ids for several sources, in order (``clip``, ``clip_1`` for two ``clip.mp4``)."""
    ids: list[str] = []
    for index, uri in enumerate(uris):
        ids.append(source_id_for(uri, index, taken=ids))
    return ids
