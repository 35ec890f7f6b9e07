"""The cutover and release alerts as people read them (SNS subject, Slack headline)."""
from __future__ import annotations

import json

from chalicelib.alerts import ALERT_TYPES, Alert, format_body, format_subject
from chalicelib.slack import EMOJI, build_blocks


def test_cutover_subject_names_the_zone_and_its_nat():
    alert = Alert(type="cutover", zone="eu-west-1a", reason="NAT eu-west-1a proven: 3 passed probes", at=0,
                  to_nat="i-0abc", to_zone="eu-west-1a", route_tables=("rtb-1", "rtb-2"))
    assert format_subject(alert) == "[hanat] CUTOVER eu-west-1a -> own NAT i-0abc: NAT eu-west-1a proven: 3 passed probes"
    assert json.loads(format_body(alert))["route_tables"] == ["rtb-1", "rtb-2"]


def test_release_subject_names_where_the_routes_went():
    alert = Alert(type="release", zone="eu-west-1a", reason="hanat down", at=0,
                  details={"targets": {"rtb-1": "nat-0a", "rtb-2": "nat-0a", "rtb-3": ""}})
    assert format_subject(alert) == "[hanat] RELEASE eu-west-1a -> nat-0a: hanat down"
    body = json.loads(format_body(alert))
    assert body["details"]["targets"] == {"rtb-1": "nat-0a", "rtb-2": "nat-0a", "rtb-3": ""}
    assert build_blocks(body)["blocks"][0]["text"]["text"].startswith(EMOJI["release"])


def test_every_alert_type_has_its_slack_emoji():
    assert set(EMOJI) == set(ALERT_TYPES)
