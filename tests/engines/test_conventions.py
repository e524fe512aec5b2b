"""What a graph's output shape means: the class axis, the kind, the class count; and the defaults."""

from __future__ import annotations

import pytest

from engines.conventions import default_names, default_palette, input_layout, output_convention
from engines.errors import ModelError
from engines.graph import OutputOrigin, TensorInfo


@pytest.mark.parametrize(("shape", "size", "layout", "channels", "certain"), [
    ((1, 6, 16, 16), (64, 64), "NCHW", 6, True),  # 1/4 resolution logits
    ((1, 64, 64, 6), (64, 64), "NHWC", 6, True),
    ((1, 6, 12, 20), (360, 640), "NCHW", 6, True),  # a stride of 32 that does not divide 360
    ((1, 12, 20, 6), (360, 640), "NHWC", 6, True),
    ((None, 150, None, None), (None, None), "NCHW", 150, True),  # SegFormer: any size
    ((None, None, None, 21), (None, None), "NHWC", 21, True),
    ((1, None, 64, 64), (64, 64), "NCHW", None, True),  # the class count is not stated: names needed
    ((1, 1, 64, 64), (64, 64), "NCHW", 1, True),  # binary
    ((1, 1, 16, 16), (None, None), "NCHW", 1, True),
    ((1, 16, 16, 16), (64, 64), "NCHW", 16, False),  # fits both: the input's layout, and the note says so
])
def test_the_class_axis_is_read_from_the_shape(
    shape: tuple[int | None, ...], size: tuple[int | None, int | None], layout: str, channels: int | None, certain: bool
) -> None:
    found = output_convention(TensorInfo("o", shape, "float32"), OutputOrigin(), size, "NCHW")
    assert (found.kind, found.layout, found.channels, found.layout_certain) == ("logits", layout, channels, certain)


@pytest.mark.parametrize(("shape", "dtype", "origin", "kind", "classes"), [
    ((1, 21, 64, 64), "float32", OutputOrigin("Softmax"), "probabilities", 21),
    ((1, 1, 64, 64), "float32", OutputOrigin("Sigmoid"), "probabilities", 2),
    ((1, 1, 64, 64), "float32", OutputOrigin(), "logits", 2),
    ((1, 64, 64), "int64", OutputOrigin("ArgMax", 19), "classmap", 19),
    ((1, 1, 64, 64), "int32", OutputOrigin(), "classmap", None),
    ((1, 64, 64), "uint8", OutputOrigin("ArgMax", None), "classmap", None),
    ((1, 1, 64, 64), "bool", OutputOrigin(), "classmap", 2),
])
def test_the_kind_and_class_count_are_read_from_dtype_and_ending(
    shape: tuple[int, ...], dtype: str, origin: OutputOrigin, kind: str, classes: int | None
) -> None:
    found = output_convention(TensorInfo("o", shape, dtype), origin, (64, 64), "NCHW")
    assert (found.kind, found.num_classes) == (kind, classes)


@pytest.mark.parametrize(("shape", "dtype", "origin", "needle"), [
    ((1, 6, 10, 10), "float32", OutputOrigin(), "no axis of it can be the class axis"),
    ((1, 1000), "float32", OutputOrigin(), "2 axes"),
    ((1, 6, 64, 64), "int64", OutputOrigin(), "integer outputs must be class maps"),
    ((1, 64, 64), "float32", OutputOrigin("ArgMax", 6), "cast the class ids to an integer type"),
    ((1, 300, 64, 64), "float32", OutputOrigin(), "300 classes; at most 255"),
])
def test_what_is_neither_scores_nor_a_class_map_is_refused(
    shape: tuple[int, ...], dtype: str, origin: OutputOrigin, needle: str
) -> None:
    with pytest.raises(ModelError, match=needle):
        output_convention(TensorInfo("o", shape, dtype), origin, (64, 128) if shape[-1] == 10 else (64, 64), "NCHW")


def test_input_layout_is_the_axis_of_three_channels() -> None:
    assert input_layout((1, 3, 64, 64)) == "NCHW"
    assert input_layout((None, 64, 64, 3)) == "NHWC"
    assert input_layout((1, 3, 3, 3)) is None  # both: unclear
    assert input_layout((1, 4, 64, 64)) is None


def test_the_defaults_are_torchvisions() -> None:
    assert default_palette(6)[:5] == ((0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128))
    assert default_palette(21)[20] == (0, 64, 128)  # VOC's tvmonitor
    assert len(set(default_palette(255))) == 255
    assert default_names(3) == ("class_0", "class_1", "class_2")
    assert default_names(2) == ("background", "foreground") and default_palette(2)[1] == (255, 255, 255)
