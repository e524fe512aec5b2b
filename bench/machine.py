"""What the numbers were measured on: CPU, cores, memory, package versions, date and load."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

PACKAGES = ("onnxruntime", "opencv-python-headless", "av", "numpy")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """A JSON-ready description of this machine and the packages the benchmark ran on."""
    import cv2

    versions = {name: package_version(name) for name in PACKAGES}
    versions["opencv"] = cv2.__version__  # the wheel name varies (headless, contrib); the module says it
    versions.pop("opencv-python-headless")
    return {
        "cpu": cpu_model(),
        "architecture": platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_implementation": sys.implementation.name,
        **versions,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_start": load_average(),
    }


def describe(machine: dict[str, Any]) -> str:
    """One line: "2-core x86_64 CPU (AMD EPYC), 23.4 GiB, Python 3.11.7, onnxruntime 1.31.0, ..."."""
    return (
        f"{machine['cores']}-core {machine['architecture']} CPU ({machine['cpu']}), {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, onnxruntime {machine['onnxruntime']}, OpenCV {machine['opencv']}, "
        f"PyAV {machine['av']}, NumPy {machine['numpy']}"
    )
