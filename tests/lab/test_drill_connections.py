"""Issue 13's "before": the same blackhole drill with the NATs' reset turned off (``--nat-reset off``: unknown
mid-stream TCP is dropped, as on NAT instances without hanat's reset), so the connections through the dead NAT
hang until the zone comes back; with the reset (tests/lab/test_drills.py) they are reset within a second."""
from __future__ import annotations

import pytest

from lab.config import load_lab_settings
from lab.drills.runner import DrillOptions, run_scenarios


@pytest.fixture(scope="module")
def without_reset():
    [report] = run_scenarios(["blackhole"], load_lab_settings(), dataplane="netns",
                             options=DrillOptions(nat_reset=False), progress=lambda m: None, deploy=False)
    return report


@pytest.mark.netns
def test_without_the_reset_connections_through_a_dead_nat_hang(without_reset):
    r = without_reset
    assert r.connections == {**r.connections, "nat_reset": False}
    assert r.rto_s is not None and r.rto_s <= 5                   # new flows move as fast as ever
    assert not r.checks["connections_through_dead_nat_reset"]     # but open ones get no reset ...
    assert r.max_stall_s > r.rto_s + 1, (r.max_stall_s, r.rto_s)  # ... and wait far longer


def test_nat_reset_off_needs_the_netns_data_plane():
    from chalicelib.errors import InputError
    with pytest.raises(InputError, match="--nat-reset off needs the netns data plane"):
        run_scenarios(["blackhole"], load_lab_settings(), dataplane="computed",
                      options=DrillOptions(nat_reset=False), progress=lambda m: None, deploy=False)
