"""The optimisation profile: the smallest, tuned-for and largest input shape an engine accepts.

It comes from the ONNX input shape and the sidecar: fixed dimensions stay fixed (asking to change
one is an error that says to re-export); a dynamic batch gets min/opt/max 1/1/4 unless told; a
dynamic size defaults to the sidecar's size (a fixed-size engine, so CUDA graphs apply) unless
``--min/--opt/--max-size`` widen it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engines.build.onnx_file import OnnxInput
from engines.build.options import BuildOptions
from engines.errors import ModelError
from engines.metadata import ModelMeta
from segcore.errors import UserInputError

DEFAULT_MAX_BATCH = 4


@dataclass(frozen=True)
class Profile:
    """One input's optimisation profile: the smallest, the tuned-for and the largest shape."""

    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def __post_init__(self) -> None:
        if not len(self.min) == len(self.opt) == len(self.max):
            raise ValueError(f"profile {self.name!r}: min/opt/max have different ranks")
        for lo, mid, hi in zip(self.min, self.opt, self.max, strict=True):
            if not 0 < lo <= mid <= hi:
                raise ValueError(
                    f"profile {self.name!r}: need 0 < min <= opt <= max in every dimension, got "
                    f"min {self.min}, opt {self.opt}, max {self.max}"
                )

    @property
    def is_static(self) -> bool:
        return self.min == self.max

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        return cls(
            name=str(data["name"]),
            min=tuple(int(v) for v in data["min"]),
            opt=tuple(int(v) for v in data["opt"]),
            max=tuple(int(v) for v in data["max"]),
        )


def image_axes(layout: str) -> tuple[int, int, int]:
    """The (height, width, channel) axes of a 4-D image batch in ``layout`` (NHWC or NCHW)."""
    return (1, 2, 3) if layout == "NHWC" else (2, 3, 1)


def plan_profile(onnx_in: OnnxInput, meta: ModelMeta, opts: BuildOptions) -> Profile:
    """min/opt/max shapes of the input, from the ONNX dims, the sidecar and the options."""
    dims = onnx_in.dims
    if len(dims) != 4:
        raise ModelError(f"ONNX input {onnx_in.name!r} has rank {len(dims)}; a 4-D image batch is expected")
    h_axis, w_axis, c_axis = image_axes(meta.input.layout)
    if dims[c_axis] not in (None, 3):
        raise ModelError(
            f"ONNX input {onnx_in.name!r} has {dims[c_axis]} channels on the {meta.input.layout} "
            "channel axis; the sidecar's layout does not match the graph"
        )

    sizes = (opts.min_size, opts.opt_size, opts.max_size)
    asked_h = tuple(None if s is None else s[0] for s in sizes)
    asked_w = tuple(None if s is None else s[1] for s in sizes)
    asked_batch = (opts.min_batch, opts.opt_batch, opts.max_batch)
    batch = _fixed("batch", dims[0], asked_batch) or _batch_range(*asked_batch)
    heights = _fixed("height", dims[h_axis], asked_h) or _size_range(*asked_h, default=meta.input.height)
    widths = _fixed("width", dims[w_axis], asked_w) or _size_range(*asked_w, default=meta.input.width)
    shapes: list[list[int]] = [[0, 0, 0, 0] for _ in range(3)]
    for i in range(3):
        shapes[i][0] = batch[i]
        shapes[i][h_axis] = heights[i]
        shapes[i][w_axis] = widths[i]
        shapes[i][c_axis] = 3
    try:
        return Profile(onnx_in.name, tuple(shapes[0]), tuple(shapes[1]), tuple(shapes[2]))
    except ValueError as exc:
        raise UserInputError(f"{exc}; check --min/--opt/--max-batch and --min/--opt/--max-size") from None


def _fixed(what: str, fixed: int | None, asked: tuple[int | None, ...]) -> tuple[int, int, int] | None:
    """A fixed ONNX dimension as (v, v, v), or None when it is dynamic; asking to change it is an error."""
    if fixed is None:
        return None
    wrong = [v for v in asked if v is not None and v != fixed]
    if wrong:
        flag = "--min/--opt/--max-batch" if what == "batch" else "--min/--opt/--max-size"
        raise UserInputError(
            f"the ONNX has a fixed {what} of {fixed}, so {flag} cannot ask for {wrong[0]}; "
            f"export the model with a dynamic {what} to change it"
        )
    return (fixed, fixed, fixed)


def _batch_range(lo: int | None, opt: int | None, hi: int | None) -> tuple[int, int, int]:
    """A dynamic batch: min 1, opt = min, max 4 unless asked."""
    lo = 1 if lo is None else lo
    opt = lo if opt is None else opt
    return (lo, opt, max(opt, DEFAULT_MAX_BATCH) if hi is None else hi)


def _size_range(lo: int | None, opt: int | None, hi: int | None, *, default: int) -> tuple[int, int, int]:
    """A dynamic height or width: the sidecar's size for all three unless asked."""
    opt = default if opt is None else opt
    return (opt if lo is None else lo, opt, opt if hi is None else hi)
