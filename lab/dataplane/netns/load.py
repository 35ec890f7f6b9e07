"""The gray drills' load (run in a lab namespace): a bulk sender, a client that pulls from it as fast as it
can (``bandwidth-cap``), and a client that holds connections to one destination open (``port-exhaustion``).

    python -m lab.dataplane.netns.load serve --port 7001            # in inet: zeros to every client
    python -m lab.dataplane.netns.load pull --server 198.51.100.10:7001
    python -m lab.dataplane.netns.load hold --server 198.51.100.10:80 --count 4 [--within-s 10]

Each prints one line when it is under way ("ready", "pulling", "held <n>") and runs until SIGTERM.
"""
from __future__ import annotations

import argparse
import signal
import socket
import socketserver
import sys
import threading
import time

from .serving import serve_until_terminated

BULK_PORT = 7001
CHUNK = 64 * 1024
PULL_WINDOW = 32 * 1024   # SO_RCVBUF asked (Linux doubles it): ~64 KB in flight, under a 100 ms queue at 8 Mbit/s


class _Bulk(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        zeros = bytes(CHUNK)
        try:
            while True:
                self.request.sendall(zeros)
        except OSError:
            return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _address(server: str) -> tuple[str, int]:
    host, _, port = server.rpartition(":")
    return host, int(port)


def pull(server: str, window: int = PULL_WINDOW) -> int:
    """Read from the bulk sender and throw it away, reconnecting when the connection ends; ``window``: the
    receive buffer asked for (set before connecting, so the window offered is bounded from the start)."""
    print("pulling", flush=True)
    while True:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, window)
                sock.settimeout(2.0)
                sock.connect(_address(server))
                sock.settimeout(5.0)
                while sock.recv(CHUNK):
                    pass
        except OSError:
            time.sleep(0.2)


def hold(server: str, count: int, within_s: float) -> int:
    """Open ``count`` connections to ``server`` (retrying a refused or timed-out one within ``within_s``: the
    egress clients' requests may hold a port for a moment) and keep them open; "held <n>" once done."""
    held: list[socket.socket] = []
    deadline = time.monotonic() + within_s
    while len(held) < count and time.monotonic() < deadline:
        try:
            held.append(socket.create_connection(_address(server), timeout=0.5))
        except OSError:
            time.sleep(0.05)
    print(f"held {len(held)}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.dataplane.netns.load")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve").add_argument("--port", type=int, default=BULK_PORT)
    sub.add_parser("pull").add_argument("--server", required=True)
    h = sub.add_parser("hold")
    h.add_argument("--server", required=True)
    h.add_argument("--count", type=int, required=True)
    h.add_argument("--within-s", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve_until_terminated(_Server(("0.0.0.0", args.port), _Bulk))
    if args.command == "pull":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        return pull(args.server)
    return hold(args.server, args.count, args.within_s)


if __name__ == "__main__":
    sys.exit(main())
