"""A long-lived probe process inside one namespace: ``ip netns exec <ns> python -m lab.probe_agent``.

Reads one JSON request per line on stdin ({"id", "zone", "targets", "timeout_s"}), runs the REAL
probe code (chalicelib.probes.run_checks) from where it stands, and writes one JSON line per request
on stdout ({"id", "result": ProbeResult.to_dict()} or {"id", "error"}). Keeping the process alive
means a probe costs no interpreter start. EOF on stdin ends it.
"""
from __future__ import annotations

import json
import sys
import time

from chalicelib.errors import HanatError
from chalicelib.probes import run_checks
from chalicelib.probes.results import ProbeResult


def handle(line: str) -> dict:
    """One request line -> one answer (never raises: a bad request is answered with an error)."""
    try:
        req = json.loads(line)
        result = run_checks(req["zone"], req["targets"], float(req["timeout_s"]), time.time)
        return {"id": req.get("id"), "result": result.to_dict()}
    except (ValueError, KeyError, TypeError, HanatError) as exc:
        req_id = None
        try:
            req_id = json.loads(line).get("id")
        except (ValueError, AttributeError):
            pass
        return {"id": req_id, "error": f"{type(exc).__name__}: {exc}"}


def parse_answer(line: str, zone: str) -> ProbeResult:
    """The lab's side: an agent's answer line -> ProbeResult (a failed probe when it reported an error)."""
    answer = json.loads(line)
    if "result" in answer:
        return ProbeResult.from_dict(answer["result"])
    return ProbeResult(zone=zone, passed=False, at=time.time(), error=answer.get("error", "no result"))


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            sys.stdout.write(json.dumps(handle(line)) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
