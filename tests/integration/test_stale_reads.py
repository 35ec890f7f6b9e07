"""hanat with EC2's eventual consistency on (moto, the tier's botocore hook: tests/support/consistency.py).

"The result of an API command you run that affects your Amazon EC2 resources might not be immediately
visible to all subsequent commands you run ... run the Describe command repeatedly" ("Eventual consistency
in the Amazon EC2 API", https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).
Each write below is read back by the adapter before it returns, so the caller's next read (the
replacement machine's facts, ``up``'s topology and plan) shows it. The window W here (2 s) is far longer
than the few milliseconds between a write and the next read, so without the read-back every next read
below would be stale: each test fails without its fix."""
from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context

import boto3
import pytest
from moto import mock_aws

from bootstrap.config.schema import NameTemplates
from bootstrap.stack import build_stack as up
from bootstrap.stack import destroy_stack, plan_stack
from chalicelib.aws import instances, network, routes
from chalicelib.aws.calls import aws_call
from chalicelib.aws.params import read_topology
from chalicelib.naming import STACK_TAG
from lab.aws.stale_reads import StaleReads
from lab.iam.callers import unrecorded
from tests.integration.test_stack_up import make_config
from tests.support import consistency

REGION = "ap-northeast-1"
W = 2.0
STACK = "s"


@pytest.fixture
def ec2(aws_env):
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


@pytest.fixture
def lagging():
    """Every caller's reads lag its writes (the adapters are called from the tests themselves)."""
    with consistency.active(StaleReads(W), everyone=True) as reads:
        yield reads


def _nat(ec2) -> tuple[str, str]:
    """(instance id, ENI id) of a running instance carrying the stack's tag."""
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": STACK_TAG, "Value": STACK}]}])["Instances"][0]
    return inst["InstanceId"], inst["NetworkInterfaces"][0]["NetworkInterfaceId"]


def test_move_eip_returns_once_describe_addresses_shows_the_new_eni(ec2, lagging):
    _, eni = _nat(ec2)
    allocation = ec2.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": [{"Key": STACK_TAG, "Value": STACK}]}])["AllocationId"]
    assert instances.eip_eni(ec2, allocation) == ""
    instances.move_eip(ec2, allocation, eni, STACK)
    assert instances.eip_eni(ec2, allocation) == eni
    assert lagging.counts["stale"] > 0          # the read-back met the lag


def test_source_dest_check_off_returns_once_describe_instances_shows_it(ec2, lagging):
    instance_id, _ = _nat(ec2)
    nat = instances.describe_instance(ec2, instance_id, STACK)
    assert nat.source_dest_check
    instances.disable_source_dest_check(ec2, nat)
    assert not instances.describe_instance(ec2, instance_id, STACK).source_dest_check
    assert lagging.counts["stale"] > 0


def test_terminate_returns_once_describe_instances_shows_the_instance_leaving(ec2, lagging):
    instance_id, _ = _nat(ec2)
    assert instances.terminate_tagged_instance(ec2, instance_id, STACK)
    assert instances.describe_instance(ec2, instance_id, STACK).state in ("shutting-down", "terminated")
    assert lagging.counts["stale"] > 0


def test_new_default_template_version_returns_once_it_is_the_default_read(ec2, lagging):
    template = ec2.create_launch_template(LaunchTemplateName="t", LaunchTemplateData={"InstanceType": "t4g.nano"})
    template_id = template["LaunchTemplate"]["LaunchTemplateId"]
    assert instances.default_launch_template_version(ec2, template_id)[0] == 1
    assert instances.new_default_launch_template_version(ec2, template_id, {"InstanceType": "t4g.micro"}) == 2
    version, data = instances.default_launch_template_version(ec2, template_id)
    assert (version, data["InstanceType"]) == (2, "t4g.micro")
    assert lagging.counts["stale"] > 0


def test_up_that_gives_a_zone_a_new_eip_writes_the_topology_once_ec2_shows_it(aws_env):
    """``up``'s last step observes the stack again while a part it just made is not visible yet: the new
    Elastic IP is missing from the stack's addresses, read (by tag) before ``up`` allocated it (``up``
    failed with IncompleteStack before)."""
    with mock_aws():
        config = make_config()
        first = up(config, wait_interval_s=0).topology
        ec2 = boto3.client("ec2", region_name=REGION)
        allocation = first.zones[0].nat_eip_allocation_id
        association = ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0]["AssociationId"]
        ec2.disassociate_address(AssociationId=association)                  # the test's: seen at once
        ec2.release_address(AllocationId=allocation)
        with consistency.active(StaleReads(W)) as reads:
            again = up(config, wait_interval_s=0).topology
        assert reads.counts["stale"] > 0 and again.zones[0].nat_eip_allocation_id != allocation
        assert read_topology(boto3.client("ssm", region_name=REGION), again.topology_parameter) == again


