"""The synchronous embedding API: Segmenter.from_model(...).segment(bgr)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import pipeline.construction as construction
from engines.errors import ModelError
from engines.transforms import class_fractions
from pipeline import Segmentation, Segmenter
from segcore.errors import SourceError

RNG = np.random.default_rng(2)
IMAGES = [RNG.integers(0, 256, (180 + 2 * i, 320 - 4 * i, 3), dtype=np.uint8) for i in range(6)]


def test_segment_returns_class_map_at_frame_size(tiny_model: Path) -> None:
    with Segmenter.from_model(tiny_model) as seg:
        result = seg.segment(IMAGES[1])
    assert isinstance(result, Segmentation)
    assert result.class_map.shape == IMAGES[1].shape[:2] and result.class_map.dtype == np.uint8
    np.testing.assert_allclose(result.fractions, class_fractions(result.class_map, 19))
    assert result.class_names[0] == "road" and len(result.class_names) == 19
    assert result.fraction("road") == pytest.approx(float((result.class_map == 0).mean()))
    assert result.mask("sky").dtype == bool



def test_an_unknown_class_name_is_a_key_error_listing_the_names(tiny_model: Path) -> None:
    with Segmenter.from_model(tiny_model) as seg:
        result = seg.segment(IMAGES[0])
    for lookup in (result.fraction, result.mask, result.class_id):
        with pytest.raises(KeyError) as caught:
            lookup("pedestrian")
        message = caught.value.args[0]
        assert "no class 'pedestrian'" in message and "did you mean" not in message
        assert message.endswith("its 19 classes are: " + ", ".join(result.class_names))
    with pytest.raises(KeyError, match="did you mean 'person'"):
        result.fraction("persons")
    assert result.class_id("sky") == 10 and result.mask("sky").sum() == (result.class_map == 10).sum()

@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
def test_batch_equals_one_by_one(tiny_logits_model: Path, resize: str) -> None:
    with Segmenter.from_model(tiny_logits_model, resize=resize) as seg:
        singles = [seg.segment(image) for image in IMAGES]
        batch = seg.segment_batch(IMAGES)
    for a, b in zip(singles, batch, strict=True):
        np.testing.assert_array_equal(a.class_map, b.class_map)


def test_thread_safe_shared_between_threads(tiny_model: Path) -> None:
    with Segmenter.from_model(tiny_model) as seg:
        expected = [seg.segment(image).class_map for image in IMAGES]
        errors: list[BaseException] = []
        mismatches: list[int] = []

        def work() -> None:
            try:
                for _ in range(5):
                    for i, image in enumerate(IMAGES):
                        if not np.array_equal(seg.segment(image).class_map, expected[i]):
                            mismatches.append(i)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors and not mismatches


def test_closed_segmenter_refuses(tiny_model: Path) -> None:
    seg = Segmenter.from_model(tiny_model)
    seg.close()
    seg.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        seg.segment(IMAGES[0])


def test_bad_image_is_a_user_error(tiny_model: Path) -> None:
    with Segmenter.from_model(tiny_model) as seg, pytest.raises(SourceError, match="uint8"):
        seg.segment(np.zeros((10, 10, 3), np.float32))


def test_missing_bundled_model_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(construction, "default_model_path", lambda: tmp_path / "gone.onnx")
    with pytest.raises(ModelError, match=r"bundled default model .*gone.onnx is missing; pass --model"):
        Segmenter.from_model()


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        Segmenter.from_model(tmp_path / "nope.onnx")
