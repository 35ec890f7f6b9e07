"""Controller settings in the topology: new keys default for old topologies, unknown keys are ignored,
and what the config validated is what the Lambdas read back."""
from __future__ import annotations

import json

import pytest

from bootstrap.config.validate import build_config
from chalicelib.settings import FailoverSettings, MaintenanceSettings, ProbeSettings
from chalicelib.topology import Topology

FROM_DICT = {
    # id: (class, stored dict, expected)
    "failover-written-before-handoff": (FailoverSettings, {"revert": "manual", "replace_after_s": 120},
                                        FailoverSettings(revert="manual", replace_after_s=120, handoff_s=900)),
    "failover-from-a-newer-hanat": (FailoverSettings, {"revert": "window", "handoff_s": 60, "later_key": 1},
                                    FailoverSettings(revert="window", handoff_s=60)),
    "maintenance-absent": (MaintenanceSettings, {}, MaintenanceSettings(window="", max_instance_age_days=30,
                                                                        drain_s=300)),
    "maintenance-partial": (MaintenanceSettings, {"window": "Sun 02:00-04:00"},
                            MaintenanceSettings(window="Sun 02:00-04:00")),
    "probe-with-unknown-key": (ProbeSettings, {"timeout_s": 3, "jitter_s": 1}, ProbeSettings(timeout_s=3)),
}


@pytest.mark.parametrize("case", FROM_DICT)
def test_from_dict_is_tolerant(case):
    cls, stored, expected = FROM_DICT[case]
    assert cls.from_dict(stored) == expected


@pytest.mark.parametrize("settings", [
    FailoverSettings(revert="window", replace_after_s=60, handoff_s=120),
    MaintenanceSettings(window="Sat-Sun 23:00-01:00", max_instance_age_days=0, drain_s=0),
    ProbeSettings(timeout_s=25, targets=("tcp://203.0.113.10:443",)),
], ids=["failover", "maintenance", "probe"])
def test_round_trip_through_json(settings):
    assert type(settings).from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


def test_a_topology_written_before_handoff_s_still_loads():
    stored = {"stack": "s", "region": "ap-northeast-1", "vpc_id": "vpc-1", "vpc_cidr": "10.0.0.0/16",
              "table_name": "t", "topic_arn": "arn", "topology_parameter": "/hanat/s/topology", "zones": [],
              "probe": {"interval_s": 5, "timeout_s": 2, "fail_after": 2, "recover_after": 3, "min_hold_s": 60,
                        "targets": ["tcp://203.0.113.10:443"]},
              "failover": {"revert": "auto", "replace_after_s": 300}}
    topology = Topology.from_dict(stored)
    assert topology.failover == FailoverSettings() and topology.maintenance == MaintenanceSettings()


def test_the_topology_carries_the_maintenance_settings_to_the_controller():
    topology = Topology(stack="s", region="r", vpc_id="v", vpc_cidr="10.0.0.0/16", table_name="t", topic_arn="a",
                        topology_parameter="/hanat/s/topology", zones=(),
                        maintenance=MaintenanceSettings(window="Sun 02:00-04:00", drain_s=60))
    assert Topology.from_json(topology.to_json()).maintenance == topology.maintenance


def test_validated_settings_are_the_dataclasses_the_controller_reads():
    raw = {"stack": {"name": "d", "region": "ap-northeast-1", "vpc_cidr": "10.0.0.0/16"},
           "zones": [{"az": "ap-northeast-1a"}, {"az": "ap-northeast-1c"}],
           "failover": {"revert": "window", "handoff_s": 600},
           "maintenance": {"window": " Sun 02:00-04:00 ", "max_instance_age_days": 14, "drain_s": 120}}
    cfg = build_config(raw, source="t.toml")
    assert cfg.failover == FailoverSettings(revert="window", replace_after_s=300, handoff_s=600)
    assert cfg.maintenance == MaintenanceSettings(window="Sun 02:00-04:00", max_instance_age_days=14, drain_s=120)
    assert MaintenanceSettings.from_dict(cfg.maintenance.to_dict()) == cfg.maintenance
