"""The deployment recipe (deploy/): the manifests parse, every camera worker's command line is one
``segstream`` accepts with a config it loads, they all reach the Triton service on its gRPC port,
and each camera belongs to exactly one worker."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from engines.triton.address import parse_uri
from pipeline.config_schema import Config
from segstream.arguments import config_from_args, parse_args

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _worker_config(argv: list[str]) -> Config:
    """The config a worker's ``segstream`` argv gives, with /groups read from deploy/groups."""
    argv = [str(DEPLOY / "groups" / Path(a).name) if a.startswith("/groups/") else a for a in argv]
    return config_from_args(parse_args(argv))


def _check_worker(config: Config, host: str, port: int) -> list[str]:
    address = parse_uri(str(config.model.path))
    assert (address.host, address.port, address.model) == (host, port, "seg")
    assert config.source.uris and config.runtime.max_frames == 0
    return list(config.source.uris)


def _each_camera_once(groups: list[list[str]]) -> None:
    cameras = [uri for group in groups for uri in group]
    assert len(cameras) == len(set(cameras)), "a camera is in two groups"
    assert len(groups) == len(list((DEPLOY / "groups").glob("group-*.yaml")))


def test_compose() -> None:
    (compose,) = _documents(DEPLOY / "compose.yaml")
    services = compose["services"]
    triton = services.pop("triton")
    assert "--model-repository=/models" in triton["command"] and "8001:8001" in triton["ports"]
    assert any(v.endswith(":/models:ro") for v in triton["volumes"])
    groups = [_check_worker(_worker_config(service["command"]), "triton", 8001) for service in services.values()]
    _each_camera_once(groups)


def test_kubernetes() -> None:
    deployment, service = _documents(DEPLOY / "kubernetes" / "triton.yaml")
    (workers,) = _documents(DEPLOY / "kubernetes" / "workers.yaml")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["grpc"] == 8001
    (port,) = service["spec"]["ports"]
    assert service["metadata"]["name"] == "triton" and port["port"] == 8001
    assert workers["kind"] == "StatefulSet"  # stable ordinals: worker N keeps group N across restarts
    (worker,) = workers["spec"]["template"]["spec"]["containers"]
    shell, flag, script = worker["command"]
    assert (shell, flag) == ("sh", "-c") and script.startswith("exec segstream ")
    groups = []
    for ordinal in range(workers["spec"]["replicas"]):
        line = script.removeprefix("exec segstream ").replace("${HOSTNAME##*-}", str(ordinal))
        groups.append(_check_worker(_worker_config(shlex.split(line)), "triton", 8001))
    _each_camera_once(groups)
