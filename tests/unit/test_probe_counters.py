"""The NAT's counters on a probe result (issue 19 item 1): asked for, read after a passing verdict,
checked once where results are parsed, never a reason for a probe to fail."""
from __future__ import annotations

import copy
import fnmatch
import json
import tomllib
from pathlib import Path

import pytest

from bootstrap.nat import render
from chalicelib.errors import InputError
from chalicelib.probes import handler
from chalicelib.probes.counters import COUNTERS_URL, fetch_counters
from chalicelib.probes.results import MAX_COUNTERS_BYTES, ProbeResult, TargetResult, counters_problem
from chalicelib.settings import ProbeSettings

# What hanat-nat-agent writes (tests/lab/test_nat_counters.py reads a real one in the lab).
SAMPLE = {"version": 1, "at": 1796460204, "interface": "eth0",
          "conntrack": {"count": 120, "max": 262144, "drop": 0, "early_drop": 0, "insert_failed": 0},
          "forwarded": {"from_source": {"packets": 10, "bytes": 840}, "from_destination": {"packets": 9, "bytes": 9000}},
          "resets": 0, "invalid_drops": 2,
          "ena": {"bw_in_allowance_exceeded": 0, "pps_allowance_exceeded": 3, "conntrack_allowance_available": 900},
          "ports": {"addresses": 1, "busiest": [{"proto": "tcp", "destination": "198.51.100.10", "port": 443,
                                                 "used": 40}]},
          "cpu_credits": None}


def changed(path: str, value):
    out = copy.deepcopy(SAMPLE)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return out


def test_the_agents_snapshot_passes_and_unreadable_values_are_null_not_zero():
    assert counters_problem(SAMPLE) is None
    assert counters_problem(changed("ena", None)) is None                       # no ENA driver (the lab)
    assert counters_problem(changed("conntrack.drop", None)) is None             # /proc/net/stat absent
    assert counters_problem(changed("forwarded.from_source.packets", None)) is None   # iptables: no named counter
    assert counters_problem(changed("ports.busiest", None)) is None       # no conntrack tool, no /proc entries


@pytest.mark.parametrize("counters, phrase", [
    ("text", "JSON object"),
    (changed("version", 2), "version 2"),
    (changed("conntrack.count", -1), "conntrack"),
    (changed("conntrack.max", "262144"), "conntrack"),
    (changed("conntrack", KeyError), "conntrack"),
    (changed("forwarded.from_destination.bytes", 1.5), "from_destination"),
    (changed("forwarded", None), "from_source"),
    (changed("resets", True), "resets"),
    (changed("ena", {"bw_in_allowance_exceeded": -3}), "ena"),
    (changed("ena", [1]), "ena"),
    (changed("ports.busiest", [{"proto": "tcp", "destination": "x", "port": 1, "used": 1}] * 9), "busiest"),
    (changed("ports.busiest", [{"proto": "tcp", "destination": 7, "port": 1, "used": 1}]), "busiest"),
    (changed("ports.addresses", None) | {"ports": "many"}, "busiest"),
    (changed("interface", "x" * MAX_COUNTERS_BYTES), f"larger than {MAX_COUNTERS_BYTES}"),
])
def test_counters_that_are_not_the_agents_shape_are_named(counters, phrase):
    problem = counters_problem(counters)
    assert problem and phrase in problem


def answer(passed: bool, **extra) -> dict:
    return {"zone": "a", "passed": passed, "at": 5.0, "error": None, "evidence": True,
            "results": [TargetResult("tcp://x:1", passed).to_dict()], **extra}


def test_counters_round_trip_on_the_result_and_bad_ones_are_dropped_with_the_reason_verdict_unchanged():
    good = ProbeResult.from_dict(answer(True, counters=SAMPLE))
    assert good.counters == SAMPLE and good.counters_error is None and good.passed
    assert ProbeResult.from_dict(good.to_dict()) == good
    bad = ProbeResult.from_dict(answer(True, counters=changed("conntrack.count", -5)))
    assert bad.counters is None and "conntrack" in bad.counters_error and bad.passed
    unread = ProbeResult.from_dict(answer(True, counters_error="counters unreadable: timeout"))
    assert unread.counters is None and unread.counters_error == "counters unreadable: timeout"
    plain = ProbeResult.from_dict(answer(False))
    assert plain.counters is None and "counters" not in plain.to_dict() and plain.failed


class Reader:
    def __init__(self, result=(SAMPLE, None)):
        self.calls, self.result = 0, result

    def __call__(self):
        self.calls += 1
        return self.result


def probe(monkeypatch, passed: bool, event: dict, reader: Reader) -> dict:
    monkeypatch.setattr(handler, "run_samples",
                        lambda zone, targets, timeout_s, samples, clock: ProbeResult.from_dict(answer(passed)))
    return handler.handle_probe("a", event, ProbeSettings(), lambda: 5.0, read_counters=reader)


