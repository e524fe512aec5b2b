"""A local Triton Inference Server for tests, benchmarks and trying the ``triton`` backend.

    python -m tools.triton_server env                          # create the server's venv (once)
    python -m tools.triton_server serve REPO [--grpc-port 8001] # run tritonserver on 127.0.0.1

The server is the one bundled in the ``nvidia-pytriton`` wheel (tritonserver 2.51 with the Python
backend). It runs from its own venv, made with Debian's ``/usr/bin/python3`` (the Python backend's
stub links against that Python's ``libpython``), with ``numpy<2`` (numpy 2 returns empty outputs
silently) and ``onnxruntime`` for the models ``segstream triton-repo --kind python`` writes. The venv
is at ``$SEGSTREAM_TRITON_ENV`` (default ``~/.cache/segstream/triton-env``), created once under a
lock and marked ``ready`` when complete, so a half-made venv is never used.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from segcore.errors import UserInputError
from segcore.exits import CommandParser, int_range, run_command

SERVER_PACKAGES = ("nvidia-pytriton==0.7.0", "numpy<2", "onnxruntime>=1.18")
DEFAULT_ENV = Path("~/.cache/segstream/triton-env").expanduser()
DEFAULT_PYTHON = "/usr/bin/python3"


def env_path() -> Path:
    return Path(os.environ.get("SEGSTREAM_TRITON_ENV", DEFAULT_ENV)).expanduser()


def _site_packages(env: Path) -> Path:
    found = sorted(env.glob("lib/python3.*/site-packages/pytriton"))
    if not found:
        raise FileNotFoundError(f"{env} has no pytriton; create it with: python -m tools.triton_server env")
    return found[0].parent


def ensure_env(env: Path | None = None, python: str = DEFAULT_PYTHON, log: Any = None) -> Path:
    """The server venv at ``env``, created if missing (a lock keeps two processes from both making it)."""
    env = env or env_path()
    if (env / "ready").is_file():
        return env
    env.parent.mkdir(parents=True, exist_ok=True)
    with open(env.parent / f".{env.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (env / "ready").is_file():
            return env
        shutil.rmtree(env, ignore_errors=True)  # what a run that died half-way left
        out = log if log is not None else subprocess.DEVNULL
        try:  # venvs hold absolute paths: made where they live, complete once "ready" is written
            subprocess.run([python, "-m", "venv", str(env)], check=True, stdout=out, stderr=out)
            subprocess.run([str(env / "bin" / "pip"), "install", "--quiet", *SERVER_PACKAGES],
                           check=True, stdout=out, stderr=out)
            _prepare_backends(env)
            (env / "ready").write_text(" ".join(SERVER_PACKAGES) + "\n")
        except BaseException:
            shutil.rmtree(env, ignore_errors=True)
            raise
    return env


def _prepare_backends(env: Path) -> None:
    """``env/triton-backends/python``: the bundled Python backend with the stub for the venv's Python."""
    site = _site_packages(env)
    version = site.parent.name.removeprefix("python")
    dist = site / "pytriton" / "tritonserver"
    target = env / "triton-backends" / "python"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        shutil.copy(dist / "backends" / "python" / name, target / name)
    shutil.copy(dist / "python_backend_stubs" / version / "triton_python_backend_stub", target)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TritonServer:
    """``tritonserver`` on 127.0.0.1 serving ``repository``; ``start()`` waits until it is ready.

    Ports default to free ones; ``kill()`` ends it at once (SIGKILL), ``start()`` again starts it on
    the same ports. The server's log goes to ``log_path``.
    """

    def __init__(self, repository: str | Path, *, grpc_port: int | None = None, http_port: int | None = None,
                 env: Path | None = None, log_path: str | Path | None = None) -> None:
        self.repository = Path(repository)
        self.env = env or env_path()
        self.grpc_port = grpc_port or free_port()
        self.http_port = http_port or free_port()
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="tritonserver-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None
        # the Python backend's regions in /dev/shm, named so that those a killed server leaves can be removed
        self.shm_prefix = f"segstream_triton_{os.getpid()}_{self.grpc_port}_"

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def command(self) -> list[str]:
        site = _site_packages(self.env)
        return [
            str(site / "pytriton" / "tritonserver" / "bin" / "tritonserver"),
            f"--model-repository={self.repository}",
            f"--backend-directory={self.env / 'triton-backends'}",
            "--grpc-address=127.0.0.1", f"--grpc-port={self.grpc_port}",
            "--http-address=127.0.0.1", f"--http-port={self.http_port}",
            "--allow-metrics=false", "--exit-timeout-secs=5",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
        ]

    def environment(self) -> dict[str, str]:
        site = _site_packages(self.env)
        env = dict(os.environ)
        libs = str(site / "nvidia_pytriton.libs")
        env["LD_LIBRARY_PATH"] = f"{libs}:{env['LD_LIBRARY_PATH']}" if env.get("LD_LIBRARY_PATH") else libs
        env["PATH"] = f"{self.env / 'bin'}:{env.get('PATH', '')}"
        return env

    def start(self, timeout_s: float = 60.0) -> TritonServer:
        if self.process is not None and self.process.poll() is None:
            return self
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), env=self.environment(), stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        import tritonclient.grpc as grpcclient

        deadline = time.monotonic() + timeout_s
        client = grpcclient.InferenceServerClient(self.url)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"tritonserver exited with {self.process.returncode}; log: {self.log_tail()}")
                with contextlib.suppress(Exception):
                    if client.is_server_ready(client_timeout=1.0):
                        return
                time.sleep(0.1)
        finally:
            client.close()
        self.stop()
        raise TimeoutError(f"tritonserver was not ready within {timeout_s:.0f} s; log: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """End the server at once, as a crash would (SIGKILL to its process group)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._remove_regions()

    def _remove_regions(self) -> None:
        for region in Path("/dev/shm").glob(f"{self.shm_prefix}*"):
            with contextlib.suppress(OSError):
                region.unlink()

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self._remove_regions()

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(args: list[str]) -> int:
    parser = CommandParser(prog="python -m tools.triton_server", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    make = sub.add_parser("env", help="create the server's venv (nvidia-pytriton, numpy<2, onnxruntime)")
    make.add_argument("--python", default=DEFAULT_PYTHON, help="the Python to base it on (default %(default)s)")
    serve = sub.add_parser("serve", help="run tritonserver on 127.0.0.1 until Ctrl-C")
    serve.add_argument("repository", help="a model repository (segstream triton-repo MODEL --out REPO)")
    serve.add_argument("--grpc-port", type=int_range(1, 65535), default=8001)
    serve.add_argument("--http-port", type=int_range(1, 65535), default=8000)
    options = parser.parse_args(args)
    if options.action == "env":
        started = time.monotonic()
        env = ensure_env(python=options.python, log=sys.stderr)
        print(f"triton server venv ready at {env} ({time.monotonic() - started:.0f} s)")
        return 0
    if not Path(options.repository).is_dir():
        raise UserInputError(f"{options.repository} is not a folder; make one with: segstream triton-repo MODEL --out REPO")
    server = TritonServer(options.repository, grpc_port=options.grpc_port, http_port=options.http_port,
                          env=ensure_env(log=sys.stderr))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a command, not a library: it may
        signal.signal(signum, lambda *_: stop.set())
    with server:
        print(f"tritonserver ready: grpc {server.url} (log {server.log_path}); Ctrl-C or SIGTERM stops it", flush=True)
        while server.process is not None and server.process.poll() is None and not stop.wait(0.5):
            pass
    if not stop.is_set():
        raise RuntimeError(f"tritonserver exited with {server.process and server.process.returncode}; log: "
                           f"{server.log_tail()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
