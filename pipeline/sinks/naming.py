"""Output names: per-source templates, and the rule that no output may overwrite an input.

``out/{source}.mp4`` (also ``{index}``, the source's position) gives one file per source. A plain
path given for several sources gets the source id added (``out.mp4`` → ``out_cam1.mp4``); for a
single source it is used as it is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from segcore.errors import OutputError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def has_placeholders(template: str) -> bool:
    return "{source" in template or "{index" in template


def output_path(template: str, *, source_id: str, index: int, multi_source: bool) -> Path:
    """The path ``template`` names for one source (see the module docstring)."""
    if has_placeholders(template):
        try:
            return Path(template.format(source=source_id, index=index))
        except (KeyError, IndexError, ValueError) as exc:
            raise OutputError(
                f"bad output name template {template!r} ({exc}); use {{source}} and {{index}} only"
            ) from None
    path = Path(template)
    if multi_source:
        return path.with_name(f"{path.stem}_{source_id}{path.suffix}")
    return path


def local_inputs(inputs: Iterable[str]) -> list[Path]:
    """The inputs that are local paths (not camera indices or network URIs)."""
    paths = []
    for uri in inputs:
        text = uri.strip()
        if text.lower().startswith("file://"):
            text = text[len("file://") :]
        elif _SCHEME.match(text) or text.isdigit():
            continue
        paths.append(Path(text).expanduser())
    return paths


def check_not_input(output: Path, inputs: Iterable[str], what: str) -> None:
    """Raise ``OutputError`` if ``output`` is (or, via links, would overwrite) one of ``inputs``."""
    target = output.expanduser().resolve()
    for source in local_inputs(inputs):
        same = source.resolve() == target
        if not same and source.exists() and target.exists():
            same = os.path.samefile(source, target)
        if same:
            raise OutputError(
                f"{what} {output} is also an input; writing it would destroy the input: choose another path"
            )


def prepare_parent(path: Path, what: str) -> None:
    """Create the folder ``path`` goes in; ``OutputError`` if that is impossible."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create the folder for {what} {path}: {exc.strerror}; choose another path"
        ) from None
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name")
