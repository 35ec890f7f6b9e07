"""The one loop of the lab's in-namespace servers (web server, IMDS, connection echo): say "ready", serve
until SIGTERM, close the socket."""
from __future__ import annotations

import signal
import sys


def serve_until_terminated(server) -> int:
    """Say "ready" on stdout (the lab waits for it), serve until SIGTERM, close the socket."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0
