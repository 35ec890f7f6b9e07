"""Who makes an AWS call, from its frames (lab/iam/callers.py): the recorder picks the caller's policies
by it, so a wrong answer decides a call under the wrong principal or not at all."""
from __future__ import annotations

import pytest

from lab.iam.callers import (
    CONTROLLER,
    OPERATOR,
    PROBE,
    SETUP,
    calling_frame,
    classify,
    project_frames,
    unrecorded,
)

CASES = [
    # innermost first
    ("cli-runs-service-code-as-operator",
     ["chalicelib/aws/routes.py:replace_route", "chalicelib/service/operations.py:failover",
      "controller/commands/ops.py:failover", "tests/integration/test_cli_ops.py:test_x"], OPERATOR),
    ("stack-builder-is-operator", ["chalicelib/aws/instances.py:launch", "bootstrap/stack/executor.py:run",
                                   "tests/integration/test_stack_up.py:test_x"], OPERATOR),
    ("lambda-handler-is-controller", ["chalicelib/aws/routes.py:replace_route", "chalicelib/service/sweep.py:sweep",
                                      "app.py:heartbeat", "lab/aws/heartbeat.py:run"], CONTROLLER),
    ("test-calling-a-use-case-is-controller", ["chalicelib/aws/state_table.py:put",
                                               "chalicelib/service/sweep.py:sweep",
                                               "tests/integration/test_sweep.py:test_x"], CONTROLLER),
    ("probe-handler-is-probe", ["chalicelib/aws/params.py:read", "chalicelib/probes/handler.py:handle",
                                "lab/aws/lambda_endpoint.py:invoke"], PROBE),
    ("fixture-calling-boto3-is-setup", ["tests/support/stack.py:build_stack", "tests/integration/conftest.py:stack"],
     SETUP),
    ("fixture-calling-an-adapter-is-setup", ["chalicelib/aws/params.py:write_topology",
                                             "tests/support/stack.py:build_stack"], SETUP),
    ("lab-reading-through-an-adapter-is-setup", ["chalicelib/aws/routes.py:read", "lab/aws/adapters.py:route_views",
                                                 "lab/session.py:sync"], SETUP),
    ("no-hanat-frame-is-setup", [], SETUP),
    ("lab-fault-under-hanat-lab-drill-is-setup", ["chalicelib/aws/calls.py:aws_call", "lab/aws/adapters.py:stop_instance",
                                                  "lab/drills/runner.py:run_drill", "controller/commands/lab.py:drill"],
     SETUP),
    ("lab-scenario-running-a-use-case-is-controller", ["chalicelib/aws/routes.py:replace_route",
                                                       "chalicelib/service/operations.py:failover",
                                                       "lab/drills/scenarios/manual.py:run", "controller/cli.py:main"],
     CONTROLLER),
    ("lab-building-its-stack-with-bootstrap-is-operator", ["chalicelib/aws/instances.py:launch",
                                                           "bootstrap/stack/executor.py:run", "lab/session.py:build",
                                                           "controller/cli.py:main"], OPERATOR),
]


@pytest.mark.parametrize(("frames", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_caller_from_frames(frames, expected):
    assert classify(frames) == expected


def test_the_lab_observer_and_unrecorded_calls_are_setup():
    operator = ["controller/cli.py:main"]
    assert classify(operator) == OPERATOR
    assert classify(operator, user_agent="Boto3/1 hanat-lab-observer") == SETUP
    assert classify(operator, unrecorded_call=True) == SETUP


def test_unrecorded_marks_only_the_calls_inside():
    from lab.iam.callers import is_unrecorded
    assert not is_unrecorded()
    with unrecorded():
        assert is_unrecorded()
    assert not is_unrecorded()


def test_project_frames_names_this_test_and_the_report_skips_plumbing():
    frames = project_frames()
    assert frames[0].startswith("tests/unit/test_iam_callers.py:test_project_frames")
    assert calling_frame(["chalicelib/aws/calls.py:aws_call", "chalicelib/aws/routes.py:replace"]) == \
        "chalicelib/aws/routes.py:replace"


def test_a_call_without_a_hanat_frame_is_setup_unless_the_process_is_the_operators():
    """`hanat deploy` runs `chalice deploy` as a process of its own: its calls carry no hanat frame."""
    assert classify([]) == SETUP
    assert classify([], no_frame=OPERATOR) == OPERATOR
    assert classify([], user_agent="hanat-lab-observer", no_frame=OPERATOR) == SETUP
