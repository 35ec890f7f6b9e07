"""The IAM requests one AWS API call makes: (service, operation, parameters) -> the ``Request``s IAM decides.

Table-driven: ``BUILDERS`` maps each (service, operation) hanat calls to a builder; any other operation
raises NotModelled (never a silent allow). Resources are named by the ARN formats and the resource types
each action authorizes in the Service Authorization Reference (one page per service, parliament's data:
lab/iam/reference.py):
- Amazon EC2: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html
- Amazon DynamoDB: .../list_amazondynamodb.html   - AWS Systems Manager: .../list_awssystemsmanager.html
- Amazon SNS: .../list_amazonsns.html             - IAM: .../list_awsidentityandaccessmanagementiam.html
- Amazon CloudWatch: .../list_amazoncloudwatch.html - AWS Lambda: .../list_awslambda.html
- CloudWatch Logs: .../list_amazoncloudwatchlogs.html - EventBridge: .../list_amazoneventbridge.html
- AWS STS: .../list_awssecuritytokenservice.html
What the parameters do not say (a resource's existing tags, a launch template's subnet and instance
profile, an association's route table) comes from ``look``, the emulator read out of band.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from . import reference
from .errors import NotModelled
from .evaluate import Request, Resource

ACCOUNT = "123456789012"            # moto's default account
EC2_PREFIXES = {"i": "instance", "subnet": "subnet", "vpc": "vpc", "rtb": "route-table", "sg": "security-group",
                "eipalloc": "elastic-ip", "eni": "network-interface", "igw": "internet-gateway",
                "lt": "launch-template", "vol": "volume", "ami": "image", "nat": "natgateway", "key": "key-pair",
                "acl": "network-acl", "vpce": "vpc-endpoint", "pcx": "vpc-peering-connection"}
# parameter -> the resource type of the id(s) it holds
EC2_ID_PARAMS = {"InstanceId": "instance", "InstanceIds": "instance", "SubnetId": "subnet", "VpcId": "vpc",
                 "RouteTableId": "route-table", "GroupId": "security-group", "GroupIds": "security-group",
                 "AllocationId": "elastic-ip", "NetworkInterfaceId": "network-interface",
                 "InternetGatewayId": "internet-gateway", "LaunchTemplateId": "launch-template",
                 "ImageId": "image", "Resources": None}
# what each create action makes (and the TagSpecifications ResourceType naming it); a security group rule is
# authorized only when the request tags it (IAM User Guide's example "Allows managing EC2 security groups
# with a specific tag" grants Authorize/RevokeSecurityGroupIngress on security-group/* alone)
TAGGED_ONLY = {"security-group-rule"}
EC2_CREATES = {"CreateVpc": ("vpc",), "CreateSubnet": ("subnet",), "CreateRouteTable": ("route-table",),
               "CreateInternetGateway": ("internet-gateway",), "CreateSecurityGroup": ("security-group",),
               "AllocateAddress": ("elastic-ip",), "CreateLaunchTemplate": ("launch-template",),
               "RunInstances": ("instance", "network-interface", "volume"),
               "AuthorizeSecurityGroupIngress": ("security-group-rule",),
               "AuthorizeSecurityGroupEgress": ("security-group-rule",)}


class Look:
    """The emulator read out of band (not recorded); the recorder gives an implementation."""

    def ec2_tags(self, resource_id: str) -> Mapping[str, str]: ...
    def launch_template(self, ident: Mapping) -> tuple[str, Mapping]: ...     # (id, data of the version)
    def instance_profile_role(self, profile: Mapping) -> str | None: ...       # the role's ARN
    def route_table_association(self, association_id: str) -> tuple[str, str | None]: ...
    def address_association(self, association_id: str) -> tuple[str | None, str | None]: ...
    def secure_parameter(self, name: str) -> bool: ...
    def default_security_group(self, subnet_id: str) -> str: ...


class LazyTags(Mapping):
    """A resource's tags, read from the emulator only if a policy tests one (most calls need none)."""

    def __init__(self, read: Callable[[], Mapping[str, str]]):
        self._read, self._tags = read, None

    def _all(self) -> Mapping[str, str]:
        if self._tags is None:
            self._tags = dict(self._read())
        return self._tags

    def __getitem__(self, key):
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: Mapping
    region: str


