"""The lab's IAM evaluator (lab/iam) against AWS's documented examples, one case per documented rule; each
case id names the doc page (URLs in CASES). The evaluator refuses what it does not model (NotModelled)."""
from __future__ import annotations

import pytest

from lab.iam.errors import NotModelled
from lab.iam.evaluate import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Request, Resource, evaluate

EC2 = "arn:aws:ec2:us-east-1:123456789012"
VPC = f"{EC2}:vpc/vpc-11223344556677889"
SUBNET, SG = f"{EC2}:subnet/subnet-1", f"{EC2}:security-group/sg-1"
IMAGE, INSTANCE = "arn:aws:ec2:us-east-1::image/ami-1", f"{EC2}:instance/i-1"
ENI, VOLUME = f"{EC2}:network-interface/eni-1", f"{EC2}:volume/vol-1"
ROLE = "arn:aws:iam::123456789012:role/app"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", condition=None, **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **({"Condition": condition} if condition else {}),
            **extra}


def run_instances(instance_tags=None, *, subnet_tags=None, vpc=VPC, instance_type="t3.micro") -> Request:
    """A RunInstances as AWS authorizes it: every resource type it touches, with its keys."""
    return Request("ec2:RunInstances", [
        Resource(IMAGE), Resource(SUBNET, tags=subnet_tags or {}, keys={"ec2:Vpc": vpc}),
        Resource(SG, keys={"ec2:Vpc": vpc}),
        Resource(ENI, request_tags=instance_tags, keys={"ec2:Vpc": vpc, "ec2:Subnet": SUBNET}),
        Resource(INSTANCE, request_tags=instance_tags, keys={"ec2:InstanceType": instance_type}),
        Resource(VOLUME, request_tags=instance_tags)])


# EC2 User Guide, "Launch instances (RunInstances)" examples:
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ExamplePolicies_EC2.html#iam-example-runinstances
LAUNCH_BASE = allow("ec2:RunInstances", ["arn:aws:ec2:*::image/*", f"{EC2}:subnet/*", f"{EC2}:security-group/*",
                                         f"{EC2}:network-interface/*", f"{EC2}:volume/*"])
TAG_ON_LAUNCH = policy(LAUNCH_BASE, allow("ec2:RunInstances", f"{EC2}:instance/*", {
    "StringEquals": {"aws:RequestTag/environment": "production"},
    "ForAllValues:StringEquals": {"aws:TagKeys": ["environment"]}}))
IN_ONE_VPC = policy(allow("ec2:RunInstances", [f"{EC2}:subnet/*", f"{EC2}:security-group/*",
                                               f"{EC2}:network-interface/*"], {"ArnEquals": {"ec2:Vpc": VPC}}),
                    allow("ec2:RunInstances", ["arn:aws:ec2:*::image/*", f"{EC2}:instance/*", f"{EC2}:volume/*"]))
# EC2 User Guide, "Grant permission to tag resources during creation":
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html
TAG_ON_CREATE_ONLY = policy(allow("ec2:CreateTags", f"{EC2}:*/*", {"StringEquals": {"ec2:CreateAction": "RunInstances"}}))
# IAM User Guide, condition operators, "...IfExists": the instance-type example
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists
IF_EXISTS = policy(allow("ec2:RunInstances", "*", {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}))
ALL = policy(allow("ec2:RunInstances", "*"))
# IAM User Guide, NotAction: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
NOT_IAM = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
# IAM User Guide, evaluation logic (explicit deny):
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
DENY_OTHER_REGIONS = {"Effect": "Deny", "Action": "*", "Resource": "*", "Sid": "OnlyUsEast1",
                      "Condition": {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}}}
