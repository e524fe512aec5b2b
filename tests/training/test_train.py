"""The trainer: a short run lowers the loss, checkpoints and resume, fine-tuning init, config, losses."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from engines.errors import EngineUnavailableError, ModelError
from engines.transforms import to_input
from segcore.errors import ConfigError
from tests.fixture_datasets import write_cityscapes
from training.batches import StepBatches
from training.checkpoint import load_init_weights
from training.config import TrainConfig, load_config
from training.losses import SegmentationLoss, class_weights_from_counts
from training.setup import poly_factor
from training.train import TrainResult, main, train

TINY = Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny.yaml"
CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "train").glob("*.yaml"))


@pytest.fixture(scope="module")
def cityscapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cs")
    write_cityscapes(root, split="train", per_city=4)
    write_cityscapes(root, split="val", cities=("lindau",), per_city=3)
    return root


def tiny_config(root: Path, out: Path, *extra: str) -> TrainConfig:
    return load_config(TINY, [f"data.train=cityscapes:{root}:train", f"data.val=cityscapes:{root}:val",
                              f"output.dir={out}", *extra])


@pytest.fixture(scope="module")
def trained(cityscapes_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainConfig, TrainResult]:
    out = tmp_path_factory.mktemp("run")
    cfg = tiny_config(cityscapes_root, out)
    return cfg, train(cfg, progress=False)


def test_short_run_lowers_the_loss_and_writes_checkpoints(trained: tuple[TrainConfig, TrainResult]) -> None:
    cfg, result = trained
    assert result.step == cfg.schedule.steps == 40
    assert result.losses[-1] < 0.6 * result.losses[0], result.losses
    assert result.best_miou is not None and result.best_miou > 0.3
    out = Path(cfg.output.dir)
    assert (out / "last.pt").is_file() and (out / "best.pt").is_file() and (out / "config.yaml").is_file()
    ckpt = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    for key in ("model", "architecture", "optimizer", "scheduler", "step", "epoch", "best_miou", "train_config",
                "class_names", "palette", "input_size"):
        assert key in ckpt, key
    assert ckpt["architecture"] == {"name": "unet", "kwargs": {"num_classes": 19, "depth": 2, "base_channels": 8}}
    assert ckpt["step"] == 40 and ckpt["input_size"] == [32, 64] and len(ckpt["class_names"]) == 19
    assert not list(out.glob(".*.tmp*"))  # atomic writes leave nothing behind
    records = [yaml.safe_load(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("val_miou" in r for r in records) and any("loss" in r for r in records)


def test_resume_continues_from_the_saved_step(cityscapes_root: Path, tmp_path: Path) -> None:
    overrides = ("train.ckpt_every=10", "train.val_every=1000")
    straight = train(tiny_config(cityscapes_root, tmp_path / "a", *overrides), progress=False)
    cfg = tiny_config(cityscapes_root, tmp_path / "b", *overrides)
    stopped = train(cfg, progress=False, stop_after=20)
    assert stopped.step == 20
    assert torch.load(stopped.last_checkpoint, map_location="cpu", weights_only=True)["step"] == 20
    resumed = train(cfg, resume=stopped.last_checkpoint, progress=False)
    assert straight.step == resumed.step == 40
    a = torch.load(straight.last_checkpoint, map_location="cpu", weights_only=True)
    b = torch.load(resumed.last_checkpoint, map_location="cpu", weights_only=True)
    assert b["step"] == 40 and b["scheduler"]["last_epoch"] == a["scheduler"]["last_epoch"] == 40
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=1e-4, atol=1e-5,
                                   msg=f"{key} differs between the straight and the resumed run")


def test_resume_refuses_another_architecture(cityscapes_root: Path, tmp_path: Path) -> None:
    first = train(tiny_config(cityscapes_root, tmp_path / "a", "schedule.steps=6", "schedule.warmup_steps=1"),
                  progress=False)
    other = tiny_config(cityscapes_root, tmp_path / "b", "model.kwargs.base_channels=4")
    with pytest.raises(ModelError, match="was trained as"):
        train(other, resume=first.last_checkpoint, progress=False)


def test_resume_refuses_a_checkpoint_of_another_optimizer(cityscapes_root: Path, tmp_path: Path) -> None:
    """Same architecture, another optimiser: one line naming the part that does not fit (it was a
    "bug in segstream" line from inside torch)."""
    quick = ("schedule.steps=6", "schedule.warmup_steps=1")
    first = train(tiny_config(cityscapes_root, tmp_path / "a", *quick), progress=False)
    other = tiny_config(cityscapes_root, tmp_path / "b", *quick, "optim.name=sgd")
    with pytest.raises(ModelError, match=r"trained with optim.name=adamw, the config has optim.name=sgd"):
        train(other, resume=first.last_checkpoint, progress=False)
    state = torch.load(first.last_checkpoint, map_location="cpu", weights_only=True)
    state["optimizer"]["param_groups"] = []  # written by a config with other parameter groups
    torch.save(state, tmp_path / "other-groups.pt")
    same = tiny_config(cityscapes_root, tmp_path / "c", *quick)
    with pytest.raises(ModelError, match=r"its optimizer state does not fit this config \(.+\); .*train_config"):
        train(same, resume=tmp_path / "other-groups.pt", progress=False)


def test_batches_are_a_function_of_seed_and_step(cityscapes_root: Path) -> None:
    from training.data.datasets import open_dataset

    cfg = tiny_config(cityscapes_root, Path("unused"))
    ds = open_dataset(f"cityscapes:{cityscapes_root}:train")
    a, b = StepBatches(ds, cfg), StepBatches(ds, cfg)
    x1, y1 = a[7]
    b[3]
    x2, y2 = b[7]
    torch.testing.assert_close(x1, x2)
    torch.testing.assert_close(y1, y2)
    assert x1.shape == (4, 3, 32, 64) and x1.dtype == torch.float32 and y1.dtype == torch.uint8
    assert set(torch.unique(y1).tolist()) <= {0, 2, 10, 13, 255}
    # every sample of an epoch is seen once per epoch
    steps_per_epoch = len(ds) // cfg.train.batch_size
    seen = sorted(i for s in range(steps_per_epoch) for i in a.indices(s))
    assert seen == list(range(len(ds)))


def test_input_normalisation_is_to_input(cityscapes_root: Path) -> None:
    """No augmentation: the batch equals what the pipeline feeds a float model for the same frame."""
    from engines.transforms import fit
    from training.data.datasets import open_dataset
    from training.network_io import torch_input_spec

    cfg = tiny_config(cityscapes_root, Path("unused"), "augment.enabled=false", "train.batch_size=1")
    ds = open_dataset(f"cityscapes:{cityscapes_root}:train")
    batches = StepBatches(ds, cfg)
    x, _ = batches[0]
    sample = ds[batches.indices(0)[0]]
    expected = to_input([fit(sample.image, 32, 64, "stretch")[0]], torch_input_spec(32, 64))
    np.testing.assert_array_equal(x.numpy(), expected)
    # ImageNet statistics in RGB order (not CIFAR's, not BGR)
    spec = torch_input_spec(32, 64)
    assert spec.color == "RGB" and spec.mean == (0.485, 0.456, 0.406) and spec.std == (0.229, 0.224, 0.225)


def test_crop_is_a_window_of_the_uncropped_sample_at_the_same_scale(cityscapes_root: Path) -> None:
    """augment.crop cuts the zoomed, flipped sample: no resizing, image and labels from the same window."""
    from training.config import AugmentSection
    from training.data.augment import geometric, training_sample
    from training.data.datasets import open_dataset

    sample = open_dataset(f"cityscapes:{cityscapes_root}:train")[0]
    plain = AugmentSection(scale=(0.8, 1.25), hflip=0.5, brightness=0, contrast=0, saturation=0, hue=0,
                          blur=0, noise=0)
    cropped = AugmentSection(**{**plain.__dict__, "crop": (16, 24)})
    for seed in range(6):
        full_image, full_labels = geometric(sample.image, sample.labels, 32, 64, np.random.default_rng(seed),
                                            plain.scale, plain.hflip)
        image, labels = training_sample(sample.image, sample.labels, 32, 64, cropped, np.random.default_rng(seed))
        assert image.shape == (16, 24, 3) and labels.shape == (16, 24)
        hits = [(y, x) for y in range(17) for x in range(41)
                if np.array_equal(full_labels[y:y + 16, x:x + 24], labels)
                and np.array_equal(full_image[y:y + 16, x:x + 24], image)]
        assert hits, f"seed {seed}: the crop is not a window of the uncropped sample"
    cfg = tiny_config(cityscapes_root, Path("unused"), "augment.crop=[16, 24]")
    x, y = StepBatches(open_dataset(f"cityscapes:{cityscapes_root}:train"), cfg)[0]
    assert x.shape == (4, 3, 16, 24) and y.shape == (4, 16, 24)
    with pytest.raises(ConfigError, match="augment.crop"):
        tiny_config(cityscapes_root, Path("unused"), "augment.crop=[64, 64]")


def test_poly_schedule_with_warmup() -> None:
    cfg = load_config(TINY, ["schedule.steps=100", "schedule.warmup_steps=10", "schedule.warmup_factor=0.1",
                             "optim.lr=0.01", "schedule.min_lr=0.0"])
    assert poly_factor(0, cfg) == pytest.approx(0.1)
    assert poly_factor(5, cfg) == pytest.approx(0.55)
    assert poly_factor(10, cfg) == pytest.approx(1.0)
    assert poly_factor(55, cfg) == pytest.approx(0.5**0.9)
    assert poly_factor(100, cfg) == pytest.approx(0.0)


def test_init_checkpoint_replaces_only_a_different_head(tmp_path: Path) -> None:
    from engines.models import create_model

    torch.manual_seed(0)
    source = create_model("lraspp_mobilenet_v3_small", num_classes=21)
    torch.save(source.state_dict(), tmp_path / "voc.pth")  # torchvision layout: a bare state dict
    target = create_model("lraspp_mobilenet_v3_small", num_classes=19)
    report = load_init_weights(target, tmp_path / "voc.pth")
    assert sorted(report["replaced"]) == ["classifier.high_classifier.bias", "classifier.high_classifier.weight",
                                          "classifier.low_classifier.bias", "classifier.low_classifier.weight"]
    for key, value in target.state_dict().items():
        if key not in report["replaced"]:
            torch.testing.assert_close(value, source.state_dict()[key])
    other = create_model("lraspp_mobilenet_v3_large", num_classes=19)
    with pytest.raises(ModelError, match="does not fit"):
        load_init_weights(other, tmp_path / "voc.pth")


def test_init_checkpoint_drops_torchvision_aux_head(tmp_path: Path) -> None:
    from engines.models import create_model

    with_aux = create_model("deeplabv3_mobilenet_v3_small", num_classes=21, aux_loss=True)
    torch.save(with_aux.state_dict(), tmp_path / "dl.pth")
    plain = create_model("deeplabv3_mobilenet_v3_small", num_classes=21)
    report = load_init_weights(plain, tmp_path / "dl.pth")
    assert report["replaced"] == [] and report["dropped"] and all(k.startswith("aux_classifier.") for k in report["dropped"])


def test_init_checkpoint_moves_a_backbone_to_another_head(tmp_path: Path) -> None:
    from engines.models import create_model

    torch.manual_seed(0)
    lraspp = create_model("lraspp_mobilenet_v3_small", num_classes=19)
    torch.save({"model": lraspp.state_dict()}, tmp_path / "lraspp.pt")
    deeplab = create_model("deeplabv3_mobilenet_v3_small", num_classes=19)
    fresh = {k: v.clone() for k, v in deeplab.state_dict().items()}
    report = load_init_weights(deeplab, tmp_path / "lraspp.pt")
    assert report["replaced"] and all(k.startswith("classifier.") for k in report["replaced"])
    assert sorted(report["replaced"]) == sorted(k for k in fresh if k.startswith("classifier."))
    assert report["dropped"] and all(k.startswith("classifier.") for k in report["dropped"])
    for key, value in deeplab.state_dict().items():
        expected = fresh[key] if key.startswith("classifier.") else lraspp.state_dict()[key]
        torch.testing.assert_close(value, expected)
    # The backbone still has to match: a Small backbone does not initialise a Large one.
    with pytest.raises(ModelError, match="missing key"):
        load_init_weights(create_model("deeplabv3_mobilenet_v3_large", num_classes=19), tmp_path / "lraspp.pt")


def test_init_checkpoint_must_be_safe_to_load(tmp_path: Path) -> None:
    from engines.models import create_model

    (tmp_path / "evil.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError):
        load_init_weights(create_model("unet", num_classes=3, depth=2, base_channels=8), tmp_path / "evil.pth")


def test_config_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        load_config(TINY, ["train.batchsize=4"])
    with pytest.raises(ConfigError, match="train.batch_size must be an integer"):
        load_config(TINY, ["train.batch_size=four"])
    with pytest.raises(ConfigError, match="optim.name"):
        load_config(TINY, ["optim.name=adam"])
    for wrong_case in ("optim.name=AdamW", "data.cache=Disk", "train.amp=Auto"):  # once read as sgd / memory / off
        with pytest.raises(ConfigError, match="allowed values"):
            load_config(TINY, [wrong_case])
    assert load_config(TINY, ["train.amp=true"]).train.amp == "true"  # YAML's boolean true is the choice "true"
    with pytest.raises(ConfigError, match="train.device is 'cuda:x'"):
        load_config(TINY, ["train.device=cuda:x"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("configs/train/nope.yaml")


@pytest.mark.parametrize(("override", "message"), [
    ("train.log_every=0", "train.log_every is 0; it must be >= 1 and <= 100000000"),  # was a ZeroDivisionError
    ("train.ckpt_every=0", "train.ckpt_every is 0; it must be >= 1 and <= 100000000"),
    ("train.val_every=0", "train.val_every is 0; it must be >= 1 and <= 100000000"),
    ("train.seed=-1", "train.seed is -1; it must be >= 0 and <= 4294967295"),  # was NumPy's ValueError
    ("loss.label_smoothing=2", r"loss.label_smoothing is 2; it must be >= 0.0 and <= 1.0"),  # was torch's
    ("optim.lr=.nan", r"optim.lr is nan; it must be a finite number > 0.0 and <= 10.0"),
    ("train.grad_clip=.inf", r"train.grad_clip is inf; it must be a finite number >= 0.0 and <= 1000000.0"),
    ("optim.betas=[0.9, 1.0]", r"optim.betas\[1\] is 1.0; it must be >= 0.0 and < 1.0"),
    ("augment.scale=[0.5, .nan]", r"augment.scale\[1\] is nan; it must be a finite number > 0.0 and <= 8.0"),
    ("schedule.steps=100000000000000", "schedule.steps is 100000000000000; it must be >= 1 and <= 100000000"),
    ("data.input_size=[256, 100000]", r"data.input_size\[1\] is 100000; it must be >= 8 and <= 8192"),
    ("train.threads=100000", r"train.threads is 100000; it must be >= 0 and <= \d+ \(4 per CPU core; \d+ cores? here\)"),
    ("data.render_workers=1000", r"data.render_workers is 1000; it must be >= 0 and <= \d+ \(4 per CPU core"),
    ("loss.class_weights=[1, .nan]", r"loss.class_weights\[1\] is nan; it must be a finite number >= 0.0 and <= 1000000.0"),
])
def test_every_number_has_a_range(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^--set {re.escape(override)}: {message}"):
        load_config(TINY, ["schedule.warmup_steps=1", override])


@pytest.mark.parametrize(("overrides", "message"), [
    (["model.kwargs.depth=99"], r"model.kwargs.depth is 99; it must be >= 1 and <= 8 \(unet\)"),
    (["model.kwargs.base_channels=100000"], r"model.kwargs.base_channels is 100000; it must be >= 1 and <= 512 \(unet\)"),
    (["model.kwargs={depth: 7, base_channels: 32}"], r"model.kwargs.depth is 7 with base_channels 32: the widest "
                                                     r"layer would have 4096 channels; .* must be <= 2048"),
    (["model.kwargs.dept=3"], r"model.kwargs.dept is not an argument of unet; did you mean 'depth'\?"),
    (["model.kwargs.depth=2.5"], r"model.kwargs.depth must be an integer, got number 2.5 \(unet\)"),
    (["model.name=lraspp_mobilenet_v3_small", "model.kwargs={inter_channels: 1000000}"],
     r"model.kwargs.inter_channels is 1000000; it must be >= 1 and <= 1024 \(lraspp_mobilenet_v3_small\)"),
    (["model.name=deeplabv3_mobilenet_v3_small", "model.kwargs={atrous_rates: [3, 0]}"],
     r"model.kwargs.atrous_rates\[1\] is 0; it must be >= 1 and <= 256 \(deeplabv3_mobilenet_v3_small\)"),
    (["model.name=resnet9000"], r"model.name is 'resnet9000'; allowed values: deeplabv3_mobilenet_v3_large, "),
])
def test_model_arguments_are_checked_against_the_builder_when_the_config_loads(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^--set {re.escape(overrides[-1])}: {message}"):
        load_config(TINY, overrides)


def test_a_key_given_twice_in_a_training_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(TINY.read_text() + "\ntrain:\n  batch_size: 2\n")
    with pytest.raises(ConfigError, match=rf"^training config {re.escape(str(path))}, line \d+, column 1: invalid YAML: "
                                          r"duplicate key 'train' \(first on line \d+\); keep one of them$"):
        load_config(path)


def test_weights_that_cancel_and_nesterov_without_momentum_are_refused() -> None:
    with pytest.raises(ConfigError, match="loss.ce_weight and loss.dice_weight are both 0"):
        load_config(TINY, ["loss.ce_weight=0", "loss.dice_weight=0"])
    with pytest.raises(ConfigError, match="optim.nesterov needs a positive optim.momentum"):
        load_config(TINY, ["optim.name=sgd", "optim.nesterov=true", "optim.momentum=0"])


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_bundled_config_loads(path: Path) -> None:
    cfg = load_config(path)
    from engines.models import list_models

    assert cfg.model.name in list_models()


def test_config_is_frozen() -> None:
    cfg = load_config(TINY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.batch_size = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train = cfg.train  # type: ignore[misc]


def test_device_auto_is_the_gpu_when_torch_sees_one() -> None:
    from training.setup import training_device

    assert training_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert training_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine whose torch sees no CUDA GPU")
def test_a_missing_gpu_names_the_setting_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(TINY, ["train.device=cuda", f"output.dir={tmp_path}"])
    with pytest.raises(EngineUnavailableError, match=r"^train\.device: .*sees no CUDA GPU.*device: cpu"):
        train(cfg, progress=False)
    assert main(["--config", str(TINY), "--set", "train.device=cuda:1", "--set", f"output.dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: train.device: ") and err.count("\n") == 1


def test_validation_scores_the_network_as_plain_pytorch_and_leaves_it_training(cityscapes_root: Path,
                                                                              tmp_path: Path) -> None:
    """The validator runs the live network through the registry's PyTorch engine: the same class
    maps as the network's own forward and argmax, and the network is back in training mode after."""
    from engines.transforms import restore_class_map
    from segcore.accuracy import ConfusionMatrix
    from training.network_io import torch_input_spec
    from training.setup import set_up
    from training.validate import Validator

    run = set_up(tiny_config(cityscapes_root, tmp_path), fresh=True, say=lambda message: None)
    run.model.train()
    validator = Validator(run)
    miou, accuracy = validator()
    assert run.model.training
    run.model.eval()
    expected = ConfusionMatrix(run.train_set.num_classes)
    size = run.cfg.train.val_batch_size
    for start in range(0, len(run.val_samples), size):  # the validator's batches
        chunk = run.val_samples[start : start + size]
        with torch.inference_mode():
            batch = torch.from_numpy(to_input([p.image for p in chunk], torch_input_spec(32, 64)))
            class_maps = run.model(batch).argmax(dim=1).to(torch.uint8).numpy()
        for prepared, class_map in zip(chunk, class_maps, strict=True):
            expected.update(restore_class_map(class_map, prepared.geometry), prepared.labels)
    assert miou == pytest.approx(expected.miou(), abs=1e-12) and accuracy == pytest.approx(expected.pixel_accuracy())