def _listed(value) -> list:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _tag_dict(tags) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags or ()}


def _spec_tags(params: Mapping, kind: str) -> dict[str, str] | None:
    specs = [s for s in params.get("TagSpecifications", ()) if s.get("ResourceType") == kind]
    return {k: v for s in specs for k, v in _tag_dict(s.get("Tags")).items()} if specs else None


def ec2_arn(region: str, kind: str, ident: str) -> str:
    if kind == "image":   # images have no account in their ARN
        return f"arn:aws:ec2:{region}::image/{ident}"
    return f"arn:aws:ec2:{region}:{ACCOUNT}:{kind}/{ident}"


def _existing(call: Call, look: Look, kind: str, ident: str, **extra) -> Resource:
    tags = LazyTags(lambda: look.ec2_tags(ident)) if kind != "image" else {}
    return Resource(ec2_arn(call.region, kind, ident), tags=tags, **extra)


def _kind_of(ident: str) -> str:
    kind = EC2_PREFIXES.get(ident.rsplit("-", 1)[0])
    if kind is None:
        raise NotModelled(f"EC2 id {ident!r}: no resource type known for its prefix")
    return kind


def _ec2(call: Call, look: Look) -> list[Request]:
    action = reference.action(f"ec2:{call.operation}")
    authorized = {t.name for t in action.resource_types}
    p, context = call.params, {"ec2:CreateAction": None}
    resources: list[Resource] = []
    for param, kind in EC2_ID_PARAMS.items():
        for ident in _listed(p.get(param)):
            kind_here = kind or _kind_of(ident)
            if kind_here in authorized:
                resources.append(_existing(call, look, kind_here, ident))
    if call.operation == "DisassociateRouteTable":
        table, subnet = look.route_table_association(p["AssociationId"])
        resources += [_existing(call, look, "route-table", table)] + (
            [_existing(call, look, "subnet", subnet)] if subnet else [])
    if call.operation == "DisassociateAddress":
        allocation, eni = look.address_association(p["AssociationId"])
        resources += [_existing(call, look, k, i) for k, i in (("elastic-ip", allocation), ("network-interface", eni))
                      if i]
    if call.operation in ("CreateTags", "DeleteTags"):
        tags = _tag_dict(p.get("Tags"))
        keys = {"aws:TagKeys": list(tags) if "Tags" in p else None}
        resources = [Resource(r.arn, r.tags, tags if call.operation == "CreateTags" else None,
                              keys if call.operation == "DeleteTags" else {}) for r in resources]
    requests: list[Request] = []
    creates, created_keys = EC2_CREATES.get(call.operation, ()), {}
    if call.operation == "RunInstances":
        resources, requests, market = _run_instances(call, look, resources)
        created_keys["instance"] = {"ec2:InstanceMarketType": market}
        if market == "spot":   # a spot launch also creates a spot instance request (lab/iam/reference.py)
            creates = (*creates, "spot-instances-request")
    for kind in creates:
        if kind not in TAGGED_ONLY or _spec_tags(p, kind) is not None:
            resources.append(Resource(ec2_arn(call.region, kind, "*"), request_tags=_spec_tags(p, kind),
                                      keys=created_keys.get(kind, {})))
    requests.insert(0, Request(action.full_name, resources, context))
    created = [(kind, tags) for kind in creates if (tags := _spec_tags(p, kind)) is not None]
    if created:   # tagging on create is also a CreateTags request (EC2 User Guide, Grant permission to tag on creation)
        requests.append(Request("ec2:CreateTags", [Resource(ec2_arn(call.region, k, "*"), request_tags=t)
                                                   for k, t in created], {"ec2:CreateAction": call.operation}))
    return requests


