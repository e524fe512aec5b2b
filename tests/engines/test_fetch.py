"""``segstream fetch torchvision:NAME`` against real HTTP servers on 127.0.0.1, and ``--model
torchvision:NAME`` from the cache with the server gone.

The mirror serves a checkpoint in torchvision's layout: every key and shape recorded from
torchvision itself in tests/fixtures/torchvision_keys.json (by tools/torchvision_fixture.py), with
random values. Its SHA-256 cannot start with torchvision's published d234d4ea, so under
torchvision's own file name it is the wrong-hash case, and the success case names it by its own
hash with ``--file`` (as a mirror holding another release would).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from engines.checkpoints import load_checkpoint
from engines.errors import ModelError
from engines.zoo import TORCHVISION, cached_model, default_cache_dir, lookup, sha256_prefix_of
from pipeline import Segmenter
from pipeline.construction import resolve_model_path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "torchvision_keys.json").read_text())
NAME = "lraspp_mobilenet_v3_large"
SPEC = f"torchvision:{NAME}"


FIXTURE_KEYS = {NAME: NAME, "deeplabv3_mobilenet_v3_large": "deeplabv3_mobilenet_v3_large(aux_loss=True)"}


def torchvision_layout_checkpoint(name: str, path: Path, seed: int = 3) -> Path:
    """A state dict with exactly torchvision's keys and shapes for ``name``, random values."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in FIXTURE["models"][FIXTURE_KEYS[name]]["state_dict"]:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.1
    torch.save(state, path)
    return path


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def serving(handler: type, **kwargs: object) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, **kwargs))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror folder: each checkpoint under its own hashed name, and LR-ASPP's also under
    torchvision's published name (whose hash it does not have)."""
    folder = tmp_path_factory.mktemp("mirror")
    for name in FIXTURE_KEYS:
        made = torchvision_layout_checkpoint(name, folder / "made.pth")
        digest = hashlib.sha256(made.read_bytes()).hexdigest()
        made.rename(folder / f"{name}-{digest[:8]}.pth")
    shutil.copy(folder / own_name(folder), folder / TORCHVISION[NAME].file)
    return folder


def own_name(mirror: Path, name: str = NAME) -> str:
    return next(p.name for p in mirror.glob(f"{name}-*.pth") if p.name != TORCHVISION[name].file)


