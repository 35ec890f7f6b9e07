"""A probe function's execution environment in the lab (lab.dataplane.netns.plane.ProbeAgent, no root
needed: a stand-in agent process speaks the agent's line protocol).

Lambda's Init phase of a new environment "is limited to 10 seconds. If all three tasks do not complete
within 10 seconds, Lambda retries the Init phase at the time of the first function invocation with the
configured function timeout" (Lambda Developer Guide, "Understanding the Lambda execution environment
lifecycle"). A cold start's import is not part of the invoke's timeout: in the lab at 128 MB's CPU share
app.py takes about 5 s to import, over the probe's 4 s timeout, and an agent that counted it timed out,
was dropped, and its replacement timed out the same way (every zone blind, CI stop 24)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import pytest

from lab.aws.lambda_endpoint import TIMEOUT, LabFunction
from lab.dataplane.netns import plane, probe_agent
from lab.dataplane.netns.plane import ProbeAgent

FUNCTION = LabFunction(name="hanat-lab-probe_a", handler="probe_a", zone="zone-a", timeout_s=1.0,
                       environment={"HANAT_STACK": "lab"})

# The agent's protocol (lab.dataplane.netns.probe_agent) with a chosen import time; it logs each request.
STAND_IN = textwrap.dedent("""
    import json, sys, time
    init_s, log = float(sys.argv[1]), open(sys.argv[2], "a")
    log.write("started\\n"); log.flush()
    imported = False
    for line in sys.stdin:
        req = json.loads(line)
        log.write(json.dumps(req) + "\\n"); log.flush()
        if not imported:
            time.sleep(init_s); imported = True
        print(json.dumps({"id": req["id"], "ok": None if "init" in req else {"handler": req["invoke"]}}), flush=True)
""")


def stand_in(init_s: float, log) -> ProbeAgent:
    """A stand-in environment whose Init takes ``init_s``, once its interpreter is up (a loaded machine's
    interpreter start is left out of the margins the tests count on)."""
    def popen(role, argv, **kw):
        return subprocess.Popen([sys.executable, "-c", STAND_IN, str(init_s), str(log)], **kw)
    agent = ProbeAgent(popen, "zone-a")
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text().startswith("started")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return agent


@pytest.fixture
def agents():
    made = []
    yield made
    for a in made:
        a.close()
        a.proc.kill()
        a.proc.wait(timeout=5)


def requests(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()[1:]]   # after "started"


def test_a_cold_start_whose_import_outlasts_the_function_timeout_still_answers(tmp_path, agents):
    agents.append(agent := stand_in(2.0, tmp_path / "log"))        # 2 s of Init, a 1 s function timeout
    outcome = agent.invoke(FUNCTION, {}, "r1")
    assert outcome.kind == "ok" and outcome.body == {"handler": "probe_a"}
    assert outcome.duration_s < FUNCTION.timeout_s                  # the invoke's own time, Init left out
    init, invoke = requests(tmp_path / "log")
    assert init["init"] is True and init["env"] == {"HANAT_STACK": "lab"} and invoke["invoke"] == "probe_a"
    agent.invoke(FUNCTION, {}, "r2")                                # warm: no second Init
    assert [("init" in r) for r in requests(tmp_path / "log")] == [True, False, False]


def test_an_init_over_its_limit_is_retried_within_the_invokes_timeout(tmp_path, agents, monkeypatch):
    monkeypatch.setattr(plane, "INIT_LIMIT_S", 0.3)
    # the stand-in's interpreter start counts as Init too (as on Lambda): margins of seconds for a loaded machine
    function = replace(FUNCTION, timeout_s=4.0)
    agents.append(slow := stand_in(1.0, tmp_path / "slow"))         # Init over its limit, done within the timeout
    assert slow.invoke(function, {}, "r1").kind == "ok"
    agents.append(stuck := stand_in(8.0, tmp_path / "stuck"))       # over the limit and the function's timeout
    assert stuck.invoke(function, {}, "r1").kind == TIMEOUT


def test_the_agents_init_imports_app_and_names_an_import_error(monkeypatch):
    assert probe_agent.handle(json.dumps({"id": 7, "init": True, "env": {}})) == {"id": 7, "ok": None}
    monkeypatch.setattr(probe_agent, "APP_MODULE", "hanat_no_such_module")
    answer = probe_agent.handle(json.dumps({"id": 8, "init": True, "env": {}}))
    assert answer["id"] == 8 and answer["error"]["errorType"] == "Runtime.ImportModuleError"
    assert "hanat_no_such_module" in answer["error"]["errorMessage"]
