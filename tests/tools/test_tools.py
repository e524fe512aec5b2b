"""The measurement tools under tools/ run end to end on a real (tiny) exported model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engines.errors import ModelError
from tools import int8_probe, model_card_numbers


def test_int8_probe_quantises_and_times_both_models(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "int8.json"
    assert int8_probe.main([str(tiny_model), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["p50_ms"]) == {"fp32", "int8"}
    assert all(v > 0 for v in result["p50_ms"].values())
    # p50_ms is rounded to 0.01 ms, which on this sub-millisecond model moves the quotient by a few
    # percent: the reported ratio must lie inside the interval the rounded times allow.
    fp32, int8 = result["p50_ms"]["fp32"], result["p50_ms"]["int8"]
    half = 0.005
    assert (
        (int8 - half) / (fp32 + half) - 1e-3
        <= result["int8_over_fp32_time"]
        <= (int8 + half) / (fp32 - half) + 1e-3
    )
    assert 0.0 <= result["class_map_agreement"] <= 1.0
    assert result["calibration_frames"] == 2 * len(int8_probe.CALIBRATION_SEEDS)


def test_int8_probe_rejects_a_float_input_model(tiny_logits_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ModelError, match="uint8 NHWC"):
        int8_probe.probe(tiny_logits_model)
    assert int8_probe.main([str(tiny_logits_model)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "uint8 NHWC" in err


def test_int8_probe_missing_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert int8_probe.main([str(tmp_path / "nope.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_stream_diagnosis_splits_the_lost_miou_and_names_the_ground_truth_under_stray_classes() -> None:
    names = ["road", "car", "truck"]
    # stream a: road and car present; 10 car pixels read as truck, which a lacks (IoU 0)
    a = np.array([[90, 0, 0], [0, 30, 10], [0, 0, 0]])
    # stream b: road only, predicted perfectly
    b = np.array([[50, 0, 0], [0, 0, 0], [0, 0, 0]])
    result = model_card_numbers.stream_diagnosis({"a": a, "b": b}, names)
    # a counts 3 classes: road IoU 1, car IoU 30/40, truck IoU 0; b counts road only (IoU 1)
    assert result["miou_lost"]["where_absent"] == {"truck": pytest.approx((1 - 0) / 3 / 2, abs=1e-4)}
    assert result["miou_lost"]["where_present"] == {"car": pytest.approx((1 - 0.75) / 3 / 2, abs=1e-4)}
    assert result["stray"] == {"a": {"truck": {"pixels": 10, "ground_truth": {"car": 10}}}}
    # over both streams: road 140 true, 140 predicted; car 40 true, 30 predicted (all right)
    assert result["balance"] == {"road": {"predicted_over_true": 1.0, "recall": 1.0, "precision": 1.0},
                                 "car": {"predicted_over_true": 0.75, "recall": 0.75, "precision": 1.0}}


def test_seed_lists_pools_streams_into_one_matrix_as_a_seed_list_does() -> None:
    # stream a: road perfect, car half read as road; stream b: car perfect, road perfect
    a = np.array([[10, 0], [5, 5]])
    b = np.array([[10, 0], [0, 10]])
    result = model_card_numbers.seed_lists([a, b], sizes=(1, 2, 3), draws=200, seed=1)
    pooled = a + b  # road IoU 20/25, car IoU 15/20
    assert pooled.tolist() == [[20, 0], [5, 15]]
    assert result["all"] == {"streams": 2, "miou": pytest.approx((20 / 25 + 15 / 20) / 2)}
    assert "3" not in result  # more seeds than streams: no draw
    both = result["2"]  # every draw of 2 of 2 streams is the same pooled matrix
    assert both["p10"] == both["median"] == pytest.approx(result["all"]["miou"])
    assert both["share_at_least_0.85"] == 0.0
    one = result["1"]  # a alone: (10/15 + 5/10) / 2 = 0.583; b alone: 1.0 (>= 0.85)
    assert one["p10"] == pytest.approx((10 / 15 + 5 / 10) / 2)
    assert 0.3 < one["share_at_least_0.85"] < 0.7
