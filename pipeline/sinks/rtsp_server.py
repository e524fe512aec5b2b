"""The RTSP server behind ``--restream``: a script run by Debian's own Python, not imported here.

GStreamer's RTSP server comes with Debian's PyGObject (``python3-gi``), which the project's
virtual environment does not have, so ``pipeline.sinks.restream`` starts this file as
``/usr/bin/python3 rtsp_server.py HOST PORT BITRATE_KBPS KEYFRAME_INTERVAL`` and writes to its
standard input. It imports nothing but the standard library and ``gi``, and only in ``main()``.

Messages on stdin, each a header ``<BII`` (kind, mount number, payload length) and a payload:

- kind 1, a mount: JSON ``{"path", "width", "height", "fps"}``; that path is served once the
  server answers ``MOUNTED <number>`` on stdout;
- kind 2, a frame: the mount's BGR pixels, height × width × 3 bytes.

Each mount is one shared media (``RTSPMediaFactory.set_shared``): one ``appsrc ! videoconvert !
x264enc tune=zerolatency ! rtph264pay`` pipeline, built when the first viewer connects and fed by
every frame from then on, encoded once for every viewer. Without a viewer, frames are discarded
unencoded. Lines on stdout: ``READY <port>`` once listening, or ``FAILED <reason>`` (then exit 3).
"""

from __future__ import annotations

import json
import struct
import sys
import threading
from typing import Any

HEADER = struct.Struct("<BII")
MOUNT, FRAME = 1, 2


def main(argv: list[str]) -> int:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    host, port, bitrate, keyint = argv[0], argv[1], int(argv[2]), int(argv[3])
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(host)
    server.set_service(port)
    sources: dict[int, Any] = {}  # mount number → the appsrc of its media while a viewer watches
    lock = threading.Lock()

    def add_mount(number: int, spec: dict) -> None:
        width, height = int(spec["width"]), int(spec["height"])
        fps = max(1, round(float(spec["fps"])))
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            f"( appsrc name=src is-live=true format=time do-timestamp=true block=false max-bytes={width * height * 6} "
            f"caps=video/x-raw,format=BGR,width={width},height={height},framerate={fps}/1 "
            f"! queue leaky=downstream max-size-buffers=2 ! videoconvert ! video/x-raw,format=I420 "
            f"! x264enc tune=zerolatency speed-preset=ultrafast bitrate={bitrate} key-int-max={keyint} "
            f"! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
        factory.set_shared(True)

        def configured(_factory: object, media: object) -> None:
            appsrc = media.get_element().get_by_name("src")  # type: ignore[attr-defined]
            with lock:
                sources[number] = appsrc

            def unprepared(_media: object) -> None:
                with lock:
                    if sources.get(number) is appsrc:
                        del sources[number]

            media.connect("unprepared", unprepared)  # type: ignore[attr-defined]

        factory.connect("media-configure", configured)
        server.get_mount_points().add_factory(spec["path"], factory)
        print(f"MOUNTED {number}", flush=True)

    def read_input() -> None:
        stdin = sys.stdin.buffer
        try:
            while True:
                header = stdin.read(HEADER.size)
                if len(header) < HEADER.size:
                    break
                kind, number, length = HEADER.unpack(header)
                payload = stdin.read(length)
                if len(payload) < length:
                    break
                if kind == MOUNT:
                    GLib.idle_add(add_mount, number, json.loads(payload))
                elif kind == FRAME:
                    with lock:
                        appsrc = sources.get(number)
                    if appsrc is not None:
                        appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(payload))
        finally:
            GLib.idle_add(loop.quit)  # the sink closed its end: the run is over

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"FAILED cannot listen on {host}:{port} (the port is in use, or the address is not this machine's)",
              flush=True)
        return 3
    print(f"READY {server.get_bound_port()}", flush=True)
    threading.Thread(target=read_input, name="rtsp-input", daemon=True).start()
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
