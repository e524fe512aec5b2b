"""Regenerate tests/fixtures/torchvision_keys.json from an importable torchvision, and compare outputs.

Run on a machine where ``import torchvision`` works (a CUDA machine with torch + torchvision):

    python tools/torchvision_fixture.py --out tests/fixtures/torchvision_keys.json

For each MobileNetV3 segmentation model it records torchvision's state-dict keys and shapes (the
contract ``tests/test_models.py`` checks offline), then loads torchvision's randomly initialised
weights into segstream's model with ``strict=True`` and records the largest output difference on a
random input. Exits 1 if any key set differs or any output differs by more than 1e-4.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from engines.errors import EngineUnavailableError
from engines.models import create_model
from segcore.exits import CommandParser, run_command
from segcore.files import check_output_file, write_json

CASES = [
    # (torchvision builder, segstream name, kwargs for both)
    ("lraspp_mobilenet_v3_large", "lraspp_mobilenet_v3_large", {"num_classes": 21}),
    ("deeplabv3_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", {"num_classes": 21, "aux_loss": True}),
    ("deeplabv3_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", {"num_classes": 21, "aux_loss": False}),
]


def _version(module: object) -> str:
    version = getattr(module, "__version__", None)
    if version is None:  # a stripped package: read the version module directly
        from torchvision import version as version_module

        version = version_module.__version__
    return str(version)


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    parser = CommandParser(prog="python -m tools.torchvision_fixture", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the fixture JSON to write")
    args = parser.parse_args(argv)
    check_output_file(args.out, "fixture (--out)")
    try:
        import torchvision
    except ImportError as exc:
        raise EngineUnavailableError(f"this tool needs an importable torchvision ({exc}); run it on a machine "
                                     "with torch and torchvision installed together") from None
    from torchvision.models import segmentation

    torch.manual_seed(0)
    fixture: dict[str, object] = {"torchvision_version": _version(torchvision), "torch_version": torch.__version__, "models": {}}
    failures = 0
    for tv_name, name, kwargs in CASES:
        reference = getattr(segmentation, tv_name)(weights=None, weights_backbone=None, **kwargs).eval()
        state = reference.state_dict()
        ours = create_model(name, **kwargs).eval()
        ours.load_state_dict(state, strict=True)
        x = torch.randn(1, 3, 225, 353)
        with torch.no_grad():
            expected = reference(x)["out"]
            got = ours(x)
        diff = float((expected - got).abs().max())
        failures += diff > 1e-4
        key = f"{name}(aux_loss={kwargs.get('aux_loss', False)})" if "aux_loss" in kwargs else name
        fixture["models"][key] = {  # type: ignore[index]
            "torchvision_builder": tv_name,
            "kwargs": kwargs,
            "num_params": sum(p.numel() for p in reference.parameters()),
            "max_abs_output_diff_random_weights": diff,
            "state_dict": [[k, list(v.shape)] for k, v in state.items()],
        }
        print(f"{key}: {len(state)} tensors, max |diff| {diff:.2e}")
    write_json(fixture, args.out, what="fixture", indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