def _run_instances(call: Call, look: Look, resources: list[Resource]) -> tuple[list[Resource], list[Request], str]:
    """RunInstances authorizes the image, subnet, security groups, key pair and launch template, whether
    given in the call or taken from the launch template; an instance profile is also iam:PassRole. Also
    the launch's market (``ec2:InstanceMarketType`` of the instance: ``InstanceMarketOptions.MarketType``,
    of the call or the template; on-demand without one)."""
    p = call.params
    data: Mapping = {}
    if "LaunchTemplate" in p:
        template_id, data = look.launch_template(p["LaunchTemplate"])
        resources = [r for r in resources if "launch-template/" not in r.arn]
        resources.append(_existing(call, look, "launch-template", template_id))
    interfaces = p.get("NetworkInterfaces") or data.get("NetworkInterfaces") or ()
    image = p.get("ImageId") or data.get("ImageId")
    subnets = {p.get("SubnetId")} | {i.get("SubnetId") for i in interfaces}
    groups = {*p.get("SecurityGroupIds", ()), *(g for i in interfaces for g in i.get("Groups", ())),
              *(() if interfaces else data.get("SecurityGroupIds", ()))}
    subnet = next(iter(sorted(subnets - {None})), None)
    if not groups and subnet:   # no group named: EC2 uses the VPC's default group (RunInstances, SecurityGroupIds)
        groups = {look.default_security_group(subnet)}
    key = p.get("KeyName") or data.get("KeyName")
    have = {r.arn for r in resources}
    wanted = [("image", image)] + [("subnet", s) for s in sorted(subnets - {None})] \
        + [("security-group", g) for g in sorted(groups)]
    resources += [_existing(call, look, k, i) for k, i in wanted if i and ec2_arn(call.region, k, i) not in have]
    if key:
        resources.append(Resource(ec2_arn(call.region, "key-pair", key), tags=LazyTags(dict)))
    profile = p.get("IamInstanceProfile") or data.get("IamInstanceProfile")
    role = look.instance_profile_role(profile) if profile else None
    passes = [Request("iam:PassRole", [Resource(role)], {"iam:PassedToService": "ec2.amazonaws.com",
                                                        "iam:AssociatedResourceArn": None})] if role else []
    market = (p.get("InstanceMarketOptions") or data.get("InstanceMarketOptions") or {}).get("MarketType")
    return resources, passes, market or "on-demand"


def _arn(service: str, region: str, path: str, *, account: str = ACCOUNT) -> str:
    return f"arn:aws:{service}:{region}:{account}:{path}"


def _dynamodb(call: Call, look: Look) -> list[Request]:
    p, op = call.params, call.operation

    def table(name: str) -> str:
        return name if name.startswith("arn:") else _arn("dynamodb", call.region, f"table/{name}")
    if op in ("TransactWriteItems", "TransactGetItems"):
        # no action of its own: each item is authorized as its own action (DynamoDB Developer Guide,
        # "Using IAM with DynamoDB transactions")
        kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
                 "Get": "GetItem"}
        return [Request(f"dynamodb:{kinds[k]}", [Resource(table(v["TableName"]))]) for item in p["TransactItems"]
                for k, v in item.items()]
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [Request(f"dynamodb:{op}", [Resource(table(name))]) for name in p["RequestItems"]]
    if op in ("ListTables",):
        return [Request(f"dynamodb:{op}")]
    return [Request(f"dynamodb:{op}", [Resource(table(p.get("TableName") or p["ResourceArn"]))])]


def _parameter_arn(region: str, name: str) -> str:
    name = name if name.startswith("/") else f"/{name}"
    # AWS's public parameters have no account in their ARN (EC2 User Guide, public parameters)
    return _arn("ssm", region, f"parameter{name}", account="" if name.startswith("/aws/") else ACCOUNT)


def _ssm(call: Call, look: Look) -> list[Request]:
    p, op = call.params, call.operation
    names = _listed(p.get("Names") or p.get("Name") or p.get("Path") or p.get("ResourceId"))
    if op == "GetDocument":
        return [Request("ssm:GetDocument", [Resource(_arn("ssm", call.region, f"document/{p['Name']}"))])]
    if op in ("AddTagsToResource", "ListTagsForResource", "RemoveTagsFromResource") and p["ResourceType"] != "Parameter":
        raise NotModelled(f"ssm:{op} on {p['ResourceType']}")
    context = {"ssm:Recursive": str(bool(p.get("Recursive"))).lower()} if op == "GetParametersByPath" else {}
    requests = [Request(f"ssm:{op}", [Resource(_parameter_arn(call.region, n))], context) for n in names]
    if p.get("WithDecryption") and any(look.secure_parameter(n) for n in names):
        # a SecureString is decrypted with the account's aws/ssm key by SSM on the caller's behalf
        requests.append(Request("kms:Decrypt", [Resource(_arn("kms", call.region, "key/aws-ssm"))],
                                {"kms:ViaService": f"ssm.{call.region}.amazonaws.com"}))
    return requests


