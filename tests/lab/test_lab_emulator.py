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
