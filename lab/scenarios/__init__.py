"""The drill scenarios, one registry. A scenario is a script run against a steady ``LabSession`` (inject a
fault, wait for the controller, recover, wait for steady state, noting the moments in ``Marks``) and a judge
(its acceptance checks, computed from what was measured — never hard-coded). Each module of this package
registers its scenarios; ``lab.drills`` runs them and adds the checks every drill shares.

Adding a scenario: a new module here with ``register(Scenario(name, run, judge))`` for each, imported below.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# run(session, zone, options, marks) -> None; judge(session, report, marks, events) -> {check: passed}
Run = Callable[..., None]
Judge = Callable[..., dict]


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Run
    judge: Judge


REGISTRY: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name in REGISTRY:
        raise ValueError(f"scenario {scenario.name!r} is registered twice")
    REGISTRY[scenario.name] = scenario
    return scenario


def names() -> tuple[str, ...]:
    """Every scenario, in registration order (the order of ``--scenario all``)."""
    return tuple(REGISTRY)


# the NAT-fault scenarios; manual-failover and the connection checks of every drill (issue 13)
from . import connections, nat_faults  # noqa: F401
