"""The soak script, short: 40 s of a live 30 fps source through the bundled model, loose bounds.

The published 10-minute run (docs/soak.md) holds the real targets; this checks on every CI run that
the script works and that nothing grows without bound over a short live run: memory, threads,
queue depths, latency.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_short_soak_stays_flat(tmp_path: Path) -> None:
    out = tmp_path / "soak"
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--minutes", "0.67", "--warmup", "10", "--visualize", "overlay",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "soak.json").read_text())
    summary, final = report["summary"], report["final"]
    rows = (out / "soak.csv").read_text().splitlines()
    assert len(rows) >= 30  # a header and one sample per second

    assert summary["frames"] > 0 and final["live"] is True
    assert summary["source"]["state"] in ("streaming", "stopped", "finished")
    assert summary["rss_growth_mb"] < 50, summary  # the 10-minute target is 20 MB
    low, high = summary["threads_min_max"]
    assert high - low <= 2, summary  # no thread leaks per frame or per interval

    # live: the capture queue holds one frame (the newest), the others stay within their capacity
    for name, depth in summary["max_queue_depth"].items():
        assert depth <= final["queues"][name]["capacity"], (name, depth)
    assert final["queues"]["capture:soak"]["capacity"] == 1

    # latency does not creep: the p99 of the last seconds is not far above that of the first ones
    header = rows[0].split(",")
    t_col, p99_col = header.index("t_s"), header.index("lat_p99_ms")
    p99s = [float(r.split(",")[p99_col]) for r in rows[1:]
            if float(r.split(",")[t_col]) >= 10 and r.split(",")[p99_col]]
    assert len(p99s) >= 20, "frames stopped arriving during the soak"
    third = len(p99s) // 3
    first, last = statistics.median(p99s[:third]), statistics.median(p99s[-third:])
    assert last <= 2 * first + 100, (first, last)
