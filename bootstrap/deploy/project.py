"""Where the Chalice project lives and how the operator's side reads the deployed stack's topology."""
from __future__ import annotations

import os
from pathlib import Path

from chalicelib.aws.clients import make_client
from chalicelib.aws.params import read_topology
from chalicelib.errors import InputError, NotFoundError
from chalicelib.naming import topology_parameter
from chalicelib.topology import Topology

from ..config import load_config

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_ENV = "HANAT_CONFIG"


def default_project_dir() -> Path:
    """The directory holding app.py and .chalice/ (the repository root)."""
    return REPO_ROOT


def resolve_config_path(config: str | None) -> str:
    path = config or os.environ.get(CONFIG_ENV)
    if not path:
        raise InputError(f"--config is required (or set {CONFIG_ENV})")
    return path


def load_stack(config_path: str):
    """(HanatConfig, Topology) of the stack the config describes; the topology comes from SSM."""
    config = load_config(config_path)
    ssm = make_client("ssm", config.stack.region)
    try:
        topology = read_topology(ssm, topology_parameter(config.stack.name))
    except NotFoundError as err:
        raise NotFoundError(f"stack {config.stack.name!r} has no topology in {config.stack.region} "
                            f"({err}); run `hanat up --config {config_path}` first") from err
    return config, topology


def topology_only(config_path: str) -> Topology:
    return load_stack(config_path)[1]
