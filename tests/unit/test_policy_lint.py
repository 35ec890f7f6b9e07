"""parliament over every IAM policy hanat writes: clean, or allowed with a reason (and the check can fail)."""
from __future__ import annotations

import copy

from bootstrap.deploy import policy_lint


def test_every_policy_hanat_writes_is_parliament_clean_or_allowed_with_a_reason():
    assert policy_lint.findings() == []
    assert all(a.reason for a in policy_lint.ALLOWED)


def test_every_allowance_is_still_needed():
    """An allow-list entry nothing needs any more is removed, not kept 'just in case'."""
    documents = policy_lint.policies()
    for allowed in policy_lint.ALLOWED:
        saved = policy_lint.ALLOWED
        try:
            policy_lint.ALLOWED = tuple(a for a in saved if a != allowed)
            assert policy_lint.findings(documents), f"{allowed.policy}/{allowed.sid} {allowed.issue} is unused"
        finally:
            policy_lint.ALLOWED = saved


def test_the_linter_catches_what_aws_refuses():
    """sns:Unsubscribe takes no resource (Service Authorization Reference): on a topic ARN it is a finding."""
    documents = {"operator": copy.deepcopy(policy_lint.policies()["operator"])}
    documents["operator"]["Statement"].append({"Sid": "Bad", "Effect": "Allow", "Action": "sns:Unsubscribe",
                                               "Resource": "arn:aws:sns:*:*:hanat-*"})
    [finding] = policy_lint.findings(documents)
    assert finding.startswith("operator/Bad: RESOURCE_MISMATCH")


def test_a_resolve_ssm_ami_is_readable_by_the_controllers_launches():
    """EC2 resolves nat.ami = "resolve:ssm:NAME" at each launch with the caller's ssm:GetParameters."""
    from bootstrap.deploy.policy import controller_policy

    topology = policy_lint.sample_topology()

    def reads(nat_ami: str) -> list:
        return [s["Resource"] for s in controller_policy(topology, "s", nat_ami=nat_ami)["Statement"]
                if s["Sid"] == "ResolveNatAmiAtLaunch"]
    assert reads("resolve:ssm:/team/nat-ami") == ["arn:aws:ssm:ap-northeast-1:123456789012:parameter/team/nat-ami"]
    assert reads("resolve:ssm:/aws/service/x/y") == ["arn:aws:ssm:ap-northeast-1:*:parameter/aws/service/x/y"]
    assert reads("ami-0123456789abcdef0") == reads("") == []