def segstream(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python -m segstream ARGS`` as a user runs it, with HOME pointed away from the real cache."""
    base = {k: v for k, v in os.environ.items() if k not in ("SEGSTREAM_MODEL_CACHE", "XDG_CACHE_HOME")}
    return subprocess.run([sys.executable, "-m", "segstream", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**base, "PYTHONPATH": str(ROOT), **(env or {})})


def one_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# ------------------------------------------------------------------------------------ success


@pytest.mark.slow  # one real export (10-30 s) and a run
@pytest.mark.parametrize("name", sorted(FIXTURE_KEYS))
def test_fetch_exports_and_caches_then_the_model_runs_offline_by_name(mirror: Path, tmp_path: Path, name: str) -> None:
    cache, spec, file = tmp_path / "cache", f"torchvision:{name}", own_name(mirror, name)
    (cache / "torchvision" / f".{name}.partial-999999999-1").mkdir(parents=True)  # left by a fetch killed outright
    with serving(_Quiet, directory=str(mirror)) as url:
        result = segstream("fetch", spec, "--base-url", url, "--file", file, "--cache-dir", str(cache),
                           "--input-size", "64x128")
    assert result.returncode == 0, result.stderr[-3000:]
    size_mb = (mirror / file).stat().st_size / 1e6
    assert f"downloading {url}{file}" in result.stdout and f"100% of {size_mb:.1f} MB" in result.stdout
    assert "parity: PASSED" in result.stdout and f"--model {spec}" in result.stdout
    assert files_under(cache) == ["torchvision", f"torchvision/{name}", f"torchvision/{name}/{name}.onnx",
                                  f"torchvision/{name}/{name}.yaml"]  # no checkpoint, no partial folder
    model = cache / "torchvision" / name / f"{name}.onnx"
    meta = yaml.safe_load(model.with_suffix(".yaml").read_text())
    assert meta["provenance"]["checkpoint_sha256"] == hashlib.sha256((mirror / file).read_bytes()).hexdigest()
    assert meta["class_names"][15] == "person" and meta["input"]["dtype"] == "uint8"
    assert meta["output"]["kind"] == "classmap" and (meta["input"]["height"], meta["input"]["width"]) == (64, 128)

    # the server is gone: a second fetch does not need it, and the run finds the model by name
    again = segstream("fetch", spec, "--base-url", url, "--cache-dir", str(cache))
    assert again.returncode == 0 and "already cached" in again.stdout, again.stderr
    stats = tmp_path / "s.json"
    run = segstream("synthetic://street?seed=2&frames=3&size=256x128", "--model", spec, "--json", str(stats),
                    env={"SEGSTREAM_MODEL_CACHE": str(cache)})
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(stats.read_text())
    assert summary["frames"] == 3 and summary["model"]["path"] == str(model)

    # and it is torchvision's network: the class map equals PyTorch's on the checkpoint
    image = np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    with Segmenter.from_model(model) as seg:
        ours = seg.segment(image).class_map
    net = load_checkpoint(mirror / file, arch=name).model.eval()
    rgb = torch.from_numpy(image[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255
    mean, std = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with torch.no_grad():
        expected = net((rgb - mean) / std).argmax(1)[0].numpy()
    assert (ours == expected).mean() > 0.999


# ------------------------------------------------------------------------------------ refusals


def test_a_file_whose_hash_is_not_the_published_one_is_refused_and_nothing_is_kept(mirror: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with serving(_Quiet, directory=str(mirror)) as url:
        result = segstream("fetch", SPEC, "--base-url", url, "--cache-dir", str(cache))
    actual = own_name(mirror).removeprefix(f"{NAME}-")[:8]
    one_error(result, TORCHVISION[NAME].file, f"SHA-256 starts with {actual}, not d234d4ea", "nothing was kept")
    assert "100% of 13.1 MB" in result.stdout  # it was downloaded whole, then refused
    assert not cache.exists()


def test_a_mirror_on_disk_is_read_through_file_urls(mirror: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = segstream("fetch", SPEC, "--base-url", mirror.as_uri(), "--cache-dir", str(cache))
    one_error(result, "not d234d4ea")  # read whole from the folder, then refused by its hash
    assert not cache.exists()


class _NeedsPassword(_Quiet):
    """Serves the mirror only with HTTP Basic credentials user / p@ss."""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"user:p@ss").decode():
            self.send_error(401, "Unauthorized")
            return
        super().do_GET()


def test_a_mirror_behind_a_password_takes_it_from_the_url_and_never_shows_it(mirror: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with serving(_NeedsPassword, directory=str(mirror)) as url:
        with_password = url.replace("http://", "http://user:p%40ss@")
        let_in = segstream("fetch", SPEC, "--base-url", with_password, "--cache-dir", str(cache))
        kept_out = segstream("fetch", SPEC, "--base-url", url, "--cache-dir", str(cache))
    line = one_error(let_in, "not d234d4ea", "http://***@127.0.0.1")  # got the file, refused its hash
    assert "p%40ss" not in line + let_in.stdout and "p@ss" not in line + let_in.stdout
    one_error(kept_out, "HTTP 401")
    assert not cache.exists()


def test_a_missing_file_is_http_404_in_one_line(mirror: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    with serving(_Quiet, directory=str(mirror)) as url:
        result = segstream("fetch", SPEC, "--base-url", url + "elsewhere/", "--cache-dir", str(cache))
    one_error(result, "HTTP 404", "--base-url")
    assert files_under(cache) == []


def test_a_server_that_never_answers_times_out_in_one_line(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with socket.socket() as silent:  # accepts connections (the backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = segstream("fetch", SPEC, "--base-url", f"http://127.0.0.1:{port}/", "--timeout", "1",
                           "--cache-dir", str(cache))
        elapsed = time.monotonic() - started
    one_error(result, "no answer from 127.0.0.1 within 1 s", "--timeout")
    assert elapsed < 30 and not cache.exists()


class _Truncating(SimpleHTTPRequestHandler):
    """Announces the whole file, sends half of it, and hangs up."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        self.wfile.write(b"\0" * 500_000)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_a_download_cut_short_leaves_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with serving(_Truncating, directory=str(tmp_path)) as url:
        result = segstream("fetch", SPEC, "--base-url", url, "--cache-dir", str(cache))
    one_error(result, "nothing was kept", "try again")
    assert not cache.exists()


class _Stalling(SimpleHTTPRequestHandler):
    """Announces a file, sends a first part, then holds the connection open without sending more."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        self.wfile.write(b"\0" * 300_000)
        self.wfile.flush()
        time.sleep(20)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_download_leaves_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    cache = tmp_path / "cache"
    base = {k: v for k, v in os.environ.items() if k != "SEGSTREAM_MODEL_CACHE"}
    with serving(_Stalling, directory=str(tmp_path)) as url:
        process = subprocess.Popen([sys.executable, "-m", "segstream", "fetch", SPEC, "--base-url", url, "--cache-dir",
                                    str(cache)], cwd=ROOT, env={**base, "PYTHONPATH": str(ROOT)},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not any(p.name.endswith(".download") and p.stat().st_size > 0 for p in cache.rglob("*")):
                assert process.poll() is None and time.monotonic() < deadline, "the download never started"
                time.sleep(0.05)
            process.send_signal(sig)
            out, err = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
    assert not cache.exists()


@pytest.mark.parametrize(("args", "needles"), [
    (["torchvision:fcn_resnet50"], ["'torchvision:fcn_resnet50' is not a model segstream can fetch",
                                     "torchvision:deeplabv3_mobilenet_v3_large"]),
    ([SPEC, "--base-url", "ftp://mirror/"], ["is not an https://, http:// or file:// URL"]),
    ([SPEC, "--file", "lraspp.pth"], ["carries no hash"]),
    ([SPEC, "torchvision:deeplabv3_mobilenet_v3_large", "--file", f"{NAME}-0123abcd.pth"], ["one torchvision:NAME"]),
    ([SPEC, "--timeout", "0"], ["out of range"]),
    ([SPEC, "--input-size", "16x16", "--base-url", "http://127.0.0.1:9/"], ["input size 16x16 is too small"]),
])
def test_bad_arguments_are_one_line_before_any_download(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    cache = tmp_path / "cache"
    one_error(segstream("fetch", *args, "--cache-dir", str(cache)), *needles)
    assert not cache.exists()


@pytest.mark.parametrize("command", [[], ["eval", "--json", "r.json", "--data"]], ids=["run", "eval"])
def test_a_name_not_in_the_cache_says_to_fetch_it(tmp_path: Path, command: list[str]) -> None:
    result = segstream(*command, "synthetic://street?frames=2", "--model", "torchvision:deeplabv3_mobilenet_v3_large",
                       env={"SEGSTREAM_MODEL_CACHE": str(tmp_path)})
    one_error(result, f"not in the model cache {tmp_path}", "`segstream fetch torchvision:deeplabv3_mobilenet_v3_large`")
    assert files_under(tmp_path) == []


# ------------------------------------------------------------------------------------ the library side


def test_the_cache_folder_follows_the_environment_the_command_passes(tmp_path: Path) -> None:
    assert default_cache_dir({"HOME": "/home/u"}) == Path("/home/u/.cache/segstream/models")
    assert default_cache_dir({"HOME": "/home/u", "XDG_CACHE_HOME": "/var/cache/u"}) == Path("/var/cache/u/segstream/models")
    assert default_cache_dir({"HOME": "/home/u", "XDG_CACHE_HOME": "relative"}) == Path("/home/u/.cache/segstream/models")
    assert default_cache_dir({"SEGSTREAM_MODEL_CACHE": str(tmp_path), "XDG_CACHE_HOME": "/x"}) == tmp_path


def test_names_hashes_and_the_library_refusing_names() -> None:
    assert lookup("torchvision:deeplabv3_mobilenet_v3_large").file == "deeplabv3_mobilenet_v3_large-fc3c493d.pth"
    assert sha256_prefix_of(TORCHVISION[NAME].file) == "d234d4ea"
    with pytest.raises(ModelError, match="segstream fetch torchvision:lraspp"):
        cached_model("/nonexistent", SPEC)
    with pytest.raises(ModelError, match="engines.zoo.cached_model"):
        resolve_model_path(SPEC)  # the library takes files; the command resolves names
