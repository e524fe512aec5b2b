"""Output names: per-source templates, the inputs outputs must not overwrite, and output folders.

``out/{source}.mp4`` (also ``{index}``, the source's position) gives one file per source. A plain
path given for several sources gets the source id added (``out.mp4`` → ``out_cam1.mp4``); for a
single source it is used as it is. A video is written to ``NAME.partial.SUFFIX`` first
(``partial_path``) and renamed into place when it is finalised.

``real_path`` is what a name finally points at (``~`` expanded, ``..`` and symlinks resolved), the
form in which outputs are compared with inputs and with each other.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

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


def partial_path(path: Path) -> Path:
    """Where a video is written until it is finalised: ``out.mp4`` → ``out.partial.mp4``."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def real_path(path: Path) -> Path:
    """``path`` absolute, with ``~``, ``..`` and every symlink resolved (also one that dangles)."""
    absolute = Path(os.path.abspath(path.expanduser()))
    try:
        return absolute.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare the name as written
        return absolute


def same_file(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` name one file: the same real path, or hard links to one inode."""
    if real_path(a) == real_path(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (yet)
        return False


def local_inputs(inputs: Iterable[str]) -> list[Path]:
    """The inputs that are local paths (not camera indices or network URIs), as named."""
    paths = []
    for uri in inputs:
        text = uri.strip()
        if text.lower().startswith("file://"):
            text = unquote(urlsplit(text).path)
        elif _SCHEME.match(text) or text.isdigit():
            continue
        paths.append(Path(text).expanduser())
    return paths


def check_not_input(output: Path, inputs: Iterable[str], what: str) -> None:
    """Raise ``OutputError`` if ``output`` is (or, via links, would overwrite) one of ``inputs``."""
    for source in local_inputs(inputs):
        if same_file(output, source):
            raise OutputError(
                f"{what} {output} is also an input; writing it would destroy the input: choose another path"
            )


def make_folder(folder: Path, what: str, path: Path) -> list[Path]:
    """Create ``folder`` (for ``what`` at ``path``) and its parents; the folders it created, deepest first."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            break
        missing.append(candidate)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create the folder for {what} {path}: {exc.strerror}; choose another path"
        ) from None
    return missing


def prepare_parent(path: Path, what: str) -> list[Path]:
    """Create the folder ``path`` goes in (see ``make_folder``); ``OutputError`` if that is impossible."""
    created = make_folder(path.parent, what, path)
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name")
    return created


def remove_empty_folders(folders: Iterable[Path]) -> None:
    """Remove the folders an output created (deepest first) where nothing was written into them."""
    for folder in folders:
        with contextlib.suppress(OSError):  # not empty: something was written, or someone else's
            folder.rmdir()
