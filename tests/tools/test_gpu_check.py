"""tools/gpu_check.sh --dry-run: every step of the GPU check but the CUDA calls, on this CPU (so CI runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import gpu_check
from tools.gpu_report import markdown

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_dry_run_runs_every_item_and_writes_json_and_markdown(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)}
    # the default dry-run budget is 55 s; a busy shared CI machine gets more room
    done = subprocess.run([str(ROOT / "tools" / "gpu_check.sh"), "--dry-run", "--budget-s", "240"], env=env,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    items = report["items"]
    assert list(items) == [name for name, _ in gpu_check.ITEMS]
    assert all(entry["status"] == "ok" for entry in items.values()), {k: v["status"] for k, v in items.items()}
    assert report["dry_run"] and report["passed"]
    engine = items["engine"]["result"]["rows"]
    measured = [r for r in engine if r["status"] == "ok"]
    assert measured and all(r["fps"] > 0 and r["precision"] == "fp32" and not r["cuda_graph"] for r in measured)
    assert all(r["status"].startswith("not run: needs CUDA") for r in engine if r not in measured)
    assert items["agreement"]["result"]["fp32"]["agreement"] >= 0.995
    runs = items["pipeline"]["result"]["runs"]
    assert {(r["mode"], r["path_taken"]) for r in runs} >= {("offline", "device"), ("offline", "host")}
    assert all(r["frames"] > 0 for r in runs)
    assert items["pipeline"]["result"]["agreement_with_onnxruntime"]["worst_frame"] >= 0.995
    streams = items["streams"]["result"]["rows"]
    assert all(r["batch"] == r["streams"] and r["frames"] > 0 for r in streams)
    table = (tmp_path / "gpu_check.md").read_text()
    assert "DRY RUN" in table and "not run: needs CUDA" in table and "| engine | ok |" in table


def test_a_run_without_cuda_is_refused_unless_dry(capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert gpu_check.main(["--out", "/nonexistent/never-written"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--dry-run" in err and err.count("\n") == 1


def test_a_failed_item_is_recorded_and_the_next_one_still_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: gpu_check.Context, deadline: float) -> dict[str, object]:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    def fine(ctx: gpu_check.Context, deadline: float) -> dict[str, object]:
        return {"status": "ok", "value": 1}

    monkeypatch.setattr(gpu_check, "ITEMS", [("environment", broken), ("gpu_tests", fine)])
    report = gpu_check.check(gpu_check.Plan.small(30), tmp_path)
    assert report["items"]["environment"]["status"].startswith("failed: RuntimeError: CUDA error")
    assert report["items"]["gpu_tests"]["status"] == "ok" and not report["passed"]
    assert json.loads((tmp_path / "gpu_check.json").read_text())["items"]["gpu_tests"]["result"]["value"] == 1
    assert "| environment | failed: RuntimeError" in markdown(report)
