"""List the registered models with parameter counts and GFLOPs at 512×1024: ``python -m engines.models``."""

from __future__ import annotations

import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

from engines.models import create_model, list_models
from segcore.errors import UserInputError
from segcore.exits import CommandParser, int_range, run_command
from segcore.sizes import parse_hw


def count_gflops(model: torch.nn.Module, height: int, width: int) -> float:
    """Forward GFLOPs for one image (a multiply-add counts as two FLOPs, as torch's counter does)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, height, width))
    return counter.get_total_flops() / 1e9


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    parser = CommandParser(prog="python -m engines.models", description=__doc__)
    parser.add_argument("--num-classes", type=int_range(1), default=19, help="class count of the heads (default 19)")
    parser.add_argument("--size", default="512x1024", help="HxW for the FLOP count")
    args = parser.parse_args(argv)
    try:
        height, width = parse_hw(args.size)
        if height < 32 or width < 32:
            raise ValueError
    except ValueError:
        raise UserInputError(f"--size {args.size!r} is not HxW with both sides >= 32 (e.g. 512x1024)") from None
    print(f"{'model':32} {'params':>12} {'GFLOPs@' + args.size:>16}")
    for name in list_models():
        model = create_model(name, num_classes=args.num_classes).eval()
        params = sum(p.numel() for p in model.parameters())
        print(f"{name:32} {params:>12,} {count_gflops(model, height, width):>16.2f}")
    print("GFLOPs count a multiply-add as two FLOPs (torch.utils.flop_counter); torchvision's model "
          "tables count multiply-adds, half these figures.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
