"""Geometry and colour handling shared by the pipeline, the evaluator and the trainer."""

from __future__ import annotations

import numpy as np
import pytest

from engines import transforms as T
from engines.metadata import InputSpec, OutputSpec


def _blocks(height: int, width: int) -> np.ndarray:
    """A class map of four quadrants (0..3), so misalignment shows as wrong labels."""
    out = np.zeros((height, width), np.uint8)
    out[: height // 2, width // 2 :] = 1
    out[height // 2 :, : width // 2] = 2
    out[height // 2 :, width // 2 :] = 3
    return out


@pytest.mark.parametrize("mode", ["stretch", "letterbox"])
@pytest.mark.parametrize("src", [(720, 1280), (361, 643), (480, 360)])
def test_round_trip_of_a_class_map_keeps_alignment(mode: str, src: tuple[int, int]) -> None:
    h, w = src
    labels = _blocks(h, w)
    image = np.dstack([labels * 60] * 3).astype(np.uint8)
    fitted, geometry = T.fit(image, 256, 512, mode)  # type: ignore[arg-type]
    assert fitted.shape == (256, 512, 3)
    # A perfect model answers the class of each fitted pixel; map it back to the source size.
    model_answer = (fitted[..., 0].astype(np.int32) + 30) // 60
    if mode == "letterbox":
        pad = np.ones_like(model_answer, dtype=bool)
        pad[geometry.y0 : geometry.y0 + geometry.content_height, geometry.x0 : geometry.x0 + geometry.content_width] = False
        assert (fitted[pad] == T.PAD_VALUE).all()
    restored = T.restore_class_map(model_answer.astype(np.uint8), geometry)
    assert restored.shape == (h, w)
    agreement = (restored == labels).mean()
    assert agreement > 0.99  # only the pixels at the quadrant borders may differ


def test_letterbox_geometry_is_centred_and_keeps_aspect() -> None:
    _, g = T.fit(np.zeros((720, 1280, 3), np.uint8), 256, 512, "letterbox")
    assert (g.content_width, g.content_height) == (455, 256)
    assert g.x0 == (512 - 455) // 2 and g.y0 == 0
    with pytest.raises(ValueError, match="resize mode"):
        T.fit(np.zeros((4, 4, 3), np.uint8), 2, 2, "squash")  # type: ignore[arg-type]


def test_float_input_is_rgb_normalised_nchw() -> None:
    spec = InputSpec(layout="NCHW", dtype="float32", color="RGB", height=2, width=3)
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0] = 10  # blue
    bgr[..., 2] = 200  # red
    batch = T.to_input([bgr], spec)
    assert batch.shape == (1, 3, 2, 3) and batch.dtype == np.float32
    expected_r = (200 / 255 - spec.mean[0]) / spec.std[0]
    expected_b = (10 / 255 - spec.mean[2]) / spec.std[2]
    np.testing.assert_allclose(batch[0, 0], expected_r, rtol=1e-5)
    np.testing.assert_allclose(batch[0, 2], expected_b, rtol=1e-5)


def test_uint8_input_is_passed_through_without_a_float_pass() -> None:
    spec = InputSpec(layout="NHWC", dtype="uint8", color="BGR", height=2, width=3, normalized_in_graph=True)
    frames = [np.full((2, 3, 3), i, np.uint8) for i in (1, 2)]
    batch = T.to_input(frames, spec)
    assert batch.dtype == np.uint8 and batch.shape == (2, 2, 3, 3)
    assert (batch[1] == 2).all()


def test_class_maps_from_logits_and_from_a_class_map() -> None:
    logits = np.zeros((1, 3, 2, 2), np.float32)
    logits[0, 2, 0, 0] = 5
    logits[0, 1, 1, 1] = 5
    cm = T.to_class_maps(logits, OutputSpec(kind="logits"))
    assert cm.dtype == np.uint8 and cm[0, 0, 0] == 2 and cm[0, 1, 1] == 1 and cm[0, 0, 1] == 0
    assert T.to_class_maps(cm, OutputSpec(name="c", kind="classmap", dtype="uint8")) is cm


def test_bilinear_logit_restoration_matches_nearest_away_from_edges() -> None:
    logits = np.zeros((2, 64, 128), np.float32)
    logits[1, :, 64:] = 1.0
    _, g = T.fit(np.zeros((180, 320, 3), np.uint8), 64, 128)
    restored = T.restore_logits(logits, g)
    assert restored.shape == (180, 320)
    assert (restored[:, :150] == 0).all() and (restored[:, 170:] == 1).all()


def test_class_fractions_sum_to_one_and_ignore_padding() -> None:
    cm = np.zeros((256, 512), np.uint8)
    cm[:, 256:] = 4
    _, g = T.fit(np.zeros((100, 100, 3), np.uint8), 256, 512, "letterbox")
    cm[:, : g.x0] = 9  # what the model says about the padding must not count
    fractions = T.class_fractions(cm, 10, g)
    assert fractions.sum() == pytest.approx(1.0)
    assert fractions[9] == 0
    assert fractions[4] == pytest.approx(0.5, abs=0.01)
