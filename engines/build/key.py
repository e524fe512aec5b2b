"""The engine cache key: everything a TensorRT plan depends on, and how a build request becomes one.

Two keys are equal exactly when one plan serves both: the ONNX's sha256, the TensorRT version, the
GPU's name and compute capability (or the class of GPUs a hardware-compatible plan serves), the
precision, the optimisation profile shapes and the build flags.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engines.build.options import BuildOptions
from engines.build.precision import PrecisionPlan
from engines.build.profiles import Profile
from engines.metadata import _plain

KEY_FIELDS = (
    "onnx_sha256",
    "tensorrt_version",
    "gpu_name",
    "compute_capability",
    "precision",
    "profiles",
    "flags",
)


@dataclass(frozen=True)
class EngineKey:
    """Everything a plan depends on. Two keys are equal exactly when one plan serves both."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    profiles: tuple[Profile, ...]
    flags: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "onnx_sha256": self.onnx_sha256,
            "tensorrt_version": self.tensorrt_version,
            "gpu_name": self.gpu_name,
            "compute_capability": self.compute_capability,
            "precision": self.precision,
            "profiles": [p.to_dict() for p in self.profiles],
            "flags": _plain(dict(sorted(self.flags.items()))),
        }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineKey:
        return cls(
            onnx_sha256=str(data["onnx_sha256"]),
            tensorrt_version=str(data["tensorrt_version"]),
            gpu_name=str(data["gpu_name"]),
            compute_capability=str(data["compute_capability"]),
            precision=str(data["precision"]),
            profiles=tuple(Profile.from_dict(p) for p in data["profiles"]),
            flags=dict(data.get("flags") or {}),
        )

    def differences(self, wanted: EngineKey) -> list[str]:
        """One line per differing field: ``field: engine has X, this build wants Y``."""
        mine, theirs = self.to_dict(), wanted.to_dict()
        lines = []
        for name in KEY_FIELDS:
            if name == "flags":
                for flag in sorted(set(mine["flags"]) | set(theirs["flags"])):
                    a, b = mine["flags"].get(flag, "(absent)"), theirs["flags"].get(flag, "(absent)")
                    if a != b:
                        lines.append(f"flags.{flag}: engine has {_short(a)}, this build wants {_short(b)}")
            elif mine[name] != theirs[name]:
                a, b = mine[name], theirs[name]
                lines.append(f"{name}: engine has {_short(a)}, this build wants {_short(b)}")
        return lines


def make_key(
    *,
    sha: str,
    trt_version: str,
    gpu: tuple[str, str],
    precision: str,
    profile: Profile,
    plan: PrecisionPlan,
    opts: BuildOptions,
) -> EngineKey:
    flags: dict[str, Any] = {
        "strongly_typed": plan.strongly_typed,
        "fp16_flag": plan.fp16_flag,
        "convert": plan.convert,
        "workspace_mb": opts.workspace_mb,
        "opt_level": opts.opt_level,
        "hardware_compat": opts.hardware_compat,
    }
    if precision == "int8":
        flags.update(calib=opts.calib, calib_frames=opts.calib_frames)
    gpu_name, capability = gpu  # what the plan needs: this GPU, or a class of GPUs when portable
    if opts.hardware_compat == "ampere+":
        gpu_name, capability = "any Ampere or newer GPU", "8.0+"
    elif opts.hardware_compat == "same-cc":
        gpu_name = f"any GPU of compute capability {capability}"
    return EngineKey(
        onnx_sha256=sha,
        tensorrt_version=trt_version,
        gpu_name=gpu_name,
        compute_capability=capability,
        precision=precision,
        profiles=(profile,),
        flags=flags,
    )


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."
