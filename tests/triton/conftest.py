"""A real Triton Inference Server on 127.0.0.1 for these tests (``tools.triton_server``).

The server's venv is created on first use (about 25 s with a warm pip cache; ``.ci/run`` makes it
beforehand with ``python -m tools.triton_server env``) and reused after that.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engines.triton.repository import RepoOptions, write_repository
from tools.triton_server import TritonServer, ensure_env

MODEL = "tiny"


@pytest.fixture(scope="session")
def triton_env() -> Path:
    return ensure_env()


@pytest.fixture(scope="session")
def triton_repo(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository serving the tiny model as ``tiny`` through the Python backend."""
    repo = tmp_path_factory.mktemp("triton-repo")
    write_repository(tiny_model, repo, RepoOptions(kind="python", name=MODEL, max_batch=8, instances=1))
    return repo


@pytest.fixture(scope="session")
def triton_server(triton_env: Path, triton_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """One server for the session (tests that stop or kill a server start their own)."""
    log = tmp_path_factory.mktemp("triton-log") / "server.log"
    with TritonServer(triton_repo, env=triton_env, log_path=log) as server:
        yield server


@pytest.fixture
def own_server(triton_env: Path, triton_repo: Path, tmp_path: Path) -> Iterator[TritonServer]:
    """A server of this test's own, to kill and restart."""
    server = TritonServer(triton_repo, env=triton_env, log_path=tmp_path / "server.log")
    try:
        yield server.start()
    finally:
        server.stop()
