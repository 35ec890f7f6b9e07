"""The IMDSv2 stand-in (lab.dataplane.netns.imds) answers as the EC2 User Guide documents IMDSv2.

Instance metadata, "Responses and error messages": 400 - Missing or Invalid Parameters (the PUT is not
valid), 401 - Unauthorized (the GET uses an invalid token), 404 - Not Found; tokens live 1..21600 s;
"Work with instance tags in instance metadata": tags/instance lists the keys, tags/instance/<key> the value.
Served on loopback in this process (the lab runs it on 169.254.169.254 inside each NAT namespace).
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lab.dataplane.netns import imds


@pytest.fixture
def base(tmp_path: Path):
    state = tmp_path / "imds.json"
    imds.write_state(state, "i-0abc", "10.0.0.20", {"Name": "nat-a", "hanat:handoff:az-a": "to 10.0.10.20 9 10.0.1.0/24"})
    server = imds.serve(state, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def call(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def token(url: str, ttl: str = "60") -> str:
    code, body = call(f"{url}/latest/api/token", "PUT", {imds.TTL_HEADER: ttl})
    assert code == 200
    return body


@pytest.mark.parametrize("headers, code", [
    ({}, 400),                                              # no TTL
    ({imds.TTL_HEADER: "0"}, 400), ({imds.TTL_HEADER: "21601"}, 400), ({imds.TTL_HEADER: "soon"}, 400),
    ({imds.TTL_HEADER: "60", "X-Forwarded-For": "203.0.113.9"}, 403),   # proxied token requests refused
    ({imds.TTL_HEADER: "21600"}, 200), ({imds.TTL_HEADER: "1"}, 200),
])
def test_token_put(base, headers, code):
    assert call(f"{base[0]}/latest/api/token", "PUT", headers)[0] == code


def test_reads_need_a_valid_token(base):
    url = base[0]
    assert call(f"{url}/latest/meta-data/instance-id")[0] == 401
    assert call(f"{url}/latest/meta-data/instance-id", headers={imds.TOKEN_HEADER: "forged"})[0] == 401
    good = {imds.TOKEN_HEADER: token(url)}
    assert call(f"{url}/latest/meta-data/instance-id", headers=good) == (200, "i-0abc")
    assert call(f"{url}/latest/meta-data/local-ipv4", headers=good) == (200, "10.0.0.20")
    short = {imds.TOKEN_HEADER: token(url, ttl="1")}
    assert call(f"{url}/latest/meta-data/instance-id", headers=short)[0] == 200
    time.sleep(1.1)
    assert call(f"{url}/latest/meta-data/instance-id", headers=short)[0] == 401   # expired


def test_tags_list_value_and_404_then_follow_the_state_file(base):
    url, state = base
    good = {imds.TOKEN_HEADER: token(url)}
    assert call(f"{url}/latest/meta-data/tags/instance", headers=good) == (200, "Name\nhanat:handoff:az-a")
    assert call(f"{url}/latest/meta-data/tags/instance/hanat:handoff:az-a", headers=good) == \
        (200, "to 10.0.10.20 9 10.0.1.0/24")
    assert call(f"{url}/latest/meta-data/tags/instance/missing", headers=good)[0] == 404
    imds.write_state(state, "i-0abc", "10.0.0.20", {})
    assert call(f"{url}/latest/meta-data/tags/instance", headers=good)[0] == 404   # no tags at all


def test_spot_notices_are_404_until_the_instance_is_marked_then_json(base):
    """EC2 User Guide, "Spot Instance interruption notices": spot/instance-action is absent (404) until EC2
    marks the instance, then {"action": ..., "time": ...}; rebalance: {"noticeTime": ...} (issue 20)."""
    url, state = base
    headers = {imds.TOKEN_HEADER: token(url)}
    assert call(f"{url}{imds.SPOT_ACTION_PATH}", headers=headers)[0] == 404
    assert call(f"{url}{imds.REBALANCE_PATH}", headers=headers)[0] == 404
    imds.mark_interrupted(state, rebalance={"noticeTime": "2026-12-05T07:00:00Z"})
    assert call(f"{url}{imds.REBALANCE_PATH}", headers=headers) == (200, '{"noticeTime": "2026-12-05T07:00:00Z"}')
    assert call(f"{url}{imds.SPOT_ACTION_PATH}", headers=headers)[0] == 404
    imds.mark_interrupted(state, spot_action={"action": "terminate", "time": "2026-12-05T07:02:00Z"})
    code, body = call(f"{url}{imds.SPOT_ACTION_PATH}", headers=headers)
    assert code == 200 and json.loads(body) == {"action": "terminate", "time": "2026-12-05T07:02:00Z"}
    assert call(f"{url}/latest/meta-data/instance-id", headers=headers) == (200, "i-0abc")   # the rest is kept
    assert call(f"{url}{imds.SPOT_ACTION_PATH}")[0] == 401                                # IMDSv2 still required


def test_tag_history_shows_each_change_only_delay_after_it_was_seen():
    """The lab's tag-propagation delay (issue 21): AWS documents no latency for a tag change to reach
    instance metadata ("Work with instance tags in instance metadata"), so the lab can make it late."""
    history = imds.TagHistory()
    assert history.shown(5.0, 0.0) is None
    history.see({"a": "1"}, 0.0)
    history.see({"a": "1"}, 1.0)              # no change: no new entry
    history.see({"a": "2"}, 2.0)
    assert history.shown(5.0, 3.0) == {"a": "1"}     # the first set stands until a later one is old enough
    assert history.shown(5.0, 6.9) == {"a": "1"}
    assert history.shown(5.0, 7.0) == {"a": "2"}
    assert history.shown(0.0, 7.0) == {"a": "2"}


def test_tag_changes_reach_the_metadata_only_after_the_delay(base):
    url, state = base
    good = {imds.TOKEN_HEADER: token(url)}
    key = f"{url}/latest/meta-data/tags/instance/hanat:handoff:az-a"
    imds.write_state(state, "i-0abc", "10.0.0.20", {"hanat:handoff:az-a": "to 10.0.10.20 9 10.0.1.0/24"},
                     tag_delay_s=1.5)
    time.sleep(3 * imds.POLL_S)
    imds.write_state(state, "i-0abc", "10.0.0.20", {"hanat:handoff:az-a": "from 10.0.10.20 99 10.0.1.0/24"},
                     tag_delay_s=1.5)
    written = time.monotonic()
    assert call(key, headers=good) == (200, "to 10.0.10.20 9 10.0.1.0/24")     # still the old value
    imds.mark_interrupted(state, rebalance={"noticeTime": "2026-12-05T07:00:00Z"})   # keeps the delay
    assert call(f"{url}{imds.REBALANCE_PATH}", headers=good)[0] == 200           # not delayed
    while call(key, headers=good)[1] != "from 10.0.10.20 99 10.0.1.0/24":
        assert time.monotonic() - written < 5.0
        time.sleep(0.05)
    assert time.monotonic() - written >= 1.5 - imds.POLL_S
