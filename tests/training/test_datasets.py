"""Dataset loaders on fixture datasets in the real formats, joint augmentation, and the pre-render cache."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from engines.transforms import fit, resize_mask
from segcore.errors import SourceError
from segcore.labels import CITYSCAPES, VOC
from tests.fixture_datasets import (
    FOLDER_CLASSES,
    FOLDER_PALETTE,
    street,
    write_cityscapes,
    write_folder,
    write_voc,
)
from training.config import AugmentSection
from training.data.augment import crop_padded, geometric, photometric, training_sample
from training.data.cache import ArrayDataset, prerender
from training.data.datasets import (
    ConcatDataset,
    SyntheticDataset,
    open_dataset,
    open_datasets,
    parse_seeds,
    spread_indices,
)

# ------------------------------------------------------------------------------------------ loaders


def test_cityscapes_train_ids(tmp_path: Path) -> None:
    write_cityscapes(tmp_path / "cs", split="train", per_city=3)
    ds = open_dataset(f"cityscapes:{tmp_path / 'cs'}:train")
    assert len(ds) == 6 and ds.class_names == CITYSCAPES.class_names
    sample = ds[0]
    assert sample.image.shape == (64, 128, 3) and sample.image.dtype == np.uint8
    assert sample.labels.shape == (64, 128) and sample.labels.dtype == np.uint8
    assert set(np.unique(sample.labels)) == {0, 2, 10, 13, 255}
    assert sample.name == "aachen_000000_000019"
    # the image really is the street the labels describe: sky pixels are sky-coloured (BGR)
    sky = sample.image[sample.labels == 10].mean(axis=0)
    np.testing.assert_allclose(sky, CITYSCAPES.palette[10][::-1], atol=3)


def test_cityscapes_raw_label_ids_are_mapped_to_train_ids(tmp_path: Path) -> None:
    write_cityscapes(tmp_path / "a")
    write_cityscapes(tmp_path / "b", raw_ids=True)
    a, b = open_dataset(f"cityscapes:{tmp_path / 'a'}"), open_dataset(f"cityscapes:{tmp_path / 'b'}:val")
    for i in range(len(a)):
        np.testing.assert_array_equal(a[i].labels, b[i].labels)


def test_cityscapes_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        open_dataset(f"cityscapes:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="leftImg8bit"):
        open_dataset(f"cityscapes:{tmp_path / 'empty'}")
    write_cityscapes(tmp_path / "cs")
    with pytest.raises(SourceError, match="split 'train' not found.*available: val"):
        open_dataset(f"cityscapes:{tmp_path / 'cs'}:train")
    next((tmp_path / "cs" / "gtFine" / "val" / "bonn").glob("*.png")).unlink()
    with pytest.raises(SourceError, match="have no labels"):
        open_dataset(f"cityscapes:{tmp_path / 'cs'}")


def test_voc_palette_index_is_the_class(tmp_path: Path) -> None:
    write_voc(tmp_path)
    for root in (tmp_path, tmp_path / "VOCdevkit", tmp_path / "VOCdevkit" / "VOC2012"):
        ds = open_dataset(f"voc:{root}:train")
        assert len(ds) == 3
    ds = open_dataset(f"voc:{tmp_path}")  # default split: val
    assert len(ds) == 2 and ds.class_names == VOC.class_names and ds.num_classes == 21
    sample = ds[0]
    assert sample.name == "2007_000004"
    assert set(np.unique(sample.labels)) == {0, 7, 12, 15, 255}  # background, car, dog, person, border
    # the mask file itself is a palette PNG: OpenCV would see colours, not classes
    mask_path = tmp_path / "VOCdevkit" / "VOC2012" / "SegmentationClass" / "2007_000004.png"
    as_opencv_sees_it = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
    assert as_opencv_sees_it is not None and as_opencv_sees_it.ndim == 3


def test_voc_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a PASCAL VOC"):
        open_dataset(f"voc:{tmp_path}")
    write_voc(tmp_path)
    with pytest.raises(SourceError, match="available splits: train, val"):
        open_dataset(f"voc:{tmp_path}:test")
    (tmp_path / "VOCdevkit" / "VOC2012" / "SegmentationClass" / "2007_000005.png").unlink()
    with pytest.raises(SourceError, match="2007_000005"):
        open_dataset(f"voc:{tmp_path}:val")


@pytest.mark.parametrize("colour_masks", [False, True])
def test_folder_dataset(tmp_path: Path, colour_masks: bool) -> None:
    write_folder(tmp_path / "f", colour_masks=colour_masks)
    ds = open_dataset(f"folder:{tmp_path / 'f'}")
    assert len(ds) == 4 and ds.class_names == FOLDER_CLASSES and ds.palette == FOLDER_PALETTE
    sample = ds[1]
    assert sample.name == "img001" and set(np.unique(sample.labels)) == {0, 1, 2}
    reference = street(48, 96, (0, 0, 1, 2), FOLDER_PALETTE, 201)[1]
    np.testing.assert_array_equal(sample.labels, reference)


def test_folder_errors(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "f", colour_masks=True, palette=False)
    with pytest.raises(SourceError, match="no palette"):
        open_dataset(f"folder:{root}")[0]
    (root / "classes.yaml").write_text(yaml.safe_dump({"names": ["a"], "colours": []}))
    with pytest.raises(SourceError, match="unknown key"):
        open_dataset(f"folder:{root}")
    (root / "classes.yaml").unlink()
    with pytest.raises(SourceError, match="classes.yaml is missing"):
        open_dataset(f"folder:{root}")
    root = write_folder(tmp_path / "g")
    (root / "classes.yaml").write_text(yaml.safe_dump({"names": ["background", "road"]}))  # masks hold class 2
    with pytest.raises(SourceError, match=r"label values \[2\] are outside 0..1"):
        open_dataset(f"folder:{root}")[0]
    (root / "masks" / "img000.png").unlink()
    with pytest.raises(SourceError, match="img000"):
        open_dataset(f"folder:{root}")
    with pytest.raises(SourceError, match="no images/ folder"):
        open_dataset(f"folder:{tmp_path}")


def test_mask_size_must_match_image(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "f")
    cv2.imwrite(str(root / "masks" / "img000.png"), np.zeros((10, 10), np.uint8))
    with pytest.raises(SourceError, match="but its image is"):
        open_dataset(f"folder:{root}")[0]


@pytest.mark.parametrize("spec", ["", "mnist:/data", "cityscapes:", "synthetic:/street", "/some/folder"])
def test_unknown_specs(spec: str) -> None:
    with pytest.raises(SourceError):
        open_dataset(spec)


def test_concat_requires_the_same_classes(tmp_path: Path) -> None:
    write_cityscapes(tmp_path / "cs")
    write_folder(tmp_path / "f")
    both = open_datasets([f"cityscapes:{tmp_path / 'cs'}", f"cityscapes:{tmp_path / 'cs'}"])
    assert isinstance(both, ConcatDataset) and len(both) == 8
    assert both[5].name == both[1].name
    with pytest.raises(SourceError, match="class names differ"):
        open_datasets([f"cityscapes:{tmp_path / 'cs'}", f"folder:{tmp_path / 'f'}"])


def test_index_bounds(tmp_path: Path) -> None:
    ds = open_dataset(f"folder:{write_folder(tmp_path / 'f')}")
    assert ds[-1].name == "img003"
    with pytest.raises(IndexError):
        ds[4]


# ---------------------------------------------------------------------------------------- synthetic


def test_parse_seeds() -> None:
    assert parse_seeds("7") == [7]
    assert parse_seeds("1-4,9,12-13") == [1, 2, 3, 4, 9, 12, 13]
    for bad, message in (("4-1", "runs backwards; write it as 1-4"), ("a", "cannot read seeds"), ("1,1", "repeats"),
                         ("", "names no seed"), ("0-10000000000", "more than 100,000 seeds")):
        with pytest.raises(SourceError, match=message):  # the huge range is refused before it is listed
            parse_seeds(bad)


def test_synthetic_multi_seed_and_camera_layout() -> None:
    ds = open_dataset("synthetic://street?seeds=3-4&frames=6&every=3&camera=dashcam,fixed&size=64x48")
    assert isinstance(ds, SyntheticDataset)
    assert len(ds) == 2 * 2 * 2  # seeds × cameras × frames 0 and 3
    assert [ds.locate(i) for i in range(len(ds))] == [
        (3, "dashcam", 0), (3, "dashcam", 3), (3, "fixed", 0), (3, "fixed", 3),
        (4, "dashcam", 0), (4, "dashcam", 3), (4, "fixed", 0), (4, "fixed", 3),
    ]
    sample = ds[5]
    assert sample.image.shape == (48, 64, 3) and sample.labels.shape == (48, 64)
    assert sample.name == "seed4/dashcam/000003"
    from streetsim import StreetScene, SyntheticSpec

    image, labels = StreetScene(SyntheticSpec.from_uri("synthetic://street?seed=4&frames=6&size=64x48&camera=dashcam")).render(3)
    np.testing.assert_array_equal(sample.image, image)
    np.testing.assert_array_equal(sample.labels, labels)
    single = open_dataset("synthetic://street?seed=4&frames=2&size=64x48")
    assert len(single) == 2 and single.class_names == CITYSCAPES.class_names


@pytest.mark.parametrize("uri", [
    "synthetic://street?seed=1&seeds=2-3",
    "synthetic://street?seeds=1-2&every=0",
    "synthetic://street?seeds=1&camera=drone",
    "synthetic://street?seeds=1&frames=inf",
    "synthetic://street?seeds=1&colour=red",
])
def test_synthetic_bad_uris(uri: str) -> None:
    with pytest.raises(SourceError):
        open_dataset(uri)


def test_spread_indices() -> None:
    assert spread_indices(10, None) == list(range(10))
    assert spread_indices(10, 20) == list(range(10))
    assert spread_indices(10, 3) == [0, 4, 9]  # first, middle, last: every stream gets visited


# ------------------------------------------------------------------------------------- augmentation


def _square(height: int = 120, width: int = 200) -> tuple[np.ndarray, np.ndarray]:
    image = np.zeros((height, width, 3), np.uint8)
    labels = np.zeros((height, width), np.uint8)
    image[30:70, 120:170] = 255
    labels[30:70, 120:170] = 1
    labels[:5] = 255
    return image, labels


def test_geometry_keeps_image_and_mask_aligned() -> None:
    image, labels = _square()
    flips = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        out_img, out_lab = geometric(image, labels, 64, 96, rng, scale=(0.5, 2.0), hflip=0.5)
        assert out_img.shape == (64, 96, 3) and out_lab.shape == (64, 96)
        assert set(np.unique(out_lab)) <= {0, 1, 255}  # nearest: never an interpolated value
        bright = out_img[..., 0] > 127
        square = out_lab == 1
        if square.sum() < 20:
            continue
        overlap = (bright & square).sum() / (bright | square).sum()
        assert overlap > 0.85, f"seed {seed}: image and mask drifted apart (IoU {overlap:.2f})"
        flips += int(square[:, :48].sum() > square[:, 48:].sum())
    assert flips > 0  # the square (right half originally) ended up on the left: flips happened


def test_zooming_out_pads_ignore() -> None:
    image, labels = _square()
    out_img, out_lab = geometric(image, labels, 60, 100, np.random.default_rng(0), scale=(0.5, 0.5))
    assert (out_lab == 255).mean() > 0.5
    assert (out_img[out_lab == 255] == 0).all()


def test_scale_one_is_exactly_inference_preprocessing() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(90, 160, 3), dtype=np.uint8)
    labels = rng.integers(0, 5, size=(90, 160), dtype=np.uint8)
    out_img, out_lab = training_sample(image, labels, 45, 80, AugmentSection(enabled=False), rng)
    np.testing.assert_array_equal(out_img, fit(image, 45, 80, "stretch")[0])
    np.testing.assert_array_equal(out_lab, resize_mask(labels, 80, 45))


def test_photometric_touches_only_the_image_and_is_reproducible() -> None:
    image, labels = _square()
    cfg = AugmentSection(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, blur=1.0, noise=5.0)
    a_img, a_lab = training_sample(image, labels.copy(), 60, 100, cfg, np.random.default_rng(5))
    b_img, b_lab = training_sample(image, labels.copy(), 60, 100, cfg, np.random.default_rng(5))
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lab, b_lab)
    jittered = photometric(image, cfg, np.random.default_rng(1))
    assert jittered.shape == image.shape and jittered.dtype == np.uint8 and not np.array_equal(jittered, image)


def test_crop_padded() -> None:
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(crop_padded(a, 1, 1, 2, 2, 255), [[5, 6], [9, 10]])
    np.testing.assert_array_equal(crop_padded(a, -1, 2, 3, 2, 255), [[255, 8, 9], [255, 255, 255]])


@pytest.mark.parametrize(("override", "key"), [
    ("augment.scale=[1.5, 0.5]", "augment.scale"), ("augment.scale=[0.5]", "augment.scale"),
    ("augment.hflip=2.0", "augment.hflip"), ("augment.blur=-0.1", "augment.blur"), ("augment.noise=-1", "augment.noise"),
])
def test_augment_settings_out_of_range_are_config_errors(override: str, key: str) -> None:
    from segcore.errors import ConfigError
    from training.config import load_config

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


# ------------------------------------------------------------------------------------------- cache


def test_prerender_cache_round_trip(tmp_path: Path) -> None:
    ds = open_dataset(f"cityscapes:{write_cityscapes(tmp_path / 'cs')}")
    first = prerender(ds, 32, 64, cache_dir=tmp_path / "cache", workers=2, chunk=1)
    again = prerender(ds, 32, 64, cache_dir=tmp_path / "cache")
    assert isinstance(again.images, np.memmap)  # the second run reads the cache
    assert len(first) == len(again) == 4 and first.class_names == CITYSCAPES.class_names
    for i in range(4):
        sample = ds[i]
        np.testing.assert_array_equal(again[i].image, fit(sample.image, 32, 64, "stretch")[0])
        np.testing.assert_array_equal(again[i].labels, resize_mask(sample.labels, 64, 32))
        assert again[i].name == sample.name
    assert len(list((tmp_path / "cache").iterdir())) == 1  # no temporary folders left behind


def test_prerender_cache_is_invalidated_when_the_data_changes(tmp_path: Path) -> None:
    root = write_cityscapes(tmp_path / "cs")
    ds = open_dataset(f"cityscapes:{root}")
    prerender(ds, 32, 64, cache_dir=tmp_path / "cache")
    label = sorted((root / "gtFine" / "val" / "aachen").glob("*.png"))[0]
    cv2.imwrite(str(label), np.zeros((64, 128), np.uint8))
    changed = prerender(open_dataset(f"cityscapes:{root}"), 32, 64, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 2  # a new folder: the stale cache was not read
    assert (changed[0].labels == 0).all()


def test_prerender_caches_a_list_of_datasets_part_by_part(tmp_path: Path) -> None:
    specs = [f"synthetic://street?seeds={a}&frames=2&size=96x64" for a in ("1", "2", "3")]
    cache = tmp_path / "cache"
    first = prerender(open_datasets(specs[:2]), 16, 32, cache_dir=cache, workers=2, chunk=1)
    assert len(list(cache.iterdir())) == 2  # one folder per part, no temporary folder left
    seen: list[int] = []
    grown = prerender(open_datasets(specs), 16, 32, cache_dir=cache, chunk=1,
                      progress=lambda done, total: seen.append(done))
    assert len(list(cache.iterdir())) == 3  # only the new part was rendered
    assert seen == [5, 6]  # progress counts over the whole list (the first 4 came from the cache)
    assert isinstance(grown, ConcatDataset) and len(grown) == 6 and len(first) == 4
    reference = open_datasets(specs)
    for i in range(6):
        part = grown.parts[i // 2]
        assert isinstance(part, ArrayDataset) and isinstance(part.images, np.memmap)
        np.testing.assert_array_equal(grown[i].image, fit(reference[i].image, 16, 32, "stretch")[0])
        np.testing.assert_array_equal(grown[i].labels, resize_mask(reference[i].labels, 32, 16))
    for i in range(4):
        np.testing.assert_array_equal(first[i].image, grown[i].image)


def test_prerender_refuses_a_broken_cache_folder_in_its_way(tmp_path: Path) -> None:
    from segcore.errors import OutputError
    from training.data.cache import cache_key

    ds = open_dataset("synthetic://street?seed=1&frames=2&size=96x64")
    blocker = tmp_path / "cache" / cache_key(ds, 16, 32)
    blocker.mkdir(parents=True)
    (blocker / "images.npy").write_bytes(b"half")  # an old, interrupted cache without meta.json
    with pytest.raises(OutputError, match="without meta.json is in the way"):
        prerender(ds, 16, 32, cache_dir=tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [blocker.name]  # no temporary folder left


def test_synthetic_fingerprint_includes_the_generator_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import streetsim

    ds = open_dataset("synthetic://street?seed=1&frames=2&size=64x48")
    before = ds.fingerprint()
    monkeypatch.setattr(streetsim, "GENERATOR_VERSION", streetsim.GENERATOR_VERSION + 1)
    assert ds.fingerprint() != before
