"""Every file a run will write, checked before any source is opened or any frame read.

``check_outputs`` lists the outputs a config asks for by their real names (a ``{source}`` template
becomes one file per source; a video's unfinished ``NAME.partial.SUFFIX`` counts too), resolves
symlinks, and raises one ``OutputError`` naming the path for:

- an output that is an input or would write over one: the same file, a symlink or hard link to
  it, an image of an input folder or glob, or a masks folder that holds input images;
- two outputs on one path, or an output inside a folder that another output writes as a file;
- a target that cannot be written: a folder where a file is wanted, a file that refuses writes,
  or a folder (the nearest one that exists, for a folder still to be created) in which no file
  can be created, such as a read-only mount or a full disk. The probe file is removed; missing
  folders are created later, when the sinks open, as before.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.config_schema import OutputConfig
from pipeline.sinks.naming import local_inputs, output_path, partial_path, real_path, same_file
from pipeline.sources.images import GLOB_CHARS, list_images
from segcore.errors import OutputError
from segcore.files import nearest_existing, probe_writable
from segcore.media import is_image

__all__ = ["PlannedOutput", "check_outputs", "planned_outputs"]


@dataclass(frozen=True)
class PlannedOutput:
    what: str  # how errors name it: "output video", "masks folder", ...
    path: Path  # the name as given, template expanded
    folder: bool = False  # a folder of files (masks) rather than one file
    written_for: Path | None = None  # the output this is the unfinished form of (a video's partial file)
    through: bool = False  # written through an existing path (jsonl: also a pipe), not renamed into place

    def describe(self) -> str:
        if self.written_for is not None:
            return f"the unfinished file {self.path} of output video {self.written_for}"
        return f"{self.what} {self.path}"


def planned_outputs(output: OutputConfig, source_ids: Sequence[str]) -> list[PlannedOutput]:
    """Every path the outputs of ``output`` will write for sources ``source_ids``, in that order."""
    planned = []
    if output.video:
        for index, source_id in enumerate(source_ids):
            path = output_path(output.video, source_id=source_id, index=index, multi_source=len(source_ids) > 1)
            planned.append(PlannedOutput("output video", path))
            planned.append(PlannedOutput("output video", partial_path(path), written_for=path))
    if output.masks:
        planned.append(PlannedOutput("masks folder", Path(output.masks), folder=True))
    if output.jsonl:
        planned.append(PlannedOutput("jsonl output", Path(output.jsonl), through=True))
    if output.json:
        planned.append(PlannedOutput("summary", Path(output.json)))
    return [PlannedOutput(p.what, p.path.expanduser(), p.folder, p.written_for, p.through) for p in planned]


def check_outputs(output: OutputConfig, *, inputs: Sequence[str], source_ids: Sequence[str]) -> list[PlannedOutput]:
    """Check every output of ``output`` (see the module docstring); the planned outputs if all is well."""
    planned = planned_outputs(output, source_ids)
    _check_against_inputs(planned, inputs)
    _check_against_each_other(planned)
    probed: set[Path] = set()
    for item in planned:
        _check_writable(item, probed)
    return planned


# ---- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Inputs:
    paths: list[Path]  # each local input that exists, as named: files and folders
    image_specs: list[str]  # the inputs that name images: folders, globs, image files
    image_folders: set[Path]  # the folders those images are in, resolved

    def images(self) -> set[Path]:
        """Every input image, resolved (listing a large folder takes a while: only when needed)."""
        return {real_path(image) for spec in self.image_specs for image in list_images(spec)}


def _gather_inputs(inputs: Sequence[str]) -> _Inputs:
    paths, specs, folders = [], [], set()
    for path in local_inputs(inputs):
        if path.is_dir():
            paths.append(path)
            specs.append(str(path))
            folders.add(real_path(path))
        elif path.exists():
            paths.append(path)
            if is_image(path):
                specs.append(str(path))
                folders.add(real_path(path.parent))
        elif GLOB_CHARS & set(str(path)):
            specs.append(str(path))
            folders |= {real_path(folder) for folder in {image.parent for image in list_images(str(path))}}
    return _Inputs(paths, specs, folders)


def _check_against_inputs(planned: Sequence[PlannedOutput], inputs: Sequence[str]) -> None:
    found = _gather_inputs(inputs)
    images: set[Path] | None = None
    for item in planned:
        real = real_path(item.path)
        hit = any(same_file(item.path, source) for source in found.paths)
        if not hit and is_image(real) and real.exists() and found.image_specs:  # an input folder's image?
            images = found.images() if images is None else images
            hit = real in images
        if hit:
            link = f" (it links to {real})" if item.path.is_symlink() else ""
            raise OutputError(
                f"{item.describe()} is also an input{link}; writing it would destroy the input: "
                "choose another path"
            )
        if item.folder and real in found.image_folders:
            raise OutputError(
                f"{item.describe()} holds input images; the masks would be written among them: "
                "choose another folder"
            )


# ---- each other -----------------------------------------------------------------------------------


def _check_against_each_other(planned: Sequence[PlannedOutput]) -> None:
    items = [(item, real_path(item.path)) for item in planned]
    for i, (first, first_real) in enumerate(items):
        for second, second_real in items[i + 1 :]:
            if first_real == second_real:
                raise OutputError(
                    f"{first.describe()} and {second.describe()} are the same file; give each output its own path"
                )
            for (outer, outer_real), (inner, inner_real) in (
                ((first, first_real), (second, second_real)),
                ((second, second_real), (first, first_real)),
            ):
                if not outer.folder and outer_real in inner_real.parents:
                    raise OutputError(
                        f"{inner.describe()} would go inside {outer.describe()}, which is written as a file; "
                        "give each output its own path"
                    )


# ---- writable -------------------------------------------------------------------------------------


def _check_writable(item: PlannedOutput, probed: set[Path]) -> None:
    path = item.path
    if item.folder:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{item.describe()} is a file; give a folder path")
        folder = path
    else:
        if path.is_dir():
            raise OutputError(f"{item.describe()} is a folder; give a file name")
        if path.exists() and not os.access(path, os.W_OK):
            raise OutputError(
                f"cannot write {item.describe()}: the file exists and is write-protected "
                f"({os.strerror(errno.EACCES)}); choose another path"
            )
        if path.exists() and not path.is_file():  # a device or a pipe
            if item.through:
                return  # written through, as it is: nothing is created beside it
            raise OutputError(
                f"{item.describe()} is not a regular file (a device or a pipe) and would be replaced by one; "
                "give a file name"
            )
        folder = path.parent
    existing = nearest_existing(folder)
    if not existing.is_dir():
        raise OutputError(f"cannot write {item.describe()}: {existing} is a file, not a folder; choose another path")
    key = real_path(existing)
    if key in probed:
        return
    try:
        probe_writable(existing)
    except OSError as exc:
        raise OutputError(
            f"cannot write {item.describe()}: no file can be created in {existing} ({exc.strerror}); "
            "choose another folder"
        ) from None
    probed.add(key)
