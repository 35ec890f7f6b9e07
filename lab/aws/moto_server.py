"""The lab's moto server, made faithful where the controller's safety depends on AWS guarantees.

``python -m lab.aws.moto_server -H 127.0.0.1 -p PORT`` runs moto's own WSGI app with two fixes:

- DynamoDB requests are served one at a time. In AWS a conditional write is atomic; moto checks the
  condition and stores the item as separate steps, so two racing requests (two controller runs
  claiming the same replacement version) could both "win". The controller's one-launch guarantee
  rests on that atomicity.
- ``RunInstances`` honours ``ClientToken``: in AWS a repeated call with the same token returns the
  first call's instances instead of launching more (a retried request after a lost response, or a
  re-launch of a claimed attempt). moto ignores the token and launches again.
- A NAT's extra addresses (``nat.addresses``) as EC2 handles them: secondary private addresses at launch,
  and Elastic IPs associated with them (lab/aws/moto_fidelity.py).

And one of AWS's unkind sides, switched at run time (``POST /lab-api/faults`` with a JSON object;
``GET`` reads the switches and the counts; moto's reset clears both): ``{"ec2_throttle": RATE}`` answers
that share of EC2 API calls with ``RequestLimitExceeded``, spread evenly rather than drawn at random (error
diffusion: over any run of n calls, RATE·n ± 1 are throttled; 0.5 is every other call; ``seed`` only sets
the phase), so a drill's own check of the share never fails by chance (issue 21, item 4) —
what EC2 answers an account over its request rate ("Request throttling for the Amazon EC2 API", EC2
Developer Guide), as HTTP 503 with the EC2 query protocol's error document. Calls whose User-Agent
carries ``hanat-lab-observer`` (the lab's own look at the emulator, standing for AWS's insides) are left
alone. ``{"stale_reads_s": W}`` answers EC2 ``Describe*`` reads with the view from before a write for W seconds
after it (EC2's eventual consistency, lab.aws.stale_reads), for every caller but the lab's observer, whose
own writes (fault injection) the others see at once; 0 is off.
alone. ``{"spot_capacity": false}`` refuses every spot launch (RunInstances with
``InstanceMarketOptions.MarketType=spot``) with ``InsufficientInstanceCapacity``, a server error as EC2
answers it ("Error codes for the Amazon EC2 API"); moto itself never refuses spot (issue 20).

And one look for the lab's watchers: ``GET /lab-api/generation`` answers ``{"ec2": N}``, N counting
the EC2 calls that may have changed something (every action but ``Describe*``/``Get*``), counted once
the call has run; the EventBridge emulation and the data plane sync read the emulator again only when
it moved (what they see is a function of EC2's state), which keeps their look cheap.

Only loopback is served; nothing here reaches the internet.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import threading
import uuid
from urllib.parse import parse_qs

from lab.aws.stale_reads import StaleReads, is_stale_able_read, is_write

from . import moto_fidelity

RESET_PATH = "/moto-api/reset"
FAULTS_PATH = "/lab-api/faults"
GENERATION_PATH = "/lab-api/generation"
# EC2 actions that change nothing: every ec2:Describe*/ec2:Get* action is of access level List or Read in
# the Service Authorization Reference ("Actions defined by Amazon EC2"; tests/lab/test_lab_emulator.py)
READ_ONLY_ACTIONS = ("Describe", "Get")
OBSERVER_AGENT = "hanat-lab-observer"   # the User-Agent mark of the lab's own clients (lab.session)
THROTTLE_STATUS = "503 Service Unavailable"
SERVER_ERROR_STATUS = "500 Internal Server Error"


def is_ec2_call(environ) -> bool:
    """An EC2 API request: SigV4 scoped to the ``ec2`` service (``Credential=<key>/<date>/<region>/ec2/...``)."""
    return "/ec2/aws4_request" in environ.get("HTTP_AUTHORIZATION", "")


def ec2_region(environ) -> str:
    """The region of an EC2 request's SigV4 credential scope (``Credential=<key>/<date>/<region>/ec2/...``)."""
    scope = environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    return scope[2] if len(scope) > 2 else ""


