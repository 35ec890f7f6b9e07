"""New TCP connections per second for bench/dataplane.py: a server and N client workers, run in lab namespaces.

    python -m bench.dataplane_cps serve --port 7100 [--procs 2]
    python -m bench.dataplane_cps run --server 198.51.100.10 --port 7100 [--workers 4] [--seconds 2]
    python -m bench.dataplane_cps run --server 198.51.100.10 --port 7100 --once

One connection is connect, send one byte, the server answers with the source address it sees and
closes, the client reads to the end and closes (netperf's TCP_CRR shape: the rate of whole
connections, not of SYNs). The server closes first, so its side holds TIME_WAIT and the client's
ephemeral ports come free at once. Each worker is a process (no GIL between them) looping until the
common deadline; ``run`` prints one JSON object: connections, seconds, per_s, errors and the set of
source addresses the server saw (``seen``), which tells whether the NAT masqueraded (its address) or
routed (the client's). ``--once`` makes one connection and prints ``seen`` only.

Why Python and not a packaged tool: iperf3 measures throughput only, and netperf (TCP_CRR) is not in
Debian's main archive; the figure is compared across configurations of the same NAT in one run, so
the client's and server's own cost is the same on every side of each ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time

IO_TIMEOUT_S = 2.0


# --- server ---------------------------------------------------------------------------------------
def serve(port: int, procs: int) -> int:
    """Accept on ``port`` in ``procs`` processes sharing one listening socket; say "ready"; until SIGTERM."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(4096)
    children = []
    for _ in range(procs - 1):
        pid = os.fork()
        if pid == 0:
            _accept_loop(listener)
        children.append(pid)

    def stop(*_):
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    _accept_loop(listener)
    return 0


def _accept_loop(listener: socket.socket) -> None:
    while True:
        try:
            conn, (peer, _port) = listener.accept()
        except OSError:
            continue
        try:
            conn.settimeout(IO_TIMEOUT_S)
            if conn.recv(1):
                conn.sendall(peer.encode())
        except OSError:
            pass
        finally:
            conn.close()


# --- client ---------------------------------------------------------------------------------------
def one_connection(server: str, port: int) -> str:
    """Connect, send a byte, read the address the server saw until it closes; close."""
    with socket.create_connection((server, port), timeout=IO_TIMEOUT_S) as sock:
        sock.sendall(b"x")
        chunks = []
        while chunk := sock.recv(64):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def _worker(server: str, port: int, start: float, deadline: float, out: int) -> None:
    """One worker process: connections back to back from ``start`` to ``deadline``; JSON to ``out``."""
    done = errors = 0
    seen: set[str] = set()
    time.sleep(max(0.0, start - time.monotonic()))
    while time.monotonic() < deadline:
        try:
            seen.add(one_connection(server, port))
        except OSError:
            errors += 1
            continue
        if time.monotonic() <= deadline:   # only the connections finished inside the window count
            done += 1
    os.write(out, json.dumps({"done": done, "errors": errors, "seen": sorted(seen)}).encode())
    os._exit(0)


def run(server: str, port: int, workers: int, seconds: float) -> dict:
    """``workers`` processes for ``seconds`` from a common start: the summed rate and what was seen."""
    start = time.monotonic() + 0.1 + 0.01 * workers   # every worker forked before the clock starts
    deadline = start + seconds
    pipes = []
    for _ in range(workers):
        read_end, write_end = os.pipe()
        if os.fork() == 0:
            os.close(read_end)
            _worker(server, port, start, deadline, write_end)
        os.close(write_end)
        pipes.append(read_end)
    results = []
    for read_end in pipes:
        with os.fdopen(read_end, "rb") as fh:
            results.append(json.loads(fh.read() or b"{}"))
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break
    if len(results) != workers or any("done" not in r for r in results):
        raise SystemExit(f"only {len(results)} of {workers} workers reported")
    done = sum(r["done"] for r in results)
    return {"connections": done, "seconds": seconds, "per_s": done / seconds, "workers": workers,
            "errors": sum(r["errors"] for r in results),
            "seen": sorted({addr for r in results for addr in r["seen"]})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    srv = sub.add_parser("serve")
    srv.add_argument("--port", type=int, required=True)
    srv.add_argument("--procs", type=int, default=2)
    cli = sub.add_parser("run")
    cli.add_argument("--server", required=True)
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--workers", type=int, default=4)
    cli.add_argument("--seconds", type=float, default=2.0)
    cli.add_argument("--once", action="store_true", help="one connection: print the address the server saw")
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        return serve(args.port, max(1, args.procs))
    if args.once:
        print(json.dumps({"seen": [one_connection(args.server, args.port)]}))
    else:
        print(json.dumps(run(args.server, args.port, max(1, args.workers), args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
