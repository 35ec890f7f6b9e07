"""``hanat ... --via-lambda``: the CLI invokes the deployed ``operate`` function and reports its answer.

moto cannot run Lambda code without docker, so a stand-in Lambda endpoint on 127.0.0.1 answers the
Invoke API (AWS_ENDPOINT_URL_LAMBDA) by running the controller's real ``operate`` against the moto
stack, and turning bad input into the answer app.py gives (``{"ok": false, ...}``).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

from chalicelib.errors import InputError
from chalicelib.service.operations import operate
from tests.support import stack as sf
from tests.support.cli import hanat

STACK = "vialambda"
pytestmark = pytest.mark.stack(server=True, stack=STACK, azs=sf.AZS[:2])


class FakeLambda:
    """Answers POST /2015-03-31/functions/<name>/invocations like a deployed ``operate``."""

    def __init__(self, topo):
        self.calls: list[tuple[str, dict]] = []
        self.error: tuple[int, str] | None = None   # (HTTP status, Lambda error type) to answer with
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                name = unquote(self.path.split("/functions/")[1].split("/")[0])
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                fake.calls.append((name, payload))
                if fake.error is not None:
                    status, kind = fake.error
                    body = json.dumps({"Type": "User", "message": f"{kind} from the fake"}).encode()
                    self.send_response(status)
                    self.send_header("x-amzn-ErrorType", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                deps, _ = sf.make_deps(topo, owner="operate:fake")
                try:
                    answer = operate(deps, payload)
                except InputError as err:
                    answer = {"ok": False, "error": err.title, "problems": err.problems}
                body = json.dumps(answer, default=str).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_lambda(stack, monkeypatch):
    fake = FakeLambda(stack)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake.url)
    yield fake
    fake.close()


def test_failover_via_lambda_invokes_operate_and_prints_its_answer(stack, fake_lambda, capsys):
    topo, fake = stack, fake_lambda
    a, c = topo.azs
    code, out, err = hanat(capsys, "failover", "--zone", a, "--to", c, "--via-lambda", "--json")
    assert code == 0, err
    assert fake.calls == [(f"hanat-{STACK}-operate", {"action": "failover", "zone": a, "to_zone": c})]
    answer = json.loads(out)                       # stdout: exactly the function's answer
    assert answer["ok"] and answer["served_by"] == c
    assert sf.serving(sf.clients().ec2, topo) == {a: c, c: c}


def test_bad_zone_via_lambda_exits_2_naming_it_and_changes_nothing(stack, fake_lambda, capsys):
    topo, fake = stack, fake_lambda
    c = sf.clients()
    before = (sf.default_targets(c.ec2, topo), sf.table_items(c.dynamodb, topo))
    code, out, err = hanat(capsys, "failover", "--zone", "nowhere", "--to", "mars", "--via-lambda", "--json")
    assert code == 2 and out == ""
    assert "'nowhere'" in err and "'mars'" in err
    assert len(fake.calls) == 1
    assert (sf.default_targets(c.ec2, topo), sf.table_items(c.dynamodb, topo)) == before


def test_stage_option_names_the_function(stack, fake_lambda, capsys):
    _, fake = stack, fake_lambda
    code, out, err = hanat(capsys, "status", "--via-lambda", "--stage", "blue", "--json")
    assert code == 0, err
    assert fake.calls == [("hanat-blue-operate", {"action": "status"})]
    assert json.loads(out)["stack"] == STACK


@pytest.mark.parametrize("status, kind", [(429, "TooManyRequestsException"), (500, "ServiceException"),
                                          (502, "ResourceNotReadyException")])
def test_via_lambda_invokes_exactly_once_even_when_lambda_fails(stack, fake_lambda, capsys, status, kind):
    """botocore's standard mode retries 429/5xx: a retried invoke of operate would run a failover twice.
    The CLI's Lambda client has retries off; the failure is reported (exit 1), once."""
    topo, fake = stack, fake_lambda
    fake.error = (status, kind)
    a, c = topo.azs
    code, _out, err = hanat(capsys, "failover", "--zone", a, "--to", c, "--via-lambda", "--json")
    assert code == 1 and kind in err
    assert len(fake.calls) == 1
    assert sf.serving(sf.clients().ec2, topo) == {a: a, c: c}


def test_via_lambda_waits_longer_than_the_operate_function_may_run():
    from bootstrap.deploy.stage import CONTROLLER_TIMEOUT_S
    from controller.commands import ops
    assert ops.OPERATE_READ_TIMEOUT_S > CONTROLLER_TIMEOUT_S
