"""The lab's moto server, made faithful where the controller's safety depends on AWS guarantees.

``python -m lab.moto_server -H 127.0.0.1 -p PORT`` runs moto's own WSGI app with two fixes:

- DynamoDB requests are served one at a time. In AWS a conditional write is atomic; moto checks the
  condition and stores the item as separate steps, so two racing requests (two controller runs
  claiming the same replacement version) could both "win". The controller's one-launch guarantee
  rests on that atomicity.
- ``RunInstances`` honours ``ClientToken``: in AWS a repeated call with the same token returns the
  first call's instances instead of launching more (a retried request after a lost response, or a
  re-launch of a claimed attempt). moto ignores the token and launches again.

Only loopback is served; nothing here reaches the internet.
"""
from __future__ import annotations

import argparse
import io
import os
import threading
from urllib.parse import parse_qs

RESET_PATH = "/moto-api/reset"


class FaithfulMoto:
    """WSGI middleware around moto's app (see the module doc)."""

    def __init__(self, app):
        self._app = app
        self._dynamodb = threading.Lock()
        self._launch = threading.Lock()
        self._launched: dict[str, tuple[str, list, bytes]] = {}   # client token -> first response

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(RESET_PATH):
            with self._launch:
                self._launched.clear()
            return self._app(environ, start_response)
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self._dynamodb:
                return self._replay(self._call(environ), start_response)
        body = self._read_body(environ)
        form = parse_qs(body.decode("utf-8", "replace")) if b"Action=RunInstances" in body else {}
        token = (form.get("ClientToken") or [""])[0]
        if not token:
            return self._app(environ, start_response)
        with self._launch:
            if token not in self._launched:
                status, headers, payload = self._call(environ)
                if status.startswith("200"):
                    self._launched[token] = (status, headers, payload)
                return self._replay((status, headers, payload), start_response)
            return self._replay(self._launched[token], start_response)

    @staticmethod
    def _read_body(environ) -> bytes:
        """The request body, put back so moto can read it again."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def _call(self, environ) -> tuple[str, list, bytes]:
        """Run moto's app to completion (so a lock covers the whole request)."""
        captured: dict = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = self._app(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return captured["status"], captured["headers"], payload

    @staticmethod
    def _replay(response: tuple[str, list, bytes], start_response):
        status, headers, payload = response
        start_response(status, headers)
        return [payload]


def main(argv: list[str] | None = None) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description="moto server with atomic DynamoDB writes and idempotent launches")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        parser.error(f"--host {args.host!r}: the lab emulator listens on loopback only")
    os.environ.setdefault("MOTO_PORT", str(args.port))   # as moto.server does: some responses embed it
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    run_simple(args.host, args.port, FaithfulMoto(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
