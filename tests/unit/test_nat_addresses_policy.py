"""The calls ``nat.addresses`` > 1 adds, under the policies they run under (lab/iam): the controller's
replacement and the operator's ``up`` give the stack's NAT interface secondary private addresses
(ec2:AssignPrivateIpAddresses authorizes the network-interface, Service Authorization Reference, Amazon EC2)
and associate an extra Elastic IP with one (ec2:AssociateAddress: elastic-ip and network-interface);
neither may do it to an interface that is not the stack's."""
from __future__ import annotations

import json
from pathlib import Path

from bootstrap.deploy.policy import controller_policy
from lab.iam.evaluate import Request, Resource, evaluate
from tests.unit.test_alerts import TOPOLOGY

ROOT = Path(__file__).resolve().parents[2]
EC2 = f"arn:aws:ec2:{TOPOLOGY.region}:123456789012"
OWN = {"hanat:stack": TOPOLOGY.stack}
ZONE = TOPOLOGY.zones[0]
NAT_ENI = f"{EC2}:network-interface/{ZONE.nat_eni_id}"


def assign(tags: dict) -> Request:
    return Request("ec2:AssignPrivateIpAddresses", [Resource(NAT_ENI, tags=tags)])


def associate_on_secondary() -> Request:
    return Request("ec2:AssociateAddress", [Resource(f"{EC2}:elastic-ip/eipalloc-extra", tags=OWN),
                                            Resource(NAT_ENI, tags=OWN)])


def policies() -> dict[str, dict]:
    return {"controller": {"controller": controller_policy(TOPOLOGY, "dev")},
            "operator": {"operator": json.loads((ROOT / "examples" / "iam-policy-operator.json").read_text())}}


def test_both_may_give_the_stacks_nat_interface_secondary_addresses_and_place_extra_elastic_ips():
    for who, policy in policies().items():
        for request in (assign(OWN), associate_on_secondary()):
            decision = evaluate(policy, request)
            assert decision.allowed, (who, request.action, decision.reason)


def test_neither_may_add_addresses_to_an_interface_that_is_not_the_stacks():
    # the operator's policy covers every hanat stack (any hanat:stack tag); the controller only its own
    cases = {"controller": ({}, {"hanat:stack": "other"}), "operator": ({},)}
    for who, policy in policies().items():
        for tags in cases[who]:
            decision = evaluate(policy, assign(tags))
            assert not decision.allowed, (who, tags, decision.reason)
