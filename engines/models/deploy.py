"""Deployment wrapper: puts input normalisation and argmax inside the graph.

``DeployModel(net, uint8_input=True, layout="NHWC", argmax=True, mean=..., std=...)`` takes raw
uint8 BGR frames (N×H×W×3, as OpenCV decodes them) and returns an N×H×W uint8 class map, so the host
copies a quarter of the bytes in, a K-th of the bytes out, and runs no float pass of its own.
Without ``uint8_input`` it takes the normalised N×3×H×W RGB float tensor the network expects.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class DeployModel(nn.Module):
    scale: torch.Tensor
    offset: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        *,
        uint8_input: bool = False,
        layout: str = "NHWC",
        argmax: bool = False,
        mean: Sequence[float] = (0.485, 0.456, 0.406),
        std: Sequence[float] = (0.229, 0.224, 0.225),
    ) -> None:
        super().__init__()
        if layout not in ("NHWC", "NCHW"):
            raise ValueError(f"layout must be NHWC or NCHW, not {layout!r}")
        self.net = net
        self.uint8_input = uint8_input
        self.layout = layout
        self.argmax = argmax
        # Frames arrive BGR; the network wants RGB normalised with ImageNet-style statistics. The
        # channel flip and the affine normalisation are fused into one scale and one offset in BGR order.
        mean_bgr = torch.tensor(list(mean)[::-1], dtype=torch.float32).view(1, 3, 1, 1)
        std_bgr = torch.tensor(list(std)[::-1], dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * std_bgr), persistent=False)
        self.register_buffer("offset", -mean_bgr / std_bgr, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.uint8_input:
            if self.layout == "NHWC":
                x = x.permute(0, 3, 1, 2)
            x = x.to(self.scale.dtype) * self.scale + self.offset
            x = x.flip(1)  # BGR → RGB
        logits = self.net(x)
        if self.argmax:
            return logits.argmax(dim=1).to(torch.uint8)
        return logits
