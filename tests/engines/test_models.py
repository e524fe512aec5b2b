"""Every registered model: shapes at odd sizes, determinism, training step, torchvision key layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engines.checkpoints import load_checkpoint
from engines.errors import ModelError
from engines.models import create_model, list_models
from engines.models.mobilenetv3 import mobilenet_v3_features
from segcore.labels import VOC

FIXTURE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "torchvision_keys.json").read_text())


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("size", [(97, 131), (64, 64), (33, 47)])
def test_forward_returns_logits_at_input_size(name: str, size: tuple[int, int]) -> None:
    model = create_model(name, num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (2, 7, *size)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list_models())
def test_eval_is_deterministic_and_training_step_learns(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=3)
    # Smooth blobs whose class is their strongest channel: learnable by every model in a few steps
    # (per-pixel random labels are not, for a network whose finest features have stride 16).
    x = torch.nn.functional.interpolate(torch.randn(2, 3, 4, 6), size=(64, 96), mode="bilinear", align_corners=False) * 2
    target = x.argmax(dim=1)
    target[:, :4] = 255
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    model.train()
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(x), target, ignore_index=255)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_unknown_model_and_bad_class_count() -> None:
    with pytest.raises(ValueError, match="registered"):
        create_model("resnet9000", num_classes=3)
    with pytest.raises(ValueError, match="num_classes is 0; it must be >= 1"):
        create_model("unet", num_classes=0)


@pytest.mark.parametrize("variant", ["large", "small"])
@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_output_stride(variant: str, output_stride: int) -> None:
    features = mobilenet_v3_features(variant, output_stride=output_stride)
    with torch.no_grad():
        out = features.layers.eval()(torch.randn(1, 3, 128, 256))
    assert out.shape[-2:] == (128 // output_stride, 256 // output_stride)


@pytest.mark.parametrize("key", sorted(FIXTURE["models"]))
def test_state_dict_matches_torchvision(key: str) -> None:
    entry = FIXTURE["models"][key]
    model = create_model(entry["torchvision_builder"], **entry["kwargs"])
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == entry["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == entry["num_params"]


def _torchvision_like_state(entry: dict) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    state = {}
    for key, shape in entry["state_dict"]:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.1
    return state


@pytest.mark.parametrize("key", sorted(FIXTURE["models"]))
def test_torchvision_layout_checkpoint_loads_strictly(key: str, tmp_path: Path) -> None:
    entry = FIXTURE["models"][key]
    path = tmp_path / "official.pth"
    torch.save(_torchvision_like_state(entry), path)
    loaded = load_checkpoint(path, arch=entry["torchvision_builder"])
    assert loaded.architecture["kwargs"]["num_classes"] == 21
    assert loaded.architecture["kwargs"].get("aux_loss", False) == entry["kwargs"].get("aux_loss", False)
    assert loaded.class_names == VOC.class_names
    with torch.no_grad():
        out = loaded.model.eval()(torch.randn(1, 3, 65, 97))
    assert out.shape == (1, 21, 65, 97)


def test_mismatched_checkpoint_is_a_clear_model_error(tmp_path: Path) -> None:
    entry = FIXTURE["models"]["lraspp_mobilenet_v3_large"]
    state = _torchvision_like_state(entry)
    state["classifier.extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ModelError, match="do not fit"):
        load_checkpoint(path, arch="lraspp_mobilenet_v3_large")
    with pytest.raises(ModelError, match="--arch"):
        load_checkpoint(path)


def test_checkpoint_with_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "architecture": {"name": "unet"}, "payload": Path("x")}, path)
    with pytest.raises(ModelError, match="weights_only"):
        load_checkpoint(path)


@pytest.mark.parametrize("name", ["lraspp_mobilenet_v3_small", "lraspp_mobilenet_v3_large"])
def test_lraspp_low_level_branch_at_stride_4(name: str) -> None:
    model = create_model(name, num_classes=5, low_level_stride=4).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 67, 131))
    assert out.shape == (1, 5, 67, 131)
    # the branch reads C1 (stride 4) instead of C2 (stride 8): a different input width, no other change
    default = create_model(name, num_classes=5)
    assert model.classifier.low_classifier.in_channels < default.classifier.low_classifier.in_channels
    ours = {k: v.shape for k, v in model.state_dict().items()}
    theirs = {k: v.shape for k, v in default.state_dict().items()}
    assert {k for k in ours if ours[k] != theirs.get(k)} == {"classifier.low_classifier.weight"}
    with pytest.raises(ValueError, match="low_level_stride"):
        create_model(name, num_classes=5, low_level_stride=16)


def test_cli_lists_every_model_with_its_parameter_count(capsys: pytest.CaptureFixture[str]) -> None:
    from engines.models.__main__ import main

    assert main(["--size", "64x128"]) == 0
    out = capsys.readouterr().out
    for name in list_models():
        params = sum(p.numel() for p in create_model(name, num_classes=19).parameters())
        row = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert f"{params:,}" in row
        assert float(row.split()[-1]) > 0


@pytest.mark.parametrize("size", ["abc", "64", "16x16", "64x"])
def test_cli_rejects_a_bad_size_with_one_line(size: str, capsys: pytest.CaptureFixture[str]) -> None:
    from engines.models.__main__ import main

    assert main(["--size", size]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --size")
