"""The parity check run after every export: ONNX Runtime against PyTorch on random non-zero frames.

Two measures, both must pass:

* the largest absolute logit difference, within ``tolerance`` (relative to the logits' scale:
  1e-3 of the largest |logit| for fp32 graphs, 3e-2 for fp16 graphs);
* argmax agreement of at least 99.9 % over *decisive* pixels: those whose top-1/top-2 logit margin
  in PyTorch exceeds twice the tolerance. A pixel whose two best classes are closer than the
  numerical tolerance is a tie that any correct implementation may break either way; counting it
  would make the check flaky for random weights without making it stricter for trained ones.
  The raw agreement over all pixels is reported too.

For graphs with the argmax inside, the logits are read from the same graph: a probe copy of the
model exposes the ArgMax node's input as an extra output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from engines.errors import ParityError
from engines.metadata import ModelMeta

MIN_AGREEMENT = 0.999
TOLERANCE = {"fp32": 1e-3, "fp16": 3e-2}



@dataclass(frozen=True)
class SizeResult:
    height: int
    width: int
    batch: int
    max_abs_diff: float
    tolerance: float
    agreement: float  # over decisive pixels
    raw_agreement: float  # over all pixels
    decisive_fraction: float


@dataclass(frozen=True)
class ParityReport:
    results: tuple[SizeResult, ...]
    min_agreement: float = MIN_AGREEMENT

    @property
    def passed(self) -> bool:
        return all(r.max_abs_diff <= r.tolerance and r.agreement >= self.min_agreement for r in self.results)

    def summary(self) -> str:
        parts = [
            f"{r.height}x{r.width}: max|Δlogit| {r.max_abs_diff:.2e} (tol {r.tolerance:.1e}), "
            f"argmax agreement {100 * r.agreement:.3f}% of decisive pixels ({100 * r.decisive_fraction:.1f}% of all; "
            f"raw {100 * r.raw_agreement:.3f}%)"
            for r in self.results
        ]
        return ("PASSED " if self.passed else "FAILED ") + "; ".join(parts)

    def to_dict(self) -> dict[str, object]:
        return {"passed": self.passed, "min_agreement": self.min_agreement, "sizes": [asdict(r) for r in self.results]}


def random_frames(meta: ModelMeta, batch: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Random non-zero input shaped and typed as the graph expects."""
    rng = np.random.default_rng(seed)
    spec = meta.input
    shape = (batch, height, width, 3) if spec.layout == "NHWC" else (batch, 3, height, width)
    if spec.dtype == "uint8":
        return rng.integers(1, 256, size=shape, dtype=np.uint8)
    data = rng.standard_normal(shape).astype(np.float32)
    data[data == 0] = 1e-3
    return data.astype(np.float16) if spec.dtype == "float16" else data


def check_parity(reference: torch.nn.Module, onnx_path: str | Path, meta: ModelMeta, *,
                 sizes: Sequence[tuple[int, int]], batch: int = 1, threads: int | None = None) -> ParityReport:
    """Compare ``reference`` (fp32 torch module returning logits, same input contract) with the graph."""
    session = _probe_session(Path(onnx_path), meta, threads)
    base_tol = TOLERANCE[meta.precision]
    results = []
    for index, (height, width) in enumerate(sizes):
        frames = random_frames(meta, batch, height, width, seed=index)
        with torch.no_grad():
            x = torch.from_numpy(frames)
            expected = reference(x.float() if x.dtype == torch.float16 else x).float().numpy()
        outputs = session.run(None, {session.get_inputs()[0].name: frames})
        logits = outputs[-1].astype(np.float32)  # probe output (or the logits output itself)
        classes = outputs[0] if meta.output.kind == "classmap" else np.argmax(logits, axis=1)
        tolerance = base_tol * max(float(np.abs(expected).max()), 1e-6)
        diff = float(np.abs(logits - expected).max())
        top2 = np.sort(expected, axis=1)[:, -2:]
        decisive = (top2[:, 1] - top2[:, 0]) > 2 * tolerance
        same = classes.astype(np.int64) == np.argmax(expected, axis=1)
        agreement = float(same[decisive].mean()) if decisive.any() else 1.0
        results.append(SizeResult(height, width, batch, diff, tolerance, agreement, float(same.mean()), float(decisive.mean())))
    return ParityReport(tuple(results))


def _probe_session(path: Path, meta: ModelMeta, threads: int | None):  # type: ignore[no-untyped-def]
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if meta.output.kind != "classmap":
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    model = onnx.load(str(path))
    argmax_nodes = [n for n in model.graph.node if n.op_type == "ArgMax"]
    if len(argmax_nodes) != 1:
        raise ParityError(f"{path}: expected one ArgMax node in a classmap graph, found {len(argmax_nodes)}")
    logits_name = argmax_nodes[0].input[0]
    elem = onnx.TensorProto.FLOAT16 if meta.precision == "fp16" else onnx.TensorProto.FLOAT
    model.graph.output.append(onnx.helper.make_tensor_value_info(logits_name, elem, None))
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
