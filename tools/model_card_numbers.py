"""The numbers in engines/weights/MODEL_CARD.md: accuracy on unseen seeds and engine-only speed.

    python -m tools.model_card_numbers engines/weights/lraspp_mbv3_street.onnx --json out/model_card.json

Accuracy: ``training.evaluate`` on synthetic streams whose seeds were never used in training or
validation (training used seeds 0-5999 at most, validation 10000-10011), both cameras, at 1280×720; the
pooled mIoU over all frames, and the mIoU of each single 48-frame stream (the acceptance check's
shape: ``synthetic://street?seed=S&frames=48``), whose minimum shows the worst case, and per stream
the classes predicted but absent from it (each scores IoU 0 and counts in that stream's mean),
the ground truth under them, and how much mIoU each class costs a stream on average.
Seed lists: ``seed=A,B,C&frames=48`` pools the listed streams into one confusion matrix, so the
figure depends on how many seeds are listed: per camera, all streams pooled, and for k of them
drawn at random (many draws) the 10th percentile, the median and the share of draws >= 0.85.
Resolution ceiling: the pooled set's labels scaled to the model's input size and back (nearest),
scored like a prediction: what a perfect model at that input size would reach.
Speed: ONNX Runtime, one session with 2 intra-op threads (its default settings otherwise), batch 1,
on real fitted frames, after warm-up; median and p95 latency and the fps they imply.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from engines import transforms
from engines.metadata import load_for_model
from engines.registry import check_model_file
from segcore.accuracy import ConfusionMatrix, iou_per_class, mean_iou
from segcore.exits import CommandParser, run_command
from segcore.files import check_output_file
from segcore.labels import IGNORE_INDEX
from streetsim import StreetScene, SyntheticSpec
from training.data.datasets import open_dataset
from training.evaluate import evaluate

POOLED = "synthetic://street?seeds=20000-20015&frames=120&every=40&camera=dashcam,fixed&size=1280x720"
STREAMS = "synthetic://street?seeds=30000-30047&frames=48&camera=dashcam,fixed"  # 96 streams of 48 frames
TARGET = 0.85


def speed(model: Path, threads: int = 2, calls: int = 200) -> dict[str, float]:
    import onnxruntime as ort

    meta = load_for_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    scene = StreetScene(SyntheticSpec(seed=5, width=1280, height=720))
    frames = [transforms.fit(scene.render(i)[0], meta.input.height, meta.input.width)[0] for i in range(16)]
    batches = [transforms.to_input([f], meta.input) for f in frames]
    name = session.get_inputs()[0].name
    for batch in batches:
        session.run(None, {name: batch})
    times = []
    for i in range(calls):
        started = time.perf_counter()
        session.run(None, {name: batches[i % len(batches)]})
        times.append(time.perf_counter() - started)
    p50, p95 = (float(np.percentile(times, q)) * 1000 for q in (50, 95))
    return {"threads": threads, "calls": calls, "p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "fps_at_p50": round(1000 / p50, 1)}


def resolution_ceiling(model: Path, uri: str = POOLED) -> dict[str, Any]:
    """mIoU of the labels themselves after a round trip through the model's input size."""
    meta = load_for_model(model)
    matrix = ConfusionMatrix(meta.num_classes)
    dataset = open_dataset(uri)
    for i in range(len(dataset)):
        labels = dataset[i].labels
        height, width = labels.shape
        geometry = transforms.fit_geometry(height, width, meta.input.height, meta.input.width)
        small = transforms.resize_mask(labels, meta.input.width, meta.input.height)
        small[small == IGNORE_INDEX] = 0  # an ignored pixel must still be predicted as something
        matrix.update(transforms.restore_class_map(small, geometry), labels)
    return {"input_size": [meta.input.height, meta.input.width], "miou": matrix.miou(),
            "per_class_iou": matrix.per_class_iou(meta.class_names)}


def stream_diagnosis(matrices: dict[str, np.ndarray], class_names: list[str]) -> dict[str, Any]:
    """Where single streams lose mIoU, from each stream's confusion matrix (rows: ground truth).

    ``miou_lost``: per class, the mean over streams of (1 - IoU) / classes counted in that stream,
    split into streams that lack the class (predicted anyway, so IoU 0) and streams that have it.
    ``stray``: per stream, each class predicted but absent, its pixels and the ground truth under
    them (ignored pixels are not in the matrix). ``balance``: over all streams, per class, predicted
    pixels / true pixels, recall and precision (a class predicted as often as it occurs but with low
    recall is confused, not under-weighted).
    """
    absent = np.zeros(len(class_names))
    present = np.zeros(len(class_names))
    stray: dict[str, dict[str, Any]] = {}
    for uri, matrix in matrices.items():
        truth, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
        iou = iou_per_class(matrix)
        counted = ~np.isnan(iou)
        lost = np.where(counted, 1.0 - np.nan_to_num(iou), 0.0) / max(int(counted.sum()), 1)
        absent += np.where(truth == 0, lost, 0.0)
        present += np.where(truth > 0, lost, 0.0)
        for k in np.flatnonzero((truth == 0) & (predicted > 0)):
            under = {class_names[g]: int(matrix[g, k]) for g in np.argsort(-matrix[:, k]) if matrix[g, k]}
            stray.setdefault(uri, {})[class_names[k]] = {"pixels": int(predicted[k]), "ground_truth": under}
    n = max(len(matrices), 1)

    def table(values: np.ndarray) -> dict[str, float]:
        return {class_names[k]: round(float(values[k]) / n, 4) for k in np.argsort(-values) if values[k] > 0}

    total = np.sum(list(matrices.values()), axis=0)
    truth, predicted, hits = total.sum(axis=1), total.sum(axis=0), np.diag(total)
    balance = {class_names[k]: {"predicted_over_true": round(float(predicted[k] / truth[k]), 3),
                                "recall": round(float(hits[k] / truth[k]), 3),
                                "precision": round(float(hits[k] / max(predicted[k], 1)), 3)}
               for k in np.flatnonzero(truth)}
    return {"miou_lost": {"where_absent": table(absent), "where_present": table(present)}, "stray": stray,
            "balance": balance}


