"""Train a segmentation network.

    python -m training.train --config configs/train/lraspp.yaml [--set train.batch_size=4 ...] [--resume PATH]

What one step sees is what inference sees: each sample is resized with ``transforms.fit``
(stretch, area averaging), augmented jointly (``training.data.augment``: geometry on image and
mask together, colour on the image only) and normalised by ``transforms.to_input`` (RGB, ImageNet
mean/std). The loss is cross-entropy with ``ignore_index=255`` (optionally class-weighted, OHEM,
plus Dice); the optimiser is AdamW or SGD on a poly schedule with linear warm-up; AMP is used on
CUDA. Validation scores the network with the evaluator's own code at the labels' full resolution
(``training.validate``).

Batches are a pure function of (seed, step) (``training.batches``), so a resumed run continues
with exactly the batches the uninterrupted run would have seen.

Outputs in ``output.dir``: ``last.pt`` (every ``ckpt_every`` steps and at the end), ``best.pt``
(best validation mIoU), ``metrics.jsonl`` (one JSON line per log and per validation),
``config.yaml`` (the resolved config) and, with ``output.export_onnx``, the ONNX model + sidecar.
The run is built by ``training.setup``; ``training.loop`` holds the pieces of its step loop and
``training.checkpoint`` what a checkpoint holds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engines.registry import check_model_file
from segcore.exits import EXIT_INTERRUPTED, CommandParser, run_command
from training.checkpoint import Progress, checkpoint_payload, resume_from, save_checkpoint
from training.config import TrainConfig, load_config
from training.loop import LossMeter, append_record, optimisation_step, progress_bar, step_loader
from training.setup import set_up, write_run_config
from training.validate import Validator


@dataclass
class TrainResult:
    step: int
    best_miou: float | None
    last_miou: float | None
    last_checkpoint: Path
    best_checkpoint: Path | None
    losses: list[float] = field(default_factory=list)  # mean loss of each log interval
    onnx: Path | None = None


def train(
    cfg: TrainConfig,
    *,
    resume: str | Path | None = None,
    progress: bool | None = False,
    log: Callable[[str], None] | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Run the training ``cfg`` describes (resuming from ``resume`` if given); returns a summary.

    ``progress``: show a tqdm bar on stderr (None: only on a terminal). ``log`` receives one-line
    messages (data preparation, validations, and the loss lines when no bar is shown); the library
    itself prints nothing. ``stop_after`` ends the run after that step (a checkpoint is written
    there) while keeping the schedule of the full ``schedule.steps``, so a later ``resume``
    continues the same run.
    """
    say: Callable[[str], None] = log or (lambda message: None)
    if resume is not None:  # before the data is rendered
        check_model_file(resume, "checkpoint (--resume)", hint="check the path: a run writes last.pt into its output.dir")
    run = set_up(cfg, fresh=resume is None, say=say)
    state = resume_from(run, resume, say) if resume is not None else Progress()
    write_run_config(run)  # only now: a config, data or resume mistake leaves the output folder untouched
    steps = cfg.schedule.steps
    if state.step >= steps:
        say(f"nothing to do: step {state.step} >= schedule.steps {steps}")
    end = steps if stop_after is None else max(state.step, min(stop_after, steps))
    validator = Validator(run)
    metrics = run.out_dir / "metrics.jsonl"
    best_path, last_path = run.out_dir / "best.pt", run.out_dir / "last.pt"
    losses = LossMeter(run.device)
    bar = progress_bar(progress, steps, state.step)
    started = time.monotonic()
    run.model.train()
    for inputs, labels in step_loader(run, state.step, end):
        losses.add(optimisation_step(run, inputs, labels))
        state.step += 1
        bar.update(1)
        if state.step % cfg.train.log_every == 0 or state.step == steps:
            mean_loss, lr = losses.take(state.step), run.optimizer.param_groups[0]["lr"]
            bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}",
                            miou="-" if state.last_miou is None else f"{state.last_miou:.3f}", refresh=False)
            append_record(metrics, {"step": state.step, "loss": mean_loss, "lr": lr,
                                    "seconds": round(time.monotonic() - started, 1)})
            if bar.disable:
                say(f"step {state.step}/{steps} loss {mean_loss:.4f} lr {lr:.2e}")
        validated = validator.due(state.step)
        if validated:
            state.last_miou, accuracy = validator()
            append_record(metrics, {"step": state.step, "val_miou": state.last_miou,
                                    "val_pixel_accuracy": accuracy})
            if state.last_miou is not None and (state.best_miou is None or state.last_miou > state.best_miou):
                state.best_miou = state.last_miou
                save_checkpoint(checkpoint_payload(run, state, state.last_miou), best_path)
            say(f"step {state.step}: val mIoU {state.last_miou:.4f} (best {state.best_miou:.4f})"
                if state.last_miou is not None else f"step {state.step}: validation counted no pixels")
        if state.step % cfg.train.ckpt_every == 0 or state.step in (steps, end):
            save_checkpoint(checkpoint_payload(run, state, state.last_miou if validated else None), last_path)
    bar.close()
    validator.close()
    if not last_path.exists():
        save_checkpoint(checkpoint_payload(run, state, None), last_path)
    result = TrainResult(state.step, state.best_miou, state.last_miou, last_path,
                         best_path if best_path.exists() else None, losses.means)
    if cfg.output.export_onnx:
        result.onnx = export_trained(result, cfg)
        say(f"exported {result.onnx}")
    return result


def export_trained(result: TrainResult, cfg: TrainConfig) -> Path:
    """Export the best (else the last) checkpoint with ``engines.models.export.export_onnx``."""
    from engines.checkpoints import load_checkpoint
    from engines.models.export import ExportOptions, export_onnx

    path = result.best_checkpoint or result.last_checkpoint
    loaded = load_checkpoint(path)
    height, width = cfg.data.input_size
    options = ExportOptions(input_size=(height, width), uint8_input=cfg.output.export_uint8_input,
                            argmax=cfg.output.export_argmax, dynamic_batch=True,
                            dynamic_size=cfg.output.export_dynamic_size)
    exported = export_onnx(
        loaded.model, Path(cfg.output.dir), name=cfg.output.export_name, architecture=loaded.architecture,
        class_names=loaded.class_names, palette=loaded.palette, options=options,
        provenance={"checkpoint": path.name, **loaded.provenance}, metrics=loaded.metrics,
    )
    return Path(exported.onnx_path)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    parser = CommandParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="training YAML, e.g. configs/train/lraspp.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set schedule.steps=500 (repeatable)")
    parser.add_argument("--resume", default=None, help="continue from a checkpoint (e.g. runs/x/last.pt)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.set)
    from tqdm import tqdm

    try:
        result = train(cfg, resume=args.resume, progress=None, log=tqdm.write)
    except KeyboardInterrupt:
        last = Path(cfg.output.dir) / "last.pt"
        hint = f"resume with --resume {last}" if last.is_file() else "no checkpoint was written yet"
        print(f"\ninterrupted; {hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    best = "n/a" if result.best_miou is None else f"{result.best_miou:.4f}"
    print(f"done: {result.step} steps, best val mIoU {best}, checkpoints in {cfg.output.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
