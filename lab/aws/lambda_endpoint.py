"""The lab's Lambda: an Invoke endpoint on 127.0.0.1 that runs the probe functions and fails like Lambda.

The heartbeat in the lab invokes ``probe_<zone>`` exactly as in AWS: the production ``LambdaProbeRunner``
and ``invoke_json`` with a boto3 Lambda client (``make_invoke_client``: no retries) whose endpoint is this
server. Each invoke runs the function's handler through ``execute`` (the lab data plane runs app.py's
registered handler inside the zone's probe namespace) within the function's timeout — the deployed
stage's ``lambda_timeout`` — and answers on the wire as Lambda does (botocore's lambda 2015-03-31 model,
operation Invoke, protocol rest-json):

- ``POST /2015-03-31/functions/{FunctionName}/invocations`` (name, ARN or partial ARN; ``Qualifier``),
  ``X-Amz-Invocation-Type`` RequestResponse (200 + the handler's JSON), Event (202) or DryRun (204);
  every answer carries ``X-Amzn-RequestId``, a 200 also ``X-Amz-Executed-Version: $LATEST``.
- A function error is a 200 with ``X-Amz-Function-Error: Unhandled`` and the runtime's error object
  ``{"errorMessage", "errorType", "requestId", "stackTrace"}`` as the payload (Lambda Developer Guide,
  "AWS Lambda function errors in Python"); a timeout is the same header with Lambda's own message
  ``{"errorMessage": "<time> <request id> Task timed out after 4.00 seconds"}`` (as AWS answered in
  alexa-samples/skill-sample-nodejs-smarthome-switch#18).
- An invoke error is an HTTP error whose ``X-Amzn-ErrorType`` header names the exception (botocore's
  RestJSONParser takes the code from that header) with the exception's members as the JSON body:
  TooManyRequestsException 429 (``Retry-After``, ``Type``, ``message``, ``Reason``), and the service
  faults ResourceNotReadyException (``message``), EC2ThrottledException, ENILimitReachedException and
  SubnetIPAddressLimitReachedException (``Message``), all 502; an unknown function is
  ResourceNotFoundException 404; a body that is not JSON is InvalidRequestContentException 400.

A function with reserved concurrency runs at most that many invokes at once; one more is throttled as
Lambda throttles it: TooManyRequestsException, ``Reason`` ReservedFunctionConcurrentInvocationLimitExceeded
(Lambda Developer Guide, "Configuring reserved concurrency"; botocore's model lists the reason).

The endpoint runs on the session's clock (lab.clock): each request ``claim``s the turn its caller lent
(the heartbeat waiting on its probe invokes), and a function that hangs until Lambda stops it hangs in
lab time.

``inject(kinds)`` makes every invoke (or those of some functions) answer with the next fault of
``kinds`` in turn, until ``clear()``; ``counts()`` says what was answered. Only loopback is served.
"""
from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from chalicelib.errors import InputError
from lab.clock import LabClock, RealClock

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
ACCOUNT = "123456789012"

