"""Alert subjects (SNS rules: ASCII, no control characters, < 100 chars) and JSON bodies."""
from __future__ import annotations

import json

import pytest

from chalicelib.alerts import SUBJECT_MAX, Alert, ascii_subject, format_body, format_subject
from chalicelib.topology import Topology, ZoneTopology

AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _zone(az: str, n: int) -> ZoneTopology:
    return ZoneTopology(az=az, public_subnet_id=f"subnet-pub{n}", private_subnet_id=f"subnet-prv{n}",
                        probe_subnet_id=f"subnet-prb{n}", nat_instance_id=f"i-0nat{n}",
                        nat_eni_id=f"eni-{n}", nat_eip=f"203.0.113.{n}", nat_eip_allocation_id=f"eipalloc-{n}",
                        private_route_table_ids=(f"rtb-p{n}",), probe_route_table_id=f"rtb-probe{n}")


TOPOLOGY = Topology(stack="demo", region="ap-northeast-1", vpc_id="vpc-1", vpc_cidr="10.0.0.0/16",
                    table_name="t", topic_arn="arn:aws:sns:ap-northeast-1:123456789012:t",
                    topology_parameter="/hanat/demo/topology",
                    zones=(_zone("ap-northeast-1a", 1), _zone("ap-northeast-1c", 2)))


@pytest.mark.parametrize("alert, expected", [
    (Alert("failover", "ap-northeast-1a", "2 failed probes", AT, from_nat="i-0nat1", to_nat="i-0nat2"),
     "[hanat] FAILOVER ap-northeast-1a -> NAT i-0nat2 of ap-northeast-1c: 2 failed probes"),
    (Alert("failover", "ap-northeast-1a", "instance stopped", AT, to_nat="i-0nat2", to_zone="ap-northeast-1c"),
     "[hanat] FAILOVER ap-northeast-1a -> NAT i-0nat2 of ap-northeast-1c: instance stopped"),
    (Alert("revert", "ap-northeast-1a", "NAT healthy again", AT, from_nat="i-0nat2", to_nat="i-0nat1"),
     "[hanat] REVERT ap-northeast-1a -> own NAT i-0nat1: NAT healthy again"),
    (Alert("replace", "ap-northeast-1c", "terminated", AT, from_nat="i-0nat2", to_nat="i-0new"),
     "[hanat] REPLACE ap-northeast-1c NAT i-0nat2 -> i-0new: terminated"),
    (Alert("flapping", "ap-northeast-1a", "3 failovers in 15 min", AT),
     "[hanat] FLAPPING ap-northeast-1a: 3 failovers in 15 min"),
    (Alert("critical", None, "all targets unreachable, control probe failed too", AT),
     "[hanat] CRITICAL all zones: all targets unreachable, control probe failed too"),
    (Alert("blind", "ap-northeast-1a", "no evidence for 3 sweeps", AT),
     "[hanat] BLIND ap-northeast-1a: no evidence for 3 sweeps"),
    (Alert("blind", None, "no evidence for 3 sweeps", AT,
           details={"zones": ["ap-northeast-1a", "ap-northeast-1c"]}),
     "[hanat] BLIND ap-northeast-1a, ap-northeast-1c: no evidence for 3 sweeps"),
])
def test_subject_wording(alert, expected):
    assert format_subject(alert, TOPOLOGY) == expected


@pytest.mark.parametrize("reason", [
    "x" * 300,
    "NAT → down… café\nsecond line\tand\x07bell",
    "日本語だけの理由",
])
def test_subject_obeys_sns_rules(reason):
    subject = format_subject(Alert("failover", "ap-northeast-1a", reason, AT, to_nat="i-0nat2"), TOPOLOGY)
    assert len(subject) <= SUBJECT_MAX
    assert subject.isascii()
    assert not any(ord(c) < 32 or ord(c) == 127 for c in subject)
    assert subject.startswith("[hanat] FAILOVER ap-northeast-1a")


def test_long_subject_is_cut_with_ellipsis():
    subject = ascii_subject("[hanat] " + "y" * 200)
    assert len(subject) == SUBJECT_MAX and subject.endswith("...")


def test_unicode_arrow_becomes_ascii():
    assert ascii_subject("a → b café") == "a -> b cafe"


def test_body_is_json_with_every_field():
    alert = Alert("failover", "ap-northeast-1a", "2 failed probes", AT, from_nat="i-0nat1", to_nat="i-0nat2",
                  route_tables=("rtb-p1", "rtb-p9"), details={"fails": 2})
    body = json.loads(format_body(alert, TOPOLOGY))
    assert body == {
        "type": "failover", "stack": "demo", "zone": "ap-northeast-1a", "from_nat": "i-0nat1",
        "to_nat": "i-0nat2", "to_zone": "ap-northeast-1c", "reason": "2 failed probes",
        "route_tables": ["rtb-p1", "rtb-p9"], "at": "2026-01-01T00:00:00Z",
        "summary": "[hanat] FAILOVER ap-northeast-1a -> NAT i-0nat2 of ap-northeast-1c: 2 failed probes",
        "details": {"fails": 2},
    }


def test_body_without_topology_keeps_alert_values():
    alert = Alert("critical", None, "targets down", AT, stack="lab")
    body = json.loads(format_body(alert))
    assert body["stack"] == "lab" and body["zone"] is None and body["to_zone"] is None
