"""Pre- and postprocessing stages and temporal smoothing, against engines.transforms directly."""

from __future__ import annotations

import numpy as np
import pytest

from engines.metadata import InputSpec, OutputSpec
from engines.transforms import Geometry, fit, restore_class_map, to_input
from pipeline.frame import Frame
from pipeline.stage import Packet
from pipeline.stages.postprocess import PostprocessStage, restore
from pipeline.stages.preprocess import PreprocessStage, preprocess_image
from pipeline.stages.smoothing import EmaSmoother, MajorityVote, softmax

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, (90, 160, 3), dtype=np.uint8)
FLOAT_SPEC = InputSpec(layout="NCHW", dtype="float32", color="RGB", height=32, width=64)
U8_SPEC = InputSpec(layout="NHWC", dtype="uint8", color="BGR", height=32, width=64, normalized_in_graph=True)


def frame(image: np.ndarray = IMAGE, source_id: str = "s", labels: np.ndarray | None = None) -> Frame:
    return Frame(image, source_id, 0, 0.0, 0.0, labels)


def test_preprocess_float_model_is_rgb_normalised_nchw() -> None:
    tensor, geometry = preprocess_image(IMAGE, FLOAT_SPEC, (32, 64), "stretch")
    assert tensor.shape == (1, 3, 32, 64) and tensor.dtype == np.float32
    fitted, expected_geometry = fit(IMAGE, 32, 64, "stretch")
    np.testing.assert_array_equal(tensor, to_input([fitted], FLOAT_SPEC))
    assert geometry == expected_geometry
    # RGB order: channel 0 comes from the image's red (BGR index 2)
    red = (fitted[..., 2].astype(np.float32) / 255 - FLOAT_SPEC.mean[0]) / FLOAT_SPEC.std[0]
    np.testing.assert_allclose(tensor[0, 0], red, rtol=1e-5, atol=1e-5)


def test_preprocess_uint8_model_only_resizes() -> None:
    stage = PreprocessStage(U8_SPEC, (32, 64), "letterbox")
    packet = stage.process(frame())
    assert packet.tensor is not None and packet.tensor.dtype == np.uint8 and packet.tensor.shape == (1, 32, 64, 3)
    fitted, geometry = fit(IMAGE, 32, 64, "letterbox")
    np.testing.assert_array_equal(packet.tensor[0], fitted)
    assert packet.geometry == geometry and geometry.x0 > 0  # 16:9 into 2:1: padded left and right


def test_restore_classmap_and_logits_with_letterbox() -> None:
    _, geometry = fit(IMAGE, 32, 64, "letterbox")
    logits = RNG.standard_normal((5, 32, 64)).astype(np.float32)
    nearest = restore(logits, OutputSpec(kind="logits"), geometry, "nearest")
    np.testing.assert_array_equal(nearest, restore_class_map(np.argmax(logits, 0).astype(np.uint8), geometry))
    bilinear = restore(logits, OutputSpec(kind="logits"), geometry, "bilinear")
    assert nearest.shape == bilinear.shape == (90, 160)
    assert (nearest == bilinear).mean() > 0.5
    classmap = np.argmax(logits, 0).astype(np.uint8)
    np.testing.assert_array_equal(restore(classmap, OutputSpec(kind="classmap", dtype="uint8"), geometry), nearest)


def _packet(output: np.ndarray, labels: np.ndarray | None = None, source_id: str = "s") -> Packet:
    geometry = Geometry(90, 160, 32, 64, 0, 0, 64, 32)
    return Packet(frame=frame(labels=labels, source_id=source_id), geometry=geometry, output=output)


def test_postprocess_fractions_and_confusion() -> None:
    stage = PostprocessStage(OutputSpec(kind="classmap", dtype="uint8"), 3)
    output = np.zeros((32, 64), np.uint8)
    output[:, 32:] = 2
    labels = np.zeros((90, 160), np.uint8)
    labels[:, 80:] = 2
    labels[:10] = 255
    packet = stage.process(_packet(output, labels))
    assert packet.class_map is not None and packet.class_map.shape == (90, 160)
    np.testing.assert_allclose(packet.fractions, [0.5, 0.0, 0.5])
    assert packet.confusion is not None and packet.confusion.trace() == packet.confusion.sum() == 80 * 160
    assert packet.output is None  # released once used


def test_postprocess_labels_from_another_label_set_do_not_crash() -> None:
    stage = PostprocessStage(OutputSpec(kind="classmap", dtype="uint8"), 3)
    labels = np.full((90, 160), 7, np.uint8)  # class 7 does not exist for this model
    packet = stage.process(_packet(np.zeros((32, 64), np.uint8), labels))
    assert packet.confusion is None and "s" in stage.label_mismatch


def test_postprocess_refuses_logits_options_for_a_classmap_model() -> None:
    with pytest.raises(ValueError, match="logits"):
        PostprocessStage(OutputSpec(kind="classmap", dtype="uint8"), 3, smoothing="ema")


def test_majority_vote_per_source_removes_flicker() -> None:
    stage = PostprocessStage(OutputSpec(kind="classmap", dtype="uint8"), 3, smoothing="majority", majority_window=3)
    steady, flicker = np.zeros((32, 64), np.uint8), np.full((32, 64), 1, np.uint8)
    maps = [stage.process(_packet(m)).class_map for m in (steady, steady, flicker)]
    assert maps[2] is not None and (maps[2] == 0).all()  # one odd frame is outvoted
    other = stage.process(_packet(flicker, source_id="t")).class_map  # another source: its own state
    assert other is not None and (other == 1).all()


def test_ema_smoother() -> None:
    ema = EmaSmoother(0.5)
    a = np.array([[[4.0]], [[0.0]]], np.float32)
    b = np.array([[[0.0]], [[4.0]]], np.float32)
    first = ema.update(a).copy()
    np.testing.assert_allclose(first, softmax(a))
    second = ema.update(b)
    np.testing.assert_allclose(second, 0.5 * softmax(a) + 0.5 * softmax(b), rtol=1e-6)
    ema.update(np.zeros((2, 2, 2), np.float32))  # a new size resets instead of mixing
    with pytest.raises(ValueError):
        EmaSmoother(0.0)


def test_majority_vote_ties_go_to_the_newest() -> None:
    vote = MajorityVote(2)
    vote.update(np.array([[1]], np.uint8))
    assert vote.update(np.array([[2]], np.uint8))[0, 0] == 2
    vote3 = MajorityVote(3)
    for value in (1, 2, 2, 1):
        result = vote3.update(np.array([[value]], np.uint8))
    assert result[0, 0] == 2  # window [2, 2, 1]
    assert vote3.update(np.zeros((2, 2), np.uint8)).shape == (2, 2)  # a new size resets


def test_softmax_is_stable() -> None:
    p = softmax(np.array([[[1000.0]], [[0.0]]], np.float32))
    np.testing.assert_allclose(p[:, 0, 0], [1.0, 0.0])