def _sns(call: Call, look: Look) -> list[Request]:
    p, op = call.params, call.operation
    if op in ("ListTopics", "ListSubscriptions", "Unsubscribe", "GetSubscriptionAttributes"):
        return [Request(f"sns:{op}")]
    topic = p.get("TopicArn") or p.get("ResourceArn") or _arn("sns", call.region, p["Name"])
    tags = _tag_dict(p.get("Tags")) if op == "CreateTopic" else None
    return [Request(f"sns:{op}", [Resource(topic, request_tags=tags)])]


def _iam(call: Call, look: Look) -> list[Request]:
    p, op = call.params, call.operation
    arn = f"arn:aws:iam::{ACCOUNT}:"
    if op in ("ListPolicies", "ListRoles", "ListUsers", "ListInstanceProfiles"):
        return [Request(f"iam:{op}")]
    if "InstanceProfileName" in p:
        resource = f"{arn}instance-profile/{p['InstanceProfileName']}"
    elif "RoleName" in p:
        resource = f"{arn}role/{p['RoleName']}"
    elif "UserName" in p or op == "GetUser":
        resource = f"{arn}user/{p.get('UserName', 'moto')}"    # no UserName: the caller (moto's user)
    elif "PolicyArn" in p:
        resource = p["PolicyArn"]
    elif op == "CreatePolicy":
        resource = f"{arn}policy{p.get('Path', '/')}{p['PolicyName']}"
    else:
        raise NotModelled(f"iam:{op} with parameters {sorted(p)}")
    tags = _tag_dict(p["Tags"]) if "Tags" in p else None
    keys = {"aws:TagKeys": list(p["TagKeys"])} if "TagKeys" in p else {}
    context = {"iam:PolicyARN": p["PolicyArn"]} if op in ("AttachUserPolicy", "DetachUserPolicy") else {}
    requests = [Request(f"iam:{op}", [Resource(resource, request_tags=tags, keys=keys)], context)]
    if op == "AddRoleToInstanceProfile":
        requests.append(_pass_role_to_profile(f"{arn}role/{p['RoleName']}"))
    return requests


def _pass_role_to_profile(role: str) -> Request:
    """AddRoleToInstanceProfile is also iam:PassRole on the role (IAM API Reference, AddRoleToInstanceProfile:
    "The caller of this operation must be granted the PassRole permission on the IAM role by a permissions
    policy"). Its iam:AssociatedResourceArn is ``arn:aws:ec2:*:<account>:instance/*`` (same page: "The ARN
    value must be arn:aws:ec2:*:CallerAccountId:instance/*"); no service is named for iam:PassedToService (the
    role goes to a profile, not yet to EC2): absent, so a grant that requires it is a denial here, never an
    allow AWS would refuse."""
    return Request("iam:PassRole", [Resource(role)], {"iam:PassedToService": None,
                                                       "iam:AssociatedResourceArn": f"arn:aws:ec2:*:{ACCOUNT}:instance/*"})


def _cloudwatch(call: Call, look: Look) -> list[Request]:
    p, op = call.params, call.operation

    def alarm(name: str) -> str:
        return _arn("cloudwatch", call.region, f"alarm:{name}")

    def dashboard(name: str) -> str:
        return _arn("cloudwatch", "", f"dashboard/{name}")      # dashboards have no region in their ARN
    if op == "ListDashboards":
        return [Request("cloudwatch:ListDashboards")]
    if op in ("GetDashboard", "PutDashboard"):
        return [Request(f"cloudwatch:{op}", [Resource(dashboard(p["DashboardName"]))])]
    if op == "DeleteDashboards":
        return [Request(f"cloudwatch:{op}", [Resource(dashboard(n)) for n in p["DashboardNames"]])]
    if op == "ListTagsForResource":
        return [Request(f"cloudwatch:{op}", [Resource(p["ResourceARN"])])]
    if op == "DescribeAlarms":
        names = list(p.get("AlarmNames", ())) or [f"{p.get('AlarmNamePrefix', '')}*"]
        return [Request(f"cloudwatch:{op}", [Resource(alarm(n)) for n in names])]
    if op == "PutMetricAlarm":
        actions = [*p.get("AlarmActions", ()), *p.get("OKActions", ()), *p.get("InsufficientDataActions", ())]
        return [Request(f"cloudwatch:{op}", [Resource(alarm(p["AlarmName"]), request_tags=_tag_dict(p["Tags"])
                                                      if "Tags" in p else None)],
                        {"cloudwatch:AlarmActions": actions or None})]
    return [Request(f"cloudwatch:{op}", [Resource(alarm(n)) for n in _listed(p.get("AlarmNames") or p["AlarmName"])])]


