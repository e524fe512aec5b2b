"""Latency histograms (bounded memory, accurate percentiles), rates, streamed accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.metrics import LatencyHistogram, Metrics, RateMeter
from segcore.accuracy import ConfusionMatrix, confusion_matrix, iou_per_class, mean_iou, pixel_accuracy


def test_histogram_percentiles_match_numpy_within_bucket_width() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(mean=3.0, sigma=0.8, size=20000)  # ~20 ms, long tail
    h = LatencyHistogram()
    for v in values:
        h.record(float(v))
    for q in (50, 95, 99):
        assert h.percentile(q) == pytest.approx(np.percentile(values, q), rel=0.05)
    assert h.count == len(values)
    assert h.mean == pytest.approx(values.mean())


def test_histogram_memory_is_fixed() -> None:
    h = LatencyHistogram()
    size = h.counts.nbytes
    for v in np.linspace(0, 1e7, 100000):
        h.record(float(v))
    assert h.counts.nbytes == size < 8 * 1024
    assert h.percentile(100) == pytest.approx(1e7)  # beyond the last bucket: the exact maximum


def test_histogram_edge_values() -> None:
    h = LatencyHistogram()
    assert h.percentile(50) is None and h.summary() == {"p50": None, "p95": None, "p99": None}
    for v in (0.0, -5.0, float("nan"), 1e-9):
        h.record(v)
    assert h.percentile(99) <= 1e-3  # below the first bucket: reported as at most 1 µs
    h.record(12.0)
    assert h.percentile(100) == pytest.approx(12.0, rel=0.05)


def test_rate_meter() -> None:
    r = RateMeter(window=10)
    for i in range(20):
        r.tick(100.0 + i * 0.05)
    assert r.rate(now=101.0) == pytest.approx(20.0)
    assert r.rate(now=200.0) == 0.0  # nothing for a long time


def test_metrics_snapshot_has_the_summary_keys_and_accuracy() -> None:
    m = Metrics(["a", "b", "c"])
    m.start(now=10.0)
    for i in range(10):
        m.record_stage("infer", 5.0 + i)
        m.frame_done("cam", 20.0 + i, now=10.1 * (i + 1))
    pred = np.array([[0, 1], [2, 2]], np.uint8)
    labels = np.array([[0, 1], [2, 255]], np.uint8)
    cm = ConfusionMatrix(3)
    cm.update(pred, labels)
    m.add_confusion("cam", cm.matrix)
    snap = m.snapshot(now=120.0)
    assert snap["frames"] == 10
    assert set(snap["stage_latency_ms"]["infer"]) == {"p50", "p95", "p99"}
    assert snap["e2e_latency_ms"]["p50"] == pytest.approx(24.5, rel=0.06)
    assert snap["miou"] == 1.0 and snap["labelled_frames"] == 1
    assert snap["sources"]["cam"]["frames"] == 10 and snap["sources"]["cam"]["miou"] == 1.0
    assert set(snap["per_class_iou"]) == {"a", "b", "c"}


def test_metrics_without_labels_have_no_miou() -> None:
    m = Metrics(["a"])
    m.start()
    m.frame_done("x", 1.0)
    assert "miou" not in m.snapshot()


# ------------------------------------------------------------ segcore.accuracy: IoU, mIoU, pixel accuracy


def test_hand_computed_example() -> None:
    pred = np.array([[0, 1, 1, 2], [0, 0, 3, 3]])
    target = np.array([[0, 1, 255, 2], [1, 0, 3, 255]])
    cm = ConfusionMatrix(5)
    cm.update(pred, target)
    # class 0: TP 2, FP 1 (a 1 predicted as 0), FN 0 → 2/3; class 1: TP 1, FN 1 → 1/2; 2 and 3 perfect
    np.testing.assert_allclose(cm.iou()[:4], [2 / 3, 1 / 2, 1.0, 1.0])
    assert np.isnan(cm.iou()[4])  # absent from GT and prediction
    assert cm.miou() == pytest.approx((2 / 3 + 1 / 2 + 1 + 1) / 4)
    assert cm.pixel_accuracy() == pytest.approx(5 / 6)  # the 2 ignored pixels are not counted
    assert cm.total == 6
    summary = cm.summary(["a", "b", "c", "d", "e"])
    assert summary["per_class_iou"]["e"] is None
    assert summary["confusion_matrix"][1] == [1, 1, 0, 0, 0]


def test_ignored_pixels_never_count_whatever_was_predicted() -> None:
    target = np.full((4, 4), 255, dtype=np.uint8)
    target[0, 0] = 1
    pred = np.random.default_rng(0).integers(0, 3, size=(4, 4))
    pred[0, 0] = 1
    m = confusion_matrix(pred, target, 3)
    assert m.sum() == 1 and m[1, 1] == 1


def test_class_only_in_prediction_gets_zero_iou_and_counts_in_the_mean() -> None:
    target = np.zeros((2, 2), dtype=np.uint8)
    pred = np.array([[0, 0], [0, 2]])
    ious = iou_per_class(confusion_matrix(pred, target, 3))
    assert ious[0] == pytest.approx(0.75)
    assert np.isnan(ious[1])
    assert ious[2] == 0.0
    assert mean_iou(confusion_matrix(pred, target, 3)) == pytest.approx(0.375)


def test_predicted_absent_names_the_classes_that_score_zero_without_ground_truth() -> None:
    cm = ConfusionMatrix(4)
    target = np.array([[0, 0, 1], [1, 255, 255]])
    pred = np.array([[0, 2, 1], [3, 3, 2]])  # 2: one counted pixel (one more under ignore); 3: one
    cm.update(pred, target)
    assert cm.predicted_absent(["a", "b", "c", "d"]) == {"c": 1, "d": 1}
    summary = cm.summary(["a", "b", "c", "d"])
    assert summary["predicted_absent"] == {"c": 1, "d": 1}
    assert summary["per_class_iou"]["c"] == 0.0
    cm.update(np.array([2]), np.array([2]))  # now class c occurs in the ground truth
    assert cm.predicted_absent(["a", "b", "c", "d"]) == {"d": 1}


def test_empty_matrix_gives_nan_and_null_in_summary() -> None:
    cm = ConfusionMatrix(3)
    cm.update(np.zeros((2, 2)), np.full((2, 2), 255))
    assert np.isnan(cm.miou()) and np.isnan(cm.pixel_accuracy())
    assert cm.summary()["miou"] is None


def test_out_of_range_values_are_errors() -> None:
    with pytest.raises(ValueError, match="prediction"):
        confusion_matrix(np.array([[5]]), np.array([[0]]), 3)
    with pytest.raises(ValueError, match="target"):
        confusion_matrix(np.array([[0]]), np.array([[7]]), 3)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), 3)


def test_batches_accumulate_like_one_big_update() -> None:
    rng = np.random.default_rng(1)
    pred = rng.integers(0, 4, size=(3, 8, 8))
    target = rng.integers(0, 4, size=(3, 8, 8))
    one, many = ConfusionMatrix(4), ConfusionMatrix(4)
    one.update(pred, target)
    for p, t in zip(pred, target, strict=True):
        many.update(p, t)
    np.testing.assert_array_equal(one.matrix, many.matrix)


def test_row_normalised_matrix() -> None:
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 1, 1, 0]), np.array([0, 0, 1, 1]))
    np.testing.assert_allclose(cm.normalized().sum(axis=1), [1, 1, 0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_torchmetrics(seed: int) -> None:
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.classification")
    rng = np.random.default_rng(seed)
    k = 7
    target = rng.integers(0, k - 2, size=(4, 33, 47))  # class 5 appears only in predictions, 6 nowhere
    target[rng.random(target.shape) < 0.15] = 255
    pred = np.where(rng.random(target.shape) < 0.6, np.where(target == 255, 0, target),
                    rng.integers(0, k - 1, size=target.shape))
    ours = ConfusionMatrix(k)
    ours.update(pred.astype(np.uint8), target.astype(np.uint8))
    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    ref = tm.MulticlassJaccardIndex(num_classes=k, ignore_index=255, average=None)(p, t).numpy()
    ious = ours.iou()
    present = ~np.isnan(ious)
    assert present.tolist() == [True] * 6 + [False]
    np.testing.assert_allclose(ious[present], ref[present], rtol=1e-6)
    assert ious[5] == 0.0
    macro = tm.MulticlassJaccardIndex(num_classes=k, ignore_index=255, average="macro")(p, t)
    assert ours.miou() == pytest.approx(float(macro), rel=1e-6)
    accuracy = tm.MulticlassAccuracy(num_classes=k, ignore_index=255, average="micro")(p, t)
    assert pixel_accuracy(ours.matrix) == pytest.approx(float(accuracy), rel=1e-6)


@pytest.mark.parametrize("num_classes", [1, 2, 19, 21, 255])
@pytest.mark.parametrize("path", ["histogram", "bincount"])
def test_uint8_maps_count_like_wide_integers(num_classes: int, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two uint8 maps take a faster path (OpenCV's 2-D histogram, or one bincount of 16-bit pairs for
    maps too large for its float32 bins): the same matrix as int64 maps, ignore pixels included."""
    from segcore import accuracy

    if path == "bincount":
        monkeypatch.setattr(accuracy, "_EXACT_FLOAT32", 0)
    rng = np.random.default_rng(num_classes)
    for shape in ((1, 1), (37, 53), (720, 1280)):
        target = rng.integers(0, num_classes, shape).astype(np.uint8)
        target[rng.random(shape) < 0.2] = 255
        prediction = rng.integers(0, num_classes, shape).astype(np.uint8)
        fast = confusion_matrix(prediction, target, num_classes)
        wide = confusion_matrix(prediction.astype(np.int64), target.astype(np.int64), num_classes)
        assert fast.dtype == np.int64 and np.array_equal(fast, wide)


@pytest.mark.parametrize("which", ["prediction", "target"])
def test_uint8_maps_refuse_foreign_classes_with_the_same_message(which: str) -> None:
    good, bad = np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)
    bad[1, 2] = 30
    pair = (bad, good) if which == "prediction" else (good, bad)
    messages = []
    for convert in (np.asarray, lambda a: a.astype(np.int64)):
        with pytest.raises(ValueError, match=f"{which} holds class 30 outside 0..18") as caught:
            confusion_matrix(convert(pair[0]), convert(pair[1]), 19)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
