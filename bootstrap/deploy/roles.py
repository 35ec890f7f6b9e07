"""The controller's two IAM roles, made by ``hanat deploy`` itself (Chalice is told not to manage them).

Chalice would name its roles ``hanat-<stage>-<function>``: IAM is global, so the same stage deployed in
two regions would share those roles, and ``chalice delete`` in one region would delete the other's.
hanat's roles carry the region in their name (``naming.controller_role_name``) and the stack's tag;
their inline policies are the least-privilege documents of ``policy.py`` (the same files Chalice is
given). ``hanat down`` deletes them last, after Lambda has released the functions' network interfaces.
"""
from __future__ import annotations

import json

from chalicelib import naming
from chalicelib.aws import iam as iam_api
from chalicelib.aws.tags import has_stack_tag
from chalicelib.errors import InputError
from chalicelib.topology import Topology

LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
INLINE_POLICY = "hanat"
KINDS = ("controller", "probe")


def ensure_roles(iam, topology: Topology, stage: str, documents: dict[str, dict]) -> dict[str, str]:
    """Create (or update the policy of) the controller and probe roles; kind -> role ARN. A role of
    that name without the stack's tag is refused (InputError): hanat never adopts someone else's."""
    arns = {}
    for kind in KINDS:
        name = naming.controller_role_name(stage, topology.region, kind)
        role = iam_api.get_role(iam, name)
        if role is None:
            tags = [{"Key": naming.STACK_TAG, "Value": topology.stack},
                    {"Key": naming.ROLE_TAG, "Value": f"lambda-{kind}"}]
            role = iam_api.create_role(iam, name, json.dumps(LAMBDA_TRUST_POLICY), tags)
        elif not has_stack_tag(iam_api.role_tags(iam, name), topology.stack):
            raise InputError(f"IAM role {name} exists but is not tagged {naming.STACK_TAG}={topology.stack}: "
                             "hanat will not use it (choose another --stage or remove it)")
        iam_api.put_role_policy(iam, name, INLINE_POLICY, json.dumps(documents[kind]))
        arns[kind] = role["Arn"]
    return arns
