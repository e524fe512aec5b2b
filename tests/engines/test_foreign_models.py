"""Foreign ONNX models (exported with torch.onnx.export, no sidecar) run right or are refused in one line.

Each model's class map is a known function of the input (``tests/foreign_models.py``): the test
images are painted in the templates' colours, so the right class map is known exactly, and a host
that feeds another colour order, scale or mean/std, reads another output or crops the letterbox
in the wrong coordinates gets a different map.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from engines.decode import class_ids
from engines.describe import ModelSettings, describe_model
from engines.errors import EngineError, ModelError
from engines.metadata import ModelMeta, OutputSpec
from engines.registry import open_engine
from engines.sidecar_text import sidecar_text
from pipeline.segmenter import Segmenter
from pipeline.stages.postprocess import restore
from pipeline.stages.preprocess import preprocess_image
from tests.foreign_models import Convention, export, painted

SIX = np.array([[0, 1, 2, 3], [4, 5, 0, 1], [2, 3, 4, 5], [1, 0, 5, 4]])  # every class, every neighbour pair
TWO = np.array([[0, 1, 0, 1], [1, 0, 1, 0]])  # two classes: bilinear blends only these two

CONVENTIONS = {  # name → how it was exported; all run right with no sidecar and no settings
    "torchvision": Convention(),
    "nhwc_logits": Convention(output="nhwc"),
    "softmax": Convention(output="softmax"),
    "argmax_int64": Convention(output="argmax"),
    "argmax_keepdim": Convention(output="argmax_keepdim"),
    "argmax_int32": Convention(output="argmax_int32"),
    "uint8_nhwc_in_graph": Convention(in_graph="uint8", input_layout="NHWC"),
    "float_nhwc_input": Convention(input_layout="NHWC"),
    "aux_listed_first": Convention(aux_first=True),
    "quarter_resolution": Convention(stride=4),
    "dynamic_size": Convention(size=None),
    "sigmoid_binary": Convention(output="sigmoid"),
    "binary_logits": Convention(output="binary_logits"),
}
WITH_SETTINGS = {  # name → (export, the settings a user passes); without them the map is wrong
    "bgr": (Convention(color="BGR"), ModelSettings(color="BGR")),
    "float_0_255_in_graph": (Convention(in_graph="float255"), ModelSettings(normalized_in_graph=True, scale=255)),
    "mmseg_mean_std": (
        Convention(mean=(0.9, 0.1, 0.5), std=(0.05, 0.5, 0.1)),
        ModelSettings(mean=(229.5, 25.5, 127.5), std=(12.75, 127.5, 25.5), scale=255),
    ),
}


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("foreign")
    made = {name: export(folder, name, c) for name, c in CONVENTIONS.items()}
    made.update({name: export(folder, name, c) for name, (c, _) in WITH_SETTINGS.items()})
    return made


def segment(path: Path, meta: ModelMeta, image: np.ndarray, resize: str = "stretch", upsample: str = "nearest") -> np.ndarray:
    engine = open_engine(path, meta=meta, device="cpu")
    try:
        batch, geometry = preprocess_image(image, meta.input, (meta.input.height, meta.input.width), resize)  # type: ignore[arg-type]
        return restore(engine.infer(batch)[0], meta.output, geometry, upsample, meta.num_classes)
    finally:
        engine.close()


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_a_foreign_model_with_no_sidecar_gives_the_right_class_map(models: dict[str, Path], name: str) -> None:
    binary = CONVENTIONS[name].output in ("sigmoid", "binary_logits")
    image, expected = painted(128, 128, TWO if binary else SIX)
    meta = describe_model(models[name])
    assert meta.num_classes == (2 if binary else 6)
    assert np.array_equal(segment(models[name], meta, image), expected)
    assert meta.notice.startswith(f"{name}.onnx: ") and "\n" not in meta.notice


def test_the_segmenter_reads_a_foreign_model_the_same_way(models: dict[str, Path]) -> None:
    image, expected = painted(128, 128, SIX)
    with Segmenter.from_model(models["aux_listed_first"], device="cpu") as segmenter:
        result = segmenter.segment(image)
    assert np.array_equal(result.class_map, expected)
    assert result.class_names == tuple(f"class_{i}" for i in range(6))


@pytest.mark.parametrize("name", sorted(WITH_SETTINGS))
def test_conventions_the_graph_cannot_state_are_right_with_their_settings(models: dict[str, Path], name: str) -> None:
    image, expected = painted(128, 128, SIX)
    settings = WITH_SETTINGS[name][1]
    assert np.array_equal(segment(models[name], describe_model(models[name], settings), image), expected)
    assumed = segment(models[name], describe_model(models[name]), image)  # torchvision's convention: wrong
    assert (assumed != expected).mean() > 0.2


@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
@pytest.mark.parametrize("frame", [(128, 128), (64, 128), (128, 64), (96, 192)])
@pytest.mark.parametrize("name", ["torchvision", "quarter_resolution", "nhwc_logits", "sigmoid_binary"])
def test_every_resize_mode_maps_the_output_back_exactly(
    models: dict[str, Path], name: str, frame: tuple[int, int], resize: str, upsample: str
) -> None:
    rows, cols = (4, 2) if frame[0] > frame[1] else (2, 4) if frame[1] > frame[0] else (4, 4)
    layout = np.indices((rows, cols)).sum(axis=0) % 2  # a checkerboard of classes 0 and 1
    image, expected = painted(frame[0], frame[1], layout)
    meta = describe_model(models[name])
    assert np.array_equal(segment(models[name], meta, image, resize, upsample), expected)


def test_letterboxed_quarter_resolution_logits_are_cropped_in_output_coordinates(models: dict[str, Path]) -> None:
    image, expected = painted(64, 128, SIX[:2])  # 2:1 into a square model: half of the rows are padding
    meta = describe_model(models["quarter_resolution"])
    assert np.array_equal(segment(models["quarter_resolution"], meta, image, "letterbox", "nearest"), expected)
    # bilinear: between two classes a third may win half way (scores blend), so away from the block edges
    near_edge = np.zeros(expected.shape, dtype=bool)
    for edge in (0, 32, 64):
        near_edge[max(0, edge - 3) : edge + 3, :] = True
    for edge in (0, 32, 64, 96, 128):
        near_edge[:, max(0, edge - 3) : edge + 3] = True
    bilinear = segment(models["quarter_resolution"], meta, image, "letterbox", "bilinear")
    assert np.array_equal(bilinear[~near_edge], expected[~near_edge])


def test_the_output_named_in_the_settings_is_the_one_read(models: dict[str, Path]) -> None:
    image, expected = painted(128, 128, SIX)
    meta = describe_model(models["aux_listed_first"], ModelSettings(output="aux"))
    assert meta.output.name == "aux" and "using output 'aux' (output.name (model.output))" in meta.notice
    assert (segment(models["aux_listed_first"], meta, image) != expected).mean() > 0.5  # aux holds other scores


def test_a_written_sidecar_reproduces_the_no_sidecar_description(models: dict[str, Path], tmp_path: Path) -> None:
    for name in ("torchvision", "argmax_int64", "sigmoid_binary", "uint8_nhwc_in_graph", "aux_listed_first"):
        meta = describe_model(models[name])
        copy = tmp_path / f"{name}.onnx"
        copy.write_bytes(models[name].read_bytes())
        (tmp_path / f"{name}.yaml").write_text(sidecar_text(meta, copy.name))
        again = describe_model(copy)
        assert again == meta
        assert again.notice == "" or again.notice.startswith(f"{name}.onnx: using output")


def test_labels_and_colours_files_name_the_classes(models: dict[str, Path], tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_bytes("\ufeffvoid\r\nred\r\ngreen\r\nblue\r\nyellow\r\nwhite\r\n\r\n".encode())  # Windows: BOM, CRLF
    colours = tmp_path / "colours.txt"
    colours.write_text("\n".join(f"{i} {i} {i} 255" if i % 2 else f"{i},{i},{i}" for i in range(6)))
    meta = describe_model(models["argmax_int64"], ModelSettings(labels=str(labels), colors=str(colours)))
    assert meta.class_names == ("void", "red", "green", "blue", "yellow", "white")
    assert meta.palette[5] == (5, 5, 5)
    assert "model.labels" not in meta.notice and "model.colors" not in meta.notice
    only_mean = describe_model(models["torchvision"], ModelSettings(mean=(0.5, 0.5, 0.5)))
    assert "ImageNet's std (input.std)" in only_mean.notice and "ImageNet's mean" not in only_mean.notice


@pytest.mark.parametrize(("labels", "colours", "needle"), [
    ("a\n\nb\n", None, "line 2 is empty"),
    ("", None, "is empty"),
    (None, "0 0 0\n300 0 0\n", "line 2 is '300 0 0'"),
    (None, "0 0\n", "give 'R G B'"),
])
def test_unusable_labels_and_colours_files_are_refused(
    models: dict[str, Path], tmp_path: Path, labels: str | None, colours: str | None, needle: str
) -> None:
    settings = ModelSettings()
    if labels is not None:
        (tmp_path / "l.txt").write_text(labels)
        settings = ModelSettings(labels=str(tmp_path / "l.txt"))
    if colours is not None:
        (tmp_path / "c.txt").write_text(colours)
        settings = ModelSettings(colors=str(tmp_path / "c.txt"))
    with pytest.raises(ModelError, match=needle):
        describe_model(models["torchvision"], settings)


def _sidecar(models: dict[str, Path], tmp_path: Path, name: str, text: str) -> Path:
    copy = tmp_path / f"{name}.onnx"
    copy.write_bytes(models[name].read_bytes())
    (tmp_path / f"{name}.yaml").write_text(text)
    return copy


SIX_NAMES = "class_names: [a, b, c, d, e, f]\npalette: [[0,0,0],[1,1,1],[2,2,2],[3,3,3],[4,4,4],[5,5,5]]\n"


@pytest.mark.parametrize(("name", "text", "needles"), [
    ("torchvision", "class_names: [a, b]\npalette: [[0,0,0],[1,1,1]]\n", ["class_names", "lists 2 classes", "has 6"]),
    ("torchvision", SIX_NAMES + "input: {height: 512}\n", ["input.height is 512", "fixed 64"]),
    ("torchvision", SIX_NAMES + "input: {dtype: uint8, normalized_in_graph: true}\n", ["input.dtype is uint8", "float32"]),
    ("torchvision", SIX_NAMES + "input: {layout: NHWC}\n", ["input.layout is NHWC", "NCHW"]),
    ("torchvision", SIX_NAMES + "input: {mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375]}\n",
     ["input.mean", "input.scale: 255"]),
    ("torchvision", SIX_NAMES + "input: {normalized_in_graph: true}\n", ["input.normalized_in_graph", "input.scale"]),
    ("torchvision", SIX_NAMES + "input: {scale: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}\n",
     ["input.std", "input.scale: 1"]),
    ("torchvision", SIX_NAMES + "output: {name: logits}\n", ["output.name", "'logits'", "out 1×6×64×64"]),
    ("torchvision", SIX_NAMES + "output: {kind: classmap}\n", ["output.kind is classmap", "logits"]),
    ("sigmoid_binary", "output: {kind: logits}\n", ["output.kind is logits", "Sigmoid"]),
    ("sigmoid_binary", "class_names: [defect]\npalette: [[255, 0, 0]]\n", ["lists 1 classes", "binary model: 2 classes"]),
    ("argmax_int64", SIX_NAMES + "output: {kind: logits}\n", ["output.kind is logits", "classmap"]),
    ("uint8_nhwc_in_graph", "input: {normalized_in_graph: false}\n", ["input.normalized_in_graph is false", "uint8"]),
])
def test_a_sidecar_that_contradicts_the_graph_is_refused_in_one_line(
    models: dict[str, Path], tmp_path: Path, name: str, text: str, needles: list[str]
) -> None:
    with pytest.raises(ModelError) as caught:
        describe_model(_sidecar(models, tmp_path, name, text))
    message = str(caught.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def _graph(path: Path, inputs: list, outputs: list, nodes: list) -> Path:  # type: ignore[type-arg]
    import onnx

    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _image(name: str = "x", shape: tuple = (1, 3, 32, 32)) -> object:  # type: ignore[type-arg]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


@pytest.mark.parametrize(("build", "needles"), [
    (lambda p: _graph(p, [_image("a"), _image("b")], [_image("y")], [helper.make_node("Add", ["a", "b"], ["y"])]),
     ["2 inputs", "a 1×3×32×32 float32, b 1×3×32×32 float32", "single"]),
    (lambda p: _graph(p, [_image()], [_image("y", (1, 32, 32))], [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)]),
     ["3 axes", "N×K×H×W"]),
    (lambda p: _graph(p, [_image()], [_image("a", (1, 3, 32, 32)), _image("b", (1, 3, 32, 32))],
                      [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"])]),
     ["2 outputs", "--set model.output=NAME"]),
    (lambda p: _graph(p, [_image()], [helper.make_tensor_value_info("y", TensorProto.INT64, [1, 1, 32, 32])],
                      [helper.make_node("ReduceMax", ["x"], ["m"], axes=[1], keepdims=1),
                       helper.make_node("Cast", ["m"], ["y"], to=TensorProto.INT64)]),
     ["does not say how many classes", "--labels"]),
    (lambda p: _graph(p, [_image("x", (1, 4, 32, 32))], [_image("y", (1, 4, 32, 32))], [helper.make_node("Relu", ["x"], ["y"])]),
     ["no axis of 3 colour channels", "input.layout"]),
    (lambda p: _graph(p, [_image()], [helper.make_tensor_value_info("y", TensorProto.STRING, [1, 32, 32])],
                      [helper.make_node("ReduceMax", ["x"], ["m"], axes=[1], keepdims=0),
                       helper.make_node("Cast", ["m"], ["y"], to=TensorProto.STRING)]),
     ["output is neither scores nor a class map"]),
    (lambda p: _graph(p, [_image()], [_image("y", (1, 32, 32))],
                      [helper.make_node("ArgMax", ["x"], ["a"], axis=1, keepdims=0),
                       helper.make_node("Cast", ["a"], ["y"], to=TensorProto.FLOAT)]),
     ["ArgMax result is cast to float32", "integer type"]),
])
def test_a_graph_that_cannot_be_read_right_is_refused_in_one_line(tmp_path: Path, build, needles: list[str]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError) as caught:
        describe_model(build(tmp_path / "m.onnx"))
    message = str(caught.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_a_boolean_mask_is_a_binary_class_map(tmp_path: Path) -> None:
    path = _graph(tmp_path / "mask.onnx", [_image()], [helper.make_tensor_value_info("y", TensorProto.BOOL, [1, 1, 32, 32])],
                  [helper.make_node("ReduceMax", ["x"], ["m"], axes=[1], keepdims=1),
                   helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("z", TensorProto.FLOAT, [], [0.0])),
                   helper.make_node("Greater", ["m", "zero"], ["y"])])
    meta = describe_model(path)
    assert meta.class_names == ("background", "foreground") and meta.output.kind == "classmap"
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, 16:] = 255  # white: above ImageNet's mean in every channel; black: below
    expected = np.zeros((32, 32), np.uint8)
    expected[:, 16:] = 1
    assert np.array_equal(segment(path, meta, image), expected)


def test_class_ids_beyond_the_class_list_are_an_error_not_another_class() -> None:
    spec = OutputSpec(name="y", kind="classmap", dtype="int64")
    ids = np.full((1, 4, 4), 300, dtype=np.int64)
    with pytest.raises(EngineError, match="class id 300, outside 0..255"):
        class_ids(ids, spec)
    from engines.transforms import Geometry

    geometry = Geometry(4, 4, 4, 4, 0, 0, 4, 4)
    with pytest.raises(EngineError, match="class id 5 but the model lists 3 classes"):
        restore(np.full((4, 4), 5, dtype=np.int64), spec, geometry, "nearest", 3)
