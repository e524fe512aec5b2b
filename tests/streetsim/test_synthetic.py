"""The synthetic street-scene generator: determinism, random access, labels, video coherence,
the fixed camera's static background, URI parsing and the colour-only baseline."""

from __future__ import annotations

import numpy as np
import pytest

from segcore.errors import SourceError, UserInputError
from segcore.labels import CITYSCAPES, IGNORE_INDEX
from streetsim import REQUIRED_CLASSES, StreetScene, SyntheticSpec

W, H = 320, 180
MOVING = (11, 12, 13, 14, 15, 16, 17, 18)  # person, rider, vehicles


def scene(seed: int = 0, camera: str = "dashcam", frames: int | None = 300, size=(W, H)) -> StreetScene:
    return StreetScene(SyntheticSpec(seed=seed, frames=frames, width=size[0], height=size[1], camera=camera))


@pytest.mark.parametrize("camera", ["dashcam", "fixed"])
def test_deterministic_and_random_access(camera: str) -> None:
    a, b = scene(3, camera), scene(3, camera)
    b.render(40)  # a different history must not matter
    for i in (0, 7, 123):
        ia, la = a.render(i)
        ib, lb = b.render(i)
        assert np.array_equal(ia, ib) and np.array_equal(la, lb)
    frames = list(zip(range(6), scene(3, camera), strict=False))
    img5, lab5 = frames[5][1]
    ir, lr = a.render(5)
    assert np.array_equal(img5, ir) and np.array_equal(lab5, lr)
    other_img, other_lab = scene(4, camera).render(7)
    assert not np.array_equal(other_img, a.render(7)[0])
    assert not np.array_equal(other_lab, a.render(7)[1])


def test_label_validity_and_required_classes() -> None:
    allowed = set(range(CITYSCAPES.num_classes)) | {IGNORE_INDEX}
    seen: set[int] = set()
    for seed in range(4):
        for camera in ("dashcam", "fixed"):
            sc = scene(seed, camera)
            for i in (0, 150, 299):
                img, lab = sc.render(i)
                assert img.shape == (H, W, 3) and img.dtype == np.uint8 and img.flags.c_contiguous
                assert lab.shape == (H, W) and lab.dtype == np.uint8
                values = set(np.unique(lab).tolist())
                assert values <= allowed
                seen |= values
    missing = set(REQUIRED_CLASSES) - seen
    assert not missing, f"classes never drawn: {[CITYSCAPES.class_names[k] for k in sorted(missing)]}"
    ignored = sum(int((scene(s).render(10)[1] == IGNORE_INDEX).mean() * 1000) for s in range(3))
    assert ignored < 60  # ignore stays a sliver (< 2 % of pixels): only objects too small to resolve


def test_sizes_and_length() -> None:
    img, lab = scene(1, size=(64, 48)).render(0)
    assert img.shape == (48, 64, 3) and lab.shape == (48, 64)
    sc = scene(1, frames=12)
    assert len(sc) == 12
    assert sum(1 for _ in sc) == 12
    with pytest.raises(IndexError):
        sc.render(12)
    endless = scene(1, frames=None)
    with pytest.raises(TypeError):
        len(endless)
    it = iter(endless)
    for _ in range(3):
        next(it)


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean())


def test_dashcam_is_a_coherent_video() -> None:
    sc = scene(5, "dashcam")
    l0, l1, l2, l_far = (sc.render(i)[1] for i in (100, 101, 102, 250))
    assert _agreement(l0, l1) > 0.9 and _agreement(l1, l2) > 0.9
    assert _agreement(l0, l1) > _agreement(l0, l_far) + 0.05
    i0, i1, i_far = (sc.render(i)[0].astype(np.int16) for i in (100, 101, 250))
    assert np.abs(i0 - i1).mean() < 0.6 * np.abs(i0 - i_far).mean()
    # the camera really moves: the scene at frame 250 differs a lot from frame 100
    assert _agreement(l0, l_far) < 0.9


@pytest.mark.parametrize("seed", [2, 6])
def test_fixed_camera_has_a_static_background(seed: int) -> None:
    sc = scene(seed, "fixed")
    frames = [sc.render(i) for i in (0, 45, 90)]
    labs = [lab for _, lab in frames]
    moving = np.zeros(labs[0].shape, bool)
    for lab in labs:
        moving |= np.isin(lab, MOVING) | (lab == IGNORE_INDEX)
    for lab in labs[1:]:
        assert np.array_equal(lab[~moving], labs[0][~moving])
    # something does move
    assert any(not np.array_equal(lab, labs[0]) for lab in labs[1:])
    # the static image differs only by per-frame noise/blur/compression
    still = ~moving
    diff = np.abs(frames[0][0].astype(np.int16) - frames[1][0].astype(np.int16))[still]
    assert diff.mean() < 12


def test_uri_round_trip() -> None:
    spec = SyntheticSpec.from_uri("synthetic://street?seed=7&frames=300&size=1280x720&fps=30&camera=dashcam")
    assert spec == SyntheticSpec(seed=7, frames=300, width=1280, height=720, fps=30.0, camera="dashcam")
    assert SyntheticSpec.from_uri(spec.to_uri()) == spec
    assert SyntheticSpec.from_uri("synthetic://street") == SyntheticSpec()
    for endless in ("0", "inf"):
        s = SyntheticSpec.from_uri(f"synthetic://street?frames={endless}&camera=fixed&fps=12.5&size=640x360")
        assert s.frames is None and s.camera == "fixed" and s.fps == 12.5 and s.size == (640, 360)
        assert SyntheticSpec.from_uri(s.to_uri()) == s


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("synthetic://street?sed=7", "unknown parameter 'sed'"),
        ("synthetic://street?seed=-1", "seed"),
        ("synthetic://street?seed=3,4", "seed"),
        ("synthetic://street?frames=ten", "frames"),
        ("synthetic://street?size=1280", "size"),
        ("synthetic://street?size=10x10", "size"),
        ("synthetic://street?fps=0", "fps"),
        ("synthetic://street?camera=drone", "dashcam, fixed"),
        ("synthetic://street?seed=1&seed=2", "twice"),
        ("synthetic://road?seed=1", "not a synthetic source"),
        ("file://street?seed=1", "not a synthetic source"),
        ("synthetic://street/extra", "not a synthetic source"),
    ],
)
def test_bad_uris_raise_one_clear_line(uri: str, needle: str) -> None:
    with pytest.raises(SourceError) as err:
        SyntheticSpec.from_uri(uri)
    message = str(err.value)
    assert needle in message and "\n" not in message
    assert isinstance(err.value, UserInputError)


def test_bad_spec_values() -> None:
    with pytest.raises(SourceError):
        SyntheticSpec(camera="drone")
    with pytest.raises(SourceError):
        SyntheticSpec(width=0)
    with pytest.raises(SourceError):
        SyntheticSpec(frames=0)


def test_colour_baseline_is_far_below_a_model() -> None:
    from training.colour_baseline import colour_baseline_miou

    miou = colour_baseline_miou(train_seeds=[0, 1, 2], test_seeds=[50, 51], frames_per_seed=3, size=(160, 90),
                                render_size=(320, 180))
    assert 0.0 < miou < 0.5


def test_preview_cli(tmp_path, capsys) -> None:
    from streetsim.__main__ import main

    assert main(["synthetic://street?seed=2&size=160x90", "--save", str(tmp_path), "--at", "0,3", "--bench", "2"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "frame_000000.png", "frame_000003.png", "labels_000000.png", "labels_000003.png"]
    assert "render: mean" in capsys.readouterr().out
    assert main(["synthetic://street?camera=drone"]) == 2
