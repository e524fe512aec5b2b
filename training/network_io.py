"""What the trainer's networks take and give, in the engines' terms.

Every ``engines.models`` network takes float32 RGB NCHW normalised with the ImageNet mean/std
(``engines.transforms.to_input`` makes it from ``torch_input_spec``) and returns N×K×H×W logits.
``network_meta`` describes such a network to the registry's PyTorch engine
(``engines.backends.torch.TorchEngine``) with the argmax inside, so that the trainer's validation
and the evaluation of a checkpoint without a sidecar run it exactly as the pipeline runs a ``.pt``
model. ``AS_TRAINED`` keeps the engine at the precision and memory layout the network was
trained in: float32 weights, eager calls (the engine's CUDA defaults would switch to fp16 weights,
channels-last memory and CUDA graphs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engines.metadata import InputSpec, ModelMeta, OutputSpec

AS_TRAINED: Mapping[str, bool] = {"half": False, "channels_last": False, "cuda_graph": False}


def torch_input_spec(height: int, width: int) -> InputSpec:
    """What engines.models networks take: float32 RGB NCHW with ImageNet mean/std (to_input makes it)."""
    return InputSpec(name="input", layout="NCHW", dtype="float32", color="RGB", height=height, width=width,
                     dynamic_batch=True, dynamic_size=True)


def network_meta(
    name: str,
    class_names: Sequence[str],
    palette: Sequence[Sequence[int]],
    height: int,
    width: int,
    architecture: Mapping[str, Any] | None = None,
) -> ModelMeta:
    """The sidecar a network of the trainer would have: ``torch_input_spec`` in, a uint8 class map out."""
    return ModelMeta(
        name=name,
        class_names=tuple(class_names),
        palette=tuple((int(c[0]), int(c[1]), int(c[2])) for c in palette),
        input=torch_input_spec(height, width),
        output=OutputSpec(name="classmap", kind="classmap", dtype="uint8"),
        architecture=dict(architecture or {}),
    )