# fault kind -> (HTTP status, exception, body members) for invoke errors; the function-level faults
# (an unhandled error, a timeout) answer 200 with X-Amz-Function-Error instead.
INVOKE_ERRORS: dict[str, tuple[int, str, dict]] = {
    "throttle": (429, "TooManyRequestsException",
                 {"Type": "User", "message": "Rate Exceeded.",
                  "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}),
    "not-ready": (502, "ResourceNotReadyException",
                  {"Type": "User", "message": "The function is inactive and its VPC connection is no longer "
                                              "available. Wait for the VPC connection to reestablish and try again."}),
    "ec2-throttled": (502, "EC2ThrottledException",
                      {"Type": "Service", "Message": "Lambda was throttled by EC2 while setting up the "
                                                     "function's VPC network interface."}),
    "eni-limit": (502, "ENILimitReachedException",
                  {"Type": "Service", "Message": "Lambda was not able to create an ENI in the VPC of the Lambda "
                                                 "function because the limit for Network Interfaces has been reached."}),
    "subnet-ip-limit": (502, "SubnetIPAddressLimitReachedException",
                        {"Type": "Service", "Message": "Lambda was not able to set up VPC access for the Lambda "
                                                       "function because one or more configured subnets has no "
                                                       "available IP addresses."}),
}
FUNCTION_ERROR, TIMEOUT = "function-error", "timeout"
FAULT_KINDS = (*INVOKE_ERRORS, FUNCTION_ERROR, TIMEOUT)


@dataclass(frozen=True)
class LabFunction:
    """One deployed function as the endpoint runs it."""

    name: str                     # the deployed name (hanat-<stage>-probe_<zone>)
    handler: str                  # its attribute in app.py (probe_<zone>)
    zone: str
    timeout_s: float              # the stage's lambda_timeout
    environment: Mapping[str, str] = field(default_factory=dict)   # the stage's environment variables
    reserved: int | None = None   # the stage's reserved_concurrency: more invokes at once are throttled
    memory_mb: int = 128          # the stage's lambda_memory_size: its CPU share (lab.aws.cgroups)


@dataclass(frozen=True)
class Outcome:
    """What running a handler gave: ``ok`` (``body`` = its JSON-able return), ``error`` (``body`` = the
    runtime's error object) or ``timeout`` (it did not return within the function's timeout)."""

    kind: str
    body: object = None
    duration_s: float = 0.0


# (function, event, request id) -> Outcome, never raising; it enforces the function's timeout itself
Execute = Callable[[LabFunction, object, str], Outcome]


def error_object(exc: BaseException, request_id: str, stack: Iterable[str] = ()) -> dict:
    """The Python runtime's payload for an unhandled exception."""
    return {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": request_id,
            "stackTrace": list(stack)}


def timeout_message(request_id: str, seconds: float, at: float | None = None) -> str:
    """Lambda's own message for a function that ran out of time."""
    when = datetime.fromtimestamp(time.time() if at is None else at, tz=UTC)
    return f"{when.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z {request_id} Task timed out after {seconds:.2f} seconds"


def function_name_of(path_name: str) -> tuple[str, str | None]:
    """(function name, qualifier) from the URI label: a name, ``name:qualifier``, a partial ARN
    ``account:function:name[:q]`` or an ARN ``arn:aws:lambda:region:account:function:name[:q]``."""
    parts = unquote(path_name).split(":")
    if parts[0] == "arn" and len(parts) >= 7:
        parts = parts[6:]
    elif len(parts) >= 3 and parts[1] == "function":
        parts = parts[2:]
    return parts[0], (parts[1] if len(parts) > 1 else None)


class FaultPlan:
    """Which faults the next invokes get: the kinds in turn, for some functions or all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cycle: Iterable[str] | None = None
        self._functions: frozenset[str] | None = None

    def set(self, kinds: Iterable[str], functions: Iterable[str] | None = None) -> None:
        kinds = list(kinds)
        unknown = [k for k in kinds if k not in FAULT_KINDS]
        if unknown or not kinds:
            raise InputError(f"Lambda fault kinds {unknown or kinds!r}: each must be one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._cycle = itertools.cycle(kinds)
            self._functions = None if functions is None else frozenset(functions)

    def clear(self) -> None:
        with self._lock:
            self._cycle, self._functions = None, None

    def next_for(self, function: str) -> str | None:
        with self._lock:
            if self._cycle is None or (self._functions is not None and function not in self._functions):
                return None
            return next(self._cycle)


class LambdaEndpoint:
    """The Invoke API for ``functions`` (name -> LabFunction) on 127.0.0.1; ``start()`` / ``stop()``."""

    def __init__(self, functions: Mapping[str, LabFunction], execute: Execute, *, region: str = "ap-northeast-1",
                 clock: LabClock | None = None):
        self.clock = clock or RealClock()
        self.functions = dict(functions)
        self.region = region
        self._execute = execute
        self.faults = FaultPlan()
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()    # function -> invokes running now
        self.log: list[tuple[float, str, str]] = []     # (epoch, function, what was answered)
        self._stopping = self.clock.event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Lambda endpoint is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LambdaEndpoint:
        handler = type("BoundInvokeHandler", (InvokeHandler,), {"endpoint": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="lab-lambda", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # --- faults and what happened -------------------------------------------------------------
    def inject(self, kinds: Iterable[str] = FAULT_KINDS, functions: Iterable[str] | None = None) -> None:
        """Every invoke (of ``functions``, default all) answers with the next of ``kinds``, in turn."""
        self.faults.set(kinds, functions)

    def clear(self) -> None:
        self.faults.clear()

    def counts(self, since: float = 0.0, until: float = float("inf")) -> dict[str, int]:
        """What the invokes answered in [since, until] were answered with: ``ok``, ``error`` (a real
        handler's), ``timeout`` (a real one) or the injected fault kind."""
        with self._lock:
            return dict(Counter(what for t, _, what in self.log if since <= t <= until))

    def running(self, function: str) -> int:
        """How many invokes of ``function`` run now."""
        with self._lock:
            return self._running[function]

    def _note(self, function: str, what: str) -> None:
        with self._lock:
            self.log.append((self.clock.time(), function, what))

    # --- one invoke -----------------------------------------------------------------------------
    def invoke(self, function: LabFunction, payload: bytes, request_id: str) -> tuple[int, dict, bytes]:
        """(status, headers, body) of a RequestResponse invoke of ``function``."""
        try:
            event = json.loads(payload or b"{}")
        except ValueError as exc:
            return self.error(400, "InvalidRequestContentException",
                              {"Type": "User", "message": f"Could not parse request body into json: {exc}"})
        if not self._enter(function):
            self._note(function.name, "throttle")
            return self.error(429, "TooManyRequestsException", INVOKE_ERRORS["throttle"][2], {"Retry-After": "1"})
        try:
            return self._invoke(function, event, request_id)
        finally:
            self._leave(function)

    def _enter(self, function: LabFunction) -> bool:
        with self._lock:
            if function.reserved is not None and self._running[function.name] >= function.reserved:
                return False
            self._running[function.name] += 1
            return True

    def _leave(self, function: LabFunction) -> None:
        with self._lock:
            self._running[function.name] -= 1

    def _invoke(self, function: LabFunction, event, request_id: str) -> tuple[int, dict, bytes]:
        fault = self.faults.next_for(function.name)
        if fault in INVOKE_ERRORS:
            self._note(function.name, fault)
            status, code, members = INVOKE_ERRORS[fault]
            headers = {"Retry-After": "1"} if status == 429 else {}
            return self.error(status, code, members, headers)
        if fault == FUNCTION_ERROR:
            self._note(function.name, fault)
            return self.function_error(error_object(RuntimeError("lab fault: the function raised"), request_id))
        if fault == TIMEOUT:
            self._note(function.name, fault)
            self._stopping.wait(function.timeout_s)      # the function hangs until Lambda stops it
            return self.function_error({"errorMessage": timeout_message(request_id, function.timeout_s,
                                                                        self.clock.time())})
        outcome = self._execute(function, event, request_id)
        self._note(function.name, outcome.kind)
        if outcome.kind == "ok":
            return 200, {"X-Amz-Executed-Version": "$LATEST"}, json.dumps(outcome.body).encode()
        if outcome.kind == TIMEOUT:
            return self.function_error({"errorMessage": timeout_message(request_id, function.timeout_s,
                                                                        self.clock.time())})
        return self.function_error(outcome.body if isinstance(outcome.body, dict) else
                                   {"errorMessage": str(outcome.body), "errorType": "Runtime.Unknown"})

    @staticmethod
    def function_error(error: dict) -> tuple[int, dict, bytes]:
        return 200, {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"}, \
            json.dumps(error).encode()

    @staticmethod
    def error(status: int, code: str, members: dict, headers: dict | None = None) -> tuple[int, dict, bytes]:
        return status, {"X-Amzn-ErrorType": code, **(headers or {})}, json.dumps(members).encode()

    def not_found(self, name: str) -> tuple[int, dict, bytes]:
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"
        return self.error(404, "ResourceNotFoundException",
                          {"Type": "User", "Message": f"Function not found: {arn}"})


class InvokeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive, as botocore's connection pool expects
    server_version = "hanat-lab-lambda"
    endpoint: LambdaEndpoint

    def do_POST(self) -> None:
        with self.endpoint.clock.claim("lab-invoke"):   # the caller waits on this request (lab.clock)
            self._post()

    def _post(self) -> None:
        request_id = str(uuid.uuid4())
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        match = INVOKE_PATH.match(url.path)
        if not match:
            return self._send(*self.endpoint.error(404, "UnknownOperationException",
                                                   {"Type": "User", "message": f"no operation at {url.path}"}),
                              request_id)
        name, qualifier = function_name_of(match["name"])
        qualifier = (parse_qs(url.query).get("Qualifier") or [qualifier])[0]
        function = self.endpoint.functions.get(name)
        if function is None or qualifier not in (None, "$LATEST"):
            return self._send(*self.endpoint.not_found(name if qualifier is None else f"{name}:{qualifier}"),
                              request_id)
        kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind == "DryRun":
            return self._send(204, {}, b"", request_id)
        if kind == "Event":
            self.endpoint.clock.thread(self.endpoint.invoke, "lab-invoke-event", (function, payload, request_id)).start()
            return self._send(202, {}, b"", request_id)
        self._send(*self.endpoint.invoke(function, payload, request_id), request_id)

    def _send(self, status: int, headers: dict, body: bytes, request_id: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Amzn-RequestId", request_id)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:   # quiet: counts() and the drill report are the record
        pass
