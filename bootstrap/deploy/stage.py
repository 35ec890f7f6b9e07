"""Write a Chalice stage for one stack: ``.chalice/config.json`` stage block and its policy files.

Everything the Lambda functions need to know at run time goes into environment variables; the
topology itself stays in SSM (read per invocation, so a replaced NAT is picked up without redeploy).
The stage's ``tags`` put ``hanat:stack=<stack>`` on every Lambda function Chalice deploys (Chalice
tags functions only, not the roles, rules or subscription it makes): that is how ``hanat down``
finds a deployed controller. Chalice's record of the deployment, ``.chalice/deployed/<stage>.json``,
is what ``chalice delete`` removes; ``recorded_function_arns`` reads it.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from chalicelib import naming
from chalicelib.errors import InputError
from chalicelib.naming import APP_NAME, STACK_TAG, probe_handler_name
from chalicelib.topology import Topology

from .concurrency import HEARTBEAT_RESERVED, PROBE_RESERVED
from .policy import controller_policy, probe_policy

STAGE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
HEARTBEAT_TIMEOUT_S = 60
CONTROLLER_TIMEOUT_S = 60
# Memory the deploy gives the functions; `hanat cost` prices the same figures (tests/unit/test_cost_model.py).
CONTROLLER_MEMORY_MB = 256
# The heartbeat's own: the smallest Lambda size with 30 % headroom over its measured peak (`python
# bench/sweep.py`: app.py's whole import set, 6 zones probed through the Invoke API; peak 113.1 MB, of
# which 39 MB after the imports, the rest mostly botocore's service models as the clients are made).
HEARTBEAT_MEMORY_MB = 148
# Why not more, now that the lab gives it Lambda's CPU (memory / 1,769 MB of a vCPU; issue 21): `sudo python
# bench/heartbeat_cpu.py` measured a 6-zone sweep's wall time per memory; `hanat cost` prints this line.
HEARTBEAT_MEMORY_WHY = ("for detection and cost together: at its 0.084 vCPU the sweep that fails a zone over "
                        "takes 2.36 s against 2.19 s at a whole vCPU (bench/heartbeat_cpu.py), 256 MB would save "
                        "0.09 s of it, and 128 MB would cut the headroom over its 113 MB peak from 30 % to 13 %")
PROBE_MEMORY_MB = 128


def check_stage_name(stage: str) -> None:
    if not STAGE_PATTERN.match(stage or ""):
        raise InputError(f"--stage {stage!r} must be 1-24 characters [a-z0-9-] starting with a letter")


def policy_files(stage: str) -> tuple[str, str]:
    return f"policy-{stage}.json", f"policy-{stage}-probe.json"


def environment(topology: Topology, stage: str) -> dict[str, str]:
    return {
        naming.ENV_STACK: topology.stack,
        naming.ENV_STAGE: stage,
        naming.ENV_TOPOLOGY_PARAMETER: topology.topology_parameter,
        naming.ENV_ZONES: ",".join(topology.azs),
        naming.ENV_TOPIC_ARN: topology.topic_arn,
        naming.ENV_PROBE_TARGETS: json.dumps(list(topology.probe.targets)),
        naming.ENV_PROBE_TIMEOUT: str(topology.probe.timeout_s),
        "POWERTOOLS_SERVICE_NAME": "hanat",
        "POWERTOOLS_METRICS_NAMESPACE": "hanat",
    }


def stage_settings(topology: Topology, stage: str, *, reserve: bool = True,
                   role_arns: dict[str, str] | None = None) -> dict:
    """The ``stages.<stage>`` block of .chalice/config.json; ``reserve=False``: no reserved concurrency
    (an account whose unreserved floor refuses it, see concurrency.py); ``role_arns`` (kind -> ARN, from
    roles.ensure_roles): the functions run with hanat's region-named roles and Chalice manages none
    (without them, as for ``hanat package``, Chalice makes its own from the same policy files)."""
    controller_file, probe_file = policy_files(stage)
    probe_timeout = max(3, math.ceil(topology.probe.chain_s) + 3)   # its samples + cold start
    functions: dict[str, dict] = {
        "heartbeat": {"lambda_timeout": HEARTBEAT_TIMEOUT_S, "lambda_memory_size": HEARTBEAT_MEMORY_MB},
        "on_instance_state": {"lambda_timeout": CONTROLLER_TIMEOUT_S},
        "on_spot_warning": {"lambda_timeout": CONTROLLER_TIMEOUT_S},
        "operate": {"lambda_timeout": CONTROLLER_TIMEOUT_S},
        "notify_slack": {"lambda_timeout": 15},
    }
    for zone in topology.zones:
        functions[probe_handler_name(zone.az)] = {
            "subnet_ids": [zone.probe_subnet_id],
            "security_group_ids": [topology.probe_security_group_id],
            "lambda_timeout": probe_timeout,
            "lambda_memory_size": PROBE_MEMORY_MB,
            "iam_policy_file": probe_file,
        }
        if reserve:
            functions[probe_handler_name(zone.az)]["reserved_concurrency"] = PROBE_RESERVED
    if reserve:
        functions["heartbeat"]["reserved_concurrency"] = HEARTBEAT_RESERVED
    roles: dict = {}
    if role_arns:
        roles = {"manage_iam_role": False, "iam_role_arn": role_arns["controller"]}
        for zone in topology.zones:
            functions[probe_handler_name(zone.az)]["iam_role_arn"] = role_arns["probe"]
    return {
        **roles,
        "api_gateway_stage": "api",
        "autogen_policy": False,
        "iam_policy_file": controller_file,
        "lambda_memory_size": CONTROLLER_MEMORY_MB,
        "environment_variables": environment(topology, stage),
        "tags": {STACK_TAG: topology.stack},
        "lambda_functions": functions,
    }


def check_topology_for_deploy(topology: Topology) -> None:
    """What a deploy needs from the topology; every gap named at once."""
    problems = [f"zones[{i}] ({z.az}) has no probe_subnet_id" for i, z in enumerate(topology.zones)
                if not z.probe_subnet_id]
    if not topology.probe_security_group_id:
        problems.append("topology has no probe_security_group_id")
    if not topology.topic_arn.startswith("arn:"):
        problems.append(f"topology.topic_arn {topology.topic_arn!r} is not an ARN")
    if not topology.zones:
        problems.append("topology has no zones")
    if problems:
        raise InputError(problems, title=f"topology of stack {topology.stack!r} cannot be deployed")


def deployment_record_path(project_dir: str | Path, stage: str) -> Path:
    return Path(project_dir) / ".chalice" / "deployed" / f"{stage}.json"


def recorded_function_arns(project_dir: str | Path, stage: str) -> list[str] | None:
    """Function ARNs in Chalice's deployment record of ``stage`` (None: no record; [] after a delete)."""
    path = deployment_record_path(project_dir, stage)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        return [r["lambda_arn"] for r in record.get("resources", [])
                if r.get("resource_type") == "lambda_function" and r.get("lambda_arn")]
    except (ValueError, AttributeError, TypeError) as err:
        raise InputError(f"{path} is not a Chalice deployment record ({err})") from err