def _lambda(call: Call, look: Look) -> list[Request]:
    p, op = call.params, call.operation
    if op in ("ListFunctions", "GetAccountSettings"):
        return [Request(f"lambda:{op}")]
    name = p.get("FunctionName") or p["Resource"]
    function = name if name.startswith("arn:") else _arn("lambda", call.region, f"function:{name}")
    requests = [Request("lambda:InvokeFunction" if op == "Invoke" else f"lambda:{op}", [Resource(function)])]
    if p.get("Role"):   # a function's execution role is passed to Lambda (Lambda Developer Guide, execution role)
        requests.append(Request("iam:PassRole", [Resource(p["Role"])], {"iam:PassedToService": "lambda.amazonaws.com",
                                                                        "iam:AssociatedResourceArn": None}))
    return requests


def _logs(call: Call, look: Look) -> list[Request]:
    p, op = call.params, call.operation
    if op == "DescribeLogGroups":
        return [Request("logs:DescribeLogGroups")]
    return [Request(f"logs:{op}", [Resource(_arn("logs", call.region, f"log-group:{p['logGroupName']}"))])]


def _events(call: Call, look: Look) -> list[Request]:
    p, op = call.params, call.operation
    if op == "ListRules":
        return [Request("events:ListRules")]
    rule = p.get("Name") or p.get("Rule") or p["ResourceARN"]
    return [Request(f"events:{op}", [Resource(rule if rule.startswith("arn:") else
                                              _arn("events", call.region, f"rule/{rule}"))])]


def _no_resource(call: Call, look: Look) -> list[Request]:
    return [Request(f"{call.service}:{call.operation}")]


BUILDERS: dict[str, Callable[[Call, Look], list[Request]]] = {
    "ec2": _ec2, "dynamodb": _dynamodb, "ssm": _ssm, "sns": _sns, "iam": _iam, "cloudwatch": _cloudwatch,
    "lambda": _lambda, "logs": _logs, "events": _events, "sts": _no_resource}
# the operations of each service hanat is known to call (and the lab's tests do); any other is NotModelled
MODELLED = {
    "ec2": None,   # every EC2 operation: its ids and the reference's resource types say what it authorizes
    "dynamodb": {"CreateTable", "DeleteTable", "DescribeTable", "DescribeTimeToLive", "UpdateTimeToLive", "GetItem",
                 "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "TransactWriteItems", "TransactGetItems",
                 "BatchGetItem", "BatchWriteItem", "ListTagsOfResource", "TagResource", "ListTables"},
    "ssm": {"GetParameter", "GetParameters", "GetParametersByPath", "PutParameter", "DeleteParameter",
            "AddTagsToResource", "ListTagsForResource", "GetDocument"},
    "sns": {"CreateTopic", "DeleteTopic", "Publish", "Subscribe", "Unsubscribe", "ListTopics", "ListSubscriptions",
            "ListSubscriptionsByTopic", "ListTagsForResource", "TagResource", "GetTopicAttributes",
            "SetTopicAttributes", "GetSubscriptionAttributes"},
    "iam": None, "cloudwatch": None, "lambda": None, "logs": None, "events": None, "sts": {"GetCallerIdentity"},
}


def requests_for(call: Call, look: Look) -> list[Request]:
    """The IAM requests of one API call; NotModelled for an operation or parameter shape not in the table."""
    known = MODELLED.get(call.service, set())
    if call.service not in BUILDERS or (known is not None and call.operation not in known):
        raise NotModelled(f"{call.service}.{call.operation}: no IAM request model (lab/iam/requests.py)")
    try:
        return BUILDERS[call.service](call, look)
    except KeyError as err:
        raise NotModelled(f"{call.service}.{call.operation}: parameter {err} missing from the modelled shape") from err
