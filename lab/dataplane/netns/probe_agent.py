"""A long-lived probe process inside one namespace: ``ip netns exec <ns> python -m lab.dataplane.netns.probe_agent``.

Reads one JSON request per line on stdin and writes one JSON answer per request on stdout:

- ``{"id", "init": true, "env"}``: Lambda's Init phase of a new execution environment (the function's
  environment set, app.py imported: its static code run); answer ``{"id", "ok": null}`` or ``{"id",
  "error": ...}`` (the runtime's error object).
- ``{"id", "invoke": handler, "event", "env", "request_id", "function_name", "timeout_s"}``: what Lambda's
  Python runtime does for one invoke of a deployed function: the function's environment set, app.py
  imported (once: when no init ran or it failed), ``app.<handler>(event, context)`` called with a
  Lambda-like context.
  Answer ``{"id", "ok": <the handler's return>}`` or ``{"id", "error": {"errorMessage", "errorType",
  "requestId", "stackTrace"}}`` (the runtime's error object for an unhandled exception).
- ``{"id", "zone", "targets", "timeout_s"}``: the probe checks alone (chalicelib.probes.run_checks), for
  the heartbeat's control probe: ``{"id", "result": ProbeResult.to_dict()}`` or ``{"id", "error"}``.

Keeping the process alive means an invoke costs no interpreter start (a warm Lambda). What the
handler prints (Powertools logs and EMF metrics go to stdout/stderr in Lambda) goes to stderr here:
stdout carries the answers only. EOF on stdin ends it.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback

from chalicelib.errors import HanatError
from chalicelib.probes import run_checks
from chalicelib.probes.results import ProbeResult

APP_MODULE = "app"


class LambdaContext:
    """The parts of the Python runtime's context object a handler may use."""

    def __init__(self, function_name: str, request_id: str, timeout_s: float, memory_mb: int = 128):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.aws_request_id = request_id
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:lab:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "lab"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def init(req: dict) -> dict:
    """Lambda's Init phase: the function's environment set and app.py imported."""
    os.environ.update({str(k): str(v) for k, v in (req.get("env") or {}).items()})
    try:
        importlib.import_module(APP_MODULE)
        return {"id": req.get("id"), "ok": None}
    except Exception as exc:  # noqa: BLE001 - the runtime reports any exception of the static code
        return {"id": req.get("id"), "error": {
            "errorMessage": str(exc), "errorType": "Runtime.ImportModuleError",
            "stackTrace": traceback.format_tb(exc.__traceback__)}}


def invoke(req: dict) -> dict:
    """Run app.<handler>(event, context) as the Lambda runtime would."""
    os.environ.update({str(k): str(v) for k, v in (req.get("env") or {}).items()})
    request_id = str(req.get("request_id") or "lab")
    try:
        handler = getattr(importlib.import_module(APP_MODULE), req["invoke"])
        context = LambdaContext(str(req.get("function_name") or req["invoke"]), request_id,
                                float(req.get("timeout_s") or 3))
        result = handler(req.get("event"), context)
        json.dumps(result)   # a return Lambda cannot serialise is a runtime error
        return {"id": req.get("id"), "ok": result}
    except Exception as exc:  # noqa: BLE001 - the runtime reports any exception as the function's error
        return {"id": req.get("id"), "error": {
            "errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": request_id,
            "stackTrace": traceback.format_tb(exc.__traceback__)}}


def handle(line: str) -> dict:
    """One request line -> one answer (never raises: a bad request is answered with an error)."""
    try:
        req = json.loads(line)
        if "invoke" in req:
            return invoke(req)
        if "init" in req:
            return init(req)
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
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())   # the handler's prints and logs: not the answers
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if line.strip():
            answers.write(json.dumps(handle(line)) + "\n")
            answers.flush()


if __name__ == "__main__":
    main()
