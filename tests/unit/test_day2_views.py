"""The day-2 views, pure: log events as short lines (controller/views/logs.py), the --wait progress
(controller/views/operation.py), the NAT table, the roll line and the history of ``hanat status``."""
from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from chalicelib.errors import InputError
from controller.views import logs as logview
from controller.views import operation
from controller.views.status import history_table, nat_table, nat_views, parse_since, roll_text

NOW = 1_800_000_000.0


def plain(markup: str | None) -> str | None:
    if markup is None:
        return None
    console = Console(file=io.StringIO(), width=400, color_system=None)
    console.print(markup, soft_wrap=True)
    return console.file.getvalue().rstrip("\n")


EVENTS = {
    # id: (event, verbose, expected line or None = not shown)
    "route moved": ({"level": "INFO", "message": "route moved", "timestamp": NOW, "zone": "a", "nat": "i-1",
                     "route_table": "rtb-1", "kind": "failover", "reason": "2 failed probes"}, False,
                    "08:00:00 a route rtb-1 -> NAT i-1 (failover: 2 failed probes)"),
    "replacement step": ({"level": "INFO", "message": "replacement step", "timestamp": NOW, "zone": "a",
                          "action": "move_eip", "why": "the zone keeps its egress IP"}, False,
                         "08:00:00 a replacement: Elastic IP moved to the new NAT"),
    "abandon says why": ({"level": "INFO", "message": "replacement step", "timestamp": NOW, "zone": "a",
                          "action": "abandon", "why": "not proven within 600s"}, False,
                         "08:00:00 a replacement: new NAT given up on (not proven within 600s)"),
    "roll step": ({"level": "INFO", "message": "roll step", "timestamp": NOW, "zone": "b", "action": "start_zone",
                   "why": "rolling b (2 of 3)"}, False, "08:00:00 b roll: replacing its NAT"),
    "warning styled": ({"level": "WARNING", "message": "lost the sweeper lease", "timestamp": NOW,
                        "holder": "hb:2"}, False, "08:00:00 warning: lost the sweeper lease holder=hb:2"),
    "verbose shows every key": ({"level": "INFO", "message": "route moved", "timestamp": NOW, "zone": "a",
                                 "nat": "i-1", "route_table": "rtb-1", "kind": "revert", "reason": "up"}, True,
                                ("08:00:00 a route rtb-1 -> NAT i-1 (revert: up) nat=i-1 route_table=rtb-1 kind=revert "
                                "reason=up")),
    "debug hidden": ({"level": "DEBUG", "message": "x", "timestamp": NOW}, False, None),
    "chatter hidden": ({"level": "INFO", "message": "state changed under us; deciding again", "timestamp": NOW},
                       False, None),
    "chatter in verbose": ({"level": "INFO", "message": "state changed under us; deciding again",
                            "timestamp": NOW, "attempt": 1}, True,
                           "08:00:00 state changed under us; deciding again attempt=1"),
    "unknown event keeps its message": ({"level": "INFO", "message": "something new", "timestamp": NOW,
                                         "error": "boom", "other": 1}, False, "08:00:00 something new error=boom"),
    "Powertools timestamp string": ({"level": "INFO", "message": "roll step", "zone": "c",
                                     "timestamp": "2024-06-03 09:12:04,123+0000", "action": "finish"}, False,
                                    "09:12:04 c roll: roll done"),
}


@pytest.mark.parametrize("case", EVENTS, ids=list(EVENTS))
def test_render_event(case):
    event, verbose, expected = EVENTS[case]
    assert plain(logview.render_event(event, verbose=verbose)) == expected