def test_cli_exits_2_on_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(TINY), "--set", f"data.train=folder:{tmp_path / 'missing'}",
                 "--set", f"output.dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_cli_trains(cityscapes_root: Path, tmp_path: Path) -> None:
    code = main(["--config", str(TINY), "--set", f"data.train=cityscapes:{cityscapes_root}:train",
                 "--set", "data.val=[]", "--set", f"output.dir={tmp_path}", "--set", "schedule.steps=6",
                 "--set", "schedule.warmup_steps=1"])
    assert code == 0 and (tmp_path / "last.pt").is_file()


# -------------------------------------------------------------------------------------------- losses


def test_ignored_pixels_do_not_contribute() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 8, 8, requires_grad=True)
    target = torch.randint(0, 4, (2, 8, 8))
    target[:, :4] = 255
    for loss_fn in (SegmentationLoss(4), SegmentationLoss(4, dice_weight=1.0),
                    SegmentationLoss(4, ohem=True, ohem_min_kept=10)):
        loss = loss_fn(logits, target)
        (grad,) = torch.autograd.grad(loss, logits)
        assert grad[:, :, :4].abs().max() == 0
        assert torch.isfinite(loss)


def test_all_ignored_batch_is_zero_loss_not_nan() -> None:
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    target = torch.full((1, 4, 4), 255)
    assert SegmentationLoss(3, ohem=True)(logits, target).item() == 0.0
    assert SegmentationLoss(3, ce_weight=0.0, dice_weight=1.0)(logits, target).item() == 0.0


