#!/usr/bin/env python3
"""Real-time semantic segmentation of video streams: the ``segstream`` command's run, as a script.

    python run_stream.py [SOURCE ...] [-o OUT] [--config FILE] [--model PATH] [--set key=value ...]
                         [--show] [--visualize MODE] [--alpha A] [--max-frames N] [--masks DIR]
                         [--jsonl FILE] [--json STATS.json] [--live] [--pace]

With no arguments: the bundled model on the built-in synthetic street stream, writing an
annotated video to out/segstream_demo.mp4. Exit codes: 0 ok, 1 runtime failure, 2
usage/config/input error, 130 interrupted. The loop itself is ``segstream/run.py``.
"""

from __future__ import annotations

import sys

from segstream.run import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
