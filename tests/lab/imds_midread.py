"""An IMDS stand-in whose instance tags change while a reader is between the tag list and the values.

``python -m tests.lab.imds_midread --state FILE --next-tags JSON --bind 127.0.0.1 --port 8169`` serves
lab.dataplane.netns.imds from ``FILE``; the first GET of one tag's value (``/tags/instance/<key>``)
first rewrites ``FILE`` with the tags ``JSON`` and answers from them. So a reader that listed the keys
before has the old list and the new values: what a controller's tag write between two IMDS requests
gives on AWS, where the list (``/tags/instance``) and each value are separate requests ("Work with
instance tags in instance metadata", EC2 User Guide). Prints ``ready`` once listening.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from lab.dataplane.netns import imds
from lab.dataplane.netns.serving import serve_until_terminated


def serve(state: Path, next_tags: dict[str, str], bind: str, port: int) -> imds.ImdsServer:
    server = imds.serve(state, bind, port)
    lock, changed = threading.Lock(), []
    base = server.RequestHandlerClass

    class MidRead(base):
        def do_GET(self) -> None:
            if self.path.startswith(imds.TAGS_PATH + "/"):
                with lock:
                    if not changed:
                        now = json.loads(state.read_text())
                        imds.write_state(state, now["instance_id"], now["local_ipv4"], next_tags)
                        changed.append(True)
            super().do_GET()

    server.RequestHandlerClass = MidRead
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--next-tags", required=True, help="the tags (a JSON object) after the first value read")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8169)
    args = parser.parse_args(argv)
    return serve_until_terminated(serve(args.state, json.loads(args.next_tags), args.bind, args.port))


if __name__ == "__main__":
    sys.exit(main())
