"""Pre-rendered training sets: a dataset resized once to the model size, kept as two .npy arrays.

Rendering a synthetic 720p frame, or decoding a 2048×1024 PNG, costs far more than a training
step's worth of data loading on a 2-core machine. ``prerender`` does it once: every sample goes
through ``engines.transforms.fit`` (stretch, area averaging: the inference preprocessing) and its
labels through ``resize_mask`` (nearest), and the results are stored as ``images.npy``
(N×h×w×3 uint8 BGR) and ``labels.npy`` (N×h×w uint8) in a folder named by a hash of the spec and
size, opened memory-mapped on the next run. The hash covers ``dataset.fingerprint()``: the
synthetic generator's version, or every file's size and modification time, so edited data or a
new generator never reuses a stale cache. The folder appears atomically (written under a
temporary name, then renamed), so an interrupted run never leaves a half cache behind.

A list of datasets (``ConcatDataset``) is cached part by part, so adding a spec to a training
list renders only the new part. Frames are written straight into the memory-mapped files as they
arrive: a disk cache never holds the whole set in memory (36,000 frames at 256×512 are 19 GB).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from engines.transforms import fit, resize_mask
from segcore.errors import OutputError
from segcore.files import sha256_text
from training.data.datasets import RGB, ConcatDataset, Sample, SegmentationDataset

CACHE_VERSION = 1


class ArrayDataset(SegmentationDataset):
    """Samples held in arrays (in memory or memory-mapped), already at the model size."""

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        spec: str,
        class_names: Sequence[str],
        palette: Sequence[RGB],
        names: Sequence[str] | None = None,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} label maps")
        self.images = images
        self.labels = labels
        self.spec = spec
        self.class_names = tuple(class_names)
        self.palette = tuple(palette)
        self.names = list(names) if names is not None else [f"{i:06d}" for i in range(len(images))]

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> Sample:
        return Sample(image=np.asarray(self.images[index]), labels=np.asarray(self.labels[index]), name=self.names[index])


def cache_key(dataset: SegmentationDataset, height: int, width: int) -> str:
    """Names the cache folder: the dataset's fingerprint (spec, files or generator version) and size."""
    text = json.dumps({"data": dataset.fingerprint(), "size": [height, width], "version": CACHE_VERSION}, sort_keys=True)
    return sha256_text(text)[:16]


def _render_range(dataset: SegmentationDataset, start: int, stop: int, height: int, width: int) -> tuple[int, np.ndarray, np.ndarray, list[str]]:
    images = np.empty((stop - start, height, width, 3), dtype=np.uint8)
    labels = np.empty((stop - start, height, width), dtype=np.uint8)
    names = []
    for k, index in enumerate(range(start, stop)):
        sample = dataset[index]
        images[k] = fit(sample.image, height, width, "stretch")[0]
        labels[k] = resize_mask(sample.labels, width, height)
        names.append(sample.name)
    return start, images, labels, names


def prerender(
    dataset: SegmentationDataset,
    height: int,
    width: int,
    *,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    chunk: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> SegmentationDataset:
    """``dataset`` resized to ``height``×``width`` in arrays (an ArrayDataset, or a ConcatDataset
    of them for a list of datasets); cached under ``cache_dir`` if given."""
    if isinstance(dataset, ConcatDataset):
        parts: list[SegmentationDataset] = []
        offset, total = 0, len(dataset)
        for part in dataset.parts:
            def part_progress(done: int, _: int, base: int = offset) -> None:
                if progress is not None:
                    progress(base + done, total)

            parts.append(prerender(part, height, width, cache_dir=cache_dir, workers=workers, chunk=chunk,
                                   progress=part_progress))
            offset += len(part)
        return ConcatDataset(parts)
    return _prerender_one(dataset, height, width, cache_dir=cache_dir, workers=workers, chunk=chunk,
                          progress=progress)


def _prerender_one(
    dataset: SegmentationDataset,
    height: int,
    width: int,
    *,
    cache_dir: str | Path | None,
    workers: int,
    chunk: int,
    progress: Callable[[int, int], None] | None,
) -> ArrayDataset:
    folder = Path(cache_dir) / cache_key(dataset, height, width) if cache_dir else None
    if folder is not None and (folder / "meta.json").is_file():
        return _open_cache(folder, dataset)
    total = len(dataset)
    tmp = None
    if folder is None:
        images = np.empty((total, height, width, 3), dtype=np.uint8)
        labels = np.empty((total, height, width), dtype=np.uint8)
    else:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(total, height, width, 3))
        labels = np.lib.format.open_memmap(tmp / "labels.npy", mode="w+", dtype=np.uint8, shape=(total, height, width))
    names: list[str] = [""] * total
    ranges = [(s, min(s + chunk, total)) for s in range(0, total, chunk)]
    done = 0
    started = time.monotonic()

    def store(result: tuple[int, np.ndarray, np.ndarray, list[str]]) -> None:
        nonlocal done
        start, imgs, labs, nms = result
        images[start : start + len(imgs)] = imgs
        labels[start : start + len(labs)] = labs
        names[start : start + len(nms)] = nms
        done += len(imgs)
        if progress is not None:
            progress(done, total)

    try:
        if workers > 1 and len(ranges) > 1:
            import multiprocessing

            context = multiprocessing.get_context("fork") if hasattr(os, "fork") else None
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                # at most 2 chunks per worker in flight: finished chunks wait in memory until stored
                pending = iter(ranges)
                futures = [pool.submit(_render_range, dataset, a, b, height, width)
                           for a, b in itertools.islice(pending, 2 * workers)]
                while futures:
                    store(futures.pop(0).result())
                    for a, b in itertools.islice(pending, 1):
                        futures.append(pool.submit(_render_range, dataset, a, b, height, width))
        else:
            for a, b in ranges:
                store(_render_range(dataset, a, b, height, width))
        if folder is None:
            return ArrayDataset(images, labels, spec=dataset.spec, class_names=dataset.class_names,
                                palette=dataset.palette, names=names)
        assert tmp is not None and isinstance(images, np.memmap) and isinstance(labels, np.memmap)
        images.flush()
        labels.flush()
        (tmp / "meta.json").write_text(json.dumps({
            "spec": dataset.spec, "size": [height, width], "count": total, "version": CACHE_VERSION,
            "seconds": round(time.monotonic() - started, 1), "names": names,
        }))
        with contextlib.suppress(OSError):  # OSError: another process finished the same cache first
            tmp.rename(folder)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if not (folder / "meta.json").is_file():
        raise OutputError(f"cannot store pre-rendered frames in {folder}: a folder without meta.json is in the "
                          f"way; delete it and run again")
    return _open_cache(folder, dataset)


def _open_cache(folder: Path, dataset: SegmentationDataset) -> ArrayDataset:
    """A finished cache folder, memory-mapped, described by ``dataset``'s spec and classes."""
    meta = json.loads((folder / "meta.json").read_text())
    return ArrayDataset(
        np.load(folder / "images.npy", mmap_mode="r"),
        np.load(folder / "labels.npy", mmap_mode="r"),
        spec=dataset.spec,
        class_names=dataset.class_names,
        palette=dataset.palette,
        names=meta.get("names"),
    )
