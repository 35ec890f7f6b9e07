"""The CPU share Lambda gives a function's memory, as a CFS quota per period (pure: no cgroup touched).

AWS Lambda Developer Guide, "Configure Lambda function memory" (docs.aws.amazon.com/lambda/latest/dg/
configuration-memory.html): "Lambda allocates CPU power in proportion to the amount of memory configured
... At 1,769 MB, a function has the equivalent of one vCPU (one vCPU-second of credits per second)";
memory is 128 MB to 10,240 MB. So a function of ``m`` MB may run ``m / 1769`` CPU-seconds per second,
which the CFS bandwidth controller enforces as ``quota = period * m / 1769`` (cgroup v1
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``; quota may exceed the period: more than one CPU).

AWS documents no scheduling period. The lab uses 20 ms, not the kernel's default 100 ms (Documentation/
scheduler/sched-bwc), so a 148 MB function runs 1.7 ms of every 20 ms: the heartbeat, an operate call and
the event handlers are threads of the lab's process, and one held back by its quota while it holds
Python's GIL stalls the lab's other threads (the data plane's sync, EventBridge) until its next period,
at most 18 ms here instead of 92 ms. The kernel refuses a quota under 1 ms, and a period outside
1 ms .. 1 s (sched-bwc); 128 MB needs a period of at least 13.8 ms.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.errors import InputError

VCPU_MB = 1769                       # one vCPU's worth of CPU (Lambda Developer Guide, above)
LAMBDA_MIN_MB, LAMBDA_MAX_MB = 128, 10240
DEFAULT_PERIOD_US = 20_000           # the lab's CFS period (above: why not the kernel's 100 ms)
MIN_QUOTA_US = 1_000                 # sched-bwc: the smallest quota the kernel takes
MIN_PERIOD_US, MAX_PERIOD_US = 1_000, 1_000_000


@dataclass(frozen=True)
class CfsQuota:
    """``quota_us`` of CPU time per ``period_us`` of wall time: ``quota_us / period_us`` CPUs."""

    quota_us: int
    period_us: int

    @property
    def vcpus(self) -> float:
        return self.quota_us / self.period_us


def vcpus_for(memory_mb: int) -> float:
    """The vCPUs Lambda gives ``memory_mb`` (one at 1,769 MB, in proportion)."""
    _check_memory(memory_mb)
    return memory_mb / VCPU_MB


def cfs_quota(memory_mb: int, period_us: int = DEFAULT_PERIOD_US) -> CfsQuota:
    """The CFS quota that gives a function of ``memory_mb`` Lambda's CPU share; the quota is rounded to
    the nearest microsecond; one under the kernel's 1 ms is refused (128 MB needs a period of at least
    13.8 ms)."""
    _check_memory(memory_mb)
    if not MIN_PERIOD_US <= period_us <= MAX_PERIOD_US:
        raise InputError(f"CFS period {period_us} us must be {MIN_PERIOD_US}..{MAX_PERIOD_US} us")
    quota = round(period_us * memory_mb / VCPU_MB)
    if quota < MIN_QUOTA_US:
        raise InputError(f"{memory_mb} MB of a {period_us} us period is {quota} us of CPU, under the kernel's "
                         f"{MIN_QUOTA_US} us minimum quota: use a period of at least "
                         f"{-(-MIN_QUOTA_US * VCPU_MB // memory_mb)} us")
    return CfsQuota(quota_us=quota, period_us=period_us)


def _check_memory(memory_mb: int) -> None:
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or not LAMBDA_MIN_MB <= memory_mb <= LAMBDA_MAX_MB:
        raise InputError(f"Lambda memory {memory_mb!r} MB must be an integer {LAMBDA_MIN_MB}..{LAMBDA_MAX_MB}")