def seed_lists(matrices: list[np.ndarray], sizes: tuple[int, ...] = (3, 5, 10), draws: int = 500,
               seed: int = 0) -> dict[str, Any]:
    """mIoU of k streams pooled into one matrix (as ``seed=A,B,...`` does), over random draws of k."""
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {"all": {"streams": len(matrices), "miou": mean_iou(np.sum(matrices, axis=0))}}
    for k in sizes:
        if k > len(matrices):
            continue
        values = np.array([mean_iou(np.sum([matrices[i] for i in rng.choice(len(matrices), k, replace=False)], axis=0))
                           for _ in range(draws)])
        result[str(k)] = {"draws": draws, "p10": float(np.percentile(values, 10)), "median": float(np.median(values)),
                          f"share_at_least_{TARGET}": float(np.mean(values >= TARGET))}
    return result


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    parser = CommandParser(prog="python -m tools.model_card_numbers", description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the ONNX model (with its sidecar) the model card describes")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--skip-speed", action="store_true", help="leave out the engine-only timing")
    args = parser.parse_args(argv)
    check_model_file(args.model, hint="check the path")
    if args.json:
        check_output_file(args.json, "--json file", inputs=[args.model, args.model.with_suffix(".yaml")])
    pooled, *_ = evaluate(args.model, POOLED)
    print(f"pooled: mIoU {pooled['miou']:.4f} over {pooled['num_images']} frames ({POOLED})")
    # one spec, every stream scored alone by the evaluator (per_stream), as seed=S&frames=48&camera=C would be
    report, outcome, *_ = evaluate(args.model, STREAMS)
    streams = {name: result["miou"] for name, result in report["per_stream"].items()}
    matrices = {name: matrix.matrix for name, matrix in outcome.streams.items()}
    for name, result in report["per_stream"].items():
        absent = result["predicted_absent"]
        note = f"  (predicted, not in the stream: {absent})" if absent else ""
        print(f"{name}: mIoU {result['miou']:.4f}{note}")
    summary = {}
    for camera in ("all", "dashcam", "fixed"):
        values = [v for name, v in streams.items() if camera == "all" or name.endswith(f"/{camera}")]
        summary[camera] = {"streams": len(values), "min": min(values), "median": statistics.median(values),
                           "mean": statistics.fmean(values), "max": max(values)}
        print(f"single 48-frame streams ({camera}, {len(values)}): min {summary[camera]['min']:.4f} "
              f"median {summary[camera]['median']:.4f} mean {summary[camera]['mean']:.4f} max {summary[camera]['max']:.4f}")
    lists = {camera: seed_lists([m for name, m in matrices.items() if name.endswith(f"/{camera}")])
             for camera in ("dashcam", "fixed")}
    for camera, table in lists.items():
        print(f"seed lists ({camera}): {json.dumps(table)}")
    ceiling = resolution_ceiling(args.model)
    print(f"resolution ceiling at {ceiling['input_size']}: mIoU {ceiling['miou']:.4f} (perfect predictions, nearest back)")
    diagnosis = stream_diagnosis(matrices, pooled["class_names"])
    print(f"single streams, mIoU lost per class where the stream lacks it: {diagnosis['miou_lost']['where_absent']}")
    print(f"single streams, mIoU lost per class where the stream has it: {diagnosis['miou_lost']['where_present']}")
    print(f"single streams, per class predicted/true pixels, recall, precision: {json.dumps(diagnosis['balance'])}")
    for uri, classes in diagnosis["stray"].items():
        for name, stray in classes.items():
            print(f"{uri}: {name} on {stray['pixels']} px, ground truth under it: {stray['ground_truth']}")
    result = {"pooled": pooled, "streams": streams, "streams_summary": summary, "seed_lists": lists,
              "streams_diagnosis": diagnosis, "resolution_ceiling": ceiling}
    if not args.skip_speed:
        result["speed"] = speed(args.model)
        print(f"speed: {result['speed']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
