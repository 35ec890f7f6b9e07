"""hanat's Lambda entry points (Chalice). Wiring only: each handler hands its event to chalicelib.

Probe functions (``probe_<zone>``) are registered per zone from HANAT_ZONES, which ``hanat deploy``
puts in the stage's environment (Chalice loads the stage environment before importing this file,
and Lambda sets it at run time), so deploy time and run time see the same functions.
"""
from __future__ import annotations

import os
import time

from chalice import Chalice

from chalicelib import slack, wiring
from chalicelib.errors import InputError
from chalicelib.naming import APP_NAME, ENV_STACK, ENV_TOPIC_ARN, probe_handler_name, topic_name
from chalicelib.observability import logger, metric_sink
from chalicelib.probes.handler import handle_probe
from chalicelib.service.events import handle_instance_state
from chalicelib.service.heartbeat import run_heartbeat
from chalicelib.service.maintenance import after_sweep
from chalicelib.service.operations import operate as operate_service
from chalicelib.service.spot_warnings import WARNING_TYPES, handle_spot_warning

app = Chalice(app_name=APP_NAME)
ALERT_TOPIC = os.environ.get(ENV_TOPIC_ARN) or topic_name(os.environ.get(ENV_STACK, "hanat"))
# Where every handler's Deps come from (owner -> Deps); a test that loads this file sets its own.
make_deps: wiring.DepsFactory = wiring.default_deps


def _input_error(err: InputError) -> dict:
    """Bad payloads are answered, not raised: no Lambda retry, nothing changed."""
    logger.warning("rejected input", extra={"problems": err.problems})
    return {"ok": False, "error": err.title, "problems": err.problems}


@app.schedule("rate(1 minute)")
@wiring.entry_point
def heartbeat(event):
    deps = make_deps(f"heartbeat:{wiring.request_id(event.context)}")
    # sweeps while one still fits in the invocation's remaining time; each sweep, then what follows it
    reports = run_heartbeat(deps, event.context.get_remaining_time_in_millis, then=after_sweep)
    return {"sweeps": [report.to_dict() for report in reports]}


@app.on_cw_event({"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]})
@wiring.entry_point
def on_instance_state(event):
    deps = make_deps(f"event:{wiring.request_id(event.context)}")
    try:
        return handle_instance_state(deps, event.to_dict())
    except InputError as err:
        return _input_error(err)


@app.on_cw_event({"source": ["aws.ec2"], "detail-type": list(WARNING_TYPES)})
@wiring.entry_point
def on_spot_warning(event):
    deps = make_deps(f"spot:{wiring.request_id(event.context)}")
    try:
        return handle_spot_warning(deps, event.to_dict())
    except InputError as err:
        return _input_error(err)


@app.lambda_function(name="operate")
@wiring.entry_point
def operate(event, context):
    try:
        return operate_service(make_deps(f"operate:{wiring.request_id(context)}"), event)
    except InputError as err:
        return _input_error(err)


@app.on_sns_message(topic=ALERT_TOPIC)
@wiring.entry_point
def notify_slack(event):
    deps = make_deps(f"slack:{wiring.request_id(event.context)}")
    outcome = slack.relay_alert(event.message, event.subject, ssm_client=deps.clients.ssm, metric=metric_sink,
                                webhook_parameter=deps.topology.slack_webhook_parameter)
    return {"posted": outcome.posted, "error": outcome.error}


def _probe_handler(zone: str):
    def probe(event, context):
        logger.append_keys(zone=zone)
        try:
            return handle_probe(zone, event, wiring.probe_defaults(), time.time)
        except InputError as err:
            return _input_error(err)
    probe.__name__ = probe.__qualname__ = probe_handler_name(zone)
    return app.lambda_function(name=probe.__name__)(wiring.entry_point(probe))


for _zone in wiring.zones_from_env():
    globals()[probe_handler_name(_zone)] = _probe_handler(_zone)
