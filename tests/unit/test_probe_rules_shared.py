"""One source for each probe rule: what `hanat plan/up` accepts, every probe Lambda accepts, and back.

Before, probe.timeout_s in (25, 30] passed the config validator and then every probe function refused
its event (every NAT judged DOWN). Each case runs through both sides; a case where they disagree is
the drift these tests exist to catch.
"""
from __future__ import annotations

import math

import pytest

from bootstrap.config.validate import build_config
from chalicelib.errors import ConfigError, InputError
from chalicelib.probes.handler import validate_probe_event
from chalicelib.service.probing import WRITE_RESERVE_S
from chalicelib.settings import MAX_PROBE_TIMEOUT_S, ProbeSettings

BASE = {
    "stack": {"name": "demo", "region": "ap-northeast-1", "vpc_cidr": "10.0.0.0/16"},
    "zones": [{"az": "ap-northeast-1a"}, {"az": "ap-northeast-1c"}],
}
LAB_TARGET = "tcp://203.0.113.10:443"


def config_accepts(probe: dict) -> bool:
    try:
        build_config({**BASE, "probe": probe}, source="t.toml")
        return True
    except ConfigError as err:
        assert all(p.startswith("probe.") for p in err.problems), err.problems
        return False


def probe_accepts(event: dict) -> bool:
    try:
        validate_probe_event(event, ProbeSettings())
        return True
    except InputError:
        return False


TIMEOUTS = {
    "the-limit": (MAX_PROBE_TIMEOUT_S, True),
    "just-over-the-limit": (MAX_PROBE_TIMEOUT_S + 0.001, False),
    "28s-the-reported-case": (28, False),
    "30s-the-old-config-limit": (30, False),
    "25.5s": (25.5, False),
    "default-2s": (2, True),
    "tiny": (0.01, True),
    "zero": (0, False),
    "negative": (-1, False),
}


@pytest.mark.parametrize("case", TIMEOUTS)
def test_config_and_probe_accept_the_same_timeouts(case):
    timeout_s, accepted = TIMEOUTS[case]
    assert config_accepts({"timeout_s": timeout_s, "targets": [LAB_TARGET]}) is accepted
    assert probe_accepts({"timeout_s": timeout_s, "targets": [LAB_TARGET]}) is accepted


def test_the_limit_is_the_probe_limit_and_at_most_25_seconds():
    # The probe Lambda's timeout is its samples' time (a probe and its hedged confirmation) + 3 s and
    # the 60 s heartbeat waits for it, then writes routes: the limit must leave that room.
    assert MAX_PROBE_TIMEOUT_S <= 25
    slowest = ProbeSettings(timeout_s=MAX_PROBE_TIMEOUT_S, fail_after=10)
    assert math.ceil(slowest.chain_s) + 3 + WRITE_RESERVE_S < 60
    with pytest.raises(ConfigError) as info:
        build_config({**BASE, "probe": {"timeout_s": 28}}, source="t.toml")
    assert info.value.exit_code == 2
    assert info.value.problems == [f"probe.timeout_s must be at most {MAX_PROBE_TIMEOUT_S:g} seconds, got 28"]


TARGETS = {
    "tcp": ("tcp://203.0.113.10:443", True),
    "http-with-port-and-path": ("http://198.51.100.10:8080/health?x=1", True),
    "https-host-name": ("https://checkip.amazonaws.com/", True),
    "tcp-ipv6": ("tcp://[2001:db8::1]:443", True),
    "tcp-without-port": ("tcp://203.0.113.10", False),
    "tcp-with-path": ("tcp://203.0.113.10:443/x", False),
    "port-0": ("tcp://203.0.113.10:0", False),
    "port-out-of-range": ("tcp://203.0.113.10:99999", False),
    "ftp": ("ftp://203.0.113.10/", False),
    "bare-host": ("203.0.113.10:443", False),
    "no-host": ("https:///path", False),
    "credentials": ("https://user:secret@203.0.113.10/", False),
    "bad-host-label": ("http://bad_host!/", False),
    "label-ends-with-dash": ("tcp://a-.test:443", False),
    "empty": ("", False),
}


@pytest.mark.parametrize("case", TARGETS)
def test_config_and_probe_accept_the_same_targets(case):
    target, accepted = TARGETS[case]
    assert config_accepts({"targets": [target]}) is accepted
    assert probe_accepts({"targets": [target]}) is accepted


def test_config_and_probe_name_a_bad_target_with_the_same_words():
    with pytest.raises(ConfigError) as config_err:
        build_config({**BASE, "probe": {"targets": ["tcp://203.0.113.10"]}}, source="t.toml")
    with pytest.raises(InputError) as probe_err:
        validate_probe_event({"targets": ["tcp://203.0.113.10"]}, ProbeSettings())
    phrase = "needs a port (tcp://host:port)"
    assert config_err.value.problems == [f"probe.targets[0] 'tcp://203.0.113.10' {phrase}"]
    assert probe_err.value.problems == [f"target 'tcp://203.0.113.10' {phrase}"]
