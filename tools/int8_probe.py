"""Is ONNX Runtime's static int8 quantisation worth it on this CPU? (docs/benchmarks.md, "Open proposals")

    python -m tools.int8_probe engines/weights/lraspp_mbv3_street.onnx --json out/int8.json

Quantises the model with ``onnxruntime.quantization.quantize_static`` (QDQ, per-channel int8
weights, uint8 activations, MinMax calibration on fitted synthetic frames from seeds never used
in training), then times fp32 and int8 side by side in one process, interleaved in rounds so the
shared machine's drift hits both alike, and reports how often their class maps agree. Only models
with one uint8 NHWC input (the bundled model's layout) are supported.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from engines import transforms
from engines.errors import ModelError
from engines.metadata import load_for_model
from engines.registry import check_model_file
from segcore.exits import CommandParser, int_range, run_command
from segcore.files import check_output_file, write_json
from streetsim import StreetScene, SyntheticSpec

CALIBRATION_SEEDS = range(50000, 50016)  # never used in training (0-5999), validation or the model card


def calibration_frames(height: int, width: int) -> list[np.ndarray]:
    frames = []
    for seed in CALIBRATION_SEEDS:
        for camera in ("dashcam", "fixed"):
            spec = SyntheticSpec.from_uri(f"synthetic://street?seed={seed}&frames=1&camera={camera}")
            image, _ = StreetScene(spec).render(0)
            frames.append(transforms.fit(image, height, width)[0][None])
    return frames


def probe(model: Path, threads: int = 2, rounds: int = 10, calls: int = 15) -> dict[str, Any]:
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    meta = load_for_model(model)
    if meta.input.dtype != "uint8" or meta.input.layout != "NHWC":
        raise ModelError(f"{model} takes {meta.input.dtype} {meta.input.layout} input; this probe needs a uint8 NHWC "
                         "model (export one with --uint8-input)")
    frames = calibration_frames(meta.input.height, meta.input.width)

    class Frames(CalibrationDataReader):
        def __init__(self, name: str) -> None:
            self._items = iter(frames)
            self._name = name

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._items, None)
            return None if batch is None else {self._name: batch}

    with tempfile.TemporaryDirectory() as tmp:
        prepared, quantised = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(model), str(prepared))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        fp32 = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        name = fp32.get_inputs()[0].name
        quantize_static(str(prepared), str(quantised), Frames(name), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        int8 = ort.InferenceSession(str(quantised), options, providers=["CPUExecutionProvider"])
        sessions = {"fp32": fp32, "int8": int8}

        agreement = float(np.mean([(fp32.run(None, {name: f})[0] == int8.run(None, {name: f})[0]).mean()
                                   for f in frames]))
        times: dict[str, list[float]] = {k: [] for k in sessions}
        for session in sessions.values():
            for frame in frames[:10]:
                session.run(None, {name: frame})
        for r in range(rounds):
            frame = frames[r % len(frames)]
            for key, session in sessions.items():
                for _ in range(calls):
                    start = time.perf_counter()
                    session.run(None, {name: frame})
                    times[key].append(time.perf_counter() - start)
    p50 = {k: 1000 * statistics.median(v) for k, v in times.items()}
    return {
        "model": str(model),
        "onnxruntime": ort.__version__,
        "threads": threads,
        "calls_each": rounds * calls,
        "p50_ms": {k: round(v, 2) for k, v in p50.items()},
        "int8_over_fp32_time": round(p50["int8"] / p50["fp32"], 3),
        "class_map_agreement": round(agreement, 4),
        "calibration_frames": len(frames),
    }


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, argv)


def _main(argv: list[str]) -> int:
    parser = CommandParser(prog="python -m tools.int8_probe", description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an ONNX model with a sidecar (uint8 NHWC input)")
    parser.add_argument("--threads", type=int_range(1), default=2, help="ONNX Runtime intra-op threads (default 2)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    check_model_file(args.model, hint="check the path")
    if args.json:
        check_output_file(args.json, "--json file", inputs=[args.model, args.model.with_suffix(".yaml")])
    result = probe(args.model, threads=args.threads)
    print(json.dumps(result, indent=1))
    if args.json:
        write_json(result, args.json, what="result", indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
