"""Render modes, palette colours (RGB sidecar → BGR pixels), legend and HUD."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.frame import Frame
from pipeline.stage import Packet
from pipeline.stages.render import Colorizer, RenderStage, rendered_size
from segcore.labels import CITYSCAPES

H, W = 180, 320
RNG = np.random.default_rng(1)
IMAGE = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
CLASS_MAP = np.zeros((H, W), np.uint8)
CLASS_MAP[90:, :] = 0  # road
CLASS_MAP[:90, :] = 10  # sky
CLASS_MAP[100:140, 100:200] = 13  # car
FRACTIONS = np.bincount(CLASS_MAP.ravel(), minlength=19).astype(np.float32) / CLASS_MAP.size
PALETTE_BGR = np.array(CITYSCAPES.palette, np.uint8)[:, ::-1]


def stage(mode: str, **kwargs: object) -> RenderStage:
    kwargs.setdefault("legend", False)
    return RenderStage(CITYSCAPES.class_names, CITYSCAPES.palette, visualize=mode, **kwargs)  # type: ignore[arg-type]


def test_colorizer_matches_palette_indexing_in_bgr() -> None:
    colour = Colorizer(CITYSCAPES.palette)(CLASS_MAP)
    np.testing.assert_array_equal(colour, PALETTE_BGR[CLASS_MAP])
    assert tuple(colour[0, 0]) == (180, 130, 70)  # sky is RGB (70, 130, 180)
    unknown = Colorizer(CITYSCAPES.palette)(np.full((2, 2), 200, np.uint8))
    assert not unknown.any()  # ids without a colour are black


def test_overlay_is_a_weighted_blend() -> None:
    out = stage("overlay", alpha=0.3).render(IMAGE, CLASS_MAP, FRACTIONS)
    expected = cv2.addWeighted(IMAGE, 0.7, PALETTE_BGR[CLASS_MAP], 0.3, 0)
    np.testing.assert_array_equal(out, expected)
    assert IMAGE.flags.writeable  # the frame itself is untouched
    assert not np.shares_memory(out, IMAGE)


def test_mask_side_none() -> None:
    np.testing.assert_array_equal(stage("mask").render(IMAGE, CLASS_MAP, FRACTIONS), PALETTE_BGR[CLASS_MAP])
    side = stage("side").render(IMAGE, CLASS_MAP, FRACTIONS)
    assert side is not None and side.shape == (H, 2 * W, 3)
    np.testing.assert_array_equal(side[:, :W], IMAGE)
    assert stage("none").render(IMAGE, CLASS_MAP, FRACTIONS) is None
    assert rendered_size("side", W, H) == (2 * W, H) and rendered_size("overlay", W, H) == (W, H)
    assert rendered_size("none", W, H) is None
    with pytest.raises(ValueError, match="overlay"):
        stage("squash")


def test_legend_lists_only_the_classes_present() -> None:
    plain = stage("mask").render(IMAGE, CLASS_MAP, FRACTIONS)
    legend_stage = stage("mask", legend=True)
    with_legend = legend_stage.render(IMAGE, CLASS_MAP, FRACTIONS)
    assert plain is not None and with_legend is not None
    changed = np.argwhere((plain != with_legend).any(axis=2))
    assert changed[:, 1].min() > W // 2 and changed[:, 0].min() == 0  # a box in the top-right corner
    assert legend_stage.legend is not None
    patch = legend_stage.legend.patch((0, 10, 13), H)
    for c in (0, 10, 13):  # each present class has its swatch colour in the box
        assert (patch == PALETTE_BGR[c]).all(axis=2).any()
    assert not (patch == PALETTE_BGR[11]).all(axis=2).any()  # person is absent


def test_hud_text_is_drawn_top_left() -> None:
    calls: list[str] = []

    def hud(source_id: str) -> str:
        calls.append(source_id)
        return "30.0 fps  latency 40 ms  dropped 0"

    plain = stage("overlay").render(IMAGE, CLASS_MAP, FRACTIONS, "cam")
    out = stage("overlay", hud=hud).render(IMAGE, CLASS_MAP, FRACTIONS, "cam")
    assert plain is not None and out is not None and calls == ["cam"]
    changed = np.argwhere((plain != out).any(axis=2))
    assert changed[:, 0].min() == 0 and changed[:, 1].min() == 0 and changed[:, 1].max() < W


def test_process_builds_the_result() -> None:
    packet = Packet(frame=Frame(IMAGE, "s", 3, 0.1, 0.0), class_map=CLASS_MAP, fractions=FRACTIONS,
                    timings_ms={"infer": 1.0})
    s = stage("overlay")
    s.start()
    result = s.process(packet)
    assert result.frame.index == 3 and result.class_map is CLASS_MAP and result.timings_ms["infer"] == 1.0
    assert result.rendered is not None and result.rendered.shape == (H, W, 3)
