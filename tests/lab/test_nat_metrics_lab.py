"""The NATs' metrics in the lab (issue 19 item 2): a netns session with ``[metrics] level = "essential"``;
the controller's heartbeat asks each zone's probe function (run in its probe namespace by the lab's
Lambda endpoint) for its NAT's counters, which the real agent serves over the pinned probe route, and
puts them as metrics (what lab/metrics.py records for the lab; CloudWatch in AWS)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from bootstrap.config.schema import MetricsConfig
from chalicelib.nat_readings import ESSENTIAL
from lab.aws.emulator import Emulator, pointed_at
from lab.config import load_lab_settings
from lab.session import LabSession

pytestmark = pytest.mark.netns


def test_the_lab_records_the_nat_metrics_the_heartbeat_puts_from_the_real_counters():
    settings = load_lab_settings()
    settings = replace(settings, config=replace(settings.config, metrics=MetricsConfig(level="essential")))
    emulator = Emulator().start()
    try:
        with pointed_at(emulator), LabSession(settings, dataplane="netns", emulator=emulator,
                                              progress=lambda m: None, deploy=False) as session:
            zones = len(settings.config.zones)
            m = session.metrics

            def published() -> bool:   # every zone's gauges, and sums once a later snapshot counted traffic
                return len(m.series("ActiveConnectionCount")) >= 2 * zones \
                    and sum(value for _, value in m.series("BytesOutToDestination")) > 0
            session.wait_until("NAT metrics", published, timeout_s=90)
            # the lab's clients egress through their NATs: tracked flows, nothing dropped, no port trouble
            assert all(value >= 1 for _, value in m.series("ActiveConnectionCount"))
            assert all(0 < value < 100 for _, value in m.series("ConntrackUsePercent"))
            assert all(value == 0 for _, value in m.series("ErrorPortAllocation"))
            assert all(value == 0 for _, value in m.series("PacketsDropCount"))
            # veth NATs have no ENA allowance counters: absent, never published as zero
            assert not m.series("BwInAllowanceExceeded") and not m.series("PpsAllowanceExceeded")
            names = {p.name for p in m.points}
            assert names & {x.name for x in ESSENTIAL} and "PacketsInFromSource" not in names   # essential only
    finally:
        emulator.stop()