def request_shape(form: dict[str, list[str]]) -> tuple:
    """An EC2 query request's shape: every parameter and its values (the action among them)."""
    return tuple(sorted((name, tuple(values)) for name, values in form.items()))


def ec2_action(body: bytes) -> str:
    """The ``Action`` of an EC2 query-protocol request body ("" when it names none)."""
    return (parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]


def throttle_document() -> bytes:
    """EC2's error response for RequestLimitExceeded (the query protocol's ``Response/Errors/Error``)."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
            '<Message>Request limit exceeded.</Message></Error></Errors>'
            f'<RequestID>{uuid.uuid4()}</RequestID></Response>').encode()


class ApiFaults:
    """The run-time switches and what they did."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.ec2_throttle = 0.0
        self.stale = StaleReads(0.0)
        self.owed = 0.0      # the share of a throttled call accumulated and not yet answered
        self.spot_capacity = True
        self.counts = {"ec2_calls": 0, "ec2_throttled": 0, "spot_refused": 0}

    def configure(self, settings: dict) -> None:
        if not isinstance(settings, dict):
            raise TypeError(f"the faults must be a JSON object, got {settings!r}")
        rate = settings.get("ec2_throttle", self.ec2_throttle)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"ec2_throttle must be a number in [0, 1], got {rate!r}")
        window = settings.get("stale_reads_s", self.stale.window_s)
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 <= window <= 60:
            raise ValueError(f"stale_reads_s must be a number of seconds in [0, 60], got {window!r}")
        self.ec2_throttle = float(rate)
        if window != self.stale.window_s:
            self.stale = StaleReads(window)
        spot = settings.get("spot_capacity", self.spot_capacity)
        if not isinstance(spot, bool):
            raise TypeError(f"spot_capacity must be true or false, got {spot!r}")
        self.spot_capacity = spot
        if "seed" in settings:
            self.owed = random.Random(settings["seed"]).random()   # the phase: which call of the cycle is first

    def throttle_now(self) -> bool:
        """Count one EC2 call; True when it is to be throttled."""
        with self.lock:
            self.counts["ec2_calls"] += 1
            self.owed += self.ec2_throttle
            hit = self.ec2_throttle > 0 and self.owed >= 1.0
            if hit:
                self.owed -= 1.0
                self.counts["ec2_throttled"] += 1
            return hit

    def refuse_spot(self, form: dict) -> bool:
        """A spot launch while spot capacity is off (counted)."""
        with self.lock:
            hit = not self.spot_capacity and (form.get("InstanceMarketOptions.MarketType") or [""])[0] == "spot"
            self.counts["spot_refused"] += int(hit)
            return hit

    def state(self) -> dict:
        with self.lock:
            return {"ec2_throttle": self.ec2_throttle, "spot_capacity": self.spot_capacity, **self.counts,
                    **self.stale.state()}


