"""A planned move's wait for the NATs' acknowledgement (issue 21): the pure decision (engine/handoff_ack.py),
the probe function's handoffs read (probes/handler.py, probes/counters.py) and the invoke adapter that asks
every involved zone (aws/lambda_invoke.HandoffReader).

AWS documents no latency for a tag change to reach instance metadata ("Work with instance tags in instance
metadata", EC2 User Guide): the controller asks the NATs instead of trusting a fixed wait.
"""
from __future__ import annotations

import json

import pytest

from chalicelib.aws.lambda_invoke import HandoffReader
from chalicelib.engine.handoff_ack import (
    ASK,
    MOVE,
    TIMED_OUT,
    TIMED_WAIT,
    AckStep,
    acknowledged,
    applied_tags,
    next_step,
)
from chalicelib.errors import AwsError, InputError
from chalicelib.probes import counters, handler
from chalicelib.settings import ProbeSettings

KEY = "hanat:handoff:az-a"
X_TAGS = {KEY: "from 10.0.2.10 2000 10.0.1.0/24"}
Y_TAGS = {KEY: "to 10.0.0.10 2000 10.0.1.0/24"}
WRITTEN = {"i-x": X_TAGS, "i-y": Y_TAGS}


def report(applied: dict) -> dict:
    return {"version": 1, "at": 1000, "applied": applied}


OLD_Y = report({KEY: "to 10.0.0.10 1100 10.0.1.0/24"})     # the zone's earlier handoff: another until

# (reports, seconds since the tags were written, timeout, can ask) -> the step. Settle (the timed wait) is 2 s.
TABLE = [
    # both NATs list what was written: move at once, however early
    ({"i-x": report(X_TAGS), "i-y": report({**Y_TAGS, "hanat:handoff:az-b": "to 10.0.9.9 9 10.0.8.0/24"})},
     0.3, 8.0, True, AckStep(MOVE)),
    # one NAT has not applied yet (no report, or the zone's earlier handoff): ask again after the poll
    ({"i-x": report(X_TAGS)}, 0.3, 8.0, True, AckStep(ASK, 0.25, ("i-y",))),
    ({"i-x": report(X_TAGS), "i-y": OLD_Y}, 1.0, 8.0, True, AckStep(ASK, 0.25, ("i-y",))),
    # a garbled report or a wrong version is no acknowledgement
    ({"i-x": {"version": 2, "applied": X_TAGS}, "i-y": {"version": 1, "applied": [1]}}, 1.0, 8.0, True,
     AckStep(ASK, 0.25, ("i-x", "i-y"))),
    # the last question is asked at the timeout, never after it
    ({}, 7.9, 8.0, True, AckStep(ASK, pytest.approx(0.1), ("i-x", "i-y"))),
    # timed out after the timed wait passed: move now (alert); before it passed: wait what is left (alert)
    ({"i-x": report(X_TAGS)}, 8.0, 8.0, True, AckStep(TIMED_OUT, 0.0, ("i-y",))),
    ({}, 1.5, 1.0, True, AckStep(TIMED_OUT, 0.5, ("i-x", "i-y"))),
    # no way to ask, or asking turned off (timeout 0): the timed wait alone, no alert
    ({}, 0.5, 8.0, False, AckStep(TIMED_WAIT, 1.5)),
    ({"i-x": report(X_TAGS), "i-y": report(Y_TAGS)}, 0.0, 0.0, True, AckStep(TIMED_WAIT, 2.0)),
    ({}, 3.0, 0.0, True, AckStep(TIMED_WAIT, 0.0)),
]


@pytest.mark.parametrize(("reports", "elapsed", "timeout_s", "can_ask", "step"), TABLE)
def test_next_step_table(reports, elapsed, timeout_s, can_ask, step):
    assert next_step(WRITTEN, reports, written_at=100.0, now=100.0 + elapsed, timeout_s=timeout_s, settle_s=2.0,
                     can_ask=can_ask) == step


def test_an_acknowledgement_is_every_written_value_exactly():
    assert acknowledged(Y_TAGS, report(Y_TAGS))
    assert not acknowledged(Y_TAGS, OLD_Y)                                   # same key, earlier until
    assert not acknowledged({**Y_TAGS, KEY + ":2": "to 10.0.0.10 2000 10.0.3.0/24"}, report(Y_TAGS))
    assert not acknowledged(Y_TAGS, None) and applied_tags("x") is None and applied_tags(report({KEY: 1})) is None


# --- the probe function's read -------------------------------------------------------------------
def test_the_handoffs_event_reads_the_agents_report_and_runs_no_check(monkeypatch):
    monkeypatch.setattr(handler, "run_samples", lambda *a: pytest.fail("a handoffs read must not probe"))
    answer = handler.handle_probe("a", {"handoffs": True}, ProbeSettings(), lambda: 5.0,
                                  read_handoffs=lambda: (report(Y_TAGS), None))
    assert answer == {"handoffs": report(Y_TAGS), "error": None}
    unread = handler.handle_probe("a", {"handoffs": True}, ProbeSettings(), lambda: 5.0,
                                  read_handoffs=lambda: (None, "handoffs unreadable at u: timeout"))
    assert unread == {"handoffs": None, "error": "handoffs unreadable at u: timeout"}
    for bad in ({"handoffs": False}, {"handoffs": True, "targets": ["tcp://198.51.100.1:80"]}):
        with pytest.raises(InputError):
            handler.handle_probe("a", bad, ProbeSettings(), lambda: 5.0, read_handoffs=lambda: (None, "x"))


def test_fetch_handoffs_reads_the_listeners_handoffs_json_bounded():
    urls = []

    def opener(url, timeout_s):
        urls.append((url, timeout_s))
        return json.dumps(report(Y_TAGS)).encode()
    assert counters.fetch_handoffs(opener=opener) == (report(Y_TAGS), None)
    assert urls == [("http://192.0.2.1:9107/handoffs.json", counters.COUNTERS_TIMEOUT_S)]

    def refused(url, timeout_s):
        raise ConnectionRefusedError("refused")
    found, error = counters.fetch_handoffs(opener=refused)
    assert found is None and "handoffs unreadable" in error
    assert counters.fetch_handoffs(opener=lambda u, t: b"[1]")[0] is None


# --- the invoke adapter ----------------------------------------------------------------------------
def test_handoff_reader_asks_each_zone_once_and_turns_every_failure_into_no_report():
    asked = []

    def invoke(name, payload):
        asked.append((name, payload))
        if name == "probe-b":
            raise AwsError("lambda.Invoke probe-b", "TooManyRequestsException", "Rate exceeded")
        if name == "probe-c":
            return {"ok": False, "error": "invalid probe event"}
        return {"handoffs": report(Y_TAGS), "error": None}
    reader = HandoffReader(invoke, {"a": "probe-a", "b": "probe-b", "c": "probe-c"})
    out = reader(["a", "b", "c", "d"])
    assert out["a"] == (report(Y_TAGS), None)
    assert out["b"][0] is None and "TooManyRequestsException" in out["b"][1]
    assert out["c"][0] is None and "refused" in out["c"][1]
    assert out["d"] == (None, "no probe function for d")
    assert sorted(asked) == [(f"probe-{z}", {"handoffs": True}) for z in "abc"]