def test_up_returns_once_a_plan_from_what_ec2_shows_is_empty(aws_env):
    """Renaming (six CreateTags): a plan right after ``up`` must not list them again."""
    with mock_aws():
        up(make_config(), wait_interval_s=0)
        renamed = dataclasses.replace(make_config(), names=NameTemplates(subnet="{stack}-{kind}-{az}"))
        with consistency.active(StaleReads(W)) as reads:
            assert up(renamed, wait_interval_s=0).changes == 6
            assert plan_stack(renamed).steps == []
        assert reads.counts["stale"] > 0


def test_plan_right_after_down_reads_the_vpc_listing_again_while_its_attributes_are_gone(aws_env):
    """``down`` lists the stack's VPC just before deleting it, so the next listing may still show it while
    DescribeVpcAttribute already answers InvalidVpcID.NotFound (the eventual-consistency page: "run the
    Describe command repeatedly"). The observer reads both again until they agree; retrying the attribute
    alone spun ~60 s and ended RetryExhaustedError (seen as `hanat plan` after `hanat down`)."""
    with mock_aws():
        config = make_config()
        up(config, wait_interval_s=0)
        with consistency.active(StaleReads(W)) as reads:
            destroy_stack(config, wait_interval_s=0)
            started = time.monotonic()
            steps = plan_stack(config).steps
            took = time.monotonic() - started
        assert reads.counts["stale"] > 0
        assert ("create", "vpc") in [(s.action, s.kind) for s in steps]      # the VPC is gone: rebuilt
        assert took < 4 * W, f"plan took {took:.1f}s"                        # the window, not the 60 s retry


def test_plan_reads_the_template_listing_again_while_the_listed_template_is_gone(aws_env):
    """The same for the launch template (seen as `hanat plan` after `hanat down` spinning on
    DescribeLaunchTemplateVersions InvalidLaunchTemplateId.NotFound): a listing read before the template was
    deleted still shows it, its versions are NotFound; the observer reads both again until they agree."""
    with mock_aws():
        config = make_config()
        up(config, wait_interval_s=0)
        ec2 = boto3.client("ec2", region_name=REGION)
        with consistency.active(StaleReads(W), everyone=True) as reads:   # the test's calls lag as hanat's
            listed = network.describe_tagged(ec2, "launch-template", config.stack.name)
            ec2.delete_launch_template(LaunchTemplateId=listed[0]["LaunchTemplateId"])
            started = time.monotonic()
            steps = plan_stack(config).steps
            took = time.monotonic() - started
        assert reads.counts["stale"] > 0
        assert ("create", "launch-template") in [(s.action, s.kind) for s in steps]
        assert took < 4 * W, f"plan took {took:.1f}s"


def test_the_hook_lags_hanats_reads_and_never_the_tests_own(ec2):
    """A test's own read (its verification) reads the truth; the same read made by hanat's code (here an
    adapter on a worker thread, as the controller's parallel observe does) answers from before a write."""
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)

    worker = ThreadPoolExecutor(1)     # its frames: the pool's, then the adapter's (no test frame)

    def as_hanat(fn, *args, **kwargs):
        # IAM is not this test's subject (no controller role exists here): its calls are left unrecorded
        with unrecorded():
            context = copy_context()
        return worker.submit(context.run, fn, *args, **kwargs).result()

    def hanat_reads() -> str | None:
        return as_hanat(routes.describe_route_tables, ec2, [table])[table].default_target

    with worker, consistency.active(StaleReads(W)) as reads:
        assert hanat_reads() is None
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)   # seen at once
        assert hanat_reads() == igw
        as_hanat(aws_call, "ec2.DeleteRoute (as hanat)", ec2.delete_route, RouteTableId=table,
                 DestinationCidrBlock="0.0.0.0/0")
        assert hanat_reads() == igw                                       # hanat's own write lags
        assert routes.describe_route_tables(ec2, [table])[table].default_target is None   # the test: the truth
        assert reads.counts["stale"] == 1
