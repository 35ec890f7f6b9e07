"""What the stack should look like, derived from the configuration alone (pure, no AWS).

The planner compares this with what is observed; the executor uses it as the arguments of
every create/modify call, so plan and apply can never disagree about names, CIDRs or policies.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from chalicelib import naming
from chalicelib.settings import MarketSettings

from ..adopt.check import AdoptedVpc
from ..config.names import render_name
from ..config.schema import HanatConfig, NameTemplates
from ..nat import render

AL2023_ALIAS = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"
# Session Manager runs a session as this OS user when the IAM user carries the tag
# SSMSessionRunAs; users without allow_sudo get it so they never land in the privileged ssm-user.
RUN_AS_TAG = "SSMSessionRunAs"
RUN_AS_USER = "hanat-user"

# Roles (the hanat:role tag value) of every resource kind the stack owns.
ROLE_VPC, ROLE_IGW = "vpc", "igw"
ROLE_PUBLIC, ROLE_PRIVATE, ROLE_PROBE = "public", "private", "probe"
ROLE_NAT, ROLE_ADMIN, ROLE_EIP = "nat", "admin", "nat-eip"
ROLE_NAT_SG, ROLE_PROBE_SG = "nat-sg", "probe-sg"
ROLE_LAUNCH_TEMPLATE = "nat-launch-template"
SUBNET_ROLES = (ROLE_PUBLIC, ROLE_PRIVATE, ROLE_PROBE)
ROUTE_TABLE_SUFFIX = "-rt"  # route tables are tagged public-rt, private-rt, probe-rt
PINNED_TAG = "hanat:pinned"  # on probe route tables: failover never moves their route

EC2_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
# The actions of AmazonSSMManagedInstanceCore that Session Manager needs, and nothing that writes
# EC2: a NAT or admin instance can be reached by Session Manager but can change no resource.
SESSION_MANAGER_INSTANCE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": [
            "ssm:UpdateInstanceInformation", "ssm:ListInstanceAssociations", "ssm:DescribeAssociation",
            "ssm:GetDocument", "ssm:DescribeDocument", "ssm:UpdateInstanceAssociationStatus",
            "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
            "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
            "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
        ],
        "Resource": "*",
    }],
}


def architecture(instance_type: str) -> str:
    """arm64 for Graviton families (t4g, c7g, m7gd, r8g ...) and the first Graviton, A1 (a1.medium ...:
    "A1 instances are powered by AWS Graviton processors", EC2 instance types), else x86_64."""
    family = instance_type.split(".", 1)[0]
    if family == "a1":
        return "arm64"
    generation_and_suffix = family.lstrip("abcdefghijklmnopqrstuvwxyz")
    return "arm64" if "g" in generation_and_suffix else "x86_64"


def ami_alias(instance_type: str) -> str:
    return AL2023_ALIAS.format(arch=architecture(instance_type))


def user_name_of(iam_user_arn: str) -> str:
    """``arn:aws:iam::123456789012:user/team/alice`` -> ``alice`` (IAM user names exclude paths)."""
    return iam_user_arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


@dataclass(frozen=True)
class DesiredSubnet:
    role: str
    az: str
    cidr: str


@dataclass(frozen=True)
class DesiredUser:
    user_name: str
    policy_name: str
    policy_document: str
    run_as_tag: bool  # True: the user gets SSMSessionRunAs=hanat-user


@dataclass(frozen=True)
class Desired:
    stack: str
    region: str
    vpc_cidr: str
    azs: tuple[str, ...]
    subnets: tuple[DesiredSubnet, ...]
    nat_instance_type: str
    nat_ami: str            # "" = resolve from nat_ami_alias
    nat_ami_alias: str
    admin_enabled: bool
    admin_instance_type: str
    admin_ami_alias: str
    user_data_b64: str        # the NAT's: setup-nat.sh + agent, gzip, base64 (bootstrap/nat/render.py)
    # the admin instance's: admin-setup.sh (creates hanat-user), as text: botocore base64-encodes
    # RunInstances' UserData itself (handler base64_encode_user_data), but not a launch template's
    admin_user_data: str
    role_name: str
    instance_policy_name: str
    instance_policy: str
    instance_profile_name: str
    launch_template_name: str
    users: tuple[DesiredUser, ...]
    table_name: str
    topic_name: str
    emails: tuple[str, ...]
    topology_parameter: str
    names: NameTemplates = field(default_factory=NameTemplates)
    adopted: AdoptedVpc | None = None   # the VPC the stack adopts (checked), None when it builds one
    nat_addresses: int = 1   # Elastic IPs per NAT (nat.addresses), each on its own private address
    nat_market: MarketSettings = field(default_factory=MarketSettings)   # nat.market, nat.spot_fallback

    def tags(self, role: str, zone: str | None = None) -> list[dict]:
        return naming.stack_tags(self.stack, role, zone, self.name_tag(role, zone))

    def name_tag(self, role: str, zone: str | None = None) -> str | None:
        """The Name a ``[names]`` template gives this resource; None: hanat's own name. Only names: the
        builder finds every resource by its role and zone tags, never by Name. The one public route
        table, which every zone shares, renders with {az} "" and {zone} 0."""
        number = self.azs.index(zone) + 1 if zone in self.azs else 0
        if role == ROLE_VPC and self.names.vpc:
            return render_name(self.names.vpc, stack=self.stack)
        if role == ROLE_IGW and self.names.internet_gateway:
            return render_name(self.names.internet_gateway, stack=self.stack)
        if role in SUBNET_ROLES and self.names.subnet:
            return render_name(self.names.subnet, stack=self.stack, kind=role, az=zone or "", zone=number)
        kind = role.removesuffix(ROUTE_TABLE_SUFFIX)
        if role.endswith(ROUTE_TABLE_SUFFIX) and kind in SUBNET_ROLES and self.names.route_table:
            return render_name(self.names.route_table, stack=self.stack, kind=kind, az=zone or "", zone=number)
        return None

    def name_of(self, role: str, zone: str | None = None) -> str:
        """The Name tag value this resource should carry."""
        return next(t["Value"] for t in self.tags(role, zone) if t["Key"] == "Name")

    def name(self, *parts: str) -> str:
        return naming.resource_name(self.stack, *parts)


def user_policy(stack: str, allow_ssh: bool) -> dict:
    """Session Manager into this stack's instances only (condition on the instance's stack tag)."""
    documents = ["arn:aws:ssm:*:*:document/SSM-SessionManagerRunShell"]
    if allow_ssh:
        documents.append("arn:aws:ssm:*:*:document/AWS-StartSSHSession")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": "arn:aws:ec2:*:*:instance/*",
             "Condition": {"StringEquals": {f"ssm:resourceTag/{naming.STACK_TAG}": stack}}},
            {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": documents},
            {"Effect": "Allow", "Action": ["ssm:TerminateSession", "ssm:ResumeSession"],
             "Resource": "arn:aws:ssm:*:*:session/${aws:username}-*"},
        ],
    }


def desired_state(config: HanatConfig, adopted: AdoptedVpc | None = None) -> Desired:
    """From the config alone; a stack that adopts a VPC also needs the VPC as checked (``adopted``):
    then hanat builds only the probe subnets (their CIDRs found in the VPC's free space)."""
    stack = config.stack.name
    subnets = tuple(
        DesiredSubnet(role, z.az, cidr)
        for z in config.zones
        for role, cidr in ((ROLE_PUBLIC, z.public_cidr), (ROLE_PRIVATE, z.private_cidr),
                           (ROLE_PROBE, z.probe_cidr))
    )
    vpc_cidr = config.stack.vpc_cidr
    if adopted is not None:
        subnets = tuple(DesiredSubnet(ROLE_PROBE, z.az, z.probe_cidr) for z in adopted.zones)
        vpc_cidr = adopted.primary_cidr
    users = tuple(
        DesiredUser(
            user_name=user_name_of(p.iam_user_arn),
            policy_name=naming.session_policy_name(stack, config.stack.region, user_name_of(p.iam_user_arn)),
            policy_document=json.dumps(user_policy(stack, p.allow_ssh), sort_keys=True),
            run_as_tag=not p.allow_sudo,
        )
        for p in config.permissions
    )
    return Desired(
        stack=stack,
        region=config.stack.region,
        vpc_cidr=vpc_cidr,
        azs=config.azs,
        subnets=subnets,
        nat_instance_type=config.nat.instance_type,
        nat_market=config.nat.market,
        nat_ami=config.nat.ami,
        nat_ami_alias=ami_alias(config.nat.instance_type),
        admin_enabled=config.admin.enabled,
        admin_instance_type=config.admin.instance_type,
        admin_ami_alias=ami_alias(config.admin.instance_type),
        # the NAT masquerades every CIDR block of an adopted VPC (secondary ones too)
        # only the probe subnets may read the NAT agent's counters (setup-nat.sh, HANAT_PROBE_CIDRS)
        user_data_b64=render.nat_user_data_b64(",".join(adopted.cidr_blocks) if adopted is not None else vpc_cidr,
                                               config.nat.addresses,
                                               probe_cidrs=tuple(s.cidr for s in subnets if s.role == ROLE_PROBE)),
        nat_addresses=config.nat.addresses,
        admin_user_data=render.admin_user_data(),
        role_name=naming.instance_role_name(stack, config.stack.region),
        instance_policy_name="session-manager-only",
        instance_policy=json.dumps(SESSION_MANAGER_INSTANCE_POLICY, sort_keys=True),
        instance_profile_name=naming.instance_role_name(stack, config.stack.region),
        launch_template_name=naming.resource_name(stack, "nat"),
        users=users,
        table_name=naming.table_name(stack),
        topic_name=naming.topic_name(stack),
        emails=tuple(config.alerts.emails),
        topology_parameter=naming.topology_parameter(stack),
        names=config.names,
        adopted=adopted,
    )


def launch_template_data(desired: Desired, ami: str, nat_security_group_id: str) -> dict:
    """The NAT launch template: a public address from boot, IMDSv2 only (hop limit 1) with instance
    tags readable in the metadata (the NAT agent reads its handoff tags there), the Session Manager
    profile, the NAT user data. The subnet differs per zone: every launch names it in its own
    ``nat_network_interface`` (RunInstances: "If you specify a network interface, you must specify any
    subnets as part of the network interface"), so the template carries no SecurityGroupIds either
    ("If you specify a network interface, you must specify any security groups and subnets as part of
    the network interface", AWS::EC2::LaunchTemplate LaunchTemplateData.NetworkInterfaces)."""
    return {
        "ImageId": ami,
        "InstanceType": desired.nat_instance_type,
        "IamInstanceProfile": {"Name": desired.instance_profile_name},
        "NetworkInterfaces": [nat_network_interface("", nat_security_group_id,
                                                    secondary_addresses=desired.nat_addresses - 1)],
        "MetadataOptions": dict(METADATA_OPTIONS),
        "UserData": desired.user_data_b64,
    }


def nat_network_interface(subnet_id: str, security_group_id: str, *, secondary_addresses: int = 0) -> dict:
    """Device 0 of a NAT (or the admin instance): a public IPv4 address from boot, so the instance can
    reach the internet before its Elastic IP is associated (which then replaces that address: "If you
    associate an Elastic IP address with the instance, the public IPv4 address is released", EC2 User
    Guide, Public IPv4 addresses). ``subnet_id`` "" for the launch template (each launch names it).
    ``secondary_addresses`` (nat.addresses - 1): secondary private IPv4 addresses assigned at launch
    (LaunchTemplateInstanceNetworkInterfaceSpecificationRequest ``SecondaryPrivateIpAddressCount``), one
    per extra Elastic IP, there when setup-nat.sh first runs."""
    spec: dict = {"DeviceIndex": 0, "AssociatePublicIpAddress": True, "DeleteOnTermination": True,
                  "Groups": [security_group_id] if security_group_id else []}
    if subnet_id:
        spec["SubnetId"] = subnet_id
    if secondary_addresses:
        spec["SecondaryPrivateIpAddressCount"] = secondary_addresses
    return spec


# Everything RunInstances creates carries the stack tags: an IAM policy that conditions a created
# resource type on aws:RequestTag is evaluated against the tags requested for THAT type (RunInstances
# tags only what TagSpecifications names; untagged ENIs/volumes make the launch AccessDenied).
RUN_INSTANCES_TAGGED = ("instance", "network-interface", "volume")


def run_instances_tags(tags: list[dict]) -> list[dict]:
    return [{"ResourceType": kind, "Tags": tags} for kind in RUN_INSTANCES_TAGGED]


# IMDSv2 only, and a hop limit of 1 so a forwarded packet can never reach the metadata service;
# instance tags in the metadata for the NAT agent (a Nitro instance sees tag changes while running).
METADATA_OPTIONS = {"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled",
                    "InstanceMetadataTags": "enabled"}
