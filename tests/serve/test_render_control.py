"""The render settings the page's control changes while the pipeline runs (``Pipeline.set_render``)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from pipeline import CallbackSink, Pipeline, SegResult, load_config
from segcore.errors import ConfigError
from tests.pipeline.waiting import wait_until
from tests.serve.conftest import street

pytestmark = pytest.mark.timeout(60)


def test_a_mode_that_changes_a_written_videos_size_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    video = tmp_path / "out.mp4"
    results: list[SegResult] = []
    config = load_config(None, [f"model.path={tiny_model}", "source.pace=true", "source.synthetic_cache=null",
                                f"output.video={video}"], values={"source.uris": [street(frames=40)]})
    pipeline = Pipeline.from_config(config, sinks=[CallbackSink(results.append)])
    with pipeline:
        wait_until(lambda: len(results) >= 3, what="first results")
        for mode in ("side", "none"):
            with pytest.raises(ConfigError, match="change the size of the video being written"):
                pipeline.set_render(mode)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="render.alpha"):
            pipeline.set_render(alpha=1.5)
        pipeline.set_render("mask", 0.25)
        assert pipeline.render_view == ("mask", 0.25)
        seen = len(results)
        wait_until(lambda: len(results) >= seen + 3, what="results after the change")
        pipeline.stop()
    # a mask frame is the class colours alone: below the HUD and legend, every pixel is a palette colour
    last = results[-1]
    assert last.rendered is not None and last.rendered.shape == last.frame.image.shape
    palette = {tuple(int(v) for v in reversed(rgb)) for rgb in pipeline.meta.palette}
    bottom = last.rendered[120:].reshape(-1, 3)
    assert {tuple(int(v) for v in px) for px in np.unique(bottom, axis=0)} <= palette
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (320, 180)
        assert sum(1 for _ in container.decode(stream)) == len(results)
