"""The IAM requests an API call makes (lab/iam/requests.py), per the Service Authorization Reference: a
wrong resource or key here lets the recorder allow a call AWS denies, or deny one AWS allows."""
from __future__ import annotations

import pytest

from lab.iam.errors import NotModelled
from lab.iam.requests import Call, Look, requests_for

R = "ap-northeast-1"
EC2 = f"arn:aws:ec2:{R}:123456789012"
NAT_TAGS = [{"Key": "hanat:stack", "Value": "s"}]


class FakeLook(Look):
    def __init__(self):
        self.tag_reads = []

    def ec2_tags(self, resource_id):
        self.tag_reads.append(resource_id)
        return {"hanat:stack": "s"} if resource_id.startswith(("rtb-", "i-", "lt-")) else {}

    def launch_template(self, ident):
        return "lt-1", {"ImageId": "ami-1", "IamInstanceProfile": {"Name": "hanat-s-nat"}, "KeyName": "k"}

    def instance_profile_role(self, profile):
        return f"arn:aws:iam::123456789012:role/{profile['Name']}"

    def route_table_association(self, association_id):
        return "rtb-1", "subnet-1"

    def address_association(self, association_id):
        return "eipalloc-1", "eni-1"

    def secure_parameter(self, name):
        return name.endswith("slack")

    def default_security_group(self, subnet_id):
        return "sg-default"


def build(service, operation, **params):
    return requests_for(Call(service, operation, params, R), FakeLook())


def arns(request):
    return sorted(r.arn for r in request.resources)


def test_replacement_launch_from_template_authorizes_every_part_and_passes_the_nat_role():
    """RunInstances: image, subnet, security group, key pair, launch template (template contents count),
    the new instance/interface/volume with their request tags; tags on create are a CreateTags with
    ec2:CreateAction; an instance profile is iam:PassRole to ec2.amazonaws.com (EC2 User Guide, IAM roles)."""
    run, passes, tag = build("ec2", "RunInstances", LaunchTemplate={"LaunchTemplateId": "lt-1"}, MinCount=1,
                             MaxCount=1, NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": "subnet-1",
                                                             "Groups": ["sg-1"]}],
                             TagSpecifications=[{"ResourceType": k, "Tags": NAT_TAGS}
                                                for k in ("instance", "network-interface", "volume")])
    assert run.action == "ec2:RunInstances"
    assert arns(run) == sorted([f"{EC2}:launch-template/lt-1", f"arn:aws:ec2:{R}::image/ami-1",
                                f"{EC2}:subnet/subnet-1", f"{EC2}:security-group/sg-1", f"{EC2}:key-pair/k",
                                f"{EC2}:instance/*", f"{EC2}:network-interface/*", f"{EC2}:volume/*"])
    new = {r.arn: r.request_tags for r in run.resources if r.arn.endswith("/*")}
    assert all(tags == {"hanat:stack": "s"} for tags in new.values())
    assert passes.action == "iam:PassRole" and arns(passes) == ["arn:aws:iam::123456789012:role/hanat-s-nat"]
    assert passes.context["iam:PassedToService"] == "ec2.amazonaws.com"
    assert tag.action == "ec2:CreateTags" and tag.context == {"ec2:CreateAction": "RunInstances"}


def test_a_launch_without_a_group_authorizes_the_vpcs_default_group():
    """RunInstances' SecurityGroupIds: "If you don't specify a security group ID, we use the default security
    group for the VPC"; security-group is a required resource of RunInstances."""
    run, *_ = build("ec2", "RunInstances", ImageId="ami-1", SubnetId="subnet-1", MinCount=1, MaxCount=1)
    assert f"{EC2}:security-group/sg-default" in arns(run)


def test_existing_tags_are_read_only_when_a_policy_tests_them():
    look = FakeLook()
    (replace,) = requests_for(Call("ec2", "ReplaceRoute", {"RouteTableId": "rtb-1", "DestinationCidrBlock": "0.0.0.0/0",
                                                           "NetworkInterfaceId": "eni-9"}, R), look)
    assert arns(replace) == [f"{EC2}:route-table/rtb-1"]       # ReplaceRoute authorizes only the route table
    assert look.tag_reads == []
    assert dict(replace.resources[0].tags) == {"hanat:stack": "s"} and look.tag_reads == ["rtb-1"]


def test_create_in_a_vpc_names_the_new_resource_with_its_tags_and_the_vpc():
    create, tag = build("ec2", "CreateSubnet", VpcId="vpc-1", CidrBlock="10.0.0.0/28",
                        TagSpecifications=[{"ResourceType": "subnet", "Tags": NAT_TAGS}])
    assert arns(create) == [f"{EC2}:subnet/*", f"{EC2}:vpc/vpc-1"]
    assert next(r for r in create.resources if r.arn.endswith("/*")).request_tags == {"hanat:stack": "s"}
    assert tag.context["ec2:CreateAction"] == "CreateSubnet"


