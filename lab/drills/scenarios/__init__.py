"""The drill scenarios, one registry. A scenario is a script run against a steady ``LabSession`` (inject a
fault, wait for the controller, recover, wait for steady state, noting the moments in ``Marks``) and a judge
(its acceptance checks, computed from what was measured — never hard-coded). Each module of this package
registers its scenarios; ``lab.drills.runner`` runs them and adds the checks every drill shares.

Adding a scenario: a new module here with ``register(Scenario(name, run, judge))`` for each, imported below.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# run(session, zone, options, marks) -> None; judge(session, report, marks, events) -> {check: passed}
Run = Callable[..., None]
Judge = Callable[..., dict]
Summary = Callable[..., str]   # summary(report) -> one line of the scenario's own figures (the demo table)


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Run
    judge: Judge
    adopt: bool = False    # its session adopts a VPC with NAT gateways (LabSession(adopt=True))
    summary: Summary | None = None
    replaces_nat: bool = False   # it replaces a NAT: no later drill reuses its session (lab.drills.runner.run_scenarios)
    netns_only: bool = False     # its fault lives in a NAT's kernel: the netns data plane only (left out of `all` elsewhere)


REGISTRY: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name in REGISTRY:
        raise ValueError(f"scenario {scenario.name!r} is registered twice")
    REGISTRY[scenario.name] = scenario
    return scenario


def names() -> tuple[str, ...]:
    """Every scenario, in registration order (the order of ``--scenario all``)."""
    return tuple(REGISTRY)


# Each module registers its scenarios; the import order is the order of `--scenario all`.
# isort: off
from . import nat_faults  # noqa: F401 - registers the NAT-fault scenarios
from . import connections  # noqa: F401 - manual-failover, and the connection checks of every drill (issue 13)
from . import aws_faults  # noqa: F401 - Lambda errors, EC2 throttling, a killed heartbeat run
from . import nat_boot  # noqa: F401 - a replacement NAT booting late and offline
from . import adoption  # noqa: F401 - cutover from NAT gateways and release (issue 11)
from . import day2  # noqa: F401 - roll and heartbeat-stopped (issue 12)
from . import spot  # noqa: F401 - spot-interruption (issue 20)
from . import gray  # noqa: F401 - conntrack-full, port-exhaustion, bandwidth-cap (issue 19)
# isort: on
