"""A file of a video's *drawn* frames (before camera effects), so a second run only unpacks them.

Drawing a 1280×720 street costs ~15 ms of Python per frame; unpacking a drawn frame costs ~3 ms and
the camera effects (noise, rain, glow, blur, JPEG) are applied after it exactly as when drawing, so
a frame from the cache is bit-identical to a frame drawn now. Drawn frames are flat-coloured
polygons and compress ~30:1 losslessly (zlib), where the finished frames, full of sensor noise,
would not: the 300 frames of the 1280×720 demo take ~28 MB.

The frames of a run that draws frame 0 to the end in order are packed on a worker thread (zlib
lets go of the GIL, so the drawing thread only pays for a copy), and the file is written once,
whole, after the last: into a temporary file beside it, fsynced, then renamed
(``segcore.files.write_atomic``), so a killed run never leaves a file that reads as valid, and two
processes filling it at once each rename a complete, identical file. Its name and header carry every parameter that changes the
pixels, ``GENERATOR_VERSION`` and the NumPy and OpenCV versions; a file whose header, length or
checksum does not match is not used, and a run that reaches the end writes it again.

Layout: magic, header length (u32) + header JSON, frame count (u32), per frame the lengths of
its compressed image and labels (2 × u32), the compressed bytes, and a CRC-32 of all that precedes
it (u32). Everything little-endian.
"""

from __future__ import annotations

import json
import logging
import struct
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from segcore.files import sha256_text, write_atomic
from streetsim.spec import SyntheticSpec

log = logging.getLogger(__name__)

Packed = tuple[bytes | memoryview, bytes | memoryview]  # one frame's compressed image and labels

MAGIC = b"STREETSIM-DRAWN\n"
FORMAT = 1
LEVEL = 1  # zlib: level 1 packs drawn frames nearly as small as level 6 (~25 %) at under half the time
BACKLOG = 8  # frames waiting to be packed before the drawing thread waits (bounds their memory)


def cache_key(spec: SyntheticSpec, generator_version: int) -> dict:
    """What the pixels of every frame depend on (the frame count only sets the file's length)."""
    return {"format": FORMAT, "generator_version": generator_version, "seed": int(spec.seed),
            "camera": spec.camera, "width": int(spec.width), "height": int(spec.height), "fps": float(spec.fps),
            "frames": spec.frames, "numpy": np.__version__, "opencv": cv2.__version__}


def cache_name(spec: SyntheticSpec, key: dict) -> str:
    text = json.dumps(key, sort_keys=True)
    return (f"street_s{spec.seed}_{spec.camera}_{spec.width}x{spec.height}_{spec.frames}f_{spec.fps:g}fps"
            f"_g{key['generator_version']}_{sha256_text(text)[:12]}.drawn")


class DrawnFrameCache:
    """The drawn frames of one finite video in ``folder``: read from its file, or collected to write it.

    ``get(i)`` gives frame i's drawn (image, labels) when the file was valid (None otherwise);
    ``add(i, image, labels)`` collects the frames of a run that draws 0, 1, 2, ... in order and writes
    the file after the last one. Any other order stops the collection (the run goes on, drawing).
    One per scene, like the scene; ``close()`` may come from another thread.
    """

    def __init__(self, spec: SyntheticSpec, folder: Path, generator_version: int) -> None:
        if spec.frames is None:
            raise ValueError("an endless video has no file of frames")
        self.frames = int(spec.frames)
        self.shape = (int(spec.height), int(spec.width))
        self.key = cache_key(spec, generator_version)
        self.path = Path(folder) / cache_name(spec, self.key)
        self._packed: list[Packed] | None = _load(self.path, self.key, self.frames)
        self._collection: _Collection | None = None if self._packed is not None else _Collection(self._written)

    @property
    def complete(self) -> bool:
        """Whether every frame can be read from the cache (after the file of this run is written)."""
        collection = self._collection
        if collection is not None and collection.full:
            collection.wait()
        return self._packed is not None

    def get(self, index: int) -> tuple[np.ndarray, np.ndarray] | None:
        packed = self._packed  # one read: close() may run on another thread
        if packed is None:
            return None
        h, w = self.shape
        packed_image, packed_labels = packed[index]
        try:
            image = np.frombuffer(zlib.decompress(packed_image), np.uint8)
            labels = np.frombuffer(zlib.decompress(packed_labels), np.uint8)
        except zlib.error as exc:  # checked by the CRC on load: only a changed library gets here
            log.warning("drawn frame %d of %s does not unpack (%s); drawing the frames instead", index, self.path, exc)
            self._packed = None
            return None
        if image.size != h * w * 3 or labels.size != h * w:
            log.warning("drawn frame %d of %s has the wrong size; drawing the frames instead", index, self.path)
            self._packed = None
            return None
        # writable copies: the camera effects draw over the image in place
        return image.reshape(h, w, 3).copy(), labels.reshape(h, w).copy()

    def add(self, index: int, image: np.ndarray, labels: np.ndarray) -> None:
        """Collect frame ``index`` as drawn (call before the camera effects change the image)."""
        collection = self._collection
        if collection is None or collection.full:
            return
        if index != len(collection):  # not a run from the first frame to the last: nothing to write
            self._collection = None
            collection.cancel()
            return
        collection.add(image, labels, last=index == self.frames - 1)

    def close(self) -> None:
        """Finish writing a run that reached the last frame, drop one that did not, let go of the frames."""
        collection, self._collection = self._collection, None
        if collection is not None:
            if collection.full:
                collection.wait()
            else:
                collection.cancel()
        self._packed = None

    def _written(self, packed: list[Packed]) -> None:
        """On the worker thread: every frame is packed; write the file, then read later frames from them."""
        data = _pack(self.key, packed)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, data)
        except OSError as exc:
            log.warning("cannot write the drawn-frame cache %s: %s", self.path, exc.strerror or exc)
        else:
            log.info("cached %d drawn frames (%.1f MB) in %s", len(packed), len(data) / 1e6, self.path)
        self._packed = packed  # loops and later reads in this run unpack them too


