"""System shared memory between the triton engine and a server on the same host.

Frames are written into a POSIX shared-memory region the server reads, and the class maps come
back through a second region: only the request's small description crosses gRPC. The regions hold
one largest batch each and belong to one engine (their names carry the process id and a counter).
A restarted server has forgotten them: ``register()`` is called again before the first request
after an outage.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from typing import Any

import numpy as np

from engines.errors import ModelError

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
_COUNTER = itertools.count()


class SharedRegions:
    def __init__(self, client: Any, host: str, max_batch: int, height: int, width: int) -> None:
        if host not in LOOPBACK:
            raise ModelError(f"model.options.shared_memory needs the Triton server on this host (127.0.0.1 or "
                             f"localhost), not {host}; leave it off for a remote server")
        import tritonclient.utils.shared_memory as shm

        self._shm = shm
        self._client = client
        self.height, self.width = height, width
        tag = f"segstream_{os.getpid()}_{next(_COUNTER)}"
        self.input_name, self.output_name = f"{tag}_in", f"{tag}_out"
        self.input_bytes = max_batch * height * width * 3
        self.output_bytes = max_batch * height * width
        self._input = shm.create_shared_memory_region(self.input_name, f"/{self.input_name}", self.input_bytes)
        try:
            self._output = shm.create_shared_memory_region(self.output_name, f"/{self.output_name}", self.output_bytes)
        except BaseException:
            shm.destroy_shared_memory_region(self._input)
            raise
        try:
            self.register()
        except BaseException:
            self.close()
            raise

    def register(self) -> None:
        """Register both regions with the server (again, after a restart); raises what tritonclient raises."""
        for name, size in ((self.input_name, self.input_bytes), (self.output_name, self.output_bytes)):
            self._client.unregister_system_shared_memory(name)  # a no-op when the server does not know it
            self._client.register_system_shared_memory(name, f"/{name}", size)

    def put(self, batch: np.ndarray) -> int:
        """Write ``batch`` into the input region; return its size in bytes."""
        self._shm.set_shared_memory_region(self._input, [batch])
        return int(batch.nbytes)

    def take(self, count: int) -> np.ndarray:
        """The ``count`` class maps the server wrote, copied out of the region."""
        view = self._shm.get_contents_as_numpy(self._output, np.uint8, [count, self.height, self.width])
        return np.array(view, copy=True)

    def close(self) -> None:
        for name in (self.input_name, self.output_name):
            with contextlib.suppress(Exception):  # the server may be gone: its regions went with it
                self._client.unregister_system_shared_memory(name)
        for handle in (self._input, self._output):
            self._shm.destroy_shared_memory_region(handle)