def test_ohem_keeps_only_hard_pixels() -> None:
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 0, 0, :3] = 10.0  # three easy pixels of class 0
    target = torch.zeros(1, 1, 4, dtype=torch.long)
    target[0, 0, 3] = 1  # one hard pixel (p = 0.5)
    plain = SegmentationLoss(2)(logits, target)
    ohem = SegmentationLoss(2, ohem=True, ohem_thresh=0.7, ohem_min_kept=1)(logits, target)
    assert ohem.item() == pytest.approx(np.log(2), rel=1e-4) and ohem > plain


def test_loss_refuses_dicts_and_single_channel_outputs() -> None:
    with pytest.raises(TypeError, match="not one logits tensor"):
        SegmentationLoss(3)({"out": torch.zeros(1, 3, 2, 2)}, torch.zeros(1, 2, 2, dtype=torch.long))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="N×3×H×W"):
        SegmentationLoss(3)(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))


def test_class_weights_favour_rare_classes() -> None:
    w = class_weights_from_counts([1000, 10, 0])
    assert w[1] > w[0] and w[2] == 1.0


def test_voc_finetune_with_aux_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deeplabv3_voc.yaml recipe in miniature: VOC palette masks, torchvision-layout init, aux loss."""
    from engines.models import create_model
    from tests.fixture_datasets import write_voc

    voc = write_voc(tmp_path / "voc")
    torch.manual_seed(1)
    torch.save(create_model("deeplabv3_mobilenet_v3_small", num_classes=21, aux_loss=True).state_dict(), tmp_path / "tv.pth")
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "train" / "deeplabv3_voc.yaml", [
        "model.name=deeplabv3_mobilenet_v3_small", f"model.init_checkpoint={tmp_path / 'tv.pth'}",
        f"data.train=voc:{voc}:train", f"data.val=voc:{voc}:val", "data.input_size=[64, 64]", "data.num_workers=0",
        "train.batch_size=2", "schedule.steps=3", "schedule.warmup_steps=1", "train.val_every=3", "train.device=cpu",
        f"output.dir={tmp_path / 'run'}",
    ])
    from engines.models.deeplabv3 import DeepLabV3

    calls = []
    original = DeepLabV3.forward_with_aux

    def counting(self, x):  # type: ignore[no-untyped-def]
        out, aux = original(self, x)
        calls.append(aux is not None)
        return out, aux

    monkeypatch.setattr(DeepLabV3, "forward_with_aux", counting)
    result = train(cfg, progress=False)
    assert calls == [True, True, True]  # every training step used the auxiliary head
    ckpt = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)
    assert ckpt["architecture"]["kwargs"] == {"num_classes": 21, "aux_loss": True}
    assert any(k.startswith("aux_classifier.") for k in ckpt["model"])
    assert len(ckpt["class_names"]) == 21 and ckpt["class_names"][15] == "person"
    assert result.best_miou is not None


def test_auto_class_weights_count_every_pixel_of_a_prerendered_list() -> None:
    from segcore.labels import CITYSCAPES
    from training.data.cache import ArrayDataset
    from training.data.datasets import ConcatDataset
    from training.setup import build_loss

    def part(label_values: list[int]) -> ArrayDataset:
        labels = np.stack([np.full((4, 8), v, np.uint8) for v in label_values])
        images = np.zeros((*labels.shape, 3), np.uint8)
        return ArrayDataset(images, labels, spec="test", class_names=CITYSCAPES.class_names, palette=CITYSCAPES.palette)

    # road 300 frames, car 1, one frame ignored: more than the 200 frames a file dataset is sampled at
    data = ConcatDataset([part([0] * 300), part([13, 255])])
    cfg = load_config(TINY, ["loss.class_weights=auto"])
    _, weights = build_loss(cfg, CITYSCAPES.num_classes, data)
    counts = np.zeros(CITYSCAPES.num_classes)
    counts[0], counts[13] = 300 * 32, 32
    assert weights == pytest.approx(class_weights_from_counts(counts).tolist())
