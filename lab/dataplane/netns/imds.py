"""An IMDSv2 stand-in for the lab's NAT namespaces: what hanat-nat-agent reads on an instance.

Run inside a NAT namespace (``python -m lab.dataplane.netns.imds --state FILE``) with 169.254.169.254 on its
``lo``; it listens there on port 80 and serves, from the JSON file ``FILE`` (re-read on every request,
so the lab changes tags by rewriting it; write it atomically)::

    {"instance_id": "i-...", "local_ipv4": "10.0.0.20", "tags": {"key": "value", ...}}

Behaviour, as the EC2 User Guide documents it (Instance metadata, "Responses and error messages";
"Work with instance tags in instance metadata"):
- ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` 1..21600 returns a token;
  a missing or out-of-range TTL is ``400 - Missing or Invalid Parameters``; a PUT carrying
  ``X-Forwarded-For`` is refused (403), as IMDS refuses proxied token requests.
- Every GET needs ``X-aws-ec2-metadata-token`` with a live token (IMDSv2 required, as the launch
  template sets ``HttpTokens=required``): otherwise ``401 - Unauthorized``.
- ``GET /latest/meta-data/instance-id``, ``/local-ipv4``; ``/tags/instance`` lists the tag keys one per
  line; ``/tags/instance/<key>`` is the value. Anything absent (no tags, unknown key) is ``404 - Not Found``.
- ``/spot/instance-action`` (JSON ``{"action": "terminate", "time": "<UTC>"}``) and
  ``/events/recommendations/rebalance`` (JSON ``{"noticeTime": "<UTC>"}``): 404 until the lab interrupts the
  instance (EC2 User Guide, "Spot Instance interruption notices": instance-action is present only once the
  instance is marked; "EC2 instance rebalance recommendations": the noticeTime item).
- All answers are ``text/plain``. Prints ``ready`` once listening.

Tag propagation (issue 21): AWS documents no latency for a tag change to reach instance metadata ("Work
with instance tags in instance metadata" says only that the metadata shows the instance's tags), so the
lab can make it late: with ``"tag_delay_s": N`` in the state, a tag change the lab writes is served only
N seconds after the stand-in first saw it (``TagHistory``; the file is polled every ``POLL_S``). Everything
else (address, spot notices) is served at once. 0 (the default): tags are served as written.
"""
from __future__ import annotations

import argparse
import json
import secrets
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from .serving import serve_until_terminated

IMDS_ADDRESS = "169.254.169.254"
TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_MIN_S, TTL_MAX_S = 1, 21600
TAGS_PATH = "/latest/meta-data/tags/instance"
SPOT_ACTION_PATH = "/latest/meta-data/spot/instance-action"
REBALANCE_PATH = "/latest/meta-data/events/recommendations/rebalance"
POLL_S = 0.05            # how often the stand-in looks for tag changes (their delay is counted from then)


def write_state(path: Path, instance_id: str, local_ipv4: str, tags: dict[str, str], *,
                spot_action: dict | None = None, rebalance: dict | None = None, tag_delay_s: float = 0.0) -> None:
    """Write the stand-in's state atomically (the server may be reading it at the same moment).
    ``spot_action``/``rebalance``: the spot notices the instance shows (None: not marked); ``tag_delay_s``:
    how late tag changes reach the metadata (the module doc)."""
    tmp = path.with_name(path.name + ".tmp")
    state = {"instance_id": instance_id, "local_ipv4": local_ipv4, "tags": dict(tags), "tag_delay_s": tag_delay_s}
    state.update({k: v for k, v in (("spot_action", spot_action), ("rebalance", rebalance)) if v})
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def mark_interrupted(path: Path, *, spot_action: dict | None = None, rebalance: dict | None = None) -> None:
    """Add spot notices to a written state (keeps its id, address and tags)."""
    state = json.loads(path.read_text())
    write_state(path, state["instance_id"], state["local_ipv4"], state.get("tags") or {},
                spot_action=spot_action or state.get("spot_action"), rebalance=rebalance or state.get("rebalance"),
                tag_delay_s=state.get("tag_delay_s") or 0.0)


