"""The CPU share Lambda gives a function's memory, as a CFS quota (lab.aws.cpu_share), and the lab's
functions' memory as `hanat deploy` sets it (no cgroup touched)."""
from __future__ import annotations

import pytest

from bootstrap.deploy.stage import CONTROLLER_MEMORY_MB, HEARTBEAT_MEMORY_MB, PROBE_MEMORY_MB
from chalicelib.errors import InputError
from lab.aws.cpu_share import VCPU_MB, CfsQuota, cfs_quota, vcpus_for


# Lambda Developer Guide, "Configure Lambda function memory": "At 1,769 MB, a function has the equivalent
# of one vCPU"; CPU in proportion to memory; 128 MB .. 10,240 MB.
@pytest.mark.parametrize(("memory_mb", "period_us", "quota_us"), [
    (1769, 100_000, 100_000),     # one vCPU: the whole period
    (128, 100_000, 7_236),        # the smallest function: 7.2 % of a CPU
    (148, 100_000, 8_366),        # the heartbeat as deployed before issue 21
    (256, 100_000, 14_471),       # the controller functions' stage default
    (512, 100_000, 28_943),
    (3538, 100_000, 200_000),     # two vCPUs: a quota of two periods
    (10240, 100_000, 578_858),    # the largest: 5.79 vCPU
    (128, 20_000, 1_447),         # a shorter period keeps the fraction
    (1769, 1_000, 1_000),
])
def test_quota_is_the_memorys_share_of_a_vcpu_per_period(memory_mb, period_us, quota_us):
    quota = cfs_quota(memory_mb, period_us)
    assert quota == CfsQuota(quota_us=quota_us, period_us=period_us)
    assert quota.vcpus == pytest.approx(memory_mb / VCPU_MB, rel=1e-3)


def test_the_labs_period_is_20_ms_and_takes_the_smallest_function():
    """A period short enough that a throttled thread holding the GIL stalls the lab's process briefly,
    long enough that 128 MB's quota is not under the kernel's 1 ms."""
    assert cfs_quota(1769) == CfsQuota(quota_us=20_000, period_us=20_000)
    assert cfs_quota(128).quota_us == 1_447


@pytest.mark.parametrize("memory_mb", [127, 10241, 0, -5, 148.5, True, "148"])
def test_memory_outside_lambdas_range_is_refused(memory_mb):
    with pytest.raises(InputError, match="Lambda memory"):
        cfs_quota(memory_mb)
    with pytest.raises(InputError, match="Lambda memory"):
        vcpus_for(memory_mb)


def test_a_quota_under_the_kernels_1_ms_is_refused_with_the_period_that_works():
    with pytest.raises(InputError) as err:
        cfs_quota(128, 10_000)       # 0.72 ms: the kernel refuses it
    assert "at least 13821 us" in str(err.value)
    assert cfs_quota(128, 13_821).quota_us >= 1_000


@pytest.mark.parametrize("period_us", [999, 1_000_001])
def test_a_period_the_kernel_refuses_is_refused(period_us):
    with pytest.raises(InputError, match="CFS period"):
        cfs_quota(1769, period_us)


def _topology():
    from chalicelib.topology import Topology, ZoneTopology
    zones = tuple(ZoneTopology(az=f"ap-northeast-1{x}", public_subnet_id=f"subnet-pub{x}",
                               private_subnet_id=f"subnet-prv{x}", probe_subnet_id=f"subnet-prb{x}",
                               nat_instance_id=f"i-{x}", nat_eni_id=f"eni-{x}", nat_eip="203.0.113.1",
                               nat_eip_allocation_id=f"eipalloc-{x}", private_route_table_ids=(f"rtb-{x}",),
                               probe_route_table_id=f"rtb-p{x}") for x in "ac")
    return Topology(stack="demo", region="ap-northeast-1", vpc_id="vpc-1", vpc_cidr="10.0.0.0/16",
                    table_name="hanat-demo-state", topic_arn="arn:aws:sns:ap-northeast-1:1:t",
                    topology_parameter="/hanat/demo/topology", zones=zones, probe_security_group_id="sg-1")


def test_the_lab_gives_each_function_the_memory_hanat_deploy_gives_it():
    """The lab throttles each function by the memory of bootstrap/deploy/stage.py, so a change there
    is what the lab's figures measure."""
    from lab.aws.lambda_functions import function_memory, probe_functions
    topology = _topology()
    memory = function_memory(topology, "lab")
    assert memory["heartbeat"] == HEARTBEAT_MEMORY_MB
    assert memory["probe_ap_northeast_1a"] == memory["probe_ap_northeast_1c"] == PROBE_MEMORY_MB
    for name in ("operate", "on_instance_state", "on_spot_warning", "notify_slack"):
        assert memory[name] == CONTROLLER_MEMORY_MB, name
    assert {f.memory_mb for f in probe_functions(topology, "lab").values()} == {PROBE_MEMORY_MB}
