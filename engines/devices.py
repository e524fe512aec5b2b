"""Device names, parsed in one place: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``.

Every backend, the pipeline's config check and the trainer read a device through
``parse_device``; ``engines.registry.resolve_device`` turns ``auto`` into what a backend can use
here. Anything else is a ``ConfigError`` ("device is 'gpu0'; use auto, cpu, cuda or cuda:N").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from segcore.errors import ConfigError

__all__ = ["DEVICE_FORMS", "Device", "parse_device"]

DEVICE_FORMS = "auto, cpu, cuda or cuda:N"
_PATTERN = re.compile(r"(auto|cpu|cuda)(?::(\d+))?")


@dataclass(frozen=True)
class Device:
    kind: Literal["auto", "cpu", "cuda"]
    index: int | None = None  # N of cuda:N; None for plain cuda (the first GPU)

    @property
    def cuda_index(self) -> int:
        return self.index or 0

    def __str__(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"


def parse_device(text: str, *, key: str = "device", where: Callable[[str], str] | None = None) -> Device:
    """``text`` as a Device; ``ConfigError`` naming ``key`` (and ``where(key)``, the value's origin) otherwise."""
    match = _PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        at = f"{where(key)}: " if where is not None else ""
        raise ConfigError(f"{at}{key} is {text!r}; use {DEVICE_FORMS}")
    kind: Literal["auto", "cpu", "cuda"] = match.group(1)  # type: ignore[assignment]
    index = match.group(2)
    return Device(kind, None if index is None else int(index))
