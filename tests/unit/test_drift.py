"""Drift (chalicelib/replacement/outdated.py), table-driven with the clock passed in: which NATs are stale."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from chalicelib.replacement.outdated import CurrentBuild, NatBuild, first_outdated, outdated_reasons

NOW = 1_800_000_000.0
DAY = 86_400.0
CURRENT = CurrentBuild(template_id="lt-1", version=3, image_id="ami-new", instance_type="t4g.micro")


def nat(**kw) -> NatBuild:
    base = {"instance_id": "i-1", "image_id": "ami-new", "instance_type": "t4g.micro", "launched_at": NOW - DAY,
                "template_id": "lt-1", "template_version": "3"}
    return NatBuild(**{**base, **kw})


@dataclass
class Case:
    id: str
    nat: NatBuild
    expected: list[str] = field(default_factory=list)   # substrings, one per reason, in order
    current: CurrentBuild | None = CURRENT
    max_age_days: int = 30


CASES = [
    Case("current build, young: not stale", nat()),
    Case("old launch template version", nat(template_version="2"), ["launch template v2 (current v3)"]),
    Case("launched without the template", nat(template_id="", template_version=""),
         ["not launched from the launch template (current v3)"]),
    Case("another template", nat(template_id="lt-other", template_version="3"),
         ["launch template lt-other v3 (current lt-1 v3)"]),
    Case("old AMI (hanat up resolved a newer AL2023)", nat(image_id="ami-old"), ["AMI ami-old (current ami-new)"]),
    Case("instance type changed in the config", nat(instance_type="t4g.nano", template_version="2"),
         ["launch template v2", "instance type t4g.nano (current t4g.micro)"]),
    Case("31 days old with max 30", nat(launched_at=NOW - 31 * DAY), ["31 days old (max 30)"]),
    Case("exactly 30 days old is not too old", nat(launched_at=NOW - 30 * DAY)),
    Case("max age 0 = never too old", nat(launched_at=NOW - 400 * DAY), max_age_days=0),
    Case("unknown template: age only", nat(template_version="1", launched_at=NOW - 40 * DAY),
         ["40 days old (max 30)"], current=None),
    Case("template without AMI or type: version only", nat(image_id="ami-x", instance_type="c7gn.large"),
         current=CurrentBuild(template_id="lt-1", version=3)),
    Case("everything old at once", nat(template_version="1", image_id="ami-old", instance_type="t3.nano",
                                       launched_at=NOW - 90 * DAY),
         ["launch template v1", "AMI ami-old", "instance type t3.nano", "90 days old"]),
]
BY_ID = {c.id: c for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_stale_reasons(case: Case):
    reasons = outdated_reasons(case.nat, case.current, NOW, case.max_age_days)
    assert len(reasons) == len(case.expected), reasons
    for got, want in zip(reasons, case.expected, strict=True):
        assert want in got


def test_case_ids_are_unique():
    assert len(BY_ID) == len(CASES)


def test_age_counts_with_the_clock_passed_in():
    young = nat(launched_at=NOW - 29 * DAY)
    assert outdated_reasons(young, CURRENT, NOW, 30) == ()
    assert outdated_reasons(young, CURRENT, NOW + 2 * DAY, 30) == ("31 days old (max 30)",)


def test_first_stale_follows_the_zone_order():
    reasons = {"a": (), "b": ("old",), "c": ("old",)}
    assert first_outdated(["a", "b", "c"], reasons) == "b"
    assert first_outdated(["c", "b"], reasons) == "c"
    assert first_outdated(["a"], reasons) is None
