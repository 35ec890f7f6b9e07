"""`hanat status` for an adopted VPC: the mode cell says adopting, cut over or released; a table still on
its NAT gateway shows that gateway as the egress."""
from __future__ import annotations

import pytest

from controller.views.status import egress_text, mode_text


@pytest.mark.parametrize("adoption,mode,expected", [
    ("adopting", "normal", "adopting"), ("cut-over", "normal", "cut over"), ("released", "normal", "released"),
    ("cut-over", "manual-failover", "cut over, manual-failover"), ("adopting", "paused", "adopting, paused"),
    (None, "normal", "normal"),
])
def test_mode_cell_shows_where_an_adopted_zone_is(adoption, mode, expected):
    assert mode_text(mode, None, adoption)[0] == expected


def test_mode_cell_with_a_replacement_keeps_the_adoption():
    text, _ = mode_text("normal", {"status": "replacing", "step": "proving", "attempts": 1}, "cut-over")
    assert text == "cut over, replacing: proving"


def test_egress_of_a_table_on_its_nat_gateway():
    assert egress_text({"rtb-1": "nat-0a", "rtb-2": "eni-1"}, {"eni-1": "203.0.113.7"}) == \
        "NAT gateway nat-0a, 203.0.113.7"
