"""Long-lived TCP connections through the NATs: a server in the lab internet, clients in each private host.

``python -m lab.dataplane.netns.conns serve --port 7000`` (in ``inet``) answers each line ``<seq>`` with
``<seq> <source address it sees>``, so the lab knows which NAT (which lab public address) carries each
connection. ``python -m lab.dataplane.netns.conns clients --server 198.51.100.10:7000 --count 4 --out FILE`` (in a
private host) keeps ``count`` connections open, each sending a small request every ``interval`` seconds
and timing the reply; a connection that gets a reset (or is closed) logs it and reconnects at once. A
connection never gives up by itself: a hang is what is measured. Each event is one JSON line:

    {"c": conn, "g": generation, "ev": "open", "t": ...}
    {"c", "g", "ev": "reply", "t0": sent, "t1": answered, "you": "<address the server saw>"}
    {"c", "g", "ev": "reset", "t0": sent, "t1": when the reset came, "err": "..."}
    {"c", "g", "ev": "close", "t": ...}                       (``--lifetime``: closed on purpose)

``--rto-max-ms`` (default 1000) caps the client's TCP retransmission timeout (``TCP_RTO_MAX_MS``, Linux
6.15+; tcp(7)), so a connection stalled by a dead NAT retransmits at least every second and meets the new
NAT's reset within a second of the route move (with the kernel default of 120 s the retransmissions back
off exponentially and the reset comes at the next one, seconds later). 0 keeps the kernel default.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from pathlib import Path

from .serving import serve_until_terminated

PORT = 7000
TCP_RTO_MAX_MS = getattr(socket, "TCP_RTO_MAX_MS", 44)   # include/uapi/linux/tcp.h


# --- server ----------------------------------------------------------------------------------
class _Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        you = self.client_address[0].encode()
        for line in self.rfile:
            self.wfile.write(line.rstrip(b"\n") + b" " + you + b"\n")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(port: int) -> int:
    return serve_until_terminated(_Server(("0.0.0.0", port), _Echo))


# --- clients ---------------------------------------------------------------------------------
class _Log:
    def __init__(self, path: Path):
        self._fh = path.open("a", buffering=1)
        self._lock = threading.Lock()

    def write(self, **event) -> None:
        line = json.dumps(event, sort_keys=True) + "\n"
        with self._lock:
            self._fh.write(line)


def _connection(i: int, host: str, port: int, interval_s: float, lifetime_s: float | None, rto_max_ms: int,
                log: _Log) -> None:
    gen = 0
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=1.0)
        except OSError:
            time.sleep(interval_s)
            continue
        sock.settimeout(None)   # no timeout of our own: a hang is what is measured
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rto_max_ms:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, TCP_RTO_MAX_MS, rto_max_ms)
            except OSError:
                pass
        reader = sock.makefile("rb")
        opened = time.time()
        log.write(c=i, g=gen, ev="open", t=opened)
        seq = 0
        while True:
            t0 = time.time()
            try:
                sock.sendall(f"{seq}\n".encode())
                line = reader.readline()
                if not line:
                    raise ConnectionResetError("closed by the peer")
            except OSError as err:
                log.write(c=i, g=gen, ev="reset", t0=t0, t1=time.time(), err=f"{type(err).__name__}: {err}"[:120])
                break
            parts = line.decode().split()
            log.write(c=i, g=gen, ev="reply", t0=t0, t1=time.time(), you=parts[1] if len(parts) > 1 else None)
            seq += 1
            if lifetime_s is not None and time.time() - opened >= lifetime_s:
                log.write(c=i, g=gen, ev="close", t=time.time())
                break
            time.sleep(max(0.0, interval_s - (time.time() - t0)))
        try:
            reader.close()
            sock.close()
        except OSError:
            pass
        gen += 1


def run_clients(server: str, count: int, out: Path, interval_s: float, lifetime_s: float | None,
                rto_max_ms: int) -> int:
    host, _, port = server.rpartition(":")
    log = _Log(out)
    for i in range(count):
        threading.Thread(target=_connection, args=(i, host, int(port), interval_s, lifetime_s, rto_max_ms, log),
                         daemon=True, name=f"conn-{i}").start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    os._exit(0)   # threads blocked on hung connections are not waited for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=PORT)
    c = sub.add_parser("clients")
    c.add_argument("--server", required=True, help="host:port")
    c.add_argument("--count", type=int, default=4)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--interval", type=float, default=0.1)
    c.add_argument("--lifetime", type=float, help="close each connection after this many seconds (then reconnect)")
    c.add_argument("--rto-max-ms", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        return serve(args.port)
    problems = [f"--{k}={v} must be > 0" for k, v in (("count", args.count), ("interval", args.interval),
                                                        ("lifetime", args.lifetime)) if v is not None and v <= 0]
    if args.rto_max_ms and not 1000 <= args.rto_max_ms <= 120000:
        problems.append(f"--rto-max-ms={args.rto_max_ms} must be 0 or within 1000..120000 (tcp(7))")
    if problems:
        parser.error("; ".join(problems))
    return run_clients(args.server, args.count, args.out, args.interval, args.lifetime, args.rto_max_ms)


if __name__ == "__main__":
    sys.exit(main())
