"""Serve a running pipeline over HTTP: the live page, MJPEG streams and snapshots, Prometheus
metrics and ``POST /v1/segment``, in the pipeline's own process (``segstream ... --serve PORT``).

``Server`` binds, starts beside a started ``Pipeline`` and closes with it (``serve/server.py``);
``FrameHub`` holds each source's newest picture and its one shared JPEG (``serve/hub.py``).
"""

from serve.hub import FrameHub
from serve.server import Server
from serve.sink import ServeSink

__all__ = ["FrameHub", "ServeSink", "Server"]