class _Collection:
    """Frames packed in order on one worker thread; ``done(packed)`` runs there after the last."""

    def __init__(self, done) -> None:
        self._done = done
        self._jobs: list[Future] = []
        self._pool: ThreadPoolExecutor | None = None
        self._finished: Future | None = None

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def full(self) -> bool:
        return self._finished is not None

    def add(self, image: np.ndarray, labels: np.ndarray, last: bool) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streetsim-cache")
        if len(self._jobs) > BACKLOG:
            self._jobs[-BACKLOG].result()
        # copies: the camera effects draw over the image in place, and the caller owns the labels
        self._jobs.append(self._pool.submit(_pack_frame, image.copy(), labels.copy()))
        if last:
            jobs = self._jobs
            self._finished = self._pool.submit(lambda: self._done([job.result() for job in jobs]))
            self._pool.shutdown(wait=False)

    def wait(self) -> None:
        if self._finished is not None:
            self._finished.result()

    def cancel(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _pack_frame(image: np.ndarray, labels: np.ndarray) -> Packed:
    return zlib.compress(np.ascontiguousarray(image).data, LEVEL), zlib.compress(np.ascontiguousarray(labels).data, LEVEL)


def _pack(key: dict, packed: list[Packed]) -> bytes:
    header = json.dumps(key, sort_keys=True).encode()
    lengths = np.array([(len(a), len(b)) for a, b in packed], dtype="<u4")
    parts: list[bytes | memoryview] = [MAGIC, struct.pack("<I", len(header)), header, struct.pack("<I", len(packed)),
                                       lengths.tobytes()]
    parts += [blob for pair in packed for blob in pair]
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


def _load(path: Path, key: dict, frames: int) -> list[Packed] | None:
    """The packed frames of a valid file at ``path``; None (and why, in the log) for anything else."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read the drawn-frame cache %s: %s", path, exc.strerror or exc)
        return None
    why = _invalid(data, key, frames)
    if why:
        log.info("not using the drawn-frame cache %s: %s; the frames are drawn again", path, why)
        return None
    view = memoryview(data)
    start = len(MAGIC) + 4 + struct.unpack_from("<I", data, len(MAGIC))[0] + 4
    lengths = np.frombuffer(data, "<u4", count=2 * frames, offset=start).reshape(frames, 2).tolist()
    at = start + 8 * frames
    packed: list[Packed] = []  # memoryviews of ``data``: zlib reads them without copies
    for a, b in lengths:
        packed.append((view[at:at + a], view[at + a:at + a + b]))
        at += a + b
    return packed


def _invalid(data: bytes, key: dict, frames: int) -> str | None:
    """Why ``data`` is not the file for ``key`` (None: it is)."""
    if not data.startswith(MAGIC):
        return "not a drawn-frame file"
    body = memoryview(data)[:-4]
    if len(data) < len(MAGIC) + 12 or struct.unpack_from("<I", data, len(data) - 4)[0] != zlib.crc32(body):
        return "truncated or damaged (checksum)"
    try:
        size = struct.unpack_from("<I", data, len(MAGIC))[0]
        at = len(MAGIC) + 4
        header = json.loads(data[at:at + size])
        if header != key:
            return f"made for {header}"
        at += size
        if struct.unpack_from("<I", data, at)[0] != frames:
            return "another frame count"
        lengths = np.frombuffer(data, "<u4", count=2 * frames, offset=at + 4)
    except (struct.error, ValueError):
        return "malformed"
    if at + 4 + 8 * frames + int(lengths.sum(dtype=np.int64)) != len(body):
        return "frame lengths do not add up"
    return None