CLOUDWATCH = {
    "our JSON line": (json.dumps({"level": "INFO", "message": "route moved", "zone": "a", "nat": "i-1",
                                  "route_table": "rtb-1", "kind": "failover", "reason": "r",
                                  "timestamp": "2024-06-03 09:12:04,1+0000"}), False,
                      "09:12:04 heartbeat a route rtb-1 -> NAT i-1 (failover: r)"),
    "EMF hidden": (json.dumps({"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "SweepsCompleted"}]}]},
                               "SweepsCompleted": [1.0]}), False, None),
    "EMF in verbose": (json.dumps({"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "SweepsCompleted"}]}]},
                                   "SweepsCompleted": [1.0]}), True,
                       "08:00:00 heartbeat metrics SweepsCompleted=[1.0]"),
    "START hidden": ("START RequestId: 1 Version: $LATEST\n", False, None),
    "REPORT in verbose": ("REPORT RequestId: 1 Duration: 2 ms\n", True, "08:00:00 heartbeat REPORT RequestId: 1 Duration: 2 ms"),
    "plain text kept": ("Traceback (most recent call last):", False, "08:00:00 heartbeat Traceback (most recent call last):"),
}


@pytest.mark.parametrize("case", CLOUDWATCH, ids=list(CLOUDWATCH))
def test_render_cloudwatch(case):
    message, verbose, expected = CLOUDWATCH[case]
    assert plain(logview.render_cloudwatch(message, verbose=verbose, source="heartbeat", at=NOW)) == expected


# --- --wait ------------------------------------------------------------------------------------
class Script:
    """A scripted operation: each read returns the next Progress (the last one repeats)."""

    def __init__(self, *progresses):
        self.progresses = list(progresses)
        self.reads = 0

    def __call__(self):
        self.reads += 1
        return self.progresses[min(self.reads - 1, len(self.progresses) - 1)]


def step(n: int, zone: str = "a") -> operation.Step:
    return operation.Step(key=f"k{n}", at=NOW + n, zone=zone, text=f"step {n}")


def run(script, *, timeout_s=100.0):
    console = Console(file=io.StringIO(), width=200, color_system=None)
    ticks = {"now": 0.0}
    result = None
    try:
        result = operation.show_until_done(script, console, timeout_s=timeout_s, poll_s=5.0,
                               sleep=lambda s: ticks.__setitem__("now", ticks["now"] + s), clock=lambda: ticks["now"])
    finally:
        run.output = console.file.getvalue()
    return result


def test_wait_prints_each_step_once_in_time_order_and_ends_done():
    script = Script(operation.Progress(steps=[step(1)], summary="a: launching"),
                    operation.Progress(steps=[step(2), step(1)], summary="a: draining"),
                    operation.Progress(steps=[step(1), step(2), step(3)], done=True, summary="all done"))
    result = run(script)
    assert result.done and script.reads == 3
    assert run.output.splitlines() == ["08:00:01 a step 1", "08:00:02 a step 2", "08:00:03 a step 3",
                                       "done: all done"]


def test_wait_orders_steps_of_the_same_second_by_rank():
    same = [operation.Step("r2", NOW, "b", "roll: done", (1, 2)), operation.Step("x", NOW, "b", "replacement done", (1, 1)),
            operation.Step("r1", NOW, "b", "roll: replacing its NAT", (1, 0))]
    run(Script(operation.Progress(steps=same, done=True, summary="ok")))
    assert [line.split(" ", 2)[2] for line in run.output.splitlines()[:3]] == [
        "roll: replacing its NAT", "replacement done", "roll: done"]


def test_wait_on_a_failed_operation_raises_exit_1_saying_where():
    script = Script(operation.Progress(steps=[step(1)], done=True, failed=True, summary="roll stopped at b: no capacity"))
    with pytest.raises(operation.WaitFailed) as failed:
        run(script)
    assert failed.value.exit_code == 1 and "stopped at b: no capacity" in str(failed.value)


def test_wait_gives_up_after_the_timeout_and_says_the_controller_carries_on():
    with pytest.raises(operation.WaitFailed) as late:
        run(Script(operation.Progress(summary="a: proving")), timeout_s=12)
    assert "still running after 12s: a: proving" in str(late.value) and "carries on" in str(late.value)


