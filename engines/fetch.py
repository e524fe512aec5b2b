"""Fetch torchvision's official segmentation checkpoints by name, check them, export and cache them.

    segstream fetch torchvision:lraspp_mobilenet_v3_large [torchvision:deeplabv3_mobilenet_v3_large]
        [--cache-dir DIR] [--base-url URL] [--file NAME-HASH.pth] [--input-size HxW] [--timeout S] [--force]

Downloads torchvision's file (only because it was asked for), checks that its SHA-256 starts with
the hex digits in its name, exports it with ``engines.models.export`` (uint8 BGR in, normalisation
and argmax in the graph, the VOC sidecar, a parity check) and publishes the model and its sidecar
in the cache as one folder, renamed into place only when everything succeeded: a failed or
interrupted download, a wrong hash or a failed export leaves nothing in the cache. Afterwards
``segstream SOURCE --model torchvision:NAME`` runs offline from the cache. The cache folder is
``--cache-dir``, else ``$SEGSTREAM_MODEL_CACHE``, else ``$XDG_CACHE_HOME/segstream/models``, else
``~/.cache/segstream/models``. ``--base-url`` points at a mirror (``https://…/`` or
``file:///mnt/mirror/`` for an air-gapped site) that holds torchvision's files under their own names.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from engines.download import download_checked
from engines.errors import EngineUnavailableError
from engines.zoo import (
    DEFAULT_BASE_URL,
    NamedCheckpoint,
    cache_folder,
    default_cache_dir,
    lookup,
    sha256_prefix_of,
)
from segcore.errors import UserInputError
from segcore.exits import CommandParser, float_range, run_command
from segcore.files import check_folder, make_folder
from segcore.redact import redact_uri
from segcore.sizes import hw_argument

DEFAULT_INPUT_SIZE = (520, 928)  # torchvision trained these at resize_size=520; 928 keeps 16:9 frames' shape
DEFAULT_TIMEOUT_S = 60.0
CACHE_FOLDER = "model cache (--cache-dir)"
URL_SCHEMES = ("https://", "http://", "file://")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="segstream fetch", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", metavar="torchvision:NAME",
                        help="torchvision:lraspp_mobilenet_v3_large or torchvision:deeplabv3_mobilenet_v3_large")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="where fetched models are kept (default: $SEGSTREAM_MODEL_CACHE, else "
                             "$XDG_CACHE_HOME/segstream/models, else ~/.cache/segstream/models)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, metavar="URL",
                        help=f"where torchvision's files are (default {DEFAULT_BASE_URL}); a mirror, or file:///path/ "
                             "on an air-gapped site")
    parser.add_argument("--file", metavar="NAME-HASH.pth",
                        help="another release's file name on the mirror (one NAME only); its name must carry the "
                             "start of its SHA-256, as torchvision's do, and that is checked")
    parser.add_argument("--input-size", type=hw_argument, default=DEFAULT_INPUT_SIZE, metavar="HxW",
                        help="the input size the graph is exported for (default 520x928)")
    parser.add_argument("--timeout", type=float_range(0, 3600, above=True), default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"seconds to wait for the server to connect or to send more (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--force", action="store_true", help="download and export again even if the model is cached")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    entries = [lookup(name) for name in dict.fromkeys(args.names)]  # every name checked before any download
    base_url = _check_base_url(args.base_url)
    if args.file is not None:
        if len(entries) != 1:
            raise UserInputError("--file names one release's file: fetch one torchvision:NAME with it")
        _check_file_name(args.file)
    chosen = args.cache_dir if args.cache_dir is not None else default_cache_dir(os.environ)
    cache = check_folder(os.path.abspath(chosen.expanduser()), CACHE_FOLDER)
    if importlib.util.find_spec("torch") is None:  # the export needs it: say so before downloading anything
        raise EngineUnavailableError("segstream fetch exports with PyTorch, which is not installed here; "
                                     "pip install 'segstream[train]' (CPU machines: torch==2.13.0 first)")
    from engines.models.export import ExportOptions, check_options

    for entry in entries:  # an input size no export can take is refused before the download, not after it
        check_options(ExportOptions(input_size=args.input_size, uint8_input=True, argmax=True), entry.classes)
    for name in ("torch.onnx", "onnxscript"):  # the exporter's registry and version-converter chatter
        logging.getLogger(name).setLevel(logging.ERROR)
    with _interrupts_raise():
        for entry in entries:
            _fetch_one(entry, cache, base_url, args)
    return 0


def _fetch_one(entry: NamedCheckpoint, cache: Path, base_url: str, args: argparse.Namespace) -> None:
    final = cache_folder(cache, entry)
    model = final / f"{entry.name}.onnx"
    if model.is_file() and model.with_suffix(".yaml").is_file() and not args.force:
        _say(f"{entry.spec} is already cached: {model} (--force fetches and exports it again)")
        return
    file_name = args.file or entry.file
    url = base_url + file_name
    _remove_stale(final.parent, entry.name)
    created = [folder for folder in (final.parent, *final.parent.parents) if not folder.exists()]
    partial = final.parent / f".{entry.name}.partial-{os.getpid()}-{time.monotonic_ns()}"
    published = False
    try:
        make_folder(partial, CACHE_FOLDER)
        checkpoint = partial / file_name
        _say(f"downloading {redact_uri(url)}")
        digest = download_checked(url, checkpoint, sha256_prefix=sha256_prefix_of(file_name), timeout=args.timeout,
                                  progress=_Progress())
        _say(f"checked: SHA-256 {digest[:16]}… starts with the {sha256_prefix_of(file_name)} in its name")
        _export(entry, checkpoint, partial, args.input_size, url, digest)
        checkpoint.unlink()
        _publish(partial, final)
        published = True
        _say(f"cached {model} and its sidecar")
        offline = "" if cache == Path(os.path.abspath(default_cache_dir(os.environ))) else f"SEGSTREAM_MODEL_CACHE={cache} "
        _say(f"run it offline: {offline}segstream SOURCE --model {entry.spec}")
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        for folder in [] if published else created:  # the folders made for it, nearest first, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()


def _export(entry: NamedCheckpoint, checkpoint: Path, out: Path, input_size: tuple[int, int], url: str,
            digest: str) -> None:
    from engines.checkpoints import load_checkpoint
    from engines.models.export import ExportOptions, export_onnx

    loaded = load_checkpoint(checkpoint, arch=entry.name)
    height, width = input_size
    _say(f"exporting {entry.name} at {height}x{width} (uint8 BGR in, class map out) with a parity check")
    result = export_onnx(
        loaded.model, out, name=entry.name, architecture=loaded.architecture, class_names=loaded.class_names,
        palette=loaded.palette, options=ExportOptions(input_size=input_size, uint8_input=True, argmax=True),
        provenance={"source": entry.spec, "url": redact_uri(url), "checkpoint": checkpoint.name,
                    "checkpoint_sha256": digest, **loaded.provenance},
    )
    _say(f"parity: {result.parity.summary()}")


def _publish(partial: Path, final: Path) -> None:
    """Rename the finished folder into place; a cached one is replaced only after the new one is whole."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}-{time.monotonic_ns()}")
    if final.exists():
        final.rename(old)
    try:
        partial.rename(final)
    except OSError as exc:
        if old.exists():
            old.rename(final)
        raise UserInputError(f"cannot publish {final} in the model cache: {exc.strerror or exc}; "
                             "choose another --cache-dir") from None
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale(folder: Path, name: str) -> None:
    """Remove what a fetch that was killed (SIGKILL, power loss) left: ``.NAME.partial-PID-…`` and
    ``.NAME.old-PID-…`` folders of processes that no longer run."""
    for leftover in folder.glob(f".{name}.*-*-*") if folder.is_dir() else ():
        try:
            pid = int(leftover.name.rsplit("-", 2)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(leftover, ignore_errors=True)
        except (ValueError, OSError):  # not ours, or a process we may not signal (alive)
            continue


def _check_base_url(url: str) -> str:
    if not url.startswith(URL_SCHEMES):
        raise UserInputError(f"--base-url {redact_uri(url)!r} is not an https://, http:// or file:// URL; "
                             f"e.g. {DEFAULT_BASE_URL}")
    return url if url.endswith("/") else url + "/"


def _check_file_name(name: str) -> None:
    if "/" in name or "\\" in name or not name.endswith(".pth"):
        raise UserInputError(f"--file {name!r} is not a plain .pth file name; give the name the mirror holds, "
                             "e.g. lraspp_mobilenet_v3_large-d234d4ea.pth")
    sha256_prefix_of(name)


class _Progress:
    """A line at every quarter of the announced size (at the end only when the size is unknown)."""

    def __init__(self) -> None:
        self.quarter = 0

    def __call__(self, done: int, total: int | None) -> None:
        if not total:
            return
        quarter = 4 * done // total
        if quarter > self.quarter:
            self.quarter = quarter
            _say(f"  {25 * quarter:3d}% of {total / 1e6:.1f} MB")


def _say(line: str) -> None:
    print(line, flush=True)


@contextlib.contextmanager
def _interrupts_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP end the fetch as Ctrl-C does: the partial folder is removed on the way out."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