def policies_for(topology: Topology, stage: str, *, nat_ami: str = "") -> dict[str, dict]:
    """kind -> the policy document of the controller's and the probes' functions."""
    return {"controller": controller_policy(topology, stage, nat_ami=nat_ami), "probe": probe_policy(topology, stage)}


def write_stage(project_dir: str | Path, topology: Topology, stage: str, *, nat_ami: str = "",
                reserve: bool = True, role_arns: dict[str, str] | None = None) -> list[Path]:
    """Merge the stage into config.json (other stages kept) and write its two policy files.
    ``nat_ami``: the config's ``nat.ami`` (the controller may resolve it when it launches a NAT)."""
    check_stage_name(stage)
    check_topology_for_deploy(topology)
    chalice_dir = Path(project_dir) / ".chalice"
    chalice_dir.mkdir(parents=True, exist_ok=True)
    config_path = chalice_dir / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    config.setdefault("version", "2.0")
    config["app_name"] = APP_NAME
    config.setdefault("stages", {})[stage] = stage_settings(topology, stage, reserve=reserve, role_arns=role_arns)
    controller_file, probe_file = policy_files(stage)
    documents = policies_for(topology, stage, nat_ami=nat_ami)
    written = {config_path: config,
               chalice_dir / controller_file: documents["controller"],
               chalice_dir / probe_file: documents["probe"]}
    for path, document in written.items():
        path.write_text(json.dumps(document, indent=2) + "\n")
    return list(written)