def test_wait_options_name_every_bad_value():
    assert operation.wait_options(True, None, None) == (operation.DEFAULT_TIMEOUT_S, operation.DEFAULT_POLL_S)
    assert operation.wait_options(True, "60", "0.5") == (60.0, 0.5)
    with pytest.raises(InputError) as bad:
        operation.wait_options(True, "soon", "0")
    assert "--timeout: 'soon'" in str(bad.value) and "--poll: '0'" in str(bad.value)
    with pytest.raises(InputError) as bad:
        operation.wait_options(False, "60", None)
    assert "only applies with --wait" in str(bad.value)


# --- status: NATs, roll, history ---------------------------------------------------------------------
def test_nat_views_say_current_or_old_and_why_stale():
    rows = [{"az": "a", "nat": {"instance_id": "i-1", "image_id": "ami-old", "instance_type": "t4g.nano",
                                "age_s": 3 * 86400, "template_version": "1", "current_template_version": 2,
                                "current_image_id": "ami-new", "current_instance_type": "t4g.micro",
                                "market": "on-demand", "current_market": "spot",
                                "stale": ["launch template v1 (current v2)", "AMI ami-old (current ami-new)"]}},
            {"az": "b", "nat": {"instance_id": "i-2", "image_id": "ami-new", "instance_type": "t4g.micro",
                                "age_s": 60, "template_version": "2", "current_template_version": 2,
                                "current_image_id": "ami-new", "current_instance_type": "t4g.micro", "stale": []}},
            {"az": "c", "nat": None}]
    views = nat_views(rows, NOW)
    assert [v.cells() for v in views] == [
        ("a", "i-1", "t4g.nano (old; now t4g.micro)", "on-demand (old; now spot)", "ami-old (old; now ami-new)",
         "v1 (old; now v2)", "3d", "launch template v1 (current v2); AMI ami-old (current ami-new)"),
        ("b", "i-2", "t4g.micro (current)", "-", "ami-new (current)", "v2 (current)", "1m", "-")]
    text = plain(nat_table(views))
    assert "stale because" in text and "v1 (old; now v2)" in text


@pytest.mark.parametrize("roll,expected", [
    (None, None),
    ({"roll_id": "r1", "status": "rolling", "zones": ["a", "b"], "done": ["a"], "current": "b",
      "phase": "replacing"}, "roll r1 in progress: 1/2 zones done, at b (replacing)"),
    ({"roll_id": "r1", "status": "stopped", "zones": ["a", "b"], "done": ["a"], "stopped_zone": "b",
      "stopped_because": "b: no capacity"},
     "roll r1 stopped at b: b: no capacity (1/2 zones done; `hanat roll` continues it)"),
    ({"roll_id": "r1", "status": "done", "zones": ["a"], "done": ["a"], "finished_at": NOW - 120},
     "roll r1 done 2m ago: 1/1 zones"),
    ({"roll_id": "r1", "status": "done", "zones": ["a"], "done": ["a"], "finished_at": NOW - 3 * 86400}, None),
], ids=["none", "rolling", "stopped", "recently done", "long done"])
def test_roll_text(roll, expected):
    assert plain(roll_text(roll, NOW)) == expected


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800),
                                          (" 2H ", 7200), ("1.5h", 5400)])
def test_parse_since(text, seconds):
    assert parse_since(text, NOW) == NOW - seconds


@pytest.mark.parametrize("text", ["", "soon", "10", "-5m", "0h", "5w", "nanm", "infh"])
def test_parse_since_names_a_bad_value(text):
    with pytest.raises(InputError) as bad:
        parse_since(text, NOW)
    assert repr(text) in str(bad.value)


def test_history_table_lists_newest_first_as_given_with_ages():
    entries = [{"kind": "revert", "at": NOW - 60, "zone": "a", "text": "REVERT a -> own NAT i-2"},
               {"kind": "replace", "phase": "done", "at": NOW - 600, "zone": "a", "text": "REPLACE a [x]"}]
    text = plain(history_table("demo", entries, NOW - 86400, NOW))
    assert text.index("REVERT a") < text.index("REPLACE a [x]")
    assert "(1m ago)" in text and "replace done" in text and "2 event(s)" in text