def test_the_probe_reads_counters_only_when_asked_and_only_after_the_path_passed(monkeypatch):
    reader = Reader()
    assert probe(monkeypatch, True, {"counters": True}, reader)["counters"] == SAMPLE and reader.calls == 1
    failed = probe(monkeypatch, False, {"counters": True}, reader)
    assert reader.calls == 1 and "counters" not in failed        # a dead path: no read, no delay
    assert "counters" not in probe(monkeypatch, True, {}, reader) and reader.calls == 1
    unread = probe(monkeypatch, True, {"counters": True}, Reader((None, "counters unreadable at x: timeout")))
    assert unread["passed"] and unread["counters_error"] == "counters unreadable at x: timeout"


def test_a_counters_flag_that_is_not_a_boolean_is_bad_input():
    with pytest.raises(InputError) as err:
        handler.validate_probe_event({"counters": "yes"}, ProbeSettings())
    assert "counters must be true or false, got 'yes'" in str(err.value)


@pytest.mark.parametrize("body, phrase", [
    (b"x" * (MAX_COUNTERS_BYTES + 1), "larger than"),
    (b"{nope", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
])
def test_fetch_refuses_what_is_not_a_small_json_object(body, phrase):
    counters, error = fetch_counters(url=COUNTERS_URL, opener=lambda url, timeout: body)
    assert counters is None and phrase in error


def test_fetch_returns_the_object_and_an_unreachable_nat_is_an_error_string():
    assert fetch_counters(opener=lambda url, timeout: json.dumps(SAMPLE).encode()) == (SAMPLE, None)

    def refused(url, timeout):
        raise ConnectionRefusedError("refused")
    counters, error = fetch_counters(opener=refused)
    assert counters is None and "counters unreadable at http://192.0.2.1:9107/counters.json" in error


def test_the_rendered_script_lets_only_the_stacks_probe_subnets_read_the_counters():
    text = render.nat_script("10.0.0.0/16", probe_cidrs=("10.0.200.0/28", "10.0.200.16/28"))
    assert 'HANAT_PROBE_CIDRS="${HANAT_PROBE_CIDRS-10.0.200.0/28,10.0.200.16/28}"' in text
    assert 'HANAT_PROBE_CIDRS="${HANAT_PROBE_CIDRS-}"' in render.nat_script("10.0.0.0/16")
    with pytest.raises(InputError, match="nope"):
        render.nat_script("10.0.0.0/16", probe_cidrs=("nope",))


def test_the_user_data_with_the_counters_fits_ec2s_limit_without_the_scripts_header():
    # EC2: user data is limited to 16 KB raw (before base64); the counters made the NAT's user data pass it
    data = render.nat_user_data("10.0.0.0/16,100.64.0.0/16", 8, ("10.0.200.0/28", "10.0.200.16/28", "10.0.200.32/28"))
    assert len(data) <= render.USER_DATA_LIMIT
    text = render.nat_script("10.0.0.0/16")
    first, pointer, *rest = text.split("\n")
    assert first == "#!/usr/bin/env bash" and pointer == render.HEADER_POINTER
    assert not rest[0].startswith("#") and "Inputs (environment" not in text     # the header is gone
    assert render.agent_source().rstrip("\n") in text                           # the agent is whole
    assert render.counters_source().rstrip("\n") in text                        # and its library too


def test_the_rendered_script_embeds_the_agents_counters_library_once_as_a_function():
    # the agent sources hanat-nat-counters from beside it: the user data must carry it (no internet at boot)
    text = render.nat_script("10.0.0.0/16")
    assert render.COUNTERS_MARKER not in text and render.AGENT_MARKER not in text
    assert text.count(f"embedded_counters() {{\n    cat <<'{render.COUNTERS_EOF}'\n") == 1
    assert "COUNTERS_PORT=9107" in text and "counters_pass() {" in text


def test_render_refuses_a_counters_library_holding_its_heredoc_end_line(monkeypatch):
    text = render.counters_source() + render.COUNTERS_EOF + "\n"
    monkeypatch.setattr(render, "counters_source", lambda: text)
    with pytest.raises(InputError, match=render.COUNTERS_EOF):
        render.nat_script("10.0.0.0/16")


def test_every_file_the_user_data_is_rendered_from_ships_in_the_package():
    # render reads them with importlib.resources: a pip-installed hanat has only the package data listed
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["setuptools"]["package-data"]["bootstrap"]
    for name in (render.SETUP_SCRIPT, render.AGENT, render.COUNTERS, render.ADMIN_SCRIPT):
        assert any(fnmatch.fnmatch(f"nat/{name}", pattern) for pattern in shipped), name
