"""Keep credentials out of everything segstream prints or writes.

``redact_uri("rtsp://user:pass@cam.local:554/stream")`` → ``"rtsp://***@cam.local:554/stream"``;
query parameters that look like secrets (``?password=…``, ``token``, ``key``, …) get ``***`` too.
``redact_text`` does the same to every URI inside a longer message (errors, logs).
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s?#]+)@")
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:[A-Za-z0-9_\-]*?)(?:pass(?:word|wd)?|pwd|token|secret|key|auth|sig(?:nature)?|credentials?)"
    r"[A-Za-z0-9_\-]*=)(?P<value>[^&;#\s]*)",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """``text`` with the user-info part of every URI and every secret-looking parameter masked."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m.group('key')}***" if m.group("value") else m.group(0), text)


def redact_uri(uri: str) -> str:
    """A URI safe to print: ``rtsp://user:pass@host`` → ``rtsp://***@host``."""
    return redact_text(str(uri))