def test_tag_calls_carry_their_keys_and_an_untag_of_everything_states_none():
    (create,) = build("ec2", "CreateTags", Resources=["i-1"], Tags=[{"Key": "hanat:handoff:x", "Value": "eni-1"}])
    assert create.resources[0].request_tags == {"hanat:handoff:x": "eni-1"}
    assert create.context["ec2:CreateAction"] is None
    (delete_some,) = build("ec2", "DeleteTags", Resources=["i-1"], Tags=[{"Key": "hanat:handoff:x"}])
    assert delete_some.resources[0].keys == {"aws:TagKeys": ["hanat:handoff:x"]}
    (delete_all,) = build("ec2", "DeleteTags", Resources=["i-1"])
    assert delete_all.resources[0].keys == {"aws:TagKeys": None}


def test_associations_resolve_to_their_resources():
    (table,) = build("ec2", "DisassociateRouteTable", AssociationId="rtbassoc-1")
    assert arns(table) == [f"{EC2}:route-table/rtb-1", f"{EC2}:subnet/subnet-1"]
    (address,) = build("ec2", "DisassociateAddress", AssociationId="eipassoc-1")
    assert arns(address) == [f"{EC2}:elastic-ip/eipalloc-1", f"{EC2}:network-interface/eni-1"]


def test_a_transaction_is_authorized_item_by_item():
    """DynamoDB Developer Guide, IAM with transactions: each item needs its own action on its table."""
    requests = build("dynamodb", "TransactWriteItems", TransactItems=[
        {"ConditionCheck": {"TableName": "hanat-s"}}, {"Put": {"TableName": "hanat-s"}}])
    assert [r.action for r in requests] == ["dynamodb:ConditionCheckItem", "dynamodb:PutItem"]
    assert arns(requests[1]) == [f"arn:aws:dynamodb:{R}:123456789012:table/hanat-s"]


def test_parameters_public_aliases_and_secure_strings():
    (public,) = build("ssm", "GetParameter", Name="/aws/service/ami-amazon-linux-latest/x")
    assert arns(public) == [f"arn:aws:ssm:{R}::parameter/aws/service/ami-amazon-linux-latest/x"]
    plain = build("ssm", "GetParameter", Name="/hanat/s/topology", WithDecryption=True)
    assert [r.action for r in plain] == ["ssm:GetParameter"]
    secure = build("ssm", "GetParameter", Name="/hanat/s/slack", WithDecryption=True)
    assert [r.action for r in secure] == ["ssm:GetParameter", "kms:Decrypt"]
    assert secure[1].context == {"kms:ViaService": f"ssm.{R}.amazonaws.com"}


def test_alarms_dashboards_and_invokes():
    (put,) = build("cloudwatch", "PutMetricAlarm", AlarmName="hanat-s-nat-a", AlarmActions=["arn:aws:sns:x"])
    assert arns(put) == [f"arn:aws:cloudwatch:{R}:123456789012:alarm:hanat-s-nat-a"]
    assert put.context == {"cloudwatch:AlarmActions": ["arn:aws:sns:x"]}
    (prefix,) = build("cloudwatch", "DescribeAlarms", AlarmNamePrefix="hanat-s-")
    assert arns(prefix) == [f"arn:aws:cloudwatch:{R}:123456789012:alarm:hanat-s-*"]
    (board,) = build("cloudwatch", "GetDashboard", DashboardName="hanat-s")
    assert arns(board) == ["arn:aws:cloudwatch::123456789012:dashboard/hanat-s"]
    (invoke,) = build("lambda", "Invoke", FunctionName="hanat-dev-operate")
    assert invoke.action == "lambda:InvokeFunction"
    create, passes = build("lambda", "CreateFunction", FunctionName="hanat-dev-operate",
                           Role="arn:aws:iam::123456789012:role/hanat-dev-r-controller")
    assert create.action == "lambda:CreateFunction"
    assert passes.action == "iam:PassRole" and passes.context["iam:PassedToService"] == "lambda.amazonaws.com"


@pytest.mark.parametrize(("service", "operation", "params"), [
    ("s3", "ListBuckets", {}), ("dynamodb", "DeleteBackup", {}), ("ssm", "SendCommand", {}),
    ("ssm", "ListTagsForResource", {"ResourceType": "Document", "ResourceId": "d"}),
    ("ec2", "CreateTags", {"Resources": ["tgw-1"], "Tags": []}),
])
def test_what_the_table_does_not_model_is_refused(service, operation, params):
    with pytest.raises(NotModelled):
        build(service, operation, **params)