class Tokens:
    """Issued tokens and their expiry (monotonic clock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def issue(self, ttl_s: int) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._expiry = {t: e for t, e in self._expiry.items() if e > now}
            self._expiry[token] = now + ttl_s
        return token

    def valid(self, token: str | None) -> bool:
        with self._lock:
            return bool(token) and self._expiry.get(token, 0.0) > time.monotonic()


class TagHistory:
    """The tag sets seen in the state file and when (monotonic): what the metadata shows ``tag_delay_s``
    after each change. ``see`` records a change, ``shown`` answers; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[tuple[float, dict[str, str]]] = []

    def see(self, tags: dict[str, str], now: float) -> None:
        with self._lock:
            if not self._seen or self._seen[-1][1] != tags:
                self._seen.append((now, dict(tags)))

    def shown(self, delay_s: float, now: float) -> dict[str, str] | None:
        """The newest tags seen at least ``delay_s`` ago (the first ever seen while none is that old);
        None before any was seen. Older sets than the one shown are forgotten."""
        with self._lock:
            ready = [i for i, (at, _) in enumerate(self._seen) if now - at >= delay_s]
            if ready:
                del self._seen[:ready[-1]]
            return dict(self._seen[0][1]) if self._seen else None


def watch_tags(state_path: Path, history: TagHistory, stop: threading.Event, poll_s: float = POLL_S) -> None:
    """Record every tag change of the state file until ``stop`` (an unreadable file is skipped)."""
    while not stop.is_set():
        try:
            history.see(json.loads(state_path.read_text()).get("tags") or {}, time.monotonic())
        except (OSError, ValueError):
            pass
        stop.wait(poll_s)


class ImdsHandler(BaseHTTPRequestHandler):
    server_version = "EC2ws"
    state_path: Path
    tokens: Tokens
    history: TagHistory

    def _send(self, code: int, body: str = "") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        if self.path != TOKEN_PATH:
            return self._send(404, "Not Found")
        if self.headers.get("X-Forwarded-For"):
            return self._send(403, "Forbidden")
        raw = self.headers.get(TTL_HEADER, "")
        if not raw.isdigit() or not TTL_MIN_S <= int(raw) <= TTL_MAX_S:
            return self._send(400, "Missing or Invalid Parameters")
        self._send(200, self.tokens.issue(int(raw)))

    def do_GET(self) -> None:
        if not self.tokens.valid(self.headers.get(TOKEN_HEADER)):
            return self._send(401, "Unauthorized")
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return self._send(503, "Service Unavailable")
        path = self.path.rstrip("/")
        tags: dict[str, str] = state.get("tags") or {}
        delay_s = float(state.get("tag_delay_s") or 0.0)
        if delay_s > 0:
            self.history.see(tags, time.monotonic())
            tags = self.history.shown(delay_s, time.monotonic()) or {}
        if path == "/latest/meta-data/instance-id":
            return self._send(200, state.get("instance_id", ""))
        if path == "/latest/meta-data/local-ipv4":
            return self._send(200, state.get("local_ipv4", ""))
        for item, key in ((SPOT_ACTION_PATH, "spot_action"), (REBALANCE_PATH, "rebalance")):
            if path == item and state.get(key):
                return self._send(200, json.dumps(state[key]))
        if path == TAGS_PATH and tags:
            return self._send(200, "\n".join(tags))
        if path.startswith(TAGS_PATH + "/"):
            key = unquote(path[len(TAGS_PATH) + 1:])
            if key in tags:
                return self._send(200, tags[key])
        self._send(404, "Not Found")

    def log_message(self, format: str, *args) -> None:  # quiet: the agent's log is the record
        pass


class ImdsServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, *args, **kwargs) -> None:
        self.watching = threading.Event()   # set: the tag watcher stops (server_close)
        super().__init__(*args, **kwargs)

    def server_close(self) -> None:
        self.watching.set()
        super().server_close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves its own name (getfqdn): in a namespace without DNS that
        # waits out a resolver timeout. The stand-in needs no name.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def serve(state_path: Path, bind: str = IMDS_ADDRESS, port: int = 80) -> ImdsServer:
    """The stand-in, its tag watcher running (a daemon thread: it ends with the process)."""
    history = TagHistory()
    handler = type("BoundImdsHandler", (ImdsHandler,), {"state_path": state_path, "tokens": Tokens(),
                                                        "history": history})
    server = ImdsServer((bind, port), handler)
    threading.Thread(target=watch_tags, args=(state_path, history, server.watching), daemon=True,
                     name="imds-tags").start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", required=True, type=Path, help="JSON file with instance_id, local_ipv4, tags")
    parser.add_argument("--bind", default=IMDS_ADDRESS)
    parser.add_argument("--port", type=int, default=80)
    args = parser.parse_args(argv)
    return serve_until_terminated(serve(args.state, args.bind, args.port))


if __name__ == "__main__":
    sys.exit(main())
