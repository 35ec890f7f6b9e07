"""Strict validation: every rule, table-driven; every problem reported at once and named by its key."""
from __future__ import annotations

import copy
import re

import pytest

from bootstrap.config.validate import build_config
from chalicelib.errors import ConfigError

BASE = {
    "stack": {"name": "demo", "region": "ap-northeast-1", "vpc_cidr": "10.0.0.0/16"},
    "zones": [{"az": "ap-northeast-1a"}, {"az": "ap-northeast-1c"}],
}

class _Missing:
    """The key is removed; its repr makes a stable test id (an object()'s address changes every run)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def mutate(raw: dict, path: str, value=_MISSING) -> dict:
    """Set (or delete, when value is omitted) ``a.b[1].c`` in a deep copy of ``raw``."""
    raw = copy.deepcopy(raw)
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    node = raw
    for part in parts[:-1]:
        if isinstance(part, str) and part not in node:
            node[part] = {}
        node = node[part]
    if value is _MISSING:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return raw


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        build_config(raw, source="test.toml")
    assert info.value.exit_code == 2
    return info.value.problems


SIX_AZS = [f"ap-northeast-1{c}" for c in "abcdef"]

INVALID = [
    # (path, value (omitted = delete), expected problem, exactly as reported)
    ("stack.name", "My_Stack", "stack.name 'My_Stack' must be 1-32 characters of a-z, 0-9 and '-', starting with a letter"),
    ("stack.name", "a" * 33, "stack.name '" + "a" * 33 + "' must be 1-32 characters"),
    ("stack.name", "1abc", "stack.name '1abc' must be 1-32 characters"),
    ("stack.name", _MISSING, "stack.name is required"),
    ("stack.name", 7, "stack.name must be a string, got 7"),
    ("stack.region", "tokyo", "stack.region 'tokyo' is not an AWS region name"),
    ("stack.region", _MISSING, "stack.region is required"),
    ("stack.vpc_cidr", "10.0.0.1/16", "stack.vpc_cidr '10.0.0.1/16' has host bits set (did you mean 10.0.0.0/16?)"),
    ("stack.vpc_cidr", "10.0.0.0", "stack.vpc_cidr '10.0.0.0' must be a CIDR block like 10.0.0.0/16"),
    ("stack.vpc_cidr", "10.0.0.0/33", "stack.vpc_cidr '10.0.0.0/33' is not a valid CIDR block"),
    ("stack.vpc_cidr", "banana/16", "stack.vpc_cidr 'banana/16' is not a valid CIDR block"),
    ("stack.vpc_cidr", "fd00::/56", "stack.vpc_cidr 'fd00::/56' must be an IPv4 CIDR block"),
    ("stack.vpc_cidr", "10.0.0.0/8", "stack.vpc_cidr 10.0.0.0/8 must be a /16 to /24 network, got /8"),
    ("stack.vpc_cidr", "10.0.0.0/25", "stack.vpc_cidr 10.0.0.0/25 must be a /16 to /24 network, got /25"),
    ("stack.vpc_cidr", _MISSING, "stack.vpc_cidr is required"),
    ("stack.vpcidr", "10.0.0.0/16", "unknown key stack.vpcidr"),
    ("stack", _MISSING, "stack is required (name, region, vpc_cidr)"),
    ("stack", "demo", "stack must be a table, got string 'demo'"),
    ("zones[0].public_cidr", "10.0.0.1/24", "zones[0].public_cidr '10.0.0.1/24' has host bits set"),
    ("zones[0].public_cidr", "10.1.0.0/24", "zones[0].public_cidr 10.1.0.0/24 is outside stack.vpc_cidr 10.0.0.0/16"),
    ("zones[0].private_cidr", "10.0.0.0/29", "zones[0].private_cidr 10.0.0.0/29 must be a /16 to /28 subnet"),
    ("zones[0].probe_cidr", "nope", "zones[0].probe_cidr 'nope' must be a CIDR block"),
    ("zones[0].probe_cidr", 28, "zones[0].probe_cidr must be a string, got 28"),
    ("zones[0].az", _MISSING, "zones[0].az is required"),
    ("zones[1].az", "ap-northeast-1a", "zones[1].az ap-northeast-1a repeats zones[0].az"),
    ("zones[1].az", "us-east-1a", "zones[1].az 'us-east-1a' is not an availability zone of region ap-northeast-1"),
    ("zones[1].az", "ap-northeast-1", "zones[1].az 'ap-northeast-1' is not an availability zone"),
    ("zones[1].subnet", "x", "unknown key zones[1].subnet"),
    ("zones", [{"az": "ap-northeast-1a"}], "zones must list 2 to 6 zones, got 1"),
    ("zones", [{"az": az} for az in [*SIX_AZS, "ap-northeast-1g"]], "zones must list 2 to 6 zones, got 7"),
    ("zones", _MISSING, "zones must list 2 to 6 zones, got 0"),
    ("zones", "ap-northeast-1a", "zones must be a list of tables ([[zones]]), got string 'ap-northeast-1a'"),
    ("zones", ["ap-northeast-1a", "ap-northeast-1c"], "zones[0] must be a table, got string 'ap-northeast-1a'"),
    ("nat.instancetype", "t4g.nano", "unknown key nat.instancetype"),
    ("nat.instance_type", "t4gnano", "nat.instance_type 't4gnano' is not an EC2 instance type"),
    ("nat.instance_type", "T4G.Nano", "nat.instance_type 'T4G.Nano' is not an EC2 instance type"),
    ("nat.ami", "ami-123", "nat.ami 'ami-123' must be an AMI id"),
    ("nat.ami", "resolve:ssm:al2023", "nat.ami 'resolve:ssm:al2023' must be an AMI id"),
    ("probe.interval_s", 0, "probe.interval_s must be a number > 0, got 0"),
    ("probe.interval_s", "5", "probe.interval_s must be a number (seconds), got string '5'"),
    ("probe.interval_s", True, "probe.interval_s must be a number (seconds), got boolean true"),
    ("probe.interval_s", float("inf"), "probe.interval_s must be a number (seconds), got inf"),
    ("probe.interval_s", 120, "probe.interval_s must be at most 60 seconds, got 120"),
    ("probe.timeout_s", 45, "probe.timeout_s must be at most 25 seconds, got 45"),
    ("probe.timeout_s", 28, "probe.timeout_s must be at most 25 seconds, got 28"),
    ("probe.timeout_s", -1, "probe.timeout_s must be a number > 0, got -1"),
    ("probe.fail_after", 0, "probe.fail_after must be a positive integer, got 0"),
    ("probe.fail_after", 2.5, "probe.fail_after must be a positive integer, got 2.5"),
    ("probe.fail_after", True, "probe.fail_after must be a positive integer, got boolean true"),
    ("probe.recover_after", "3", "probe.recover_after must be a positive integer, got string '3'"),
    ("probe.recover_after", -2, "probe.recover_after must be a positive integer, got -2"),
    ("probe.min_hold_s", -1, "probe.min_hold_s must be a number >= 0, got -1"),
    ("probe.targets", [], "probe.targets must list at least one target"),
    ("probe.targets", "https://a.test/", "probe.targets must be a list of strings, got string 'https://a.test/'"),
    ("probe.targets", ["https://a.test/", 443], "probe.targets must be a list of strings, got [1] 443"),
    ("probe.targets", ["ftp://a.test/"],
     "probe.targets[0] 'ftp://a.test/' has scheme 'ftp': must start with tcp://, http:// or https://"),
    ("probe.targets", ["a.test:443"],
     "probe.targets[0] 'a.test:443' has scheme 'a.test': must start with tcp://, http:// or https://"),
    ("probe.targets", ["tcp://a.test"], "probe.targets[0] 'tcp://a.test' needs a port (tcp://host:port)"),
    ("probe.targets", ["tcp://a.test:443/x"], "probe.targets[0] 'tcp://a.test:443/x' must be tcp://host:port"),
    ("probe.targets", ["https:///path"], "probe.targets[0] 'https:///path' has no host"),
    ("probe.targets", ["tcp://a.test:99999"], "probe.targets[0] 'tcp://a.test:99999' is not a valid URL (Port out of"),
    ("probe.targets", ["tcp://a.test:0"], "probe.targets[0] 'tcp://a.test:0' has an invalid port 0"),
    ("probe.targets", ["https://u:p@a.test/"], "probe.targets[0] 'https://u:p@a.test/' must not carry user credentials"),
    ("probe.targets", ["http://bad_host!/"], "probe.targets[0] 'http://bad_host!/' has an invalid host 'bad_host!'"),
    ("probe.targets", ["tcp://a.test:443", "tcp://a.test:443"], "probe.targets[1] tcp://a.test:443 repeats probe.targets[0]"),
    ("probe.interval", 5, "unknown key probe.interval"),
    ("failover.revert", "sometimes", "failover.revert must be one of auto, manual, window, got 'sometimes'"),
    ("failover.revert", "window", 'failover.revert \'window\' needs a maintenance.window (it is "": never)'),
    ("failover.handoff_s", -1, "failover.handoff_s must be a number >= 0, got -1"),
    ("failover.degraded_after", -1, "failover.degraded_after must be an integer >= 0, got -1"),
    ("failover.degraded_clear_after", 0, "failover.degraded_clear_after must be a positive integer, got 0"),
    ("failover.degraded_min_hold_s", -5, "failover.degraded_min_hold_s must be a number >= 0, got -5"),
    ("failover.degraded_conntrack_percent", 101, "failover.degraded_conntrack_percent must be a percentage <= 100, got 101"),
    ("failover.degraded_conntrack_percent", 0, "failover.degraded_conntrack_percent must be a number > 0, got 0"),
    ("failover.degraded_drops", 1.5, "failover.degraded_drops must be an integer >= 0, got 1.5"),
    ("failover.headroom_percent", 150, "failover.headroom_percent must be a percentage <= 100, got 150"),
    ("failover.handoff_s", "15m", "failover.handoff_s must be a number (seconds), got string '15m'"),
    ("failover.handoff_s", 100, "maintenance.drain_s 300 must be at most failover.handoff_s 100"),
    ("failover.handoff_ack_timeout_s", -1, "failover.handoff_ack_timeout_s must be a number >= 0, got -1"),
    ("failover.handoff_ack_timeout_s", 31, "failover.handoff_ack_timeout_s must be at most 30 seconds, got 31"),
    ("failover.handoff_ack_timeout_s", True, "failover.handoff_ack_timeout_s must be a number (seconds), got"),
    ("maintenance.drain_s", 901, "maintenance.drain_s 901 must be at most failover.handoff_s 900"),
    ("maintenance.drain_s", -5, "maintenance.drain_s must be a number >= 0, got -5"),
    ("maintenance.max_instance_age_days", -1, "maintenance.max_instance_age_days must be an integer >= 0, got -1"),
    ("maintenance.max_instance_age_days", 1.5, "maintenance.max_instance_age_days must be an integer >= 0, got 1.5"),
    ("maintenance.window", "Sunday 02:00-04:00",
     "maintenance.window 'Sunday 02:00-04:00': 'Sunday' is not a day (use Mon, Tue, Wed, Thu, Fri, Sat, Sun or daily)"),
    ("maintenance.window", "Sun 2:00-04:00", "maintenance.window 'Sun 2:00-04:00': '2:00' is not a time HH:MM"),
    ("maintenance.window", "Sun 02:00", "maintenance.window 'Sun 02:00': '02:00' must be HH:MM-HH:MM (UTC)"),
    ("maintenance.window", "02:00-04:00", "maintenance.window '02:00-04:00' must be \"<days> HH:MM-HH:MM\" in UTC"),
    ("maintenance.window", 2, "maintenance.window must be a string, got 2"),
    ("maintenance.windows", "Sun 02:00-04:00", "unknown key maintenance.windows"),
    ("names.subnet", "{stack}-{layer}", "names.subnet '{stack}-{layer}' has an unknown placeholder {layer} (allowed: "),
    ("names.vpc", "{stack}-{kind}", "names.vpc '{stack}-{kind}' has an unknown placeholder {kind} (allowed: {stack})"),
    ("names.route_table", "{zone:02d}", "names.route_table '{zone:02d}' has an unknown placeholder {zone:02d}"),
    ("names.internet_gateway", "{stack", "names.internet_gateway '{stack' is not a valid template"),
    ("names.vpc", "AWS:{stack}", "names.vpc 'AWS:{stack}' gives the name 'AWS:demo', which starts with 'aws:'"),
    ("names.subnet", "x" * 250 + "{az}", "names.subnet '" + "x" * 250 + "{az}' gives the name 'x"),
    ("names.igw", "x", "unknown key names.igw"),
    ("nat.instance_type", "t1.micro",
     "nat.instance_type 't1.micro' is a previous-generation type that runs only paravirtual (PV) AMIs"),
    ("admin.instance_type", "m1.small", "admin.instance_type 'm1.small' is a previous-generation type"),
    ("failover.replace_after_s", 0, "failover.replace_after_s must be a number > 0, got 0"),
    ("alerts.emails", ["not-an-email"], "alerts.emails[0] 'not-an-email' is not an e-mail address"),
    ("alerts.emails", ["ops@example"], "alerts.emails[0] 'ops@example' is not an e-mail address"),
    ("alerts.emails", "ops@example.com", "alerts.emails must be a list of strings, got string 'ops@example.com'"),
    ("alerts.slack_webhook_parameter", "hanat/slack", "alerts.slack_webhook_parameter 'hanat/slack' must be an SSM"),
    ("admin.enabled", "yes", "admin.enabled must be true or false, got string 'yes'"),
    ("admin.instance_type", "big", "admin.instance_type 'big' is not an EC2 instance type"),
    ("permissions", [{"iam_user_arn": "arn:aws:iam::12345:user/alice"}],
     "permissions[0].iam_user_arn 'arn:aws:iam::12345:user/alice' must be an IAM user ARN"),
    ("permissions", [{"iam_user_arn": "arn:aws:iam::123456789012:role/alice"}],
     "permissions[0].iam_user_arn 'arn:aws:iam::123456789012:role/alice' must be an IAM user ARN"),
    ("permissions", [{"iam_user_arn": "arn:aws:iam::123456789012:user/a"}] * 2,
     "permissions[1].iam_user_arn arn:aws:iam::123456789012:user/a repeats permissions[0].iam_user_arn"),
    ("permissions", [{"iam_user_arn": "arn:aws:iam::123456789012:user/a", "allow_ssh": "True"}],
     "permissions[0].allow_ssh must be true or false, got string 'True'"),
    ("permissions", [{"allow_ssh": True}], "permissions[0].iam_user_arn is required"),
    ("permissions", {"iam_user_arn": "x"}, "permissions must be a list of tables ([[permissions]]), got a table"),
    ("extra", {}, "unknown key extra"),
]


@pytest.mark.parametrize("path,value,expected", INVALID, ids=[f"{c[0]}={c[1]!r}"[:60] for c in INVALID])
def test_invalid_value_is_reported_by_key(path, value, expected):
    problems = problems_of(mutate(BASE, path, value))
    assert any(p.startswith(expected) for p in problems), problems


SUBNET_CASES = {
    # explicit subnets -> the overlap problem, naming both keys and values
    "explicit-private-overlaps-private": (
        {"zones[0].private_cidr": "10.0.0.0/23", "zones[1].private_cidr": "10.0.1.0/24"},
        "zones[1].private_cidr 10.0.1.0/24 overlaps zones[0].private_cidr 10.0.0.0/23"),
    "explicit-overlaps-in-one-zone": (
        {"zones[0].public_cidr": "10.0.64.0/24", "zones[0].private_cidr": "10.0.64.0/20"},
        "zones[0].private_cidr 10.0.64.0/20 overlaps zones[0].public_cidr 10.0.64.0/24"),
    "explicit-probe-overlaps-later-explicit": (
        {"zones[0].probe_cidr": "10.0.200.0/28", "zones[1].public_cidr": "10.0.200.0/24"},
        "zones[1].public_cidr 10.0.200.0/24 overlaps zones[0].probe_cidr 10.0.200.0/28"),
}


@pytest.mark.parametrize("case", SUBNET_CASES)
def test_explicit_subnet_overlaps_are_reported(case):
    changes, expected = SUBNET_CASES[case]
    raw = BASE
    for path, value in changes.items():
        raw = mutate(raw, path, value)
    assert expected in problems_of(raw)


VALID = [
    ("probe.min_hold_s", 0),
    ("probe.interval_s", 0.5),
    ("probe.timeout_s", 25),
    ("failover.revert", "manual"),
    ("failover.handoff_s", 300),             # == the default drain_s
    ("failover.handoff_s", 3600),
    ("failover.handoff_ack_timeout_s", 0),   # off: the fixed timed wait
    ("failover.handoff_ack_timeout_s", 30),
    ("failover.degraded_after", 0),          # gray failures not judged
    ("failover.headroom_percent", 100),
    ("maintenance.drain_s", 0),
    ("maintenance.drain_s", 900),            # == the default handoff_s
    ("maintenance.max_instance_age_days", 0),
    ("maintenance.window", ""),
    ("maintenance.window", "Sun 02:00-04:00"),
    ("maintenance.window", "Sat-Sun 23:00-01:00"),
    ("maintenance.window", "daily 03:00-03:30"),
    ("names.vpc", "{stack} VPC"),
    ("names.subnet", "{stack} {kind} {az} #{zone} {{x}}"),
    ("names.internet_gateway", "igw"),
    ("probe.targets", ["tcp://198.51.100.11:80", "http://203.0.113.10:8080/health", "https://a.test/x?y=1"]),
    ("probe.targets", ["tcp://[2001:db8::1]:443"]),
    ("nat.ami", "ami-0123456789abcdef0"),
    ("nat.ami", "ami-12345678"),
    ("nat.ami", "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"),
    ("nat.instance_type", "m7i-flex.2xlarge"),
    ("alerts.slack_webhook_parameter", "/hanat/demo/slack-webhook"),
    ("alerts.emails", ["ops@example.com", "first.last+tag@sub.example.co.jp"]),
    ("permissions", [{"iam_user_arn": "arn:aws:iam::123456789012:user/team/alice", "allow_sudo": True}]),
    ("zones", [{"az": az} for az in SIX_AZS]),
    ("zones", [{"az": "ap-northeast-1a", "public_cidr": "10.0.200.0/24", "private_cidr": "10.0.128.0/18",
                "probe_cidr": "10.0.201.0/28"}, {"az": "ap-northeast-1c"}]),
]


@pytest.mark.parametrize("path,value", VALID, ids=[f"{c[0]}={c[1]!r}"[:60] for c in VALID])
def test_valid_values_are_accepted_as_given(path, value):
    cfg = build_config(mutate(BASE, path, value), source="test.toml")
    section, key = path.split(".") if "." in path else (path, None)
    got = getattr(cfg, section)
    if key is not None:
        got = getattr(got, key)
    if section == "zones":
        assert [z.az for z in got] == [z["az"] for z in value]
        for given, zone in zip(value, got):
            for field, cidr in given.items():
                assert getattr(zone, field) == cidr
    elif section == "permissions":
        assert [(p.iam_user_arn, p.allow_ssh, p.allow_sudo) for p in got] == [
            (v["iam_user_arn"], v.get("allow_ssh", True), v.get("allow_sudo", False)) for v in value]
    else:
        assert got == (tuple(value) if isinstance(value, list) else value)


def test_local_zone_in_its_region_is_accepted():
    raw = mutate(mutate(BASE, "stack.region", "us-east-1"), "zones",
                 [{"az": "us-east-1a"}, {"az": "us-east-1-bos-1a"}])
    assert build_config(raw, source="t").azs == ("us-east-1a", "us-east-1-bos-1a")


def test_defaults_fill_every_optional_section():
    cfg = build_config(BASE, source="test.toml", warnings=("note",))
    assert (cfg.nat.instance_type, cfg.nat.ami) == ("t4g.nano", "")
    assert (cfg.probe.fail_after, cfg.probe.recover_after, cfg.probe.min_hold_s) == (2, 3, 60)
    assert cfg.failover.revert == "auto" and cfg.failover.replace_after_s == 300 and cfg.failover.handoff_s == 900
    assert cfg.failover.handoff_ack_timeout_s == 8.0
    assert (cfg.maintenance.window, cfg.maintenance.max_instance_age_days, cfg.maintenance.drain_s) == ("", 30, 300)
    assert (cfg.names.vpc, cfg.names.subnet, cfg.names.route_table, cfg.names.internet_gateway) == ("",) * 4
    assert cfg.admin.enabled is False and cfg.permissions == () and cfg.alerts.emails == ()
    assert cfg.source == "test.toml" and cfg.warnings == ("note",)
    assert all(z.public_cidr and z.private_cidr and z.probe_cidr for z in cfg.zones)


def test_every_problem_across_sections_is_reported_in_one_error():
    raw = copy.deepcopy(BASE)
    raw["stack"]["name"] = "Bad Name"
    raw["zones"][1]["private_cidr"] = "10.1.0.0/24"
    raw["nat"] = {"instancetype": "t4g.nano"}
    raw["probe"] = {"fail_after": 0, "timeout_s": "2"}
    raw["failover"] = {"revert": "never"}
    raw["alerts"] = {"emails": ["nobody"]}
    raw["permissions"] = [{"iam_user_arn": "alice"}]
    with pytest.raises(ConfigError) as info:
        build_config(raw, source="bad.toml")
    problems = info.value.problems
    expected_starts = [
        "stack.name 'Bad Name'", "zones[1].private_cidr 10.1.0.0/24 is outside", "unknown key nat.instancetype",
        "probe.fail_after must be a positive integer, got 0", "probe.timeout_s must be a number",
        "failover.revert must be one of", "alerts.emails[0] 'nobody'", "permissions[0].iam_user_arn 'alice'",
    ]
    assert len(problems) == len(expected_starts), problems
    for start in expected_starts:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert "invalid bad.toml (8 problems)" in str(info.value)


def test_importer_key_names_and_earlier_problems_are_used():
    raw = mutate(BASE, "stack.vpc_cidr", "10.0.0.1/16")
    with pytest.raises(ConfigError) as info:
        build_config(raw, source="s.cfg", key_names={"stack.vpc_cidr": "PersonalSettings.vpc_cidr"},
                     problems=["unknown key VPC.x"])
    assert info.value.problems[0] == "unknown key VPC.x"
    assert info.value.problems[1].startswith("PersonalSettings.vpc_cidr '10.0.0.1/16' has host bits set")


@pytest.mark.parametrize("path,value", [("stack", "demo"), ("zones", ["ap-northeast-1a", "ap-northeast-1c"])])
def test_a_non_table_is_reported_once_not_per_missing_key(path, value):
    problems = problems_of(mutate(BASE, path, value))
    assert not any("is required" in p for p in problems), problems


def test_config_is_frozen():
    cfg = build_config(BASE, source="t")
    with pytest.raises(AttributeError):
        cfg.stack.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("instance_type, warned", [
    pytest.param("t4g.nano", False, id="graviton-nitro"),
    pytest.param("t3.nano", False, id="t3-nitro"),
    pytest.param("c6gn.medium", False, id="c6gn-nitro"),
    pytest.param("t2.micro", True, id="t2-xen"),
    pytest.param("m4.large", True, id="m4-xen"),
])
def test_a_nat_type_that_cannot_see_new_tags_in_imds_is_warned_about(instance_type, warned):
    raw = {"stack": {"name": "d", "region": "ap-northeast-1", "vpc_cidr": "10.0.0.0/16"},
           "zones": [{"az": "ap-northeast-1a"}, {"az": "ap-northeast-1c"}], "nat": {"instance_type": instance_type}}
    cfg = build_config(raw, source="t.toml")
    notes = [w for w in cfg.warnings if "Nitro" in w]
    assert bool(notes) is warned and all(instance_type in n for n in notes)


def test_every_bad_gray_failure_setting_is_named_in_one_error():
    raw = mutate(mutate(mutate(BASE, "failover.degraded_after", "3"), "failover.headroom_percent", 0),
                 "failover.degraded_drops", -1)
    found = problems_of(raw)
    for key in ("failover.degraded_after", "failover.headroom_percent", "failover.degraded_drops"):
        assert any(p.startswith(key) for p in found), (key, found)
