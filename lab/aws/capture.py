"""Where the lab's alerts go: a Slack webhook stand-in on 127.0.0.1 and a recording alert sink.

The alert sink does what production does — publish to the stack's SNS topic (in the emulator) and
hand the SNS message to ``notify_slack`` as the topic subscription would — and records the subjects,
so a drill reports exactly what people would have been told.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _slack_text(payload: dict) -> str:
    """The human line of a Block Kit message: its ``text`` or the first block's text."""
    if isinstance(payload.get("text"), str) and payload["text"]:
        return payload["text"]
    for block in payload.get("blocks", []):
        text = block.get("text")
        if isinstance(text, dict) and text.get("text"):
            return str(text["text"])
    return json.dumps(payload)[:200]


class SlackCapture:
    """A tiny HTTP server on loopback standing in for a Slack incoming webhook."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock   # the session's (lab.clock): messages stamped in lab time
        self.messages: list[dict] = []   # {"t", "text", "payload"}
        self._lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    payload = {"raw": body.decode("utf-8", "replace")}
                with capture._lock:
                    capture.messages.append({"t": capture._clock(), "text": _slack_text(payload), "payload": payload})
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # keep the lab's stderr readable
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-capture", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/services/hanat-lab"

    def start(self) -> SlackCapture:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def texts(self, since: float = 0.0) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.messages if m["t"] >= since]
