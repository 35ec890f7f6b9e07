"""The lab internet's web server: answers ``{"you": "<source ip>"}`` to any GET/HEAD on any path.

Run inside the ``inet`` namespace (``python -m lab.dataplane.netns.httpserver --port 80``); binding 0.0.0.0
there means the namespace's own addresses only. The source it reports is how tests see which NAT
(which lab public address) a request came through. Prints ``ready`` once listening.
"""
from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .serving import serve_until_terminated


class WhoAmIHandler(BaseHTTPRequestHandler):
    server_version = "hanat-lab/1"

    def _answer(self, with_body: bool) -> None:
        body = json.dumps({"you": self.client_address[0]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)

    def log_message(self, format: str, *args) -> None:  # quiet: the egress log is the record
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=80)
    args = parser.parse_args(argv)
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    return serve_until_terminated(ThreadingHTTPServer((args.bind, args.port), WhoAmIHandler))


if __name__ == "__main__":
    sys.exit(main())
