"""The lab's functions as ``hanat deploy`` gives them (the probes; every function's memory), and the
controller's invoke client pointed at the lab's Lambda endpoint (lab.aws.lambda_endpoint)."""
from __future__ import annotations

from chalicelib.aws.lambda_invoke import make_invoke_client
from chalicelib.naming import probe_function_name, probe_handler_name
from lab.environ import environ_set

from .deployer import LAB_STAGE
from .lambda_endpoint import LabFunction


def probe_functions(topology, stage: str = LAB_STAGE) -> dict[str, LabFunction]:
    """The probe functions ``hanat deploy`` gives ``topology`` in ``stage``, by deployed name, with the
    stage's timeout, environment and reserved concurrency (bootstrap.deploy.stage: what Chalice deploys)."""
    from bootstrap.deploy.stage import environment, stage_settings

    settings = stage_settings(topology, stage)["lambda_functions"]
    env = environment(topology, stage)
    memory = function_memory(topology, stage)
    out = {}
    for az in topology.azs:
        handler = probe_handler_name(az)
        name = probe_function_name(stage, az)
        out[name] = LabFunction(name=name, handler=handler, zone=az,
                                timeout_s=float(settings[handler]["lambda_timeout"]), environment=env,
                                reserved=settings[handler].get("reserved_concurrency"), memory_mb=memory[handler])
    return out


def function_memory(topology, stage: str = LAB_STAGE) -> dict[str, int]:
    """Each function's memory in MB as ``hanat deploy`` gives it (its own ``lambda_memory_size``, else the
    stage's), by its name in app.py: what lab.aws.cgroups turns into its CPU share."""
    from bootstrap.deploy.stage import stage_settings

    settings = stage_settings(topology, stage)
    default = settings["lambda_memory_size"]
    return {name: int(f.get("lambda_memory_size", default)) for name, f in settings["lambda_functions"].items()}


def lab_invoke_client(endpoint_url: str, region: str, read_timeout_s: float):
    """The production invoke client (``make_invoke_client``: no retries, the controller's read timeout),
    its endpoint set the standard way, ``AWS_ENDPOINT_URL_LAMBDA``, for the moment it is made."""
    with environ_set({"AWS_ENDPOINT_URL_LAMBDA": endpoint_url}):
        client = make_invoke_client(region, read_timeout_s)
    if client.meta.endpoint_url != endpoint_url:
        raise RuntimeError(f"the Lambda client points at {client.meta.endpoint_url}, not the lab's {endpoint_url}")
    return client
