"""Long-lived TCP flows for the NAT lab tests: a who-am-I line server and a client holding one connection.

``python -m tests.lab.natflow server --port 9000`` (in the internet namespace) answers every line it
receives with the source address it sees, then a newline; prints ``ready`` once listening.

``python -m tests.lab.natflow client --host H --port P --timeout S`` (in a private host) connects once,
prints ``{"connected": true}`` (or the error), then for each ``send`` line on stdin sends one line and
prints ``{"ok": true, "you": ip, "ms": ...}`` or ``{"ok": false, "error": "ConnectionResetError", "ms": ...}``
(an answer that does not come within the timeout is ``"error": "timeout"``).
"""
from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time


def serve(port: int) -> int:
    listener = socket.create_server(("0.0.0.0", port), reuse_port=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)

    def handle(conn: socket.socket, peer: str) -> None:
        with conn, conn.makefile("rb") as lines:
            try:
                for _ in lines:
                    conn.sendall(peer.encode() + b"\n")
            except OSError:
                pass

    while True:
        conn, (peer, _port) = listener.accept()
        threading.Thread(target=handle, args=(conn, peer), daemon=True).start()


def client(host: str, port: int, timeout: float) -> int:
    def emit(**fields) -> None:
        print(json.dumps(fields), flush=True)

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as err:
        emit(connected=False, error=type(err).__name__)
        return 1
    emit(connected=True)
    reader = sock.makefile("rb")
    for command in sys.stdin:
        if command.strip() != "send":
            continue
        start = time.monotonic()
        try:
            sock.sendall(b"hello\n")
            answer = reader.readline()
            if not answer:
                raise ConnectionResetError("closed")
            emit(ok=True, you=answer.decode().strip(), ms=round((time.monotonic() - start) * 1000, 2))
        except TimeoutError:
            emit(ok=False, error="timeout", ms=round((time.monotonic() - start) * 1000, 2))
        except OSError as err:
            emit(ok=False, error=type(err).__name__, ms=round((time.monotonic() - start) * 1000, 2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("client")
    c.add_argument("--host", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.role == "server":
        return serve(args.port)
    return client(args.host, args.port, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
