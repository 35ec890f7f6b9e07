"""The lab emulator keeps the AWS guarantees the controller's safety rests on (moto alone does not):
atomic DynamoDB conditional writes and RunInstances idempotent by ClientToken."""
from __future__ import annotations

import threading

import boto3
from botocore.exceptions import ClientError

REGION = "ap-northeast-1"


def _subnet_and_ami(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    return subnet, ami


def test_run_instances_with_the_same_client_token_launches_once(emulator_env):
    ec2 = boto3.client("ec2", region_name=REGION)
    subnet, ami = _subnet_and_ami(ec2)

    def launch(token):
        return ec2.run_instances(ImageId=ami, SubnetId=subnet, MinCount=1, MaxCount=1,
                                 ClientToken=token)["Instances"][0]["InstanceId"]

    first = launch("hanat-lab-az-1-1")
    assert launch("hanat-lab-az-1-1") == first          # a retried or repeated call: same instance
    other = launch("hanat-lab-az-1-2")
    assert other != first
    ids = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert sorted(ids) == sorted([first, other])
    emulator_env.reset()                                 # a reset forgets the tokens with the instances
    subnet, ami = _subnet_and_ami(ec2)
    again = launch("hanat-lab-az-1-1")
    assert [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]] == [again]


def test_racing_conditional_writes_have_exactly_one_winner(emulator_env):
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(TableName="race", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    racers = 6
    for rnd in range(15):
        ddb.put_item(TableName="race", Item={"pk": {"S": "claim"}, "version": {"N": str(rnd)}})
        gate, winners = threading.Barrier(racers), []

        def claim(i, rnd=rnd, gate=gate, winners=winners):
            gate.wait()
            try:
                ddb.put_item(TableName="race",
                             Item={"pk": {"S": "claim"}, "version": {"N": str(rnd + 1)}, "who": {"S": str(i)}},
                             ConditionExpression="#v = :seen", ExpressionAttributeNames={"#v": "version"},
                             ExpressionAttributeValues={":seen": {"N": str(rnd)}})
                winners.append(i)
            except ClientError as err:
                assert err.response["Error"]["Code"] == "ConditionalCheckFailedException"

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(racers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1, f"round {rnd}: {len(winners)} writers won the same version"
        stored = ddb.get_item(TableName="race", Key={"pk": {"S": "claim"}}, ConsistentRead=True)["Item"]
        assert stored["who"]["S"] == str(winners[0])


def test_the_ec2_change_count_moves_with_every_change_and_only_then(emulator_env):
    """The watchers (EventBridge emulation, the computed plane's sync) read EC2 again only when this count
    moved: a change it missed would be a route move or a stopped NAT the lab never sees."""
    ec2 = boto3.client("ec2", region_name=REGION)
    subnet, ami = _subnet_and_ami(ec2)
    before = emulator_env.generation()
    ec2.describe_instances()
    ec2.describe_route_tables()
    assert emulator_env.generation() == before                      # reads change nothing
    instance = ec2.run_instances(ImageId=ami, SubnetId=subnet, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    launched = emulator_env.generation()
    assert launched > before
    ec2.stop_instances(InstanceIds=[instance])
    assert emulator_env.generation() > launched
    stopped = emulator_env.generation()
    rtb = ec2.describe_route_tables()["RouteTables"][0]["RouteTableId"]
    eni = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert emulator_env.generation() > stopped
    moved = emulator_env.generation()
    emulator_env.reset()
    assert emulator_env.generation() > moved


def test_the_ec2_actions_counted_as_changing_nothing_are_list_or_read_in_the_authorization_reference():
    """Service Authorization Reference, "Actions defined by Amazon EC2" (parliament's copy): an action the
    change count skips must be of access level List or Read."""
    import json

    from lab.aws.moto_server import READ_ONLY_ACTIONS
    from lab.iam.reference import DATA

    ec2 = next(s for s in json.loads(DATA.read_text()) if s["prefix"] == "ec2")
    skipped = {a["privilege"]: a["access_level"] for a in ec2["privileges"]
               if a["privilege"].startswith(READ_ONLY_ACTIONS)}
    assert len(skipped) > 100 and {"DescribeRouteTables", "DescribeInstances"} <= set(skipped)
    assert {level for level in skipped.values()} <= {"List", "Read"}, skipped
