"""``python -m bench.demo_speed`` in a tiny quick run: what it reports and that it leaves nothing set; never speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.demo_speed import VARIANTS, main


def test_quick_run_reports_all_sources_side_by_side(tiny_model: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code = main(["--quick", "--rounds", "2", "--frames", "6", "--size", "160x90", "--model", str(tiny_model),
                 "--out", str(out), "--json", str(tmp_path / "d.json")])
    assert code == 0
    result = json.loads((tmp_path / "d.json").read_text())
    assert result["uri"] == "synthetic://street?seed=2026&frames=6&size=160x90&fps=30&camera=dashcam"
    assert Path(result["clip"]).is_file() and result["rounds"] == 2
    assert result["first_run_filled_the_cache"] is True
    assert len(list((out / "cache").iterdir())) == 1 and len(list((out / "cache-first-run").iterdir())) == 1
    for name in VARIANTS:
        runs = result["runs"][name]
        assert len(runs) == 2
        assert all(run["frames"] == 6 and run["fps"] > 0 and run["cpu_ms_per_frame"] > 0 for run in runs)
        assert result["fps"][name] == pytest.approx((runs[0]["fps"] + runs[1]["fps"]) / 2, abs=0.01)
    # every round ran all four, and each ratio is the median of the per-round ratios
    rounds = result["per_round_fps"]
    assert [set(r) for r in rounds] == [set(VARIANTS)] * 2
    for top, bottom in (("cached", "file"), ("drawn", "file"), ("first", "drawn")):
        ratios = [r[top] / r[bottom] for r in rounds]
        assert result[f"{top}_over_{bottom}"] == pytest.approx(sum(ratios) / 2, abs=0.002)
    # the synthetic runs scored the same frames; the file has no labels to score
    assert result["same_miou"] is True and 0.0 <= result["miou"] <= 1.0
    assert all(run["miou"] is None for run in result["runs"]["file"])
    for key in ("cpu", "cores", "python", "onnxruntime", "opencv", "av", "numpy", "date"):
        assert result["machine"][key], key
    printed = capsys.readouterr().out
    for label in ("file (H.264, decoded)", "synthetic, cached", "synthetic, drawn", "synthetic, first run"):
        assert f"| {label}" in printed
    assert "synthetic cached / file: **" in printed


@pytest.mark.parametrize("args", [["--frames", "0"], ["--size", "8x8"]])
def test_a_stream_it_cannot_make_is_a_usage_error(tiny_model: Path, tmp_path: Path, capsys, args: list[str]) -> None:
    assert main([*args, "--model", str(tiny_model), "--out", str(tmp_path)]) == 2
    assert "error: synthetic source" in capsys.readouterr().err