# IAM User Guide, iam:PassedToService: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_PassedToService
PASS_TO_EC2 = policy(allow("iam:PassRole", "arn:aws:iam::*:role/*", {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}))
# IAM User Guide, aws:ResourceTag: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourcetag
BY_RESOURCE_TAG = policy(allow("ec2:TerminateInstances", f"{EC2}:instance/*", {"StringEquals": {"aws:ResourceTag/team": "a"}}))
# IAM User Guide, Null: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null
NULL_REQUIRES_TAG = policy(allow("ec2:CreateSecurityGroup", "*", {"Null": {"aws:RequestTag/team": "false"}}))
# IAM User Guide, multivalued keys: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
ANY_TAG_KEY = policy(allow("ec2:CreateSecurityGroup", "*", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "cost"]}}))
ONLY_TAG_KEYS = policy(allow("ec2:CreateSecurityGroup", "*", {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost"]}}))
# IAM User Guide, several keys and values: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
KEYS_AND_VALUES_OR = policy(allow("ec2:CreateSecurityGroup", "*", {"StringEquals": {
    "aws:RequestTag/team": ["a", "b"], "aws:RequestTag/env": "prod"}}))


def create_sg(tags) -> Request:
    return Request("ec2:CreateSecurityGroup", [Resource(SG, request_tags=tags), Resource(VPC)])


CASES = [
    ("runinstances-tag-on-launch:tagged", TAG_ON_LAUNCH, run_instances({"environment": "production"}), True),
    ("runinstances-tag-on-launch:untagged", TAG_ON_LAUNCH, run_instances(None), False),
    ("runinstances-tag-on-launch:other-value", TAG_ON_LAUNCH, run_instances({"environment": "test"}), False),
    ("runinstances-tag-on-launch:extra-key", TAG_ON_LAUNCH, run_instances({"environment": "production", "x": "1"}), False),
    ("runinstances-vpc:in-vpc", IN_ONE_VPC, run_instances(), True),
    ("runinstances-vpc:other-vpc", IN_ONE_VPC, run_instances(vpc=f"{EC2}:vpc/vpc-other"), False),
    ("condition_operators-ifexists:t2", IF_EXISTS, run_instances(instance_type="t2.micro"), True),
    ("condition_operators-ifexists:c5", IF_EXISTS, run_instances(instance_type="c5.large"), False),
    ("notaction:ec2-allowed", NOT_IAM, Request("ec2:DescribeInstances"), True),
    ("notaction:iam-not-allowed", NOT_IAM, Request("iam:PassRole", [Resource(ROLE)],
                                                   {"iam:PassedToService": "ec2.amazonaws.com"}), False),
    ("evaluation-logic:explicit-deny-wins", policy(allow("ec2:DescribeInstances"), DENY_OTHER_REGIONS),
     Request("ec2:DescribeInstances", context={"aws:RequestedRegion": "eu-west-1"}), False),
    ("evaluation-logic:deny-not-matching", policy(allow("ec2:DescribeInstances"), DENY_OTHER_REGIONS),
     Request("ec2:DescribeInstances", context={"aws:RequestedRegion": "us-east-1"}), True),
    ("evaluation-logic:implicit-deny", policy(allow("ec2:DescribeVpcs")), Request("ec2:DescribeInstances"), False),
    ("passedtoservice:ec2", PASS_TO_EC2, Request("iam:PassRole", [Resource(ROLE)],
                                                 {"iam:PassedToService": "ec2.amazonaws.com"}), True),
    ("passedtoservice:lambda", PASS_TO_EC2, Request("iam:PassRole", [Resource(ROLE)],
                                                    {"iam:PassedToService": "lambda.amazonaws.com"}), False),
    ("resourcetag:tagged", BY_RESOURCE_TAG, Request("ec2:TerminateInstances", [Resource(INSTANCE, tags={"team": "a"})]), True),
    ("resourcetag:untagged-resource", BY_RESOURCE_TAG, Request("ec2:TerminateInstances", [Resource(INSTANCE)]), False),
    ("resourcetag:key-names-case-insensitive", BY_RESOURCE_TAG,
     Request("ec2:TerminateInstances", [Resource(INSTANCE, tags={"Team": "a"})]), True),
    ("supported-iam-actions-tagging:createtags-in-runinstances", TAG_ON_CREATE_ONLY,
     Request("ec2:CreateTags", [Resource(INSTANCE, request_tags={"a": "b"})], {"ec2:CreateAction": "RunInstances"}), True),
    ("supported-iam-actions-tagging:createtags-alone", TAG_ON_CREATE_ONLY,
     Request("ec2:CreateTags", [Resource(INSTANCE, request_tags={"a": "b"})], {"ec2:CreateAction": None}), False),
    # the new security group has the request tags; the VPC it goes in has no aws:RequestTag at all, so a
    # statement on "*" that needs one denies the VPC (why an untagged, adopted VPC needs its own statement)
    ("operators-null:requesttag-on-created-and-vpc", NULL_REQUIRES_TAG, create_sg({"team": "a"}), False),
    ("operators-null:only-created", policy(allow("ec2:CreateSecurityGroup", f"{EC2}:security-group/*",
                                                 {"Null": {"aws:RequestTag/team": "false"}}),
                                           allow("ec2:CreateSecurityGroup", f"{EC2}:vpc/*")), create_sg({"team": "a"}), True),
    ("operators-null:untagged", policy(allow("ec2:CreateSecurityGroup", f"{EC2}:security-group/*",
                                             {"Null": {"aws:RequestTag/team": "false"}}),
                                       allow("ec2:CreateSecurityGroup", f"{EC2}:vpc/*")), create_sg(None), False),
    ("multi-valued-forallvalues:no-tags-is-true", policy(
        allow("ec2:CreateSecurityGroup", f"{EC2}:security-group/*", {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}),
        allow("ec2:CreateSecurityGroup", f"{EC2}:vpc/*")), create_sg(None), True),
    ("multi-valued-forallvalues:other-key", ONLY_TAG_KEYS, Request("ec2:CreateSecurityGroup", [
        Resource(SG, request_tags={"team": "a", "owner": "b"}), Resource(VPC)]), False),
    ("multi-valued-foranyvalue:no-tags-is-false", ANY_TAG_KEY, create_sg(None), False),
    ("multi-valued-foranyvalue:one-matches", policy(
        allow("ec2:CreateSecurityGroup", f"{EC2}:security-group/*", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "cost"]}}),
        allow("ec2:CreateSecurityGroup", f"{EC2}:vpc/*")), create_sg({"cost": "1", "x": "y"}), True),
    ("multiple-keys-or-values:b-and-prod", policy(KEYS_AND_VALUES_OR["Statement"][0] | {"Resource": f"{EC2}:security-group/*"},
                                                  allow("ec2:CreateSecurityGroup", f"{EC2}:vpc/*")),
     create_sg({"team": "b", "env": "prod"}), True),
    ("multiple-keys-or-values:b-without-prod", policy(KEYS_AND_VALUES_OR["Statement"][0] | {"Resource": f"{EC2}:security-group/*"},
                                                      allow("ec2:CreateSecurityGroup", f"{EC2}:vpc/*")),
     create_sg({"team": "b", "env": "dev"}), False),
    ("condition_operators-negated:absent-key-is-true", policy(allow("ec2:DescribeInstances", "*", {
        "StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}})), Request("ec2:DescribeInstances",
                                                                          context={"aws:RequestedRegion": None}), True),
    ("condition_operators-stringlike", policy(allow("ec2:RunInstances", "arn:aws:ec2:*:*:*/*"), allow("ec2:RunInstances", "*", {
        "StringLike": {"aws:RequestTag/environment": "prod*"}})), run_instances({"environment": "production"}), True),
    ("condition_operators-arnlike-wildcard-field", policy(allow("iam:PassRole", "arn:aws:iam::*:role/*", {
        "ArnLike": {"iam:AssociatedResourceArn": "arn:aws:ec2:*:123456789012:instance/*"}})),
     Request("iam:PassRole", [Resource(ROLE)], {"iam:AssociatedResourceArn": INSTANCE}), True),
    ("condition_operators-bool", policy(allow("ec2:DescribeInstances", "*", {"Bool": {"aws:ViaAWSService": "true"}})),
     Request("ec2:DescribeInstances", context={"aws:ViaAWSService": "false"}), False),
    ("notresource", policy({"Effect": "Allow", "Action": "ec2:TerminateInstances", "NotResource": f"{EC2}:instance/i-2"}),
     Request("ec2:TerminateInstances", [Resource(INSTANCE)]), True),
    ("action-names-case-insensitive", policy(allow("EC2:describe*")), Request("ec2:DescribeInstances"), True),
    ("runinstances-all-resources-needed", policy(LAUNCH_BASE), run_instances({"environment": "production"}), False),
]


@pytest.mark.parametrize(("documents", "request_", "allowed"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_documented_examples(documents, request_, allowed):
    decision = evaluate({"policy": documents}, request_)
    assert decision.allowed is allowed, decision.reason


def test_the_decision_names_the_statement_resource_and_effect():
    decision = evaluate({"p": policy(allow("ec2:DescribeInstances"), DENY_OTHER_REGIONS)},
                        Request("ec2:DescribeInstances", context={"aws:RequestedRegion": "eu-west-1"}))
    assert [(o.effect, o.statement) for o in decision.outcomes] == [(EXPLICIT_DENY, "p/OnlyUsEast1")]
    launch = evaluate({"p": TAG_ON_LAUNCH}, run_instances(None))
    assert {o.resource_type: o.effect for o in launch.outcomes}["instance"] == IMPLICIT_DENY
    assert {o.resource_type: o.effect for o in launch.outcomes}["subnet"] == ALLOW
    assert "ec2:RunInstances " + INSTANCE + " (instance): implicit deny" in launch.reason


NOT_MODELLED = [
    ("unknown-action", policy(allow("*")), Request("ec2:LaunchRocket")),
    ("resource-type-not-authorized", policy(allow("*")), Request("ec2:TerminateInstances", [Resource(SUBNET)])),
    ("required-type-missing", policy(allow("*")), Request("ec2:RunInstances", [Resource(IMAGE)])),
    ("unknown-arn-format", policy(allow("*")), Request("ec2:TerminateInstances", [Resource("arn:aws:ec2:x")])),
    ("operator-not-modelled", policy(allow("ec2:DescribeInstances", "*", {"NumericLessThan": {"aws:RequestedRegion": "1"}})),
     Request("ec2:DescribeInstances", context={"aws:RequestedRegion": "us-east-1"})),
    ("key-not-of-the-action", policy(allow("ec2:DescribeInstances", "*", {"StringEquals": {"aws:SourceIp": "1"}})),
     Request("ec2:DescribeInstances")),
    ("key-not-stated", policy(allow("ec2:RunInstances", "*", {"ArnEquals": {"ec2:Vpc": VPC}})),
     Request("ec2:RunInstances", [Resource(IMAGE), Resource(SUBNET), Resource(SG), Resource(ENI), Resource(INSTANCE),
                                  Resource(VOLUME)])),
    ("policy-variable", policy(allow("ec2:DescribeInstances", "*", {"StringEquals": {"aws:RequestedRegion": "${aws:username}"}})),
     Request("ec2:DescribeInstances", context={"aws:RequestedRegion": "us-east-1"})),
    ("single-valued-operator-on-tagkeys", policy(allow("ec2:CreateSecurityGroup", "*", {"StringEquals": {"aws:TagKeys": "a"}})),
     create_sg({"a": "1"})),
    ("principal", policy(allow("*", Principal="*")), Request("ec2:DescribeInstances")),
]


@pytest.mark.parametrize(("documents", "request_"), [c[1:] for c in NOT_MODELLED], ids=[c[0] for c in NOT_MODELLED])
def test_what_is_not_modelled_raises_never_allows(documents, request_):
    with pytest.raises(NotModelled):
        evaluate({"policy": documents}, request_)


def test_request_tags_are_absent_from_an_action_that_takes_none():
    """aws:RequestTag is "included in the request context when tags are passed in the request" (IAM User
    Guide, global condition keys): UntagUser passes only keys, so ...IfExists holds and a plain test fails
    (the operator policy's IamTagUsers statement covers TagUser and UntagUser with one condition block)."""
    user = "arn:aws:iam::123456789012:user/alice"
    untag = Request("iam:UntagUser", [Resource(user, keys={"aws:TagKeys": ["hanat:x"]})])
    if_exists = {"StringEqualsIfExists": {"aws:RequestTag/SSMSessionRunAs": "hanat-user"}}
    assert evaluate({"p": policy(allow("iam:UntagUser", "*", if_exists))}, untag).allowed
    plain = {"StringEquals": {"aws:RequestTag/SSMSessionRunAs": "hanat-user"}}
    assert not evaluate({"p": policy(allow("iam:UntagUser", "*", plain))}, untag).allowed
