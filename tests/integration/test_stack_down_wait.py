"""`hanat down` completes although Lambda keeps a deleted VPC function's network interfaces for
20-45 minutes (moto deletes them at once; here they are injected and released on a fake clock): it
shows what it waits for, waits up to a bound that covers it, and a stopped run resumes on the next."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from bootstrap.stack import StackClients, build_stack, destroy_stack
from bootstrap.stack import destroy as destroy_module
from bootstrap.stack.destroy import LAMBDA_ENI_WAIT_S, DownIncomplete
from controller.cli import main
from tests.integration.test_stack_down import REGION, config, tagged_anything
from tests.support.stack import FakeClock


@pytest.fixture
def aws(aws_env):
    with mock_aws():
        yield StackClients.from_session(boto3.session.Session(region_name=REGION), REGION)


def lambda_eni(aws, stack: str = "d") -> str:
    """What Lambda leaves in a probe subnet after the probe function is deleted."""
    subnets = aws.ec2.describe_subnets(Filters=[{"Name": "tag:hanat:role", "Values": ["probe"]},
                                                {"Name": "tag:hanat:stack", "Values": [stack]}])["Subnets"]
    return aws.ec2.create_network_interface(SubnetId=subnets[0]["SubnetId"],
                                            Description="AWS Lambda VPC ENI-hanat-d-probe_ap_northeast_1a"
                                            )["NetworkInterface"]["NetworkInterfaceId"]


class LambdaReleases:
    """A fake clock whose sleep lets Lambda release ``eni`` once ``after_s`` have passed."""

    def __init__(self, aws, eni: str, after_s: float):
        self.aws, self.eni, self.clock = aws, eni, FakeClock(0.0)
        self.release_at, self.released = after_s, False

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)
        if not self.released and self.clock() >= self.release_at:
            self.aws.ec2.delete_network_interface(NetworkInterfaceId=self.eni)
            self.released = True


def test_down_waits_as_long_as_lambda_takes_and_says_what_it_waits_for(aws):
    build_stack(config(), aws, wait_interval_s=0)
    eni = lambda_eni(aws)
    lam = LambdaReleases(aws, eni, after_s=32 * 60)   # inside AWS's usual 20-45 minutes
    seen: list[str] = []
    result = destroy_stack(config(), aws, seen.append, wait_interval_s=0, clock=lam.clock, sleep=lam.sleep)
    assert tagged_anything(aws, "d") == {} and any(d.startswith("vpc ") for d in result.deleted)
    waits = [line for line in seen if line.startswith("waiting for Lambda")]
    assert waits[0].startswith("waiting for Lambda to release 1 network interface(s)") and eni in waits[0]
    assert "0s so far, at most 45m00s" in waits[0] and "Ctrl-C is safe" in waits[0]
    assert "31m" in waits[-1] and 30 <= len(waits) <= 34   # about once a minute, not every poll
    assert seen[seen.index(waits[-1]) + 1] == "Lambda released its network interfaces after 32m00s"
    # nothing the interfaces block was tried before they were gone; what does not wait went first
    first_subnet = next(i for i, line in enumerate(seen) if line.startswith("deleted subnet"))
    assert seen.index(waits[0]) < first_subnet
    assert any(line.startswith("deleted route-table") for line in seen[:seen.index(waits[0])])


def test_past_the_bound_down_stops_naming_the_interfaces_and_the_next_run_resumes(aws):
    build_stack(config(), aws, wait_interval_s=0)
    eni = lambda_eni(aws)
    lam = LambdaReleases(aws, eni, after_s=3600)
    with pytest.raises(DownIncomplete) as err:
        destroy_stack(config(), aws, wait_interval_s=0, eni_wait_s=600, clock=lam.clock, sleep=lam.sleep)
    assert err.value.exit_code == 1
    assert eni in str(err.value) and "re-run `hanat down` to resume" in str(err.value)
    left = tagged_anything(aws, "d")
    assert {"vpcs", "subnets", "security_groups", "igws"} <= set(left)
    assert not {"instances", "eips", "route_tables"} & set(left)      # done before the wait
    lam.sleep(3600)                                                   # Lambda lets go later
    destroy_stack(config(), aws, wait_interval_s=0, clock=lam.clock, sleep=lam.sleep)
    assert tagged_anything(aws, "d") == {}


def test_the_default_bound_covers_what_aws_takes():
    assert LAMBDA_ENI_WAIT_S >= 45 * 60


# moto's: the re-run after Ctrl-C terminates, from a stale DescribeInstances, NATs the first run terminated (EC2:
# "idempotent; if you terminate an instance more than once, each call succeeds", API Reference TerminateInstances)
@pytest.mark.stale_reads_off("moto: TerminateInstances of a terminated instance fails InvalidNetworkInterfaceID.NotFound "
                             "(EC2: idempotent)")
def test_ctrl_c_stops_down_cleanly_and_a_rerun_finishes(aws, tmp_path, capsys, monkeypatch):
    build_stack(config(), aws, wait_interval_s=0)
    path = tmp_path / "hanat.toml"
    path.write_text('[stack]\nname = "d"\nregion = "ap-northeast-1"\nvpc_cidr = "10.2.0.0/16"\n\n'
                    '[[zones]]\naz = "ap-northeast-1a"\npublic_cidr = "10.2.0.0/24"\nprivate_cidr = "10.2.16.0/20"\n'
                    'probe_cidr = "10.2.8.0/28"\n\n[[zones]]\naz = "ap-northeast-1d"\npublic_cidr = "10.2.1.0/24"\n'
                    'private_cidr = "10.2.32.0/20"\nprobe_cidr = "10.2.9.0/28"\n\n'
                    '[probe]\ntargets = ["tcp://203.0.113.10:443"]\n')

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(destroy_module, "await_lambda_interfaces", interrupted)
        with pytest.raises(SystemExit) as exit_:
            main(["down", "--config", str(path)])
    assert exit_.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "re-run `hanat down` to resume" in " ".join(err.split())
    assert "vpcs" in tagged_anything(aws, "d") and "instances" not in tagged_anything(aws, "d")
    with pytest.raises(SystemExit) as exit_:
        main(["down", "--config", str(path), "--eni-wait-minutes", "1"])
    assert exit_.value.code == 0, capsys.readouterr().err
    assert tagged_anything(aws, "d") == {}