def no_spot_capacity_document() -> bytes:
    """EC2's answer to a spot launch it has no capacity for."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InsufficientInstanceCapacity'
            '</Code><Message>There is no Spot capacity available that matches your request.</Message></Error>'
            f'</Errors><RequestID>{uuid.uuid4()}</RequestID></Response>').encode()


class FaithfulMoto:
    """WSGI middleware around moto's app (see the module doc)."""

    def __init__(self, app):
        self._app = app
        self._dynamodb = threading.Lock()
        self._launch = threading.Lock()
        self._launched: dict[str, tuple[str, list, bytes]] = {}   # client token -> first response
        self.faults = ApiFaults()
        self._generation = 0
        self._generation_lock = threading.Lock()

    def _moved(self) -> None:
        with self._generation_lock:
            self._generation += 1

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(RESET_PATH):
            with self._launch:
                self._launched.clear()
            with self.faults.lock:
                self.faults.reset()
            response = self._call(environ)
            self._moved()
            return self._replay(response, start_response)
        if path == FAULTS_PATH:
            return self._faults_api(environ, start_response)
        if path == GENERATION_PATH:
            with self._generation_lock:
                state = {"ec2": self._generation}
            return self._replay(("200 OK", [("Content-Type", "application/json")], json.dumps(state).encode()),
                                start_response)
        if is_ec2_call(environ) and OBSERVER_AGENT not in environ.get("HTTP_USER_AGENT", "") \
                and self.faults.throttle_now():
            self._read_body(environ)   # the request is consumed, as a real endpoint would
            return self._replay((THROTTLE_STATUS, [("Content-Type", "text/xml;charset=UTF-8")],
                                 throttle_document()), start_response)
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self._dynamodb:
                return self._replay(self._call(environ), start_response)
        body = self._read_body(environ)
        if not is_ec2_call(environ):
            return self._app(environ, start_response)
        action, stale = ec2_action(body), self.faults.stale
        observer = OBSERVER_AGENT in environ.get("HTTP_USER_AGENT", "")
        if action.startswith(READ_ONLY_ACTIONS):
            if observer or not (stale.on and is_stale_able_read(action)):
                return self._app(environ, start_response)
            region, shape = ec2_region(environ), request_shape(parse_qs(body.decode("utf-8", "replace")))
            sent_at = stale.clock()
            response = stale.answer(region, shape, sent_at)
            if response is None:
                response = self._call(environ)
                if response[0].startswith("200"):
                    stale.saw(region, shape, response, sent_at)
            return self._replay(response, start_response)
        try:
            response = self._launch_once(environ, body)
        finally:
            self._moved()
        if stale.on and is_write(action) and response[0].startswith("200"):   # the lab's own changes show at once
            stale.wrote(ec2_region(environ), lags=not observer)
        return self._replay(response, start_response)

    def _launch_once(self, environ, body: bytes) -> tuple[str, list, bytes]:
        """An EC2 call that may change something, run to completion; a ``RunInstances`` with a
        ``ClientToken`` seen before answers as the first did."""
        form = parse_qs(body.decode("utf-8", "replace")) if b"Action=RunInstances" in body else {}
        if form and self.faults.refuse_spot(form):
            return SERVER_ERROR_STATUS, [("Content-Type", "text/xml;charset=UTF-8")], no_spot_capacity_document()
        token = (form.get("ClientToken") or [""])[0]
        if not token:
            return self._call(environ)
        with self._launch:
            if token not in self._launched:
                status, headers, payload = self._call(environ)
                if status.startswith("200"):
                    self._launched[token] = (status, headers, payload)
                return status, headers, payload
            return self._launched[token]

    def _faults_api(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            try:
                settings = json.loads(self._read_body(environ) or b"{}")
                with self.faults.lock:
                    self.faults.configure(settings)
            except (TypeError, ValueError) as exc:
                return self._replay(("400 Bad Request", [("Content-Type", "application/json")],
                                     json.dumps({"error": str(exc)}).encode()), start_response)
        return self._replay(("200 OK", [("Content-Type", "application/json")],
                             json.dumps(self.faults.state()).encode()), start_response)

    @staticmethod
    def _read_body(environ) -> bytes:
        """The request body, put back so moto can read it again."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def _call(self, environ) -> tuple[str, list, bytes]:
        """Run moto's app to completion (so a lock covers the whole request)."""
        captured: dict = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = self._app(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return captured["status"], captured["headers"], payload

    @staticmethod
    def _replay(response: tuple[str, list, bytes], start_response):
        status, headers, payload = response
        start_response(status, headers)
        return [payload]


def main(argv: list[str] | None = None) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description="moto server with atomic DynamoDB writes and idempotent launches")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        parser.error(f"--host {args.host!r}: the lab emulator listens on loopback only")
    os.environ.setdefault("MOTO_PORT", str(args.port))   # as moto.server does: some responses embed it
    moto_fidelity.apply()
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    run_simple(args.host, args.port, FaithfulMoto(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
