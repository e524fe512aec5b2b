"""Zone events POSTed to a URL (``--webhook URL``): one JSON body per event (``ZoneEvent.to_dict``).

A request that fails (no connection, a timeout, a 5xx, 408 or 429 answer) is tried again, up to
``retries`` more times, waiting 0.5 s, 1 s, 2 s ... (at most 10 s) between tries; any other 4xx
answer is final (the same body would be refused again). Requests go one at a time, in event
order, from the publisher's own thread (``QueuedPublisher``): the pipeline never waits for them.
Only ``http://`` and ``https://`` URLs are taken; credentials in the URL never appear in messages.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from pipeline.events.event import ZoneEvent
from pipeline.events.publisher import QueuedPublisher
from segcore.errors import ConfigError
from segcore.redact import redact_uri

MAX_BACKOFF_S = 10.0
RETRY_STATUSES = {408, 429}


def check_webhook_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host; ``ConfigError`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"webhook URL {redact_uri(url)}: expected an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise ConfigError(f"webhook URL {redact_uri(url)}: the port is not a number from 1 to 65535") from None
    return url


class WebhookPublisher(QueuedPublisher):
    name = "webhook"

    def __init__(self, url: str, *, queue_size: int = 1000, timeout_s: float = 5.0, retries: int = 3) -> None:
        super().__init__(queue_size=queue_size, flush_s=timeout_s)
        self.url = check_webhook_url(url)
        self.timeout_s = timeout_s
        self.retries = retries
        self.retried = 0

    def send(self, event: ZoneEvent) -> None:
        body = json.dumps(event.to_dict(), allow_nan=False).encode()
        wait, error = 0.5, "given up at the end of the run"
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                if self.abandon.wait(wait):
                    break
                wait = min(wait * 2, MAX_BACKOFF_S)
            request = urllib.request.Request(
                self.url, data=body, method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "segstream"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310 - http(s) only
                    answer.read()
                return
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code} {exc.reason}"
                if exc.code < 500 and exc.code not in RETRY_STATUSES:
                    break
            except (urllib.error.URLError, OSError) as exc:
                error = str(getattr(exc, "reason", None) or exc)
        raise OSError(f"POST {redact_uri(self.url)}: {error}")

    def stats(self) -> dict[str, object]:
        return {**super().stats(), "url": redact_uri(self.url), "retried": self.retried}
